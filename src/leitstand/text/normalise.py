"""Normalisation of extracted text: Unicode NFC, invisible characters, whitespace, hyphenation.

Loaders hand over text as the file holds it; :func:`normalise_block` makes one paragraph
(or heading, list item, table row) clean before it is chunked and indexed. Offsets that
citations use refer to the normalised text.
"""

from __future__ import annotations

import re
import unicodedata

_LIGATURES = {"ﬀ": "ff", "ﬁ": "fi", "ﬂ": "fl", "ﬃ": "ffi", "ﬄ": "ffl", "ﬅ": "st", "ﬆ": "st"}
_LIGATURE = re.compile("[\ufb00-\ufb06]")
# Soft hyphen, zero-width space/joiners, word joiner, BOM, bidi marks and isolates.
_INVISIBLE = re.compile(
    "[\u00ad\u200b\u200c\u200d\u2060\ufeff\u200e\u200f\u202a-\u202e\u2066-\u2069]"
)
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_CONTROL_BYTES = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\r]")
_SPACES = re.compile(r"[ \t\u00a0\u2000-\u200a\u202f\u205f\u3000]+")
# "Daten-\nbank" -> "Datenbank"; "Retrieval-\nAugmented" keeps its hyphen;
# "HNSW-\noder IVF" keeps hyphen and space (an elided compound part).
_HYPHEN_BREAK = re.compile(r"(\w)[-‐]\s*\n\s*(?=(\w+))")
_CONJUNCTIONS = frozenset({"und", "oder", "bzw", "sowie", "als", "bis", "and", "or", "to"})


def _join_hyphenated(match: re.Match[str]) -> str:
    before, following = match.group(1), match.group(2)
    if following.lower() in _CONJUNCTIONS:
        return before + "- "
    if before.islower() and following[0].islower():
        return before
    return before + "-"


def normalise_text(text: str) -> str:
    """NFC, no invisible or control characters, uniform line ends; keeps line structure."""
    if not text.isascii():
        text = _LIGATURE.sub(lambda match: _LIGATURES[match.group()], text)
        text = unicodedata.normalize("NFC", text)
        text = text.replace("\u2028", "\n").replace("\u2029", "\n\n")
        text = _INVISIBLE.sub("", text)
    if _CONTROL_BYTES.search(text):
        text = text.replace("\r\n", "\n").replace("\r", "\n")
        text = _CONTROL.sub(" ", text)
    return text


def normalise_block(text: str, *, keep_lines: bool = False) -> str:
    """One block as a single clean line (or clean lines with ``keep_lines``, for code)."""
    text = normalise_text(text)
    if keep_lines:
        lines = (_SPACES.sub(" ", line).rstrip() for line in text.split("\n"))
        return "\n".join(lines).strip("\n")
    if "\n" in text:
        text = _HYPHEN_BREAK.sub(_join_hyphenated, text)
    return " ".join(text.split())
