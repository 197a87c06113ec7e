"""Layout of PDF text: lines with font size and position, made into headings and paragraphs.

pypdf hands over text fragments with their font size and text matrix. Lines in a clearly
larger font than the body text are headings (the largest size is level 1); a gap between
lines much wider than the usual line distance starts a new paragraph; page numbers and lines
that repeat at the top or bottom of many pages (running headers and footers) are dropped.
"""

from __future__ import annotations

import itertools
import math
import re
import statistics
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from leitstand.ingest.loaders.base import Block
from leitstand.ingest.loaders.text import text_blocks

if TYPE_CHECKING:
    from pypdf import PageObject

_HEADING_RATIO = 1.15
"""A line whose font is this much larger than the body text is a heading."""
_HEADING_CHARS = 150
_PARAGRAPH_GAP = 1.4
"""A gap between lines this much larger than the usual line distance starts a paragraph."""
_DIGITS = re.compile(r"\d+")
_PAGE_NUMBER = re.compile(
    r"\s*(?:(?:seite|page|s\.|p\.)\s*)?[-–]?\s*"
    r"(?:\d+|(?=[ivxlc])(?:x[cl]|l?x{0,3})(?:i[xv]|v?i{0,3}))\s*[-–]?"
    r"(?:\s*(?:von|of|/)\s*\d+)?\s*$",
    re.IGNORECASE,
)


@dataclass
class Line:
    text: str
    size: float
    y: float | None


@dataclass
class _LineCollector:
    """Receives pypdf's text fragments and cuts them into lines with font size and position."""

    lines: list[Line] = field(default_factory=list)
    _text: list[str] = field(default_factory=list)
    _sizes: Counter[float] = field(default_factory=Counter)
    _y: float | None = None

    def visit(self, text: Any, cm: Any, tm: Any, font: Any, font_size: Any) -> None:
        if not isinstance(text, str) or not text:
            return
        # The text matrix times the current transformation: its second row scales glyph
        # height, its last row is the position on the page.
        _, _, c, d, e, f = (float(v) for v in tm)
        ca, cb, cc, cd, _, cf = (float(v) for v in cm)
        scale = math.hypot(c * ca + d * cc, c * cb + d * cd)
        size = round(float(font_size or 0) * scale, 1)
        y = e * cb + f * cd + cf
        pieces = text.split("\n")
        for index, piece in enumerate(pieces):
            if index:
                self.end_line()
            if piece.strip():
                self._text.append(piece)
                self._sizes[size] += len(piece.strip())
                if self._y is None:
                    self._y = y
            elif piece:
                self._text.append(piece)

    def end_line(self) -> None:
        text = "".join(self._text).rstrip()
        if text.strip():
            size = self._sizes.most_common(1)[0][0] if self._sizes else 0.0
            self.lines.append(Line(text, size, self._y))
        self._text, self._sizes, self._y = [], Counter(), None


def page_lines(page: PageObject) -> tuple[list[Line], str]:
    collector = _LineCollector()
    plain = page.extract_text(visitor_text=collector.visit)
    collector.end_line()
    return collector.lines, plain


def _paragraphs(lines: list[Line], body: float, levels: dict[float, int]) -> list[list[Line]]:
    """Lines grouped into headings (by font size) and paragraphs (split at wide gaps)."""
    gaps = [
        prev.y - line.y
        for prev, line in itertools.pairwise(lines)
        if prev.y is not None and line.y is not None and prev.size == line.size == body
    ]
    usual = statistics.median_low([gap for gap in gaps if gap > body / 2] or [0.0])
    groups: list[list[Line]] = []
    for line in lines:
        prev = groups[-1][-1] if groups else None
        if prev is not None:
            gap = prev.y - line.y if prev.y is not None and line.y is not None else 0.0
            wide = usual > 0 and (gap > usual * _PARAGRAPH_GAP or gap < -usual)
            same_role = _level(prev, levels) == _level(line, levels)
            if same_role and not (wide and not prev.text.endswith("-")):
                groups[-1].append(line)
                continue
        groups.append([line])
    return groups


def _level(line: Line, levels: dict[float, int]) -> int | None:
    return levels.get(line.size) if len(line.text) <= _HEADING_CHARS else None


def _page_blocks(
    lines: list[Line], page: int, body: float, levels: dict[float, int]
) -> list[Block]:
    groups = _paragraphs(lines, body, levels)
    if not levels:  # one font size: let the plain-text rules find short title lines
        text = "\n\n".join("\n".join(line.text for line in group) for group in groups)
        return [Block(b.text, b.kind, b.level, page) for b in text_blocks(text)]
    blocks: list[Block] = []
    for group in groups:
        text = "\n".join(line.text for line in group)
        level = _level(group[0], levels)
        if level is not None and len(group) <= 3:
            blocks.append(Block(" ".join(text.split()), "heading", level=level, page=page))
        else:
            blocks.extend(
                Block(b.text, "paragraph" if b.kind == "heading" else b.kind, b.level, page)
                for b in text_blocks(text)
            )
    return blocks


def _drop_running_lines(pages: list[list[Line]]) -> None:
    """Remove page headers and footers: lines at a page's edge that repeat on most pages."""
    if len(pages) < 3:
        return

    def key(line: Line) -> str:
        return _DIGITS.sub("#", " ".join(line.text.split()).lower())

    edges = [lines[:2] + lines[-2:] for lines in pages]
    seen: Counter[str] = Counter()
    for lines in edges:
        seen.update({key(line) for line in lines})
    running = {k for k, n in seen.items() if n >= max(3, len(pages) // 4)}
    for lines, edge in zip(pages, edges, strict=True):
        for line in edge:
            if (key(line) in running or _PAGE_NUMBER.match(line.text)) and line in lines:
                lines.remove(line)


def _heading_levels(pages: list[list[Line]]) -> tuple[float, dict[float, int]]:
    """The body font size and a heading level for each clearly larger size."""
    weight: Counter[float] = Counter()
    for lines in pages:
        for line in lines:
            weight[line.size] += len(line.text)
    if not weight:
        return 0.0, {}
    body = weight.most_common(1)[0][0]
    larger = sorted(
        {
            line.size
            for lines in pages
            for line in lines
            if body > 0 and line.size >= body * _HEADING_RATIO and len(line.text) <= _HEADING_CHARS
        },
        reverse=True,
    )
    return body, {size: min(index + 1, 6) for index, size in enumerate(larger)}


def layout_blocks(pages: list[list[Line]], plain: list[str]) -> list[Block]:
    """Blocks of all pages; ``plain`` is pypdf's own text, used where no lines were seen."""
    _drop_running_lines(pages)
    body, levels = _heading_levels(pages)
    blocks: list[Block] = []
    for number, (lines, text) in enumerate(zip(pages, plain, strict=True), start=1):
        if lines:
            blocks.extend(_page_blocks(lines, number, body, levels))
        else:
            blocks.extend(Block(b.text, b.kind, b.level, number) for b in text_blocks(text))
    return blocks
