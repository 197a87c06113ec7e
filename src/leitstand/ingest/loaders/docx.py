"""Word .docx through python-docx: headings, lists and tables in document order, with pages.

The archive is inspected before anything is unpacked: a file that is not a ZIP, has no
``word/document.xml`` or would unpack to far more than it weighs (a zip bomb) is refused.
Page numbers are approximate: Word records where pages broke when it last saved the file
(``w:lastRenderedPageBreak``), and explicit page breaks count too. A document without either
gets no page numbers rather than "page 1" everywhere.
"""

from __future__ import annotations

import io
import re
import zipfile
from dataclasses import dataclass, field
from typing import Any

from lxml import etree

from leitstand.ingest.loaders.base import (
    Block,
    BlockKind,
    LoadContext,
    LoadedDocument,
    Loader,
    LoadError,
)

_W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
_MC_FALLBACK = "{http://schemas.openxmlformats.org/markup-compatibility/2006}Fallback"
_APP_PAGES = "{http://schemas.openxmlformats.org/officeDocument/2006/extended-properties}Pages"
_MAX_UNPACKED = 200 * 1024 * 1024
_MAX_RATIO = 100
_SKIPPED = frozenset(
    {_MC_FALLBACK, f"{_W}pPr", f"{_W}rPr", f"{_W}del", f"{_W}moveFrom", f"{_W}instrText"}
)
_HEADING_STYLE = re.compile(r"heading\s*(\d)$")
_LIST_STYLE = re.compile(r"list(?: (?:bullet|number))?(?: (\d))?$")
_NOT_DOCX_HINT = "open it in Word or LibreOffice and save it as .docx, or exclude it"


@dataclass(frozen=True)
class _Style:
    name: str
    base: str | None
    numbered: bool
    outline: int | None


def _outline_level(properties: etree._Element | None) -> int | None:
    found = properties.find(f"{_W}outlineLvl") if properties is not None else None
    value = found.get(f"{_W}val") if found is not None else None
    return int(value) + 1 if value is not None and value.isdigit() and int(value) < 9 else None


def _styles(document: Any) -> dict[str, _Style]:
    styles: dict[str, _Style] = {}
    for style in document.styles:
        properties = style.element.find(f"{_W}pPr")
        base = getattr(style, "base_style", None)
        styles[style.style_id] = _Style(
            name=(style.name or "").lower(),
            base=base.style_id if base is not None else None,
            numbered=properties is not None and properties.find(f"{_W}numPr") is not None,
            outline=_outline_level(properties),
        )
    return styles


@dataclass
class _Text:
    """Text of one paragraph or cell, cut where an explicit page break falls inside it."""

    segments: list[list[str]] = field(default_factory=lambda: [[]])
    pages: list[int] = field(default_factory=list)
    """The page on which each segment's text starts."""

    def pieces(self) -> list[tuple[str, int]]:
        texts = ("".join(segment) for segment in self.segments)
        return [(text, page) for text, page in zip(texts, self.pages, strict=False) if text.strip()]


@dataclass
class _Walker:
    """Turns the body into blocks in document order and keeps count of pages."""

    styles: dict[str, _Style]
    context: LoadContext
    blocks: list[Block] = field(default_factory=list)
    page: int = 1
    paged: bool = False
    _after_break: bool = False

    def body(self, element: etree._Element) -> None:
        for child in element:
            self.context.check_deadline()
            if child.tag == f"{_W}p":
                self.paragraph(child)
            elif child.tag == f"{_W}tbl":
                self.table(child)
            elif child.tag in (f"{_W}sdt", f"{_W}customXml", f"{_W}sdtContent"):
                self.body(child)

    def _break(self, text: _Text, *, explicit: bool) -> None:
        """An explicit break always starts a page; Word's own mark right after it does not."""
        if explicit or not self._after_break:
            self.page += 1
        self.paged = True
        self._after_break = explicit
        if explicit and len(text.pages) == len(text.segments):  # text before it: cut here
            text.segments.append([])

    def _text(self, element: etree._Element, text: _Text) -> None:
        for child in element:
            tag = child.tag
            if not isinstance(tag, str) or tag in _SKIPPED:
                continue
            parts = text.segments[-1]
            if tag == f"{_W}t":
                if len(text.pages) < len(text.segments) and (child.text or "").strip():
                    text.pages.append(self.page)
                parts.append(child.text or "")
                self._after_break = False
            elif tag == f"{_W}tab":
                parts.append("\t")
            elif tag in (f"{_W}br", f"{_W}cr"):
                if child.get(f"{_W}type") == "page":
                    self._break(text, explicit=True)
                else:
                    parts.append("\n")
            elif tag == f"{_W}lastRenderedPageBreak":
                self._break(text, explicit=False)
            elif tag == f"{_W}noBreakHyphen":
                parts.append("-")
            elif tag == f"{_W}p":  # a paragraph inside a text box or table cell
                self._text(child, text)
                text.segments[-1].append("\n")
            else:
                self._text(child, text)

    def _kind(self, properties: etree._Element | None) -> tuple[BlockKind, int]:
        """Heading (by style or outline level), list item (numbering, list style) or paragraph."""
        style_ref = properties.find(f"{_W}pStyle") if properties is not None else None
        style_id = style_ref.get(f"{_W}val") if style_ref is not None else None
        numbering = properties.find(f"{_W}numPr") if properties is not None else None
        outline = _outline_level(properties)
        listed = numbering is not None and numbering.findtext(f"{_W}numId") != "0"
        list_level = 0
        seen: set[str] = set()
        while style_id and style_id not in seen and (style := self.styles.get(style_id)):
            seen.add(style_id)
            if style.name == "title":
                return "heading", 1
            if heading := _HEADING_STYLE.match(style.name):
                return "heading", int(heading.group(1))
            outline = outline or style.outline
            if by_name := _LIST_STYLE.match(style.name):
                list_level = list_level or int(by_name.group(1) or 1)
            listed = listed or (numbering is None and style.numbered)
            style_id = style.base
        if outline is not None:
            return "heading", outline
        if numbering is not None and listed:
            indent = numbering.find(f"{_W}ilvl")
            value = indent.get(f"{_W}val") if indent is not None else None
            return "list_item", int(value) + 1 if value and value.isdigit() else 1
        if listed or list_level:
            return "list_item", max(list_level, 1)
        return "paragraph", 0

    def paragraph(self, element: etree._Element) -> None:
        properties = element.find(f"{_W}pPr")
        text = _Text()
        if properties is not None:
            before = properties.find(f"{_W}pageBreakBefore")
            if before is not None and before.get(f"{_W}val") not in ("0", "false", "off"):
                self._break(text, explicit=True)
        self._text(element, text)
        pieces = text.pieces()
        if pieces:
            kind, level = self._kind(properties)
            self.blocks.extend(Block(piece, kind, level, page) for piece, page in pieces)

    def table(self, element: etree._Element) -> None:
        for row in element.iter(f"{_W}tr"):
            if next(row.iterancestors(f"{_W}tbl"), None) is not element:
                continue  # a nested table is flattened into its cell
            cells: list[str] = []
            first_page: int | None = None
            for cell in row.iter(f"{_W}tc"):
                if next(cell.iterancestors(f"{_W}tr"), None) is row:
                    text = _Text()
                    self._text(cell, text)
                    cells.append(" ".join(" ".join(p for p, _ in text.pieces()).split()))
                    first_page = first_page or next(iter(text.pages), None)
            if any(cells):
                row_text = " | ".join(cell for cell in cells if cell)
                self.blocks.append(Block(row_text, "table_row", 0, first_page or self.page))


