"""German compound splitting: "vektordatenbanken" also gives vektor, datenbanken, daten, banken.

The splitter works on folded words (see ``analyser.fold``: "für" and the OCR form "fur" are
one word) against a fixed lexicon of German word frequencies, ``data/de_lexicon.txt``, built
from ``wordfreq`` by ``scripts/build_german_lexicon.py``. It never looks at the corpus, so a
word splits the same way at index and at query time, in every collection.

How a word is read (Koehn & Knight 2003, with the right-headedness of German compounds):

1. An inflected word is read through its base form when that is a word of its own
   ("datenbanken" as "datenbank" + "en", "kritikern" as "kritiker" + "n"), so inflection
   endings never become heads ("kritik|ern").
2. The head is the *longest* proper suffix that is a lexicon word and leaves a valid
   modifier: "staubecken" is stau|becken, not staub|ecken; "wachstube" is wach|stube.
   A modifier is a lexicon word, optionally followed by a linking element (s, es, n, en, ens,
   ns: "verteidigung|s|linie"), or itself a compound ("blumentopf|erde").
3. When the longest head follows a prefix rather than a word, the word is a derivation and
   stays whole: "urinstinkt" is ur|instinkt (never urin|stinkt), "zugestimmt" is a
   participle, "wiederaufbau" starts with a particle.
4. The split must beat the word itself (Koehn & Knight): a compound is rarer than each of
   its parts, so the weaker part's Zipf frequency must reach the word's own plus ``margin``,
   and "hypothese" does not become hypo|these.
5. Parts are split again by the same rules; every node of the tree is emitted once:
   "amazonasregenwald" gives amazonas, regenwald, regen, wald.

Results are cached per word; the lexicon loads on first use (about 0.2 s, 20 MB).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Protocol

LEXICON_RESOURCE = "data/de_lexicon.txt"

MIN_WORD_CHARS = 6
"""Shorter words are never split."""
MAX_WORD_CHARS = 48
MIN_PART_CHARS = 3
"""The shortest part that is emitted as a term and counts as a modifier."""

OVERRULE = 1.0
"""A shorter head wins over the longest one when its reading is this much (Zipf) likelier:
"baumarten" is baum|arten (both common), not bau|marten."""
SHORT_PREFIX_ZIPF = 4.0
"""A one- or two-letter left part this frequent is a prefix ("ur"), not a missing modifier."""

LINKS = ("", "s", "es", "n", "en", "ens", "ns")
"""Linking elements (Fugenelemente) between modifier and head; "e" and "er" are left out:
plural forms that end in them ("hunde", "kinder") are lexicon words anyway."""

ENDINGS = ("ern", "ens", "en", "er", "es", "em", "e", "n", "s")
"""Inflection endings that are taken off before a word is split."""

PREFIXES = frozenset(
    (
        # inseparable verb prefixes and negation
        "be ge er ver zer ent emp miss un ur "
        # separable verb particles (most of them are stop words too)
        "ab an auf aus bei dar durch ein empor fort gegen heim her herab heran herauf heraus "
        "herbei herein herum herunter hervor hin hinab hinauf hinaus hinein hinter hinzu los "
        "mit nach nieder uber um unter vor voran voraus vorbei vorher voruber weg weiter "
        "wider wieder zu zuruck zusammen zwischen "
        # Latin prefixes that leave word-like rests ("pro|test", "pro|gramm")
        "pro"
    ).split()
)
"""Left parts that make a word a derivation or a verb form, not a compound."""

_SUFFIXES = [
    "ung",
    "heit",
    "keit",
    "schaft",
    "lich",
    "chen",
    "lein",
    "tum",
    "nis",
    "ion",
    "tion",
    "ling",
    "isch",
    "sch",
    "nisch",
    "ig",
]
NOT_HEADS = frozenset(
    suffix + ending for suffix in _SUFFIXES for ending in ("", "e", "en", "er", "es", "em")
)
"""Derivation suffixes, also inflected, that the lexicon holds as words ("septische" is not
sept|ische)."""


def _prefix_chain(left: str) -> bool:
    """Whether ``left`` is made of prefixes only: "ver", "veran", "einge", "zuruckzu"."""
    if left in PREFIXES or left in ("ge", "zu"):
        return True
    return any(
        left.startswith(prefix) and _prefix_chain(left[len(prefix) :])
        for prefix in _CHAIN_STARTS.get(left[:2], ())
    )


_CHAIN_STARTS: dict[str, tuple[str, ...]] = {}
for _prefix in (*PREFIXES, "ge", "zu"):
    _CHAIN_STARTS.setdefault(_prefix[:2], ())
    _CHAIN_STARTS[_prefix[:2]] += (_prefix,)


class Decompounder(Protocol):
    """What the analyser needs: the extra terms for one folded word."""

    def parts(self, word: str) -> tuple[str, ...]: ...


@dataclass(frozen=True)
class Lexicon:
    """Folded words with their Zipf frequency (log10 of occurrences per billion words)."""

    zipf: dict[str, float]
    foreign: frozenset[str] = frozenset()
    """Words at least ten times as frequent in English as in German ("doctor", "these"):
    never split, never a head, never a short modifier."""

    @classmethod
    def parse(cls, text: str) -> Lexicon:
        """The lexicon file: lines of ``<zipf * 10> <word> ...``; ``e<zipf * 10> <word> ...``
        for foreign words; ``#`` starts a comment."""
        zipf: dict[str, float] = {}
        foreign: set[str] = set()
        for line in text.splitlines():
            if not line or line.startswith("#"):
                continue
            score, _, words = line.partition(" ")
            names = words.split()
            if score.startswith("e"):
                score = score[1:]
                foreign.update(names)
            value = int(score) / 10
            for word in names:
                zipf[word] = value
        return cls(zipf, frozenset(foreign))


