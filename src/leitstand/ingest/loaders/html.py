"""HTML and XHTML through lxml: the visible text as headings, paragraphs, lists, tables and code.

Scripts, styles, forms, navigation and every element a browser would not show (``hidden``,
``aria-hidden="true"``, ``display:none``, ``visibility:hidden``) are dropped: text a reader
cannot see is a common way to smuggle instructions to a model. How many hidden elements were
dropped is kept in the document's metadata as ``hidden_elements``.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass, field
from typing import Any

import lxml.html
from lxml import etree

from leitstand.ingest.loaders._decode import decode_text, looks_binary
from leitstand.ingest.loaders.base import Block, BlockKind, LoadContext, LoadedDocument, Loader

_DROPPED = frozenset(
    {
        "script", "style", "noscript", "template", "svg", "math", "iframe", "object", "embed",
        "canvas", "form", "nav", "button", "select", "textarea", "input", "head", "audio", "video",
    }
)  # fmt: skip
_HEADINGS = {"h1": 1, "h2": 2, "h3": 3, "h4": 4, "h5": 5, "h6": 6}
_PARAGRAPHS = frozenset({"p", "dt", "dd", "figcaption", "caption", "address", "summary", "legend"})
_LISTS = frozenset({"ul", "ol", "menu", "dir"})
_CONTAINERS = frozenset(
    {
        "html", "body", "div", "section", "article", "main", "header", "footer", "aside",
        "figure", "details", "fieldset", "center", "dl", "hgroup", "search", "picture",
    }
)  # fmt: skip
_BLOCK_LEVEL = (
    _PARAGRAPHS | _LISTS | _CONTAINERS | set(_HEADINGS)
    | {"li", "pre", "blockquote", "table", "hr", "tr", "td", "th"}
)  # fmt: skip
_HIDDEN_STYLE = re.compile(r"display\s*:\s*none|visibility\s*:\s*hidden", re.IGNORECASE)
_DECLARED_CHARSET = re.compile(
    rb"""<meta[^>]*?charset\s*=\s*["']?\s*([-\w.:]+)|<\?xml[^>]*?encoding\s*=\s*["']([-\w.:]+)""",
    re.IGNORECASE,
)
_BOMS = (codecs.BOM_UTF8, codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)
# What browsers do (WHATWG Encoding): these labels mean windows-1252.
_MEANS_CP1252 = frozenset({"ascii", "iso8859-1", "latin-1"})


def _is_hidden(element: etree._Element) -> bool:
    if element.get("hidden") is not None:
        return True
    if (element.get("aria-hidden") or "").strip().lower() == "true":
        return True
    return bool(_HIDDEN_STYLE.search(element.get("style") or ""))


@dataclass
class _Extractor:
    """Walks the body once; collects inline text until a block-level element ends it."""

    blocks: list[Block] = field(default_factory=list)
    hidden: int = 0
    _buffer: list[str] = field(default_factory=list)
    _kind: BlockKind = "paragraph"
    _list_depth: int = 0

    def _skip(self, element: etree._Element) -> bool:
        if not isinstance(element.tag, str) or element.tag.lower() in _DROPPED:
            return True
        if _is_hidden(element):
            self.hidden += 1
            return True
        return False

    def _emit(self, text: str, kind: BlockKind | None = None, level: int | None = None) -> None:
        if not text.strip():
            return
        kind = kind or self._kind
        if level is None:
            level = max(1, self._list_depth) if kind == "list_item" else 0
        self.blocks.append(Block(text, kind, level=level))

    def flush(self) -> None:
        text = "".join(self._buffer)
        self._buffer.clear()
        self._emit(text)

    def inline_text(self, element: etree._Element) -> str:
        """All visible text below an element, ``<br>`` as a line break."""
        parts: list[str] = [element.text or ""]
        for child in element:
            if not self._skip(child):
                parts.append("\n" if child.tag == "br" else self.inline_text(child))
            parts.append(child.tail or "")
        return "".join(parts)

    def container(self, element: etree._Element) -> None:
        self._buffer.append(element.text or "")
        for child in element:
            if not self._skip(child):
                self.element(child)
            self._buffer.append(child.tail or "")

    def element(self, element: etree._Element) -> None:
        tag = str(element.tag).lower()
        if tag == "br":
            self._buffer.append("\n")
        elif tag not in _BLOCK_LEVEL and not self._has_block_child(element):
            self._buffer.append(self.inline_text(element))
        else:
            self.flush()
            self._block(tag, element)
            self.flush()

    def _block(self, tag: str, element: etree._Element) -> None:
        if tag in _HEADINGS:
            self._emit(self.inline_text(element), "heading", _HEADINGS[tag])
        elif tag == "pre":
            self._emit(self.inline_text(element).strip("\n"), "code")
        elif tag == "table":
            self._table(element)
        elif tag in _LISTS:
            self._list_depth += 1
            self.container(element)
            self._list_depth -= 1
        elif tag in ("li", "blockquote"):
            outer = self._kind
            self._kind = "list_item" if tag == "li" else "quote"
            self.container(element)
            self.flush()
            self._kind = outer
        elif tag in _PARAGRAPHS and not self._has_block_child(element):
            self._emit(self.inline_text(element))
        else:
            self.container(element)

    def _has_block_child(self, element: etree._Element) -> bool:
        return any(
            isinstance(child.tag, str) and child.tag.lower() in _BLOCK_LEVEL
            for child in element.iterdescendants()
        )

    def _table(self, table: etree._Element) -> None:
        for child in table:
            if self._skip(child):
                continue
            tag = str(child.tag).lower()
            if tag == "caption":
                self._emit(self.inline_text(child))
            elif tag == "tr":
                self._row(child)
            elif tag in ("thead", "tbody", "tfoot"):
                for row in child:
                    if not self._skip(row) and str(row.tag).lower() == "tr":
                        self._row(row)

    def _row(self, row: etree._Element) -> None:
        cells = [
            " ".join(self.inline_text(cell).split())
            for cell in row
            if not self._skip(cell) and str(cell.tag).lower() in ("td", "th")
        ]
        if any(cells):
            self._emit(" | ".join(cells), "table_row")


