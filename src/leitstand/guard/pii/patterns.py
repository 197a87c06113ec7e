"""Recognizers of structured PII: a pattern finds candidates, a check digit or a parser
confirms them, and words in front of a match ("IBAN", "Steuer-ID", "Tel.") raise its score.

Identifiers that carry a check digit are reported on their own; those that look like any
other number (an 11-digit Steuer-ID, a 10-character ID card number) only with a context word
in the ``CONTEXT_CHARS`` in front of them. Scores below the detector's threshold (0.5 by
default) are dropped, so a recognizer's ``score`` below 0.5 means "only with context".
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import phonenumbers
from stdnum import bic, iban, luhn
from stdnum.de import idnr, stnr
from stdnum.eu import vat

from leitstand.guard.findings import Finding
from leitstand.guard.pii.checksums import is_icao_number, is_kvnr, is_rvnr

CONTEXT_CHARS = 48
"""How far before a match a context word may stand."""

Check = Callable[[str], bool]


@dataclass(frozen=True)
class Recognizer:
    """One class of structured PII.

    ``check`` gets the match with spaces, dots, dashes and slashes removed (unless
    ``compact`` is false). ``score`` holds
    for a match that passes it; ``context_score`` when one of ``context`` (folded to lower
    case) stands within ``CONTEXT_CHARS`` before the match. ``needs`` is a cheap test on the
    whole text that must pass before the pattern runs at all.
    """

    name: str
    label: str
    pattern: re.Pattern[str]
    score: float
    context: tuple[str, ...] = ()
    context_score: float = 0.0
    check: Check | None = None
    needs: str = "digit"
    compact: bool = True

    def find(self, text: str, lowered: str, windows: Windows | None = None) -> Iterator[Finding]:
        for match in scan(self.pattern, text, windows):
            finding = self.judge(match, lowered)
            if finding is not None:
                yield finding

    def judge(self, match: re.Match[str], lowered: str) -> Finding | None:
        """The finding a match of this recognizer's pattern makes, if its check passes."""
        start, end = match.span()
        value = _compact(match.group()) if self.compact else match.group()
        if self.check is not None and not self.check(value):
            return None
        score = self.score
        if self.context and _has_context(lowered, start, self.context):
            score = max(score, self.context_score)
        return Finding(start, end, self.label, score, self.name)


class CombinedRecognizers:
    """Several pattern recognizers in one pass over each window.

    One pattern of named alternatives finds the next place where any of them matches; the
    recognizer whose alternative matched judges it, and when its check fails, the others try
    their own pattern at the same place (an IBAN-shaped VAT ID, say). Python's regular
    expressions cost per call and per character, so one pass instead of ten saves most of it.
    """

    name = "combined"

    def __init__(self, recognizers: list[Recognizer]) -> None:
        self.recognizers = recognizers
        self.pattern = re.compile(
            "|".join(f"(?P<r{i}>{r.pattern.pattern})" for i, r in enumerate(recognizers))
        )

    def find(self, text: str, lowered: str, windows: Windows | None = None) -> Iterator[Finding]:
        spans = windows if windows is not None else [(0, len(text))]
        for window_start, window_end in spans:
            position = window_start
            while (match := self.pattern.search(text, position, window_end)) is not None:
                finding = self._judge(match, text, lowered, window_end)
                if finding is not None:
                    yield finding
                    position = max(finding.end, match.start() + 1)
                else:
                    position = match.start() + 1

    def _judge(self, match: re.Match[str], text: str, lowered: str, end: int) -> Finding | None:
        first = int((match.lastgroup or "r0")[1:])
        finding = self.recognizers[first].judge(match, lowered)
        if finding is not None:
            return finding
        for number, other in enumerate(self.recognizers):
            if number != first:
                again = other.pattern.match(text, match.start(), end)
                if again is not None and (finding := other.judge(again, lowered)) is not None:
                    return finding
        return None


