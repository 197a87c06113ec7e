"""leitstand's own text analyser: the same terms at ingest and at query time, on every backend.

Steps: Unicode NFKC and lower-casing, tokenisation that keeps hyphenated compounds
("Vektor-Datenbanken" gives ``vektor``, ``datenbank`` and ``vektordatenbank``), stop words,
Snowball stemming per language (PyStemmer), and finally folding of diacritics and ``ß`` so
that the OCR form "fur" and "für" meet.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from functools import cache
from importlib import resources

import Stemmer

SUPPORTED_LANGUAGES: dict[str, str] = {
    "ar": "arabic",
    "ca": "catalan",
    "cs": "czech",
    "da": "danish",
    "de": "german",
    "el": "greek",
    "en": "english",
    "es": "spanish",
    "et": "estonian",
    "eu": "basque",
    "fi": "finnish",
    "fr": "french",
    "ga": "irish",
    "hi": "hindi",
    "hu": "hungarian",
    "hy": "armenian",
    "id": "indonesian",
    "it": "italian",
    "lt": "lithuanian",
    "ne": "nepali",
    "nl": "dutch",
    "no": "norwegian",
    "pl": "polish",
    "pt": "portuguese",
    "ro": "romanian",
    "ru": "russian",
    "sr": "serbian",
    "sv": "swedish",
    "ta": "tamil",
    "tr": "turkish",
}
"""ISO 639-1 codes with a Snowball stemmer; the values are PyStemmer's algorithm names."""

# Words are runs of letters and digits; underscores separate, as in PostgreSQL's parser.
_WORD = re.compile(r"[^\W_]+(?:[-‐‑][^\W_]+)*")
_HYPHENS = re.compile(r"[-‐‑]")
_FOLD_TABLE = str.maketrans({"ß": "ss", "ẞ": "ss", "æ": "ae", "œ": "oe", "ø": "o", "ł": "l", "đ": "d"})
MAX_TOKEN_CHARS = 64


def fold(word: str) -> str:
    """Remove diacritics and expand ligatures: "Größe" -> "grosse" (expects lower case)."""
    if word.isascii():
        return word
    decomposed = unicodedata.normalize("NFKD", word.translate(_FOLD_TABLE))
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


@cache
def stop_words(language: str) -> frozenset[str]:
    """The folded stop words of a language; empty for languages without a list."""
    try:
        text = resources.files("leitstand.search").joinpath(f"stopwords/{language}.txt").read_text(
            encoding="utf-8"
        )
    except FileNotFoundError:
        return frozenset()
    words = (line.strip() for line in text.splitlines())
    return frozenset(fold(word) for word in words if word and not word.startswith("#"))


class Analyser:
    """Turns text into index terms for one of the configured languages."""

    def __init__(self, languages: Sequence[str] = ("de", "en")) -> None:
        unknown = [code for code in languages if code not in SUPPORTED_LANGUAGES]
        if unknown:
            raise ValueError(f"no stemmer for language {unknown[0]!r}")
        self.languages = tuple(languages)
        self.default_language = self.languages[0]
        self._stemmers = {code: Stemmer.Stemmer(SUPPORTED_LANGUAGES[code]) for code in languages}
        for stemmer in self._stemmers.values():
            stemmer.maxCacheSize = 50_000

    def words(self, text: str) -> list[str]:
        """Lower-cased words; hyphenated compounds are split and also joined."""
        words: list[str] = []
        for match in _WORD.finditer(unicodedata.normalize("NFKC", text).lower()):
            word = match.group()
            if len(word) > MAX_TOKEN_CHARS:
                continue
            if "-" in word or "‐" in word or "‑" in word:
                parts = [part for part in _HYPHENS.split(word) if part]
                words.extend(parts)
                if len(parts) > 1:
                    words.append("".join(parts))
            else:
                words.append(word)
        return words

    def _language(self, language: str | None) -> str:
        return language if language in self._stemmers else self.default_language

    def terms(self, text: str, language: str | None = None) -> list[str]:
        """Index terms of ``text`` in document order (stop words removed, stemmed, folded)."""
        code = self._language(language)
        stops = stop_words(code)
        kept = [word for word in self.words(text) if fold(word) not in stops]
        return [fold(stem) for stem in self._stemmers[code].stemWords(kept)]

    def analyse(self, text: str, language: str | None = None) -> str:
        """The analysed form stored with a chunk: its terms joined by spaces."""
        return " ".join(self.terms(text, language))

    def query_terms(self, text: str, languages: Iterable[str | None] = (None,)) -> list[str]:
        """Distinct terms of a query, analysed in each of the given languages, in order."""
        seen: dict[str, None] = {}
        for language in languages:
            for term in self.terms(text, language):
                seen.setdefault(term, None)
        return list(seen)
