"""Markdown (CommonMark with tables) through markdown-it-py; YAML front matter becomes metadata."""

from __future__ import annotations

import re
from functools import cache
from typing import Any

import yaml
from markdown_it import MarkdownIt
from markdown_it.token import Token

from leitstand.ingest.loaders._decode import decode_text
from leitstand.ingest.loaders.base import Block, LoadContext, LoadedDocument, Loader


def _front_matter(text: str, context: LoadContext) -> tuple[dict[str, Any], str]:
    if not text.startswith("---\n"):
        return {}, text
    end = text.find("\n---", 4)
    if end < 0:
        return {}, text
    try:
        data = yaml.safe_load(text[4:end])
    except yaml.YAMLError:
        context.warn("front matter is not valid YAML; kept as text")
        return {}, text
    rest = text[end + 4 :].split("\n", 1)
    return (data if isinstance(data, dict) else {}), (rest[1] if len(rest) > 1 else "")


# Inline content without any of these characters is plain text: no emphasis, code, links,
# images, HTML, entities or escapes, so it needs no inline parsing (most paragraphs of prose).
_INLINE_MARKUP = re.compile(r"[\\`*_\[\]<>!&~]|  \n")
_LINE_EDGES = re.compile(r" *\n[ \t]*")


def _inline_text(token: Token) -> str:
    content = token.content
    if not _INLINE_MARKUP.search(content):
        # What inline parsing gives plain text: line breaks as "\n" without the spaces
        # around them (softbreaks).
        return _LINE_EDGES.sub("\n", content) if "\n" in content else content
    [parsed] = _parser().parseInline(content)
    parts: list[str] = []
    for child in parsed.children or []:
        if child.type in ("text", "code_inline", "html_inline"):
            parts.append(child.content)
        elif child.type in ("softbreak", "hardbreak"):
            parts.append("\n")
        elif child.type == "image":
            parts.append(child.content or "")
    return "".join(parts)


class _Blocks:
    """Walks markdown-it's token stream and keeps track of where it is."""

    def __init__(self) -> None:
        self.blocks: list[Block] = []
        self.heading_level = 0
        self.list_depth = 0
        self.quote_depth = 0
        self.row: list[str] | None = None

    def feed(self, token: Token) -> None:
        kind = token.type
        if kind == "heading_open":
            self.heading_level = int(token.tag[1])
        elif kind == "heading_close":
            self.heading_level = 0
        elif kind in ("bullet_list_open", "ordered_list_open"):
            self.list_depth += 1
        elif kind in ("bullet_list_close", "ordered_list_close"):
            self.list_depth -= 1
        elif kind in ("blockquote_open", "blockquote_close"):
            self.quote_depth += 1 if kind.endswith("open") else -1
        elif kind == "tr_open":
            self.row = []
        elif kind == "tr_close" and self.row is not None:
            self.blocks.append(Block(" | ".join(self.row), "table_row"))
            self.row = None
        elif kind == "inline":
            self._inline(_inline_text(token))
        elif kind in ("fence", "code_block"):
            self.blocks.append(Block(token.content, "code"))

    def _inline(self, content: str) -> None:
        if self.row is not None:
            self.row.append(content.strip())
        elif self.heading_level:
            self.blocks.append(Block(content, "heading", level=self.heading_level))
        elif self.list_depth:
            self.blocks.append(Block(content, "list_item", level=self.list_depth))
        elif self.quote_depth:
            self.blocks.append(Block(content, "quote"))
        else:
            self.blocks.append(Block(content))


@cache
def _parser() -> MarkdownIt:
    """One parser per process: building it costs more than parsing a page. Inline content is
    parsed only where it has markup (see ``_inline_text``)."""
    return MarkdownIt("commonmark").enable("table")


@cache
def _block_parser() -> MarkdownIt:
    return MarkdownIt("commonmark").enable("table").disable("inline")


class MarkdownLoader(Loader):
    name = "md"
    extensions = (".md", ".markdown", ".mdown")

    def load(self, data: bytes, context: LoadContext) -> LoadedDocument:
        meta, text = _front_matter(decode_text(data, context), context)
        collector = _Blocks()
        for token in _block_parser().parse(text):
            collector.feed(token)
        blocks = collector.blocks
        title = meta.get("title")
        if not isinstance(title, str):
            title = next((b.text for b in blocks if b.kind == "heading" and b.level == 1), None)
        return LoadedDocument(blocks=blocks, title=title, metadata=meta)