def _meta(root: etree._Element, name: str) -> str | None:
    for meta in root.iter("meta"):
        if (meta.get("name") or "").strip().lower() == name:
            content = (meta.get("content") or "").strip()
            if content:
                return content
    return None


def html_document(html: str, context: LoadContext | None = None) -> LoadedDocument:
    """Blocks, title and metadata of an HTML text (also used for e-mail bodies)."""
    parser = lxml.html.HTMLParser(encoding="utf-8", remove_comments=True, remove_pis=True)
    try:
        root = lxml.html.document_fromstring(html.encode("utf-8"), parser=parser)
    except etree.ParserError:  # nothing but whitespace
        return LoadedDocument(blocks=[])
    if context is not None and any("Excessive depth" in e.message for e in parser.error_log):
        context.warn("is nested too deeply (over 256 levels); the text from there on is missing")
    extractor = _Extractor()
    body = root.find("body")
    extractor.container(body if body is not None else root)
    extractor.flush()
    blocks = extractor.blocks
    metadata: dict[str, Any] = {"hidden_elements": extractor.hidden}
    if lang := (root.get("lang") or root.get("xml:lang")):
        metadata["lang"] = lang.strip()
    for name in ("description", "author"):
        if value := _meta(root, name):
            metadata[name] = value
    title_element = root.find("head/title")
    title = "".join(str(t) for t in title_element.itertext()) if title_element is not None else ""
    if not title.strip():
        title = next((b.text for b in blocks if b.kind == "heading" and b.level == 1), "")
    return LoadedDocument(blocks=blocks, title=" ".join(title.split()) or None, metadata=metadata)


def _decode_html(data: bytes, context: LoadContext) -> str:
    """The charset a BOM or the page itself declares, else UTF-8, else a detected one."""
    match = _DECLARED_CHARSET.search(data[:4096])
    if match is None or data.startswith(_BOMS) or looks_binary(data):
        return decode_text(data, context)
    label = (match.group(1) or match.group(2)).decode("ascii").lower()
    try:
        encoding = codecs.lookup(label).name
    except LookupError:
        context.warn(f"declares an unknown charset {label!r}; ignored")
        return decode_text(data, context)
    if encoding in _MEANS_CP1252:
        encoding = "cp1252"
    elif encoding.startswith(("utf-16", "utf-32")):  # without a BOM that is a mistake
        encoding = "utf-8"
    try:
        return data.decode(encoding)
    except UnicodeDecodeError:
        context.warn(f"declares charset {label} but is not valid {label}")
        return decode_text(data, context)


class HtmlLoader(Loader):
    name = "html"
    extensions = (".html", ".htm", ".xhtml")

    def load(self, data: bytes, context: LoadContext) -> LoadedDocument:
        return html_document(_decode_html(data, context), context)
