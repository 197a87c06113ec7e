"""Person names without a language model: a gazetteer of first and last names plus context.

A name is found where

- a known first name is followed by a surname ("Angela Merkel", "Ken N. Fukuda",
  "Ludwig van Beethoven"): score 0.85, 0.9 when the surname is a known last name;
- a title or form of address stands before capitalised words ("Frau Dr. Schmidt",
  "Herrn Weber", "Mr. Smith"): 0.85;
- a phrase introduces or greets someone ("mein Name ist ...", "my name is ...", "Hallo ...",
  "Dear ...", "Mit freundlichen Grüßen\\n..."): 0.8, lower-case names included;
- a known first name stands alone and is no everyday word ("Zuzana", but not "Will" or
  "Rose"): 0.6.

The gazetteer (``data/names.txt``, about 20,000 first and 20,000 last names of many
countries) is built by ``scripts/build_name_lists.py``. Users with a named-entity model
(spaCy, Flair, GLiNER, transformers) add it as a recognizer of its own (see ``detector.py``).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from functools import cache
from importlib import resources

from leitstand.guard.findings import Finding

_UPPER = "".join(c for c in map(chr, range(0x250)) if c.isupper())
_WORD = r"[^\W\d_](?:[\w'’]|-(?=[^\W\d_]))*"
# A capital letter not inside a word: the look-behind comes after the capital (and reads
# it too) so that the pattern starts with a set of letters, which Python's re skips ahead to
# instead of trying the pattern at every character.
_CAPITAL = rf"[{_UPPER}](?<![\w'’-].)(?:[\w'’]|-(?=[^\W\d_]))*"
_CAPITALISED = re.compile(rf"{_CAPITAL}\.?")
_CAPITALISED_BARE = re.compile(_CAPITAL)
_NEXT = re.compile(rf"[ \t]{{1,2}}({_WORD}\.?)")
_PARTICLES = frozenset(
    {"von", "van", "de", "der", "den", "di", "da", "del", "della", "la", "le", "zu", "ten", "ter",
     "al", "el", "bin", "ibn", "dos", "das", "du", "vom", "zur", "y"}
)  # fmt: skip
_TITLE_TOKENS = frozenset(
    {"herr", "herrn", "frau", "fräulein", "hr.", "fr.", "dr.", "prof.", "mr", "mr.", "mrs",
     "mrs.", "ms", "ms.", "miss", "mx.", "sir", "dame", "madam", "madame", "monsieur", "mme.",
     "signora", "signor", "señora", "señor", "doktor", "professor", "professorin"}
)  # fmt: skip
# In the order the pattern tries them ("herrn" before "herr", "mr." before "mr").
_TITLE_WORDS = (
    "herrn", "herr", "frau", "fräulein", "hr.", "fr.", "dr.", "prof.", "mr.", "mr", "mrs.",
    "mrs", "ms.", "ms", "miss", "mx.", "sir", "dame", "madam", "madame", "monsieur", "mme.",
    "signora", "signor", "señora", "señor", "doktor", "professorin", "professor", "dipl.-ing.",
    "med.", "rer. nat.", "phil.", "jur.",
)  # fmt: skip
_TITLES = re.compile(rf"\b(?:(?:{'|'.join(map(re.escape, _TITLE_WORDS))})[ \t]+)+")
_ADDRESSEES = frozenset(
    {"Damen", "Herren", "Kolleginnen", "Kollegen", "Kunden", "Kundinnen", "Kundin", "Kunde",
     "Team", "Mitarbeiter", "Mitarbeitende", "Mitarbeiterinnen", "Partner", "Freunde", "Leute",
     "Alle", "Zusammen", "Support", "All", "Everyone", "Everybody", "Sir", "Madam", "Customer",
     "Colleagues", "Friends", "Folks", "There", "Again", "Kundenservice", "Service"}
)  # fmt: skip
"""Who is greeted when no one is named: "Sehr geehrte Damen und Herren", "Hi all"."""
_GREETINGS = (
    "mein name ist", "mein name lautet", "ich heiße", "ich heisse", "ich bin", "my name is",
    "i am", "i'm", "this is", "call me", "hallo", "hello", "hi", "hey", "dear", "liebe",
    "lieber", "sehr geehrte", "sehr geehrter", "gez.", "signed", "name",
)  # fmt: skip
"""Words before a name on the same line: "mein Name ist ...", "Dear ..."."""
_SIGN_OFFS = (
    "grüße", "grüßen", "gruß", "regards", "sincerely", "best", "cheers", "thanks", "danke",
)  # fmt: skip
"""Words at the end of a line whose next line holds a name."""
_INTRODUCTIONS = re.compile(
    rf"(?:\b(?:{'|'.join(map(re.escape, _GREETINGS))})[:,]?[ \t]+"
    rf"|(?:{'|'.join(_SIGN_OFFS)})[,!.]?[ \t]*\n\s*)"
)
_SIGN_OFF_GATE = re.compile("|".join(_SIGN_OFFS))

# Gates on the text's words, cheaper than the patterns above (which cost per character):
# a title and a greeting start at a word boundary and end before a space, a dot or a colon,
# so each of their words is a whole word of the text.
_TOKEN = re.compile(r"\w+")
_TITLE_GATE = frozenset(_TOKEN.findall(" ".join(_TITLE_WORDS)))
_GREETING_GATES = tuple(frozenset(_TOKEN.findall(phrase)) for phrase in _GREETINGS)


def _may_have_titles(words: set[str]) -> bool:
    return not _TITLE_GATE.isdisjoint(words)


def _may_have_introductions(lowered: str, words: set[str]) -> bool:
    """Whether ``_INTRODUCTIONS`` may match: all words of a greeting occur, or a sign-off
    and a line break do."""
    if any(map(words.issuperset, _GREETING_GATES)):
        return True
    return "\n" in lowered and _SIGN_OFF_GATE.search(lowered) is not None


@dataclass(frozen=True)
class _Gazetteer:
    first: frozenset[str]
    last: frozenset[str]
    ambiguous: frozenset[str]


@cache
def gazetteer() -> _Gazetteer:
    text = resources.files("leitstand.guard.pii").joinpath("data/names.txt").read_text("utf-8")
    first: set[str] = set()
    last: set[str] = set()
    ambiguous: set[str] = set()
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        name, kinds = line.split("\t")
        if "f" in kinds:
            first.add(name)
        if "l" in kinds:
            last.add(name)
        if "a" in kinds:
            ambiguous.add(name)
    return _Gazetteer(frozenset(first), frozenset(last), frozenset(ambiguous))


def _capitalised_at(
    text: str, known: AbstractSet[str], positions: AbstractSet[int]
) -> Iterator[re.Match[str]]:
    """The matches of ``_CAPITALISED`` that start where a word of ``known`` occurs or at one
    of ``positions``, in text order: those of ``_CAPITALISED.finditer(text)`` that can make a
    name, without a step for each of the text's capitalised words. (The pattern cannot match
    inside another match, its look-behind rules that out, so matching at a position finds
    what ``finditer`` finds there.)"""
    starts = set(positions)
    for word in known:
        position = text.find(word)
        while position != -1:
            starts.add(position)
            position = text.find(word, position + 1)
    for start in sorted(starts):
        match = _CAPITALISED.match(text, start)
        if match is not None:
            yield match


@dataclass(frozen=True)
class NameRecognizer:
    """Person names from the gazetteer and context rules (see the module's docstring).

    Fast path: the capitalised words are compared with the first names in one set
    intersection; titles and introductions are looked for (one pattern each over the whole
    text) only when the text holds their words; and only where a name may start does the
    slow path read the words that follow.
    """

    name: str = "names"
    label: str = "PERSON"

    def find(self, text: str, lowered: str) -> Iterator[Finding]:
        names = gazetteer()
        words = set(_TOKEN.findall(lowered))
        titled: set[int] = set()
        if _may_have_titles(words):
            titled = {m.end() for m in _TITLES.finditer(lowered)}
        introduced: set[int] = set()
        if _may_have_introductions(lowered, words):
            introduced = {m.end() for m in _INTRODUCTIONS.finditer(lowered)}
            yield from self._lowercase(text, introduced - titled, names)
        known = names.first.intersection(_CAPITALISED_BARE.findall(text))
        if known or titled or introduced:
            yield from self._capitalised(text, known, titled, introduced, names)

    def _lowercase(self, text: str, introduced: set[int], names: _Gazetteer) -> Iterator[Finding]:
        """Lower-case names right after an introduction: "my name is pamela"."""
        done = 0  # text before this offset belongs to a reported name
        for position in sorted(introduced):
            if position >= done:
                match = _NEXT.match(" " + text, position)  # (the space: _NEXT reads one)
                word = match.group(1) if match else ""
                capital = word[:1].upper() + word[1:]
                if word.islower() and capital in names.first and capital not in names.ambiguous:
                    end = self._surname(text, position + len(word), names, lowercase=True)
                    done = end or position + len(word)
                    yield Finding(position, done, self.label, 0.8, self.name)

    def _capitalised(
        self,
        text: str,
        known: AbstractSet[str],
        titled: set[int],
        introduced: set[int],
        names: _Gazetteer,
    ) -> Iterator[Finding]:
        """Names at capitalised words: ``known`` first names of the text, or words after a
        title or an introduction."""
        done = 0
        ambiguous, last = names.ambiguous, names.last
        for match in _capitalised_at(text, known, titled | introduced):
            start = match.start()
            word = match.group()
            bare = word[:-1] if word[-1] == "." else word
            if start < done or (
                bare not in known and start not in titled and start not in introduced
            ):
                continue
            if word.lower() in _TITLE_TOKENS:
                continue
            if start in titled:
                score = 0.85
                end = self._surname(text, match.end(), names) or len(bare) + start
            elif bare in known:
                end = self._surname(text, match.end(), names) or 0
                if end:
                    score = 0.85
                    tail = text[start:end].rsplit(None, 1)[-1].rstrip(".")
                    if tail in last:
                        score = 0.9
                elif start in introduced:
                    score, end = 0.8, start + len(bare)
                elif bare not in ambiguous and len(bare) > 2 and not bare.isupper():
                    score, end = 0.6, start + len(bare)
                else:
                    continue
            elif (
                start in introduced
                and bare not in ambiguous
                and bare not in _ADDRESSEES
                and not bare.isupper()
            ):
                score = 0.75
                end = self._surname(text, match.end(), names) or start + len(bare)
            else:
                continue
            done = end
            yield Finding(start, end, self.label, score, self.name)

    @staticmethod
    def _surname(text: str, position: int, names: _Gazetteer, *, lowercase: bool = False) -> int:
        """Where a surname that follows ``position`` ends (after middle initials and
        particles: "Ken N. Fukuda", "Ludwig van Beethoven", "Anna Maria Weber"), or 0."""
        end = 0
        steps = 0
        while steps < 4:
            match = _NEXT.match(text, position)
            if match is None:
                break
            word = match.group(1)
            bare = word[:-1] if word[-1] == "." else word
            capital = bare[:1].upper() + bare[1:]
            if word.lower() in _PARTICLES:
                pass  # belongs to the surname that follows
            elif len(bare) == 1 and bare.isupper():
                pass  # a middle initial
            elif (
                bare[0].isupper()
                and not bare.isupper()
                and (capital not in names.ambiguous or capital in names.last)
            ) or (lowercase and bare.islower() and capital in names.last):
                end = match.start(1) + len(bare)
                if word[-1] == "." or capital not in names.first:
                    break  # a sentence's end, or a surname (a first name may be followed)
            else:
                break
            position = match.end()
            steps += 1
        return end