Windows = list[tuple[int, int]]
"""Stretches of a text worth scanning (see :func:`widen`); None: all of it."""

_DIGIT_RUN = re.compile(r"\d[\d\s./:()+-]*")


def digit_runs(text: str) -> list[tuple[int, int]]:
    """Where the text's runs of digits (with the separators numbers are written with) are."""
    return [match.span() for match in _DIGIT_RUN.finditer(text)]


def widen(runs: list[tuple[int, int]], size: int, before: int, after: int) -> Windows:
    """The stretches around ``runs`` (of a text of ``size`` characters), ``before``
    characters to the left and ``after`` to the right, merged where they meet. Structured
    PII holds digits, so the patterns only run around runs of digits (Python's regular
    expressions cost per character scanned)."""
    windows: Windows = []
    for run_start, run_end in runs:
        start, end = max(0, run_start - before), min(size, run_end + after)
        if windows and start <= windows[-1][1]:
            windows[-1] = (windows[-1][0], max(end, windows[-1][1]))
        else:
            windows.append((start, end))
    return windows


def scan(pattern: re.Pattern[str], text: str, windows: Windows | None) -> Iterator[re.Match[str]]:
    if windows is None:
        yield from pattern.finditer(text)
    else:
        for start, end in windows:
            yield from pattern.finditer(text, start, end)


_SEPARATORS = re.compile(r"[\s./-]+")


def _compact(value: str) -> str:
    return _SEPARATORS.sub("", value).upper()


def _has_context(lowered: str, start: int, words: tuple[str, ...]) -> bool:
    window = lowered[max(0, start - CONTEXT_CHARS) : start]
    return any(map(window.__contains__, words))


# -- checks ------------------------------------------------------------------------------


def _valid_iban(value: str) -> bool:
    return bool(iban.is_valid(value))


def _valid_bic(value: str) -> bool:
    return bool(bic.is_valid(value))


def _valid_idnr(value: str) -> bool:
    return bool(idnr.is_valid(value))


def _valid_stnr(value: str) -> bool:
    return bool(stnr.is_valid(value))


def _valid_vat(value: str) -> bool:
    return bool(vat.is_valid(value))


_CARD_PREFIX = re.compile(r"3[47]|4|5[1-5]|2[2-7]|6(?:011|5|4[4-9])|3(?:0[0-5]|[689])|35")


def _valid_card(value: str) -> bool:
    """13 to 19 digits of a known card network whose Luhn check digit fits."""
    return (
        value.isdigit()
        and 13 <= len(value) <= 19
        and _CARD_PREFIX.match(value) is not None
        and len(set(value)) > 1
        and bool(luhn.is_valid(value))
    )


def _valid_ip(value: str) -> bool:
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        return False
    return not (address.is_unspecified or (address.version == 4 and value.count(".") != 3))


def _valid_document_number(value: str) -> bool:
    """A German ID card or passport number: nine characters (the check digit is often
    left off), or ten whose last is the ICAO check digit."""
    return len(value) == 9 or is_icao_number(value)


def _valid_ssn(value: str) -> bool:
    area, group, serial = value[:3], value[3:5], value[5:]
    return area not in {"000", "666"} and area[0] != "9" and group != "00" and serial != "0000"


# -- the recognizers ------------------------------------------------------------------------

_IBAN_CONTEXT = ("iban", "konto", "bankverbindung", "account", "überweis", "ueberweis")
_PASSPORT_CONTEXT = ("reisepass", "passnummer", "pass-nr", "passport")
_EU_VAT_PREFIX = (
    "AT|BE|BG|CY|CZ|DE|DK|EE|EL|ES|FI|FR|HR|HU|IE|IT|LT|LU|LV|MT|NL|PL|PT|RO|SE|SI|SK|XI|CHE"
)
_PHONE_CONTEXT = (
    "tel",
    "fon",
    "handy",
    "mobil",
    "fax",
    "phone",
    "call",
    "anruf",
    "ruf",
    "erreichbar",
    "whatsapp",
    "cell",
)

