"""Postal addresses and dates of birth: patterns whose meaning comes from their shape and
their neighbourhood rather than from a check digit.

German addresses: "Hauptstraße 12a, 80331 München", "Am Markt 3", "Postfach 10 20 30";
English ones: "6750 Main Street, Apt. 4", "1600 Pennsylvania Ave NW, Washington, DC 20500".
A postcode with its city alone ("80331 München") is reported with a lower score. A date is a
date of birth only with a word for birth in front of it ("geboren am", "geb.", "DOB").
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cache

from leitstand.guard.findings import Finding
from leitstand.guard.pii.patterns import Windows, scan

_WORD = r"[A-ZÄÖÜ][\wäöüß'.-]*"
_DE_SUFFIXES = (
    "straße", "strasse", "str\\.", "weg", "platz", "allee", "gasse", "ring", "damm", "ufer",
    "chaussee", "steig", "pfad", "markt", "stieg", "kai", "promenade", "graben", "wall",
)  # fmt: skip
# "...ring" also ends English words ("During 1984", "Spring 2020"): only as a word of its own.
_DE_SUFFIX = "(?:" + "|".join(x for x in _DE_SUFFIXES if x != "ring") + ")"
_DE_SUFFIX_WORD = "(?:" + "|".join(s[0].upper() + s[1:] for s in _DE_SUFFIXES) + ")"
_DE_PREFIX = r"(?:Am|An der|An den|Auf der|Auf dem|Im|In der|In den|Zum|Zur|Unter den|Hinter der)"
_ARTICLE = r"(?:Der|Die|Das|Den|Dem|Des|Ein|Eine|Einen|Einem|Im|Am|Zum|Zur)\b"
# "Hauptstraße", "Goethestr.", "Konrad-Adenauer-Straße", "Berliner Straße"
_DE_STREET = (
    rf"(?:(?:[A-ZÄÖÜ][\wäöüß]*-)*[A-ZÄÖÜ][a-zäöüß]+{_DE_SUFFIX}"
    rf"|(?:[A-ZÄÖÜ][\wäöüß]*-)+{_DE_SUFFIX_WORD}"
    rf"|(?!{_ARTICLE})[A-ZÄÖÜ][\wäöüß.]* {_DE_SUFFIX_WORD})"
)
_BREAK = r"(?:,? |,?\n ?)"
_HOUSE = r"\d{1,4}(?: ?[a-zA-Z](?!\w))?(?: ?[-/] ?\d{1,4}[a-zA-Z]?)?"
_CITY = r"[A-ZÄÖÜ][\wäöüß'-]*"
_PLZ_CITY = (
    rf"(?:D-)?\d{{5}} {_CITY}(?:(?: (?:am|an der|im|in|ob der|vor der|bei)| /)? {_CITY}){{0,2}}"
)

# A street with a house number (and maybe postcode and city), or one of the streets named
# with a preposition ("Am Markt 3", "Unter den Linden 77") when postcode and city follow.
_DE_ADDRESS = re.compile(
    rf"(?<![\w-])(?:{_DE_STREET} {_HOUSE}(?:{_BREAK}{_PLZ_CITY})?"
    rf"|{_DE_PREFIX} [A-ZÄÖÜ][\wäöüß-]*(?: [A-ZÄÖÜ][\wäöüß-]*)? {_HOUSE}{_BREAK}{_PLZ_CITY})"
    r"(?!\w)"
)
# A postcode and city alone only after "in", "aus", "nach", "D-" (else "12000 Einheiten").
_DE_PLZ_CITY = re.compile(
    rf"(?:(?<=\b[Ii]n )|(?<=\b[Aa]us )|(?<=\b[Nn]ach )|(?<=wohnhaft )|(?=D-)){_PLZ_CITY}(?!\w)"
)
_DE_PO_BOX = re.compile(rf"\bPostfach \d(?:[\d ]{{2,10}}\d)?(?:{_BREAK}{_PLZ_CITY})?")

_EN_STREET_SUFFIX = (
    r"(?:Street|St\.?|Avenue|Ave\.?|Road|Rd\.?|Boulevard|Blvd\.?|Lane|Ln\.?|Drive|Dr\.?"
    r"|Court|Ct\.?|Way|Place|Pl\.?|Terrace|Parkway|Pkwy\.?|Circle|Cir\.?|Highway|Hwy\.?"
    r"|Square|Sq\.?|Trail|Loop|Crescent|Row|Mews|Close|Gardens|Walk|Hill|Alley|Plaza|Route)"
)
_EN_ADDRESS = re.compile(
    rf"\b\d{{1,6}}(?: [A-Z]\.?)? (?:{_WORD} ){{1,4}}{_EN_STREET_SUFFIX}"
    r"(?: (?:N|S|E|W|NE|NW|SE|SW)\b)?"
    r"(?:,? (?:Apt\.?|Apartment|Suite|Ste\.?|Unit|Floor|#) ?[\w-]+)?"
    rf"(?:,? (?:\n ?)?{_WORD}(?: {_WORD}){{0,2}},? [A-Z]{{2}} \d{{5}}(?:-\d{{4}})?)?"
    r"(?![\w])"
)
_EN_PO_BOX = re.compile(r"\b(?:P\.? ?O\.? Box|PO Box|PSC \d+, Box) \d+\b")

_MONTHS = (
    "januar|jänner|februar|märz|maerz|april|mai|juni|juli|august|september|oktober|november"
    "|dezember|january|february|march|may|june|july|october|december"
    "|jan|feb|mär|mar|apr|jun|jul|aug|sep|sept|okt|oct|nov|dez|dec"
)
_DATE = re.compile(
    rf"\b(?:\d{{1,2}}\. ?\d{{1,2}}\. ?(?:19|20)?\d{{2}}|\d{{1,2}}\. ?(?:{_MONTHS})\.? \d{{4}}"
    rf"|(?:19|20)\d{{2}}-\d{{2}}-\d{{2}}|\d{{1,2}}/\d{{1,2}}/(?:19|20)?\d{{2}}"
    rf"|(?:{_MONTHS})\.? \d{{1,2}}(?:st|nd|rd|th)?,? \d{{4}}|\d{{1,2}}(?:st|nd|rd|th)? (?:of )?"
    rf"(?:{_MONTHS})\.?,? \d{{4}})\b",
    re.IGNORECASE,
)
_BIRTH_CONTEXT = (
    "geboren",
    "geb.",
    "geburt",
    "born",
    "birth",
    "dob",
    "d.o.b",
    "jahrgang",
)
BIRTH_CONTEXT_CHARS = 40


_EN_SUFFIX_WORDS = _EN_STREET_SUFFIX.lower().replace("\\.?", "")
_DE_SUFFIX_TEXTS = tuple(suffix.replace("\\", "") for suffix in _DE_SUFFIXES)
_SPACE_DIGIT = re.compile(r" \d")
_POSTCODE = re.compile(r"\d{5}")


def _de_needs(lowered: str) -> bool:
    """A postcode, or a street's suffix right before a house number ("straße 12"): the
    suffixes are compared where a space stands before a digit, instead of a pattern of all
    of them tried at every letter."""
    if _POSTCODE.search(lowered):
        return True
    return any(
        lowered.endswith(_DE_SUFFIX_TEXTS, 0, space.start())
        for space in _SPACE_DIGIT.finditer(lowered)
    )


_FORMS: tuple[tuple[str, re.Pattern[str], Callable[[str], object]], ...] = (
    # (name, pattern, a test of the lower-cased text for what the form cannot do without)
    # (the streets named with a preposition, "Am Markt 3", need a postcode: see "city";
    # the others a house number right after the street's suffix, "Hauptstraße 12")
    ("de", _DE_ADDRESS, _de_needs),
    ("en", _EN_ADDRESS, re.compile(r"\b(?:" + _EN_SUFFIX_WORDS + r")\b").search),
    ("de_box", _DE_PO_BOX, re.compile("postfach").search),
    ("en_box", _EN_PO_BOX, re.compile("box").search),
    ("city", _DE_PLZ_CITY, _POSTCODE.search),
)  # fmt: skip


@cache
def _combined(names: tuple[str, ...]) -> re.Pattern[str]:
    """One pattern for the forms that may occur in a text: one pass over it, and at a
    position the first form that matches wins (a full address before a postcode alone)."""
    return re.compile(
        "|".join(f"(?P<{name}>{pattern.pattern})" for name, pattern, _ in _FORMS if name in names)
    )


@dataclass(frozen=True)
class AddressRecognizer:
    """Postal addresses (German and English patterns)."""

    score: float = 0.8
    city_score: float = 0.55
    name: str = "address"
    label: str = "ADDRESS"

    def find(self, text: str, lowered: str, windows: Windows | None = None) -> Iterator[Finding]:
        # A form's match lies inside one window and holds what its test looks for (a street
        # suffix, a postcode), so the tests only read the windows (a quarter of a typical
        # text), joined by line breaks that no test reads across; where lower-casing moved
        # the offsets, they read the whole text.
        scope = lowered
        if windows is not None and len(lowered) == len(text):
            scope = "\n".join(lowered[start:end] for start, end in windows)
        forms = tuple(name for name, _, needs in _FORMS if needs(scope))
        if not forms:
            return
        for match in scan(_combined(forms), text, windows):
            score = self.city_score if match.lastgroup == "city" else self.score
            yield Finding(match.start(), match.end(), self.label, score, self.name)


@dataclass(frozen=True)
class BirthDateRecognizer:
    """Dates with a word for birth shortly before them."""

    score: float = 0.9
    name: str = "date-of-birth"
    label: str = "DATE_OF_BIRTH"

    def find(self, text: str, lowered: str, windows: Windows | None = None) -> Iterator[Finding]:
        if not any(map(lowered.__contains__, _BIRTH_CONTEXT)):
            return
        for match in scan(_DATE, text, windows):
            window = lowered[max(0, match.start() - BIRTH_CONTEXT_CHARS) : match.start()]
            if any(map(window.__contains__, _BIRTH_CONTEXT)):
                yield Finding(match.start(), match.end(), self.label, self.score, self.name)
