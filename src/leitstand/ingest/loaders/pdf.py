"""PDF through pypdf: the text of each page, laid out into headings and paragraphs.

pypdf reports the repairs it makes to slightly broken files through the ``pypdf`` logger; while
a PDF loads here those messages are collected and logged at debug level instead of landing on
the console. Files pypdf cannot open at all get a message that says why.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

from leitstand.ingest.loaders._decode import looks_binary
from leitstand.ingest.loaders._pdf_layout import Line, layout_blocks, page_lines
from leitstand.ingest.loaders.base import LoadContext, LoadedDocument, Loader, LoadError

if TYPE_CHECKING:
    from pypdf import PdfReader

_log = logging.getLogger(__name__)
_messages: ContextVar[list[str] | None] = ContextVar("pypdf_messages", default=None)

_HINT_DAMAGED = (
    "open it in a PDF viewer to check it; re-export it, or repair it with `qpdf in.pdf out.pdf`"
)


class _PypdfRouter(logging.Handler):
    """Takes pypdf's messages while a PDF loads here; passes them on as usual otherwise."""

    def emit(self, record: logging.LogRecord) -> None:
        sink = _messages.get()
        if sink is not None:
            sink.append(record.getMessage())
            return
        # What propagation would have done; skip handlers that sit on the pypdf logger too
        # (pytest attaches its capture handlers to every non-propagating logger).
        own = logging.getLogger("pypdf").handlers
        root = logging.getLogger()
        handlers = root.handlers or ([logging.lastResort] if logging.lastResort else [])
        for handler in handlers:
            if handler not in own and record.levelno >= handler.level:
                handler.handle(record)


@contextmanager
def _pypdf_messages() -> Iterator[list[str]]:
    logger = logging.getLogger("pypdf")
    if not any(isinstance(h, _PypdfRouter) for h in logger.handlers):
        logger.addHandler(_PypdfRouter())
        logger.propagate = False
    sink: list[str] = []
    token = _messages.set(sink)
    try:
        yield sink
    finally:
        _messages.reset(token)


def _what_it_is(data: bytes) -> str:
    head = data[:512].lstrip().lower()
    if head.startswith(b"pk\x03\x04"):
        return "it is a ZIP archive (an Office file or a .zip?)"
    if head.startswith((b"<!doctype html", b"<html")):
        return "it is an HTML page (a failed download?)"
    if head.startswith((b"\x89png", b"\xff\xd8\xff", b"gif8")):
        return "it is an image"
    return "it contains binary data" if looks_binary(data) else "it is plain text"


def _damaged(reason: str, messages: Sequence[str]) -> LoadError:
    if any("EOF marker not found" in message for message in messages):
        reason = "the end of the file is missing; was the download or copy cut off?"
    return LoadError(f"cannot be read as a PDF ({reason})", hint=_HINT_DAMAGED)


def _metadata(reader: PdfReader) -> dict[str, Any]:
    try:
        info = reader.metadata
    except Exception:  # a damaged /Info dictionary costs the metadata, not the text
        return {}
    if info is None:
        return {}
    result: dict[str, Any] = {}
    for key, value in (("title", info.title), ("author", info.author), ("subject", info.subject)):
        if isinstance(value, str) and value.strip():
            result[key] = value.strip()
    try:
        created = info.creation_date
    except (ValueError, TypeError):
        created = None
    if created is not None:
        result["created"] = created.isoformat()
    return result


def _usable_title(title: str | None) -> str | None:
    """A metadata title, unless it is a leftover like "Microsoft Word - x.docx"."""
    if not title or title.lower().endswith((".doc", ".docx", ".pdf", ".tmp", ".odt")):
        return None
    return None if title.lower() in ("untitled", "unbenannt", "titel") else title


class PdfLoader(Loader):
    name = "pdf"
    extensions = (".pdf",)

    def load(self, data: bytes, context: LoadContext) -> LoadedDocument:
        if b"%PDF-" not in data[:1024]:
            raise LoadError(
                f"cannot be read as a PDF (it has no PDF header; {_what_it_is(data)})",
                hint="check the file; rename it to its real extension or exclude it",
            )
        with _pypdf_messages() as messages:
            try:
                return self._load(data, context, messages)
            finally:
                for message in messages:
                    _log.debug("%s: pypdf: %s", context.path, message)

    def _load(self, data: bytes, context: LoadContext, messages: list[str]) -> LoadedDocument:
        try:
            from pypdf import PdfReader  # imported on first use: it costs start-up time

            reader = PdfReader(io.BytesIO(data))
            if reader.is_encrypted:
                self._decrypt(reader)
            page_count = len(reader.pages)
        except LoadError:
            raise
        except Exception as exc:
            raise _damaged(str(exc) or type(exc).__name__, messages) from exc
        context.check_pages(page_count)
        pages: list[list[Line]] = []
        plain: list[str] = []
        failed: list[int] = []
        for number in range(1, page_count + 1):
            context.check_deadline()
            try:
                lines, text = page_lines(reader.pages[number - 1])
            except Exception as exc:
                failed.append(number)
                _log.debug("%s: page %d: %r", context.path, number, exc)
                lines, text = [], ""
            pages.append(lines)
            plain.append(text)
        if failed and len(failed) == page_count:
            raise _damaged("the text of no page could be read", messages)
        if failed:
            pages_text = ", ".join(map(str, failed[:10])) + (" …" if len(failed) > 10 else "")
            context.warn(f"the text of page(s) {pages_text} could not be read; they are missing")
        blocks = layout_blocks(pages, plain)
        metadata = _metadata(reader)
        title = _usable_title(metadata.get("title")) or next(
            (b.text for b in blocks if b.kind == "heading" and b.level == 1), None
        )
        return LoadedDocument(blocks=blocks, title=title, metadata=metadata, page_count=page_count)

    @staticmethod
    def _decrypt(reader: PdfReader) -> None:
        from pypdf import PasswordType
        from pypdf.errors import DependencyError

        try:
            opened = reader.decrypt("")
        except DependencyError as exc:
            raise LoadError(
                "is encrypted with AES, which needs the 'cryptography' package to read",
                hint="pip install cryptography, or decrypt it first: qpdf --decrypt in.pdf out.pdf",
            ) from exc
        except NotImplementedError as exc:
            raise LoadError(
                f"is encrypted with a method that cannot be read here ({exc})",
                hint="decrypt it first, e.g. qpdf --decrypt in.pdf out.pdf",
            ) from exc
        if opened == PasswordType.NOT_DECRYPTED:
            raise LoadError(
                "is encrypted with a password",
                hint="decrypt it first, e.g. qpdf --decrypt --password=... in.pdf out.pdf",
            )
