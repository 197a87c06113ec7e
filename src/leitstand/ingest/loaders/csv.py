"""CSV and TSV: one table row per line, rendered as "Column: value; Column: value".

The delimiter is the one that splits the first lines into the same number of fields most
consistently (German Excel writes ``;``); Excel's ``sep=`` first line is honoured. The first
row is taken as the header when it reads like labels: filled, distinct and not numbers.
"""

from __future__ import annotations

import csv
import io
import re
from pathlib import PurePath

from leitstand.ingest.loaders._decode import decode_text
from leitstand.ingest.loaders.base import Block, LoadContext, LoadedDocument, Loader, LoadError

_CANDIDATES = (";", ",", "\t", "|")
_SAMPLE_LINES = 50
_EXCEL_SEP = re.compile(r"^\ufeff?sep=(.)\r?\n", re.IGNORECASE)
_VALUE = re.compile(r"^[-+]?[\d.,' ]*\d[\d.,' ]*%?$|^\d{1,4}[-./]\d{1,2}[-./]\d{1,4}")


def _rows(text: str, delimiter: str, limit: int | None = None) -> list[list[str]]:
    rows: list[list[str]] = []
    for row in csv.reader(io.StringIO(text, newline=""), delimiter=delimiter):
        rows.append(row)
        if limit is not None and len(rows) >= limit:
            break
    return rows


def _delimiter(text: str, default: str) -> str:
    """The candidate that gives the most rows with the same field count (and more than one)."""
    sample = "\n".join(text.splitlines()[:_SAMPLE_LINES])
    best, best_score = default, 0.0
    for candidate in _CANDIDATES:
        try:
            widths = [len(row) for row in _rows(sample, candidate) if any(row)]
        except csv.Error:
            continue
        if not widths:
            continue
        common = max(set(widths), key=widths.count)
        if common < 2:
            continue
        score = widths.count(common) / len(widths) + (0.01 if candidate == default else 0)
        if score > best_score:
            best, best_score = candidate, score
    return best


def _is_header(first: list[str], rest: list[list[str]]) -> bool:
    """Labels: every cell filled, distinct, short, and none a number or a date."""
    cells = [cell.strip() for cell in first]
    if not rest or not all(cells) or len({cell.lower() for cell in cells}) < len(cells):
        return False
    return not any(_VALUE.match(cell) or len(cell) > 80 for cell in cells)


def _render(row: list[str], header: list[str] | None) -> str:
    values = [cell.strip() for cell in row]
    if header is None:
        return " | ".join(value for value in values if value)
    pairs = []
    for index, value in enumerate(values):
        if not value:
            continue
        name = header[index] if index < len(header) else ""
        pairs.append(f"{name}: {value}" if name else value)
    return "; ".join(pairs)


class CsvLoader(Loader):
    name = "csv"
    extensions = (".csv", ".tsv")

    def load(self, data: bytes, context: LoadContext) -> LoadedDocument:
        text = decode_text(data, context)
        default = "\t" if context.path.lower().endswith(".tsv") else ","
        if excel := _EXCEL_SEP.match(text):
            delimiter, text = excel.group(1), text[excel.end() :]
        else:
            delimiter = _delimiter(text, default)
        try:
            rows = [row for row in _rows(text, delimiter) if any(cell.strip() for cell in row)]
        except csv.Error as exc:
            raise LoadError(
                f"cannot be read as CSV ({exc})",
                hint="check the quoting, or export the table again as CSV (UTF-8)",
            ) from exc
        header: list[str] | None = None
        if rows and _is_header(rows[0], rows[1:]):
            header = [cell.strip() for cell in rows.pop(0)]
        blocks = []
        for number, row in enumerate(rows):
            if number % 1000 == 0:
                context.check_deadline()
            if header is None or [cell.strip() for cell in row] != header:  # repeated header
                blocks.append(Block(_render(row, header), "table_row"))
        metadata = {"delimiter": delimiter, "rows": len(blocks), "columns": header or []}
        return LoadedDocument(
            blocks=blocks, title=PurePath(context.path).stem or None, metadata=metadata
        )