@lru_cache(maxsize=1)
def german_lexicon() -> Lexicon:
    """The bundled lexicon (loaded once, on first use)."""
    text = (
        resources.files("leitstand.search").joinpath(LEXICON_RESOURCE).read_text(encoding="utf-8")
    )
    return Lexicon.parse(text)


class GermanDecompounder:
    """Splits folded German words into their parts; deterministic for a given lexicon.

    ``min_zipf3`` and ``min_zipf4`` are the Zipf frequencies that 3- and 4-letter parts need
    (short lexicon entries are often abbreviations or fragments: "asr", "egen"); ``margin``
    is how much more frequent the parts must be than the whole word.
    """

    def __init__(
        self,
        lexicon: Lexicon | Callable[[], Lexicon] = german_lexicon,
        *,
        stop_words: Iterable[str] = (),
        min_zipf: float = 2.5,
        min_zipf3: float = 4.2,
        min_zipf4: float = 3.0,
        margin: float = 0.0,
        cache_size: int = 200_000,
    ) -> None:
        self._source = lexicon
        self._lexicon: Lexicon | None = None
        self._stops = frozenset(stop_words)
        self.min_zipf = min_zipf
        self.min_zipf3 = min_zipf3
        self.min_zipf4 = min_zipf4
        self.margin = margin
        self._cache_size = cache_size
        self._splits: dict[str, tuple[str, str] | None] = {}
        self._parts: dict[str, tuple[str, ...]] = {}

    @property
    def lexicon(self) -> Lexicon:
        if self._lexicon is None:
            source = self._source
            self._lexicon = source if isinstance(source, Lexicon) else source()
        return self._lexicon

    def parts(self, word: str) -> tuple[str, ...]:
        """The parts and inner compounds of ``word``, not the word itself; () if it stays whole."""
        found = self._parts.get(word)
        if found is None:
            if len(self._parts) >= self._cache_size:
                self._parts.clear()
                self._splits.clear()
            found = self._find_parts(word) if len(word) >= MIN_WORD_CHARS else ()
            self._parts[word] = found
        return found

    def _find_parts(self, word: str) -> tuple[str, ...]:
        found: dict[str, None] = {}
        pending = [word]
        while pending:
            split = self.split(pending.pop())
            if split is None:
                continue
            for part in split:
                if part not in found:
                    found[part] = None
                    pending.append(part)
        found.pop(word, None)
        return tuple(found)

    def split(self, word: str) -> tuple[str, str] | None:
        """The (modifier, head) reading of ``word``, or None when it stays whole."""
        if word in self._splits:
            return self._splits[word]
        self._splits[word] = None  # ends any recursion through the same word
        split = None
        if (
            MIN_WORD_CHARS <= len(word) <= MAX_WORD_CHARS
            and word.isalpha()
            and word.isascii()
            and word not in self.lexicon.foreign
        ):
            inflected = self._inflected(word)
            if inflected is None:
                split = self._find_split(word)
            elif inflected:
                split = inflected
        self._splits[word] = split
        return split

    def _inflected(self, word: str) -> tuple[str, str] | tuple[()] | None:
        """The split of an inflected word's base form with the ending on its head; () when
        the base is a word that stays whole; None when ``word`` is not an inflected form."""
        lexicon = self.lexicon.zipf
        for ending in ENDINGS:
            if word.endswith(ending):
                base = word[: -len(ending)]
                if base in lexicon and len(base) >= MIN_WORD_CHARS - 1:
                    split = self.split(base)
                    return () if split is None else (split[0], split[1] + ending)
        return None

    def _find_split(self, word: str) -> tuple[str, str] | None:
        own = self._zipf(word) + self.margin
        chosen: tuple[str, str, float] | None = None
        for cut in range(2, len(word) - MIN_PART_CHARS + 1):
            head = word[cut:]
            if not self._is_part(head, head=True):
                continue
            left = word[:cut]
            if chosen is None and self._is_prefix(left):
                return None
            modifier = self._modifier(left)
            if modifier is None:
                continue
            # a compound is rarer than each of its parts
            score = min(modifier[1], self._zipf(head))
            if score < own:
                continue
            if chosen is None or score >= chosen[2] + OVERRULE:
                chosen = (modifier[0], head, score)
        return (chosen[0], chosen[1]) if chosen else None

    def _is_prefix(self, left: str) -> bool:
        if left in self._stops or _prefix_chain(left):
            return True
        # a short word that is not a stop word reads as a prefix: "ur", "ex"
        return len(left) < MIN_PART_CHARS and self._zipf(left) >= SHORT_PREFIX_ZIPF

    def _modifier(self, left: str) -> tuple[str, float] | None:
        """The best reading of ``left`` as a modifier (+ linking element): form and Zipf."""
        best: tuple[str, float] | None = None
        for link in LINKS:
            if link and not left.endswith(link):
                continue
            form = left[: len(left) - len(link)] if link else left
            if len(form) < MIN_PART_CHARS:
                continue
            if self._is_part(form, head=False):
                zipf = self._zipf(form)
            elif (split := self.split(form)) is not None and min(map(len, split)) >= 5:
                # a modifier that is no word itself must be made of clear words
                zipf = min(self._zipf(split[0]), self._zipf(split[1]))
            else:
                continue
            if best is None or zipf > best[1]:
                best = (form, zipf)
        return best

    def _zipf(self, word: str) -> float:
        return self.lexicon.zipf.get(word, 0.0)

    def _is_part(self, word: str, *, head: bool) -> bool:
        zipf = self.lexicon.zipf.get(word)
        if zipf is None or word in self._stops:
            return False
        if word in (NOT_HEADS if head else PREFIXES):
            return False
        if word in self.lexicon.foreign and (head or len(word) <= 3):
            return False
        if len(word) == 3:
            return zipf >= self.min_zipf3
        if len(word) == 4:
            return zipf >= self.min_zipf4
        return zipf >= self.min_zipf