RECOGNIZERS: tuple[Recognizer, ...] = (
    Recognizer(
        "email",
        "EMAIL",
        re.compile(r"(?<![\w.+-])[\w.+-]+@[\w-]+(?:\.[\w-]+)*\.[A-Za-z]{2,24}(?![\w-])"),
        0.95,
        needs="@",
    ),
    Recognizer(
        "iban",
        "IBAN",
        re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,4})?\b"),
        0.95,
        _IBAN_CONTEXT,
        0.99,
        _valid_iban,
    ),
    Recognizer(
        "bic",
        "BIC",
        re.compile(r"\b[A-Z]{6}[A-Z0-9]{2}(?:[A-Z0-9]{3})?\b"),
        0.3,
        ("bic", "swift"),
        0.9,
        _valid_bic,
        needs="",
    ),
    Recognizer(
        "de-steuer-id",
        "TAX_ID",
        re.compile(r"\b\d{2} ?\d{3} ?\d{3} ?\d{3}\b"),
        0.4,
        ("steuer-id", "steuerid", "identifikationsnummer", "idnr", "id-nr", "tax id", "tin"),
        0.95,
        _valid_idnr,
    ),
    Recognizer(
        "de-steuernummer",
        "TAX_NUMBER",
        re.compile(r"\b\d{2,3}/\d{3,4}/\d{4,5}\b|\b\d{10,13}\b"),
        0.3,
        ("steuernummer", "steuer-nr", "steuernr", "st.-nr", "stnr", "tax number"),
        0.9,
        _valid_stnr,
    ),
    Recognizer(
        "eu-vat",
        "VAT_ID",
        re.compile(rf"\b(?:{_EU_VAT_PREFIX}) ?[0-9A-Z](?:[0-9A-Z +*.-]{{6,13}})[0-9A-Z]\b"),
        0.85,
        ("ust", "umsatzsteuer", "vat", "mwst"),
        0.95,
        _valid_vat,
    ),
    Recognizer(
        "de-rvnr",
        "SOCIAL_SECURITY",
        re.compile(r"\b\d{2} ?\d{6} ?[A-Z] ?\d{2} ?\d\b"),
        0.85,
        ("sozialversicherung", "rentenversicherung", "sv-nummer", "versicherungsnummer", "rvnr"),
        0.95,
        is_rvnr,
    ),
    Recognizer(
        "us-ssn",
        "SOCIAL_SECURITY",
        re.compile(r"\b\d{3}(?P<ssn_sep>[- ])\d{2}(?P=ssn_sep)\d{4}\b"),
        0.5,
        ("ssn", "social security", "social-security"),
        0.9,
        _valid_ssn,
    ),
    Recognizer(
        "de-kvnr",
        "HEALTH_INSURANCE",
        re.compile(r"\b[A-Z] ?\d{8} ?\d\b"),
        0.6,
        ("krankenversicherung", "versichertennummer", "versicherten-nr", "kvnr", "krankenkasse"),
        0.95,
        is_kvnr,
    ),
    Recognizer(
        "de-id-card",
        "ID_CARD",
        re.compile(r"\b[CFGHJKLMNPRTVWXYZ][CFGHJKLMNPRTVWXYZ0-9]{8}\d?\b"),
        0.0,
        ("personalausweis", "ausweisnummer", "ausweis-nr", "ausweis", "id card", "identity card"),
        0.9,
        _valid_document_number,
        needs="",
    ),
    Recognizer(
        "de-passport",
        "PASSPORT",
        re.compile(r"\b[CFGHJK][CFGHJKLMNPRTVWXYZ0-9]{8}\d?\b"),
        0.0,
        _PASSPORT_CONTEXT,
        0.9,
        _valid_document_number,
        needs="",
    ),
    Recognizer(
        "passport",
        "PASSPORT",
        re.compile(r"\b[A-Z]{1,2}\d{6,8}\b"),
        0.0,
        _PASSPORT_CONTEXT,
        0.85,
    ),
    Recognizer(
        "credit-card",
        "CREDIT_CARD",
        re.compile(r"\b\d(?:[ -]?\d){12,18}\b"),
        0.9,
        ("kreditkarte", "karte", "visa", "mastercard", "amex", "card"),
        0.99,
        _valid_card,
    ),
    Recognizer(
        "ipv4",
        "IP_ADDRESS",
        re.compile(r"(?<![\d.])(?:\d{1,3}\.){3}\d{1,3}(?![\d.]*\d)"),
        0.85,
        ("ip", "address", "adresse", "server", "host"),
        0.95,
        _valid_ip,
        compact=False,
    ),
    Recognizer(
        "ipv6",
        "IP_ADDRESS",
        re.compile(r"(?<![\w:])(?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f]{1,4}(?![\w:])"),
        0.85,
        ("ip", "address", "adresse", "server", "host"),
        0.95,
        _valid_ip,
        needs=":",
        compact=False,
    ),
)
"""Every recognizer of structured PII but phone numbers."""


