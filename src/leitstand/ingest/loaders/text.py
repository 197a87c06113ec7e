"""Plain text: paragraphs by blank lines, bullets as list items, short title lines as headings."""

from __future__ import annotations

import re

from leitstand.ingest.loaders._decode import decode_text
from leitstand.ingest.loaders.base import Block, LoadContext, LoadedDocument, Loader

_BULLET = re.compile(r"^\s*(?:[•\-*–·▪◦‣]|\d{1,3}[.)])\s+")
_BLANK = re.compile(r"\n[ \t]*\n+")
_UNWRAPPED_LINE = 200


def _is_heading(lines: list[str], next_block: str | None) -> bool:
    text = " ".join(line.strip() for line in lines)
    if not text or len(lines) > 4 or len(text) > 120 or next_block is None:
        return False
    if _BULLET.match(lines[0]) or not (text[0].isupper() or text[0].isdigit()):
        return False
    if text.endswith("?"):
        return len(text) <= 90 and len(next_block) > len(text)
    return text[-1] not in ".!:;,…-–)\"”'" and len(text.split()) <= 15


def text_blocks(text: str) -> list[Block]:
    """Blocks of a plain text; also used for e-mail bodies."""
    paragraphs = [p for p in _BLANK.split(text.replace("\r\n", "\n")) if p.strip()]
    blocks: list[Block] = []
    for index, paragraph in enumerate(paragraphs):
        lines = [line for line in paragraph.split("\n") if line.strip()]
        following = paragraphs[index + 1] if index + 1 < len(paragraphs) else None
        if _is_heading(lines, following):
            blocks.append(Block(" ".join(line.strip() for line in lines), "heading", level=2))
            continue
        unwrapped = max(len(line) for line in lines) > _UNWRAPPED_LINE
        current: list[str] = []
        for position, line in enumerate(lines):
            bullet = _BULLET.match(line)
            if current and (bullet or unwrapped):
                blocks.append(_block(current))
                current = []
            if unwrapped and not bullet:
                next_line = lines[position + 1] if position + 1 < len(lines) else None
                if _is_heading([line], next_line):
                    blocks.append(Block(line.strip(), "heading", level=2))
                    continue
            current.append(line)
        if current:
            blocks.append(_block(current))
    return blocks


def _block(lines: list[str]) -> Block:
    text = "\n".join(lines)
    bullet = _BULLET.match(text)
    if bullet:
        return Block(text[bullet.end() :], "list_item", level=1)
    return Block(text)


class TextLoader(Loader):
    name = "txt"
    extensions = (".txt", ".text", ".log", ".rst")

    def load(self, data: bytes, context: LoadContext) -> LoadedDocument:
        blocks = text_blocks(decode_text(data, context))
        title = blocks[0].text if blocks and blocks[0].kind == "heading" else None
        return LoadedDocument(blocks=blocks, title=title)
