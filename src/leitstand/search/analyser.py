"""leitstand's own text analyser: the same terms at ingest and at query time, on every backend.

Steps: Unicode NFKC, lower-casing and folding of diacritics and ``ß`` (so the OCR form
"fur" and "für" are the same word from the start), tokenisation that keeps hyphenated
compounds ("Vektor-Datenbanken" gives ``vektor``, ``datenbank`` and ``vektordatenbank``),
stop words, German compound splitting ("Vektordatenbank" also gives ``vektor``, ``datenbank``,
``daten``, ``bank``; see ``compounds.py``), and Snowball stemming per language (PyStemmer).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from functools import cache
from importlib import resources
from itertools import chain

import Stemmer

from leitstand.search.compounds import Decompounder, GermanDecompounder

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


def _mark_class() -> str:
    """Combining marks (Unicode Mn, Mc, Me) as a character-class body for ``re``.

    Python's ``\\w`` leaves them out, which would cut "हिन्दी" into single letters.
    """
    ranges: list[tuple[int, int]] = []
    for code in range(0x300, 0x10000):
        if unicodedata.category(chr(code)) in ("Mn", "Mc", "Me"):
            if ranges and ranges[-1][1] == code - 1:
                ranges[-1] = (ranges[-1][0], code)
            else:
                ranges.append((code, code))
    return "".join(f"\\u{a:04x}-\\u{b:04x}" if a != b else f"\\u{a:04x}" for a, b in ranges)


# Words are runs of letters, digits and combining marks. Underscores separate words, as in
# PostgreSQL's parser: they are turned into spaces before matching.
_WORD_CLASS = rf"[\w{_mark_class()}]"
_WORD = re.compile(rf"{_WORD_CLASS}+")
# A word, or words joined by single hyphens ("vektor-datenbank").
_TOKEN = re.compile(rf"{_WORD_CLASS}+(?:-{_WORD_CLASS}+)*")
_ASCII_TOKEN = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")  # the same for folded ASCII text
_SPECIAL = {"ß": "ss", "ẞ": "ss", "æ": "ae", "œ": "oe", "ø": "o", "ł": "l", "đ": "d"}
_SPECIAL_CHARS = re.compile("[ßẞæœøłđ]")
_COMBINING = re.compile("[\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]+")
MAX_TOKEN_CHARS = 64
MEMO_WORDS = 200_000
"""Words whose terms an analyser remembers per language (then it starts again)."""


def fold(text: str) -> str:
    """Lower-case text without diacritics, ligatures expanded: "Größe" -> "grosse"."""
    text = text.lower()
    if text.isascii():
        return text
    text = _SPECIAL_CHARS.sub(lambda match: _SPECIAL[match.group()], text)
    return _COMBINING.sub("", unicodedata.normalize("NFKD", text))


@cache
def stop_words(language: str) -> frozenset[str]:
    """The folded stop words of a language; empty for languages without a list."""
    try:
        text = (
            resources.files("leitstand.search")
            .joinpath(f"stopwords/{language}.txt")
            .read_text(encoding="utf-8")
        )
    except FileNotFoundError:
        return frozenset()
    words = (line.strip() for line in text.splitlines())
    return frozenset(fold(word) for word in words if word and not word.startswith("#"))


def default_decompounders(languages: Iterable[str]) -> dict[str, Decompounder]:
    """The built-in compound splitters for the configured languages (German only)."""
    if "de" not in languages:
        return {}
    return {"de": GermanDecompounder(stop_words=stop_words("de"))}


class Analyser:
    """Turns text into index terms for one of the configured languages.

    ``decompounders`` maps a language to its compound splitter; by default German words are
    split with the bundled lexicon (loaded on first use), ``{}`` turns splitting off.
    """

    def __init__(
        self,
        languages: Sequence[str] = ("de", "en"),
        *,
        decompounders: Mapping[str, Decompounder] | None = None,
    ) -> None:
        unknown = [code for code in languages if code not in SUPPORTED_LANGUAGES]
        if unknown:
            raise ValueError(f"no stemmer for language {unknown[0]!r}")
        self.languages = tuple(languages)
        self.default_language = self.languages[0]
        self._stemmers = {code: Stemmer.Stemmer(SUPPORTED_LANGUAGES[code]) for code in languages}
        for stemmer in self._stemmers.values():
            stemmer.maxCacheSize = 50_000
        self.decompounders = dict(
            default_decompounders(languages) if decompounders is None else decompounders
        )
        self._memo: dict[str, dict[str, tuple[str, ...]]] = {code: {} for code in languages}

    def words(self, text: str) -> list[str]:
        """Folded words; hyphenated compounds also give their joined form (at the end)."""
        words, joined = self._words(text)
        return words + joined if joined else words

    def _words(self, text: str) -> tuple[list[str], list[str]]:
        """The folded words, and the joined forms of hyphenated compounds."""
        if not text.isascii():
            text = unicodedata.normalize("NFKC", text)
            if "‐" in text or "‑" in text:
                text = text.replace("‐", "-").replace("‑", "-")
        text = fold(text)
        if "_" in text:
            text = text.replace("_", " ")
        tokens = (_ASCII_TOKEN if text.isascii() else _TOKEN).findall(text)
        if tokens and max(map(len, tokens)) > MAX_TOKEN_CHARS:
            tokens = [t for t in tokens if "-" in t or len(t) <= MAX_TOKEN_CHARS]
        if "-" not in text:
            return tokens, []
        # Hyphenated tokens give their words (split in one pass) and their joined form.
        words = "\0".join(tokens).replace("-", "\0").split("\0")
        joined = [token.replace("-", "") for token in tokens if "-" in token]
        if len(words) > len(tokens):
            words = [word for word in words if len(word) <= MAX_TOKEN_CHARS]
            joined = [form for form in joined if len(form) <= MAX_TOKEN_CHARS]
        return words, joined

    def _language(self, language: str | None) -> str:
        return language if language in self._stemmers else self.default_language

    def tokens(self, text: str) -> tuple[list[str], list[str]]:
        """The folded words of ``text`` and the joined forms of its hyphenated compounds, for
        :meth:`terms_of` (which is :meth:`terms` without tokenising again)."""
        return self._words(text)

    def terms(
        self, text: str, language: str | None = None, *, skip: frozenset[str] = frozenset()
    ) -> list[str]:
        """Index terms of ``text`` in document order (folded, stop words removed, stemmed);
        a compound's parts follow it (see ``compounds.py``). Folded words in ``skip`` give
        no terms."""
        words, joined = self._words(text)
        return self.terms_of(words, joined, language, skip=skip)

    def terms_of(
        self,
        words: list[str],
        joined: list[str],
        language: str | None = None,
        *,
        skip: frozenset[str] = frozenset(),
    ) -> list[str]:
        """:meth:`terms` of the tokens :meth:`tokens` gave."""
        code = self._language(language)
        if skip:
            words = [word for word in words if word not in skip]
        memo = self._memo[code]
        new = set(words).difference(memo)
        if new:
            if len(memo) + len(new) > MEMO_WORDS:
                memo.clear()  # before filling in, so that every word of this text is there
                new = set(words)
            for word in new:
                memo[word] = self._word_terms(code, word)
        found = list(chain.from_iterable(map(memo.__getitem__, words)))
        if joined:  # the parts of a hyphenated compound are among the words already
            stops = stop_words(code)
            found += self._stemmers[code].stemWords([w for w in joined if w not in stops])
        return found

    def word_terms(self, word: str, language: str | None = None) -> tuple[str, ...]:
        """The terms of one folded word (from :meth:`words`): its stem, then the stems of its
        compound parts; none for a stop word."""
        code = self._language(language)
        memo = self._memo[code]
        found = memo.get(word)
        if found is None:
            if len(memo) >= MEMO_WORDS:
                memo.clear()
            found = memo[word] = self._word_terms(code, word)
        return found

    def content_words(
        self, text: str, language: str | None = None
    ) -> list[tuple[str, tuple[str, ...]]]:
        """The distinct folded words of ``text`` that are no stop words, in order, each with
        its :meth:`word_terms`."""
        memo = self._memo[self._language(language)]
        found = []
        for word in dict.fromkeys(self.words(text)):
            terms = memo.get(word)
            if terms is None:
                terms = self.word_terms(word, language)
            if terms:
                found.append((word, terms))
        return found

    def _word_terms(self, code: str, word: str) -> tuple[str, ...]:
        """The terms one folded word gives: none for a stop word, else its stem and the stems
        of its compound parts. Remembered per word (text repeats its words)."""
        if word in stop_words(code):
            return ()
        splitter = self.decompounders.get(code)
        parts = splitter.parts(word) if splitter is not None and len(word) > 5 else ()
        return tuple(self._stemmers[code].stemWords([word, *parts]))

    def analyse(self, text: str, language: str | None = None) -> str:
        """The analysed form stored with a chunk: its terms joined by spaces."""
        return " ".join(self.terms(text, language))

    def query_terms(self, text: str, languages: Iterable[str | None] = (None,)) -> list[str]:
        """Distinct terms of a query, analysed in each of the given languages, in order.

        The first language is the query's own: its stop words are the question's function
        words and give no terms in the other languages either (the German "für", folded to
        "fur", is not the English noun).
        """
        seen: dict[str, None] = {}
        skip: frozenset[str] = frozenset()
        for number, language in enumerate(languages):
            for term in self.terms(text, language, skip=skip):
                seen.setdefault(term, None)
            if number == 0:
                skip = stop_words(self._language(language))
        return list(seen)