# -- phone numbers --------------------------------------------------------------------------

_PHONE_CANDIDATE = re.compile(
    r"(?<![\w+/.,-])(?:\+|00)?(?:\(\d{1,5}\) ?)?\d[\d ()/.-]{4,18}\d"
    r"(?: ?(?:x|ext\.?|Durchwahl|DW) ?\d{1,5})?(?!\w|[.,]\d)"
)
_DATE_LIKE = re.compile(r"\d{1,4}[./-]\d{1,2}[./-]\d{2,4}(?:$| \d{1,2}$)")
_NOT_PHONE_CONTEXT = (
    "card", "karte", "konto", "account", "iban", "kunden", "customer", "order", "bestell",
    "rechnung", "invoice", "vertrag", "contract", "ticket", "artikel", "article",
)  # fmt: skip
"""Words before a number that make it some other number (a card's, an account's)."""


@dataclass(frozen=True)
class PhoneRecognizer:
    """Phone numbers through Google's libphonenumber rules (the ``phonenumbers`` package).

    A candidate is parsed for each of ``regions`` in turn (the first is the default region
    of numbers written without ``+``); a number that is valid there counts.
    """

    regions: tuple[str, ...] = ("DE",)
    score: float = 0.75
    context_score: float = 0.95
    name: str = "phone"
    label: str = "PHONE"

    def find(self, text: str, lowered: str, windows: Windows | None = None) -> Iterator[Finding]:
        for match in scan(_PHONE_CANDIDATE, text, windows):
            candidate = match.group().strip()
            digits = sum(c.isdigit() for c in candidate)
            if not 6 <= digits <= 20 or _DATE_LIKE.match(candidate):
                continue
            start = match.start()
            if _has_context(lowered, start, _NOT_PHONE_CONTEXT):
                continue
            context = _has_context(lowered, start, _PHONE_CONTEXT)
            if not (context or digits >= 8 or candidate.startswith(("+", "00"))):
                continue  # a short national number only where the text says it is one
            if not self._valid(candidate):
                continue
            score = self.context_score if context else self.score
            yield Finding(start, start + len(candidate), self.label, score, self.name)

    def _valid(self, candidate: str) -> bool:
        """Valid in one of the regions; with a country code (``+``, ``00``) a number of a
        possible length for that country is enough (new ranges, fictional numbers)."""
        international = candidate.startswith(("+", "00"))
        for region in self.regions:
            try:
                number = phonenumbers.parse(candidate, region)
            except phonenumbers.NumberParseException:
                continue
            if phonenumbers.is_valid_number(number) or (
                international and phonenumbers.is_possible_number(number)
            ):
                return True
            if international:
                return False  # the country code decides; other regions change nothing
        return False
