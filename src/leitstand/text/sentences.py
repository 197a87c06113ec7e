"""Sentence boundaries for German and English, as character spans.

A regular-expression splitter that knows the usual abbreviations ("z. B.", "bzw.", "Dr.",
"e.g."), ordinal dates ("am 3. Oktober") and initials. Fast enough for the request path.
"""

from __future__ import annotations

import re

_ABBREVIATIONS = frozenset(
    [
        "abb",
        "abs",
        "abt",
        "allg",
        "anm",
        "art",
        "bd",
        "bspw",
        "bzgl",
        "bzw",
        "ca",
        "chr",
        "co",
        "corp",
        "dgl",
        "di",
        "do",
        "dr",
        "dipl",
        "dt",
        "ebd",
        "ehem",
        "eig",
        "einschl",
        "engl",
        "entspr",
        "etc",
        "evtl",
        "ev",
        "fa",
        "ff",
        "fr",
        "frl",
        "geb",
        "gegr",
        "ges",
        "gest",
        "ggf",
        "hd",
        "hg",
        "hr",
        "hrsg",
        "ing",
        "inkl",
        "insb",
        "jh",
        "jr",
        "jun",
        "kap",
        "kfz",
        "kl",
        "lt",
        "ltd",
        "mio",
        "mo",
        "mr",
        "mrs",
        "ms",
        "mrd",
        "nr",
        "nrn",
        "o",
        "od",
        "pkt",
        "prof",
        "rd",
        "ref",
        "s",
        "sa",
        "sek",
        "sen",
        "sog",
        "st",
        "std",
        "str",
        "tel",
        "u",
        "ua",
        "ugs",
        "urspr",
        "usw",
        "v",
        "vgl",
        "vs",
        "z",
        "zb",
        "zt",
        "zzgl",
        "eg",
        "ie",
        "al",
        "approx",
        "dept",
        "est",
        "fig",
        "inc",
        "no",
        "vol",
        "jan",
        "feb",
        "mar",
        "apr",
        "jun",
        "jul",
        "aug",
        "sep",
        "sept",
        "oct",
        "okt",
        "nov",
        "dec",
        "dez",
    ]
)
# Abbreviations that often end a sentence: a capital letter after them starts a new one.
_TERMINAL = frozenset({"usw", "etc", "ff"})
_MONTHS = frozenset(
    [
        "januar",
        "februar",
        "märz",
        "april",
        "mai",
        "juni",
        "juli",
        "august",
        "september",
        "oktober",
        "november",
        "dezember",
        "jahrhundert",
        "jahrhunderts",
    ]
)
_CANDIDATE = re.compile(r"[.!?…]+[\"'”“»«)\]]*(?=\s+)|\n\s*\n|\n(?=\s*(?:[-•*–]|\d+[.)])\s)")
_WORD = re.compile(r"\w+")
_NEXT_WORD = re.compile(r"\s*(\S+)")


def _is_boundary(text: str, end: int, mark: str) -> bool:
    if "\n" in mark or mark[0] in "!?…":
        return True
    # The last word before the mark (within 30 characters): a pattern anchored at the end
    # ("(\w+)\W*$") would be tried at every position, this reads each character once.
    words = _WORD.findall(text, max(0, end - len(mark) - 30), end - len(mark) + 1)
    word = words[-1] if words else ""
    after = _NEXT_WORD.match(text, end)
    following = after.group(1) if after else ""
    if not following:
        return True
    first = following.lstrip("\"'„“”»«([")[:1]
    lowered = word.lower()
    if lowered in _TERMINAL:
        return first.isupper()
    if lowered in _ABBREVIATIONS or (len(word) == 1 and word.isalpha()):
        return False
    if word.isdigit() and following.rstrip(".,").lower() in _MONTHS:
        return False
    return not first.islower()


def sentence_spans(text: str, start: int = 0, end: int | None = None) -> list[tuple[int, int]]:
    """``(start, end)`` spans of the sentences in ``text[start:end]``, whitespace trimmed."""
    end = len(text) if end is None else end
    spans: list[tuple[int, int]] = []
    cursor = start
    for match in _CANDIDATE.finditer(text, start, end):
        if _is_boundary(text, match.end(), match.group()):
            spans.append((cursor, match.end()))
            cursor = match.end()
    spans.append((cursor, end))
    result = []
    for span_left, span_right in spans:
        left, right = span_left, span_right
        while left < right and text[left].isspace():
            left += 1
        while right > left and text[right - 1].isspace():
            right -= 1
        if right > left:
            result.append((left, right))
    return result


def split_sentences(text: str) -> list[str]:
    return [text[a:b] for a, b in sentence_spans(text)]
