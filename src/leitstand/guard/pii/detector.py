"""The PII detector: every recognizer over a text, overlaps resolved, scores thresholded."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Protocol

from leitstand.guard.findings import Finding, resolve_overlaps
from leitstand.guard.pii.names import NameRecognizer
from leitstand.guard.pii.patterns import (
    RECOGNIZERS,
    CombinedRecognizers,
    PhoneRecognizer,
    Windows,
    digit_runs,
    widen,
)
from leitstand.guard.pii.places import AddressRecognizer, BirthDateRecognizer

LABELS = (
    "PERSON",
    "EMAIL",
    "PHONE",
    "IBAN",
    "BIC",
    "TAX_ID",
    "TAX_NUMBER",
    "VAT_ID",
    "SOCIAL_SECURITY",
    "HEALTH_INSURANCE",
    "ID_CARD",
    "PASSPORT",
    "CREDIT_CARD",
    "IP_ADDRESS",
    "ADDRESS",
    "DATE_OF_BIRTH",
)
"""Every class the built-in recognizers report."""


class Recognizer(Protocol):
    """Anything that finds PII: the built-ins, and NER backends (spaCy, Flair, GLiNER, a
    transformers model) that a plugin registers. ``lowered`` is ``text.lower()``, computed
    once for all recognizers."""

    name: str

    def find(self, text: str, lowered: str) -> Iterator[Finding]: ...


class PiiDetector:
    """Finds PII in German and English text.

    ``labels`` limits the classes reported (default: all); ``threshold`` drops findings
    scored below it; ``phone_regions`` are tried in turn for numbers written without ``+``;
    ``extra`` recognizers (an NER backend, say) run after the built-ins, and overlaps between
    all findings are resolved by score.

    Speed: patterns of structured PII only scan the stretches around runs of digits, and a
    recognizer that scores below the threshold without a context word ("Steuer-ID", "BIC")
    only runs when one of its words occurs in the text at all.
    """

    def __init__(
        self,
        *,
        labels: Iterable[str] | None = None,
        threshold: float = 0.5,
        phone_regions: Sequence[str] = ("DE",),
        extra: Sequence[Recognizer] = (),
    ) -> None:
        wanted = set(LABELS if labels is None else labels)
        unknown = wanted - set(LABELS)
        if unknown and not extra:
            raise ValueError(
                f"unknown PII class {sorted(unknown)[0]!r}; known: {', '.join(LABELS)}"
            )
        self.threshold = threshold
        self.labels = frozenset(wanted)
        chosen = [r for r in RECOGNIZERS if r.label in wanted]
        self._email = [r for r in chosen if r.needs == "@"]
        self._gated = [r for r in chosen if r.needs != "@" and r.score < threshold]
        structured = [r for r in chosen if r.needs != "@" and r.score >= threshold]
        self._windowed: list[CombinedRecognizers | PhoneRecognizer | BirthDateRecognizer] = (
            [CombinedRecognizers(structured)] if structured else []
        )
        if "PHONE" in wanted:
            self._windowed.append(PhoneRecognizer(tuple(phone_regions)))
        if "DATE_OF_BIRTH" in wanted:
            self._windowed.append(BirthDateRecognizer())
        self._gate_words = tuple(sorted({w for r in self._gated for w in r.context}))
        self._address = AddressRecognizer() if "ADDRESS" in wanted else None
        self._names = NameRecognizer() if "PERSON" in wanted else None
        self._extra = list(extra)

    def detect(self, text: str) -> list[Finding]:
        """The PII in ``text``, in text order, overlaps resolved."""
        if not text:
            return []
        lowered = text.lower()
        found: list[Finding] = []
        runs = digit_runs(text)
        if runs:
            windows = widen(runs, len(text), WINDOW_BEFORE, WINDOW_AFTER)
            for recognizer in self._windowed:
                found.extend(recognizer.find(text, lowered, windows))
            if self._address is not None:
                address_windows = widen(runs, len(text), ADDRESS_BEFORE, ADDRESS_AFTER)
                found.extend(self._address.find(text, lowered, address_windows))
        if self._gated:
            present = set(filter(lowered.__contains__, self._gate_words))
            for gated in self._gated:
                if not present.isdisjoint(gated.context):
                    found.extend(gated.find(text, lowered))
        if "@" in text and self._email:
            windows = _around(text, "@", EMAIL_BEFORE, EMAIL_AFTER)
            for email in self._email:
                found.extend(email.find(text, lowered, windows))
        if self._names is not None:
            found.extend(self._names.find(text, lowered))
        for extra in self._extra:
            found.extend(extra.find(text, lowered))
        threshold, labels = self.threshold, self.labels
        return resolve_overlaps(f for f in found if f.score >= threshold and f.label in labels)


WINDOW_BEFORE, WINDOW_AFTER = 24, 8
"""Around a run of digits: an IBAN's country code, an ID card's letters, a phone's "+"."""
ADDRESS_BEFORE, ADDRESS_AFTER = 48, 40
"""Around a house number or postcode: the street's name, the city's."""
EMAIL_BEFORE, EMAIL_AFTER = 64, 255


def _around(text: str, char: str, before: int, after: int) -> Windows:
    windows: Windows = []
    position = text.find(char)
    while position != -1:
        start, end = max(0, position - before), min(len(text), position + after)
        if windows and start <= windows[-1][1]:
            windows[-1] = (windows[-1][0], end)
        else:
            windows.append((start, end))
        position = text.find(char, position + 1)
    return windows
