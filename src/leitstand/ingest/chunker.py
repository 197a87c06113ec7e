"""From blocks to chunks: one normalised document text, chunks as exact spans of it.

Blocks are normalised and joined with blank lines into the document text that is stored and
cited. Chunks collect whole blocks up to the target size, never cross a heading, split a long
block at sentence boundaries (and a run-on sentence at word boundaries), and remember the
heading path above them and the pages they cover.
"""

from __future__ import annotations

from dataclasses import dataclass

from leitstand.ingest.loaders.base import Block
from leitstand.text.normalise import normalise_block
from leitstand.text.sentences import sentence_spans

BLOCK_SEPARATOR = "\n\n"
LIST_MARKER = "- "
"""List items keep a marker in the document text, so lists still read as lists."""


@dataclass(frozen=True)
class PlacedBlock:
    start: int
    end: int
    kind: str
    level: int
    page: int | None


@dataclass(frozen=True)
class ChunkSpan:
    start: int
    end: int
    heading: str
    page_start: int | None
    page_end: int | None


def assemble(blocks: list[Block]) -> tuple[str, list[PlacedBlock]]:
    """Normalise the blocks and join them into the document text; empty blocks are dropped."""
    parts: list[str] = []
    placed: list[PlacedBlock] = []
    offset = 0
    for block in blocks:
        text = normalise_block(block.text, keep_lines=block.kind == "code")
        if not text:
            continue
        if block.kind == "list_item":
            text = LIST_MARKER + text
        if parts:
            offset += len(BLOCK_SEPARATOR)
        parts.append(text)
        placed.append(PlacedBlock(offset, offset + len(text), block.kind, block.level, block.page))
        offset += len(text)
    return BLOCK_SEPARATOR.join(parts), placed


def _pieces(text: str, block: PlacedBlock, limit: int) -> list[tuple[int, int]]:
    """Sub-spans of an oversized block, cut at sentences, then at spaces."""
    pieces: list[tuple[int, int]] = []
    for sentence_start, end in sentence_spans(text, block.start, block.end):
        start = sentence_start
        while end - start > limit:
            cut = text.rfind(" ", start, start + limit)
            cut = cut if cut > start else start + limit
            pieces.append((start, cut))
            start = cut + 1 if text[cut : cut + 1] == " " else cut
        if end > start:
            pieces.append((start, end))
    return pieces


class Chunker:
    def __init__(self, chunk_chars: int = 1000, overlap_sentences: int = 0) -> None:
        self.chunk_chars = chunk_chars
        self.overlap_sentences = overlap_sentences

    def chunk(self, text: str, blocks: list[PlacedBlock]) -> list[ChunkSpan]:
        chunks: list[ChunkSpan] = []
        headings: list[tuple[int, str]] = []
        units: list[tuple[int, int, int | None]] = []  # (start, end, page) waiting for a chunk

        def heading_path() -> str:
            return " > ".join(title for _, title in headings)

        def flush() -> None:
            if units:
                chunks.extend(self._pack(text, units, heading_path()))
                units.clear()

        for block in blocks:
            if block.kind == "heading":
                flush()
                level = block.level or 1
                while headings and headings[-1][0] >= level:
                    headings.pop()
                headings.append((level, text[block.start : block.end]))
                continue
            if block.end - block.start > self.chunk_chars:
                units.extend((a, b, block.page) for a, b in _pieces(text, block, self.chunk_chars))
            else:
                units.append((block.start, block.end, block.page))
        flush()
        if not chunks and headings:
            # A document of headings only (a table of contents, a slide title): index them.
            first = blocks[0]
            last = blocks[-1]
            chunks.append(ChunkSpan(first.start, last.end, "", first.page, last.page))
        return chunks

    def _pack(
        self, text: str, units: list[tuple[int, int, int | None]], heading: str
    ) -> list[ChunkSpan]:
        groups: list[list[tuple[int, int, int | None]]] = [[]]
        for unit in units:
            group = groups[-1]
            if group and unit[1] - group[0][0] > self.chunk_chars:
                groups.append([])
            groups[-1].append(unit)
        # A short tail joins its predecessor when the two stay within 1.5 times the target.
        if len(groups) > 1:
            tail, previous = groups[-1], groups[-2]
            if (
                tail[-1][1] - tail[0][0] < self.chunk_chars // 4
                and tail[-1][1] - previous[0][0] <= self.chunk_chars * 3 // 2
            ):
                previous.extend(groups.pop())
        spans = []
        for index, group in enumerate(groups):
            start = group[0][0]
            if self.overlap_sentences and index > 0:
                previous_sentences = sentence_spans(text, groups[index - 1][0][0], start)
                if previous_sentences:
                    start = previous_sentences[-self.overlap_sentences :][0][0]
            pages = [page for _, _, page in group if page is not None]
            spans.append(
                ChunkSpan(
                    start,
                    group[-1][1],
                    heading,
                    pages[0] if pages else None,
                    pages[-1] if pages else None,
                )
            )
        return spans
