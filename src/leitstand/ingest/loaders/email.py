"""E-mail (.eml) through the standard library: who wrote it when, the body and the attachments.

The first block names sender, recipients and date, so "who sent ..." and "when did ..." can be
answered from the text. The body is the text/plain part, else the HTML part (read like an HTML
file, hidden text dropped). Attachments that another built-in loader reads are indexed below a
heading "Attachment: <name>"; one that cannot be read is a warning, not a failed mail.
Malformed mail is read as far as the parser gets.
"""

from __future__ import annotations

import re
from email import message_from_bytes, policy
from email.header import decode_header, make_header
from email.message import EmailMessage, Message
from typing import Any

from leitstand.ingest.loaders._decode import decode_text, looks_binary
from leitstand.ingest.loaders.base import Block, LoadContext, LoadedDocument, Loader, LoadError
from leitstand.ingest.loaders.csv import CsvLoader
from leitstand.ingest.loaders.docx import DocxLoader
from leitstand.ingest.loaders.html import HtmlLoader, html_document
from leitstand.ingest.loaders.markdown import MarkdownLoader
from leitstand.ingest.loaders.pdf import PdfLoader
from leitstand.ingest.loaders.registry import LoaderRegistry
from leitstand.ingest.loaders.text import TextLoader, text_blocks

_BY_TYPE = {
    "application/pdf": ".pdf",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": ".docx",
    "text/plain": ".txt",
    "text/markdown": ".md",
    "text/html": ".html",
    "text/csv": ".csv",
}
_HEADER_FIELDS = (("From", "from"), ("To", "to"), ("Cc", "cc"), ("Date", "date"))
_CAMEL = re.compile(r"(?<!^)(?=[A-Z])")


def _attachment_loaders() -> LoaderRegistry:
    loaders: list[Loader] = [
        TextLoader(), MarkdownLoader(), HtmlLoader(), PdfLoader(), DocxLoader(), CsvLoader()
    ]  # fmt: skip
    return LoaderRegistry(loaders)


def _header(message: Message, name: str, raw: bytes) -> str | None:
    """One header as text; a header the modern parser chokes on is decoded the old way."""
    try:
        value: Any = message.get(name)
    except Exception:  # the header parser has known crashes on hostile input
        try:
            value = message_from_bytes(raw, policy=policy.compat32).get(name)
            value = str(make_header(decode_header(value))) if value is not None else None
        except Exception:
            value = None
    text = " ".join(str(value).split()) if value is not None else ""
    return text or None


def _date(message: Message) -> str | None:
    try:
        parsed = getattr(message.get("date"), "datetime", None)
    except Exception:
        return None
    return parsed.isoformat() if parsed is not None else None


def _part_text(part: Message, context: LoadContext) -> str:
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes) or not payload:
        return ""
    charset = part.get_content_charset()
    if charset:
        try:
            return payload.decode(charset)
        except (LookupError, UnicodeDecodeError):
            pass
    try:
        return decode_text(payload, context)
    except LoadError:
        return ""


def _body(message: EmailMessage, context: LoadContext) -> tuple[Message | None, list[Block]]:
    """The plain-text body, or the HTML one where there is no (or an empty) plain text."""
    for preference in ("plain", "html"):
        try:
            part = message.get_body(preferencelist=(preference,))
        except Exception:  # a structure get_body cannot walk
            part = None
        text = _part_text(part, context) if part is not None else ""
        if part is None or not text.strip():
            continue
        if preference == "html":
            return part, _shifted(html_document(text, context).blocks, 1)
        return part, text_blocks(text)
    return None, []


def _shifted(blocks: list[Block], by: int) -> list[Block]:
    """Headings moved down a level or more, so they sit below the heading above them."""
    return [
        Block(b.text, b.kind, b.level + by if b.kind == "heading" else b.level, b.page)
        for b in blocks
    ]


def _defects(message: Message) -> list[str]:
    names: set[str] = set()
    for part in message.walk():
        for defect in part.defects:
            names.add(_CAMEL.sub(" ", type(defect).__name__.removesuffix("Defect")).lower())
    return sorted(names)


class EmailLoader(Loader):
    name = "eml"
    extensions = (".eml",)

    def load(self, data: bytes, context: LoadContext) -> LoadedDocument:
        message = message_from_bytes(data, policy=policy.default)
        if not isinstance(message, EmailMessage) or (not message.keys() and looks_binary(data)):
            raise LoadError(
                "does not look like an e-mail (no headers; it contains binary data)",
                hint="check the file type; save the mail from the mail program as .eml",
            )
        subject = _header(message, "subject", data)
        metadata: dict[str, Any] = {}
        lines = []
        for label, name in _HEADER_FIELDS:
            if value := _header(message, name, data):
                metadata[name] = value
                lines.append(f"{label}: {value}")
        if subject:
            lines.append(f"Subject: {subject}")
        if parsed_date := _date(message):
            metadata["date"] = parsed_date
        if message_id := _header(message, "message-id", data):
            metadata["message_id"] = message_id
        blocks = [Block("\n".join(lines))] if lines else []
        body, body_blocks = _body(message, context)
        blocks.extend(body_blocks)
        names, attachment_blocks = self._attachments(message, body, context)
        blocks.extend(attachment_blocks)
        metadata["attachments"] = names
        if defects := _defects(message):
            context.warn(f"is malformed ({', '.join(defects)}); what could be read was indexed")
        return LoadedDocument(blocks=blocks, title=subject, metadata=metadata)

    def _attachments(
        self, message: EmailMessage, body: Message | None, context: LoadContext
    ) -> tuple[list[str], list[Block]]:
        loaders = _attachment_loaders()
        names: list[str] = []
        blocks: list[Block] = []
        for part in message.walk():
            if part is body or part.is_multipart():
                continue
            filename = part.get_filename()
            if filename is None and part.get_content_disposition() != "attachment":
                continue
            content_type = part.get_content_type()
            name = filename or f"attachment-{len(names) + 1}{_BY_TYPE.get(content_type, '')}"
            names.append(name)
            loader = loaders.for_path(name) or loaders.for_path(
                "attachment" + _BY_TYPE.get(content_type, ".unknown")
            )
            if loader is None:
                continue
            context.check_deadline()
            payload = part.get_payload(decode=True)
            if not isinstance(payload, bytes) or not payload:
                context.warn(f"attachment {name} is empty; not indexed")
                continue
            sub = LoadContext(
                path=name,
                max_pages=context.max_pages,
                timeout_s=context.timeout_s,
                started=context.started,
            )
            try:
                loaded = loader.load(payload, sub)
            except LoadError as exc:
                context.check_deadline()  # out of time: the whole mail fails, not one part
                hint = f" ({exc.hint})" if exc.hint else ""
                context.warn(f"attachment {name} was not indexed: it {exc.reason}{hint}")
                continue
            except Exception as exc:  # a loader bug must not lose the mail
                context.warn(f"attachment {name} was not indexed ({type(exc).__name__}: {exc})")
                continue
            for warning in sub.warnings:
                context.warn(f"attachment {name}: {warning}")
            blocks.append(Block(f"Attachment: {name}", "heading", level=2))
            blocks.extend(_shifted(loaded.blocks, 2))
        return names, blocks
