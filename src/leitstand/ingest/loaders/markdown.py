"""Markdown (CommonMark with tables) through markdown-it-py; YAML front matter becomes metadata."""

from __future__ import annotations

from typing import Any

import yaml
from markdown_it import MarkdownIt
from markdown_it.token import Token

from leitstand.ingest.loaders._decode import decode_text
from leitstand.ingest.loaders.base import Block, BlockKind, LoadContext, LoadedDocument, Loader


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


def _inline_text(token: Token) -> str:
    parts: list[str] = []
    for child in token.children or []:
        if child.type in ("text", "code_inline", "html_inline"):
            parts.append(child.content)
        elif child.type == "softbreak":
            parts.append("\n")
        elif child.type == "hardbreak":
            parts.append("\n")
        elif child.type == "image":
            parts.append(child.content or "")
    return "".join(parts)


class MarkdownLoader(Loader):
    name = "md"
    extensions = (".md", ".markdown", ".mdown")

    def load(self, data: bytes, context: LoadContext) -> LoadedDocument:
        meta, text = _front_matter(decode_text(data, context), context)
        tokens = MarkdownIt("commonmark").enable("table").parse(text)
        blocks: list[Block] = []
        kind: BlockKind = "paragraph"
        level = 0
        list_depth = 0
        quote_depth = 0
        row: list[str] | None = None
        for token in tokens:
            if token.type == "heading_open":
                kind, level = "heading", int(token.tag[1])
            elif token.type in ("bullet_list_open", "ordered_list_open"):
                list_depth += 1
            elif token.type in ("bullet_list_close", "ordered_list_close"):
                list_depth -= 1
            elif token.type == "blockquote_open":
                quote_depth += 1
            elif token.type == "blockquote_close":
                quote_depth -= 1
            elif token.type == "tr_open":
                row = []
            elif token.type == "tr_close" and row is not None:
                blocks.append(Block(" | ".join(row), "table_row"))
                row = None
            elif token.type == "inline":
                content = _inline_text(token)
                if row is not None:
                    row.append(content.strip())
                elif kind == "heading":
                    blocks.append(Block(content, "heading", level=level))
                elif list_depth:
                    blocks.append(Block(content, "list_item", level=list_depth))
                elif quote_depth:
                    blocks.append(Block(content, "quote"))
                else:
                    blocks.append(Block(content))
            elif token.type == "heading_close":
                kind, level = "paragraph", 0
            elif token.type in ("fence", "code_block"):
                blocks.append(Block(token.content, "code"))
        title = meta.get("title")
        if not isinstance(title, str):
            title = next((b.text for b in blocks if b.kind == "heading" and b.level == 1), None)
        return LoadedDocument(blocks=blocks, title=title, metadata=meta)