def _inspect_archive(data: bytes) -> int | None:
    """Refuse what is not a .docx or would unpack to a bomb; the page count Word stored."""
    if data.startswith(b"\xd0\xcf\x11\xe0"):
        raise LoadError(
            "is not a Word .docx file (it is an old .doc file or a password-protected .docx)",
            hint="remove the password or save it as .docx in Word or LibreOffice",
        )
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, ValueError) as exc:
        raise LoadError(
            "is not a Word .docx file (it is not a ZIP archive)", hint=_NOT_DOCX_HINT
        ) from exc
    with archive:
        entries = archive.infolist()
        if "word/document.xml" not in {entry.filename for entry in entries}:
            raise LoadError(
                "is not a Word .docx file (it has no word/document.xml)", hint=_NOT_DOCX_HINT
            )
        unpacked = sum(entry.file_size for entry in entries)
        packed = sum(entry.compress_size for entry in entries)
        if unpacked > _MAX_UNPACKED and unpacked > _MAX_RATIO * max(packed, 1):
            raise LoadError(
                f"would unpack from {packed / 1048576:.1f} MB to {unpacked / 1048576:,.0f} MB "
                "(a zip bomb?); not unpacked",
                hint="check where the file came from; a real document does not compress like this",
            )
        try:
            app = archive.getinfo("docProps/app.xml")
        except KeyError:
            return None
        if app.file_size > 1024 * 1024:
            return None
        parser = etree.XMLParser(resolve_entities=False, no_network=True)
        try:
            pages = etree.fromstring(archive.read(app), parser=parser).findtext(_APP_PAGES)
        except (etree.XMLSyntaxError, zipfile.BadZipFile, OSError):
            return None
    return int(pages) if pages and pages.strip().isdigit() else None


def _core_metadata(document: Any) -> dict[str, Any]:
    properties = document.core_properties
    metadata: dict[str, Any] = {}
    for key in ("title", "author", "subject"):
        value = getattr(properties, key, None)
        if isinstance(value, str) and value.strip():
            metadata[key] = value.strip()
    try:
        created = properties.created
    except ValueError:
        created = None
    if created is not None:
        metadata["created"] = created.isoformat()
    return metadata


class DocxLoader(Loader):
    name = "docx"
    extensions = (".docx",)

    def load(self, data: bytes, context: LoadContext) -> LoadedDocument:
        stored_pages = _inspect_archive(data)
        if stored_pages is not None:
            context.check_pages(stored_pages)
        try:
            import docx  # imported on first use: it costs start-up time

            document = docx.Document(io.BytesIO(data))
            styles = _styles(document)
            metadata = _core_metadata(document)
        except Exception as exc:
            raise LoadError(
                f"cannot be read as a Word document ({exc or type(exc).__name__})",
                hint="open it in Word or LibreOffice and save it again as .docx",
            ) from exc
        walker = _Walker(styles, context)
        walker.body(document.element.body)
        page_count = stored_pages
        if walker.paged:
            page_count = max(stored_pages or 0, walker.page)
            context.check_pages(page_count)
        else:
            for block in walker.blocks:
                block.page = None
        title = metadata.get("title") or next(
            (b.text for b in walker.blocks if b.kind == "heading" and b.level == 1), None
        )
        return LoadedDocument(
            blocks=walker.blocks, title=title, metadata=metadata, page_count=page_count
        )
