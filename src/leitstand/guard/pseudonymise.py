"""Reversible pseudonymisation: PII becomes ``<IBAN_1>``, ``<PERSON_2>`` before a text goes to
a model, and the model's answer gets the real values back for the user who sent them.

One :class:`PseudonymMap` serves one request: the same value gets the same placeholder in the
question and in every message of the history, so the model can refer to "<PERSON_1>"
consistently. The map lives in memory for the request and is never sent anywhere.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from leitstand.guard.findings import Finding

PLACEHOLDER = re.compile(r"<([A-Z][A-Z_]*?)_(\d{1,4})>")
_PARTIAL = re.compile(r"<(?:[A-Z][A-Z_]*(?:_\d{0,4})?)?$")
"""The start of a placeholder at the end of a streamed piece ("<", "<IB", "<IBAN_1")."""
_COMPACT_LABELS = frozenset(
    {"IBAN", "PHONE", "CREDIT_CARD", "TAX_ID", "SOCIAL_SECURITY", "HEALTH_INSURANCE", "VAT_ID"}
)


def _key(label: str, value: str) -> tuple[str, str]:
    """Two spellings of one number are one value ("DE89 3704 ..." and "DE893704...")."""
    if label in _COMPACT_LABELS:
        value = re.sub(r"[\s./()-]", "", value).upper()
    elif label == "EMAIL":
        value = value.lower()
    return label, value


@dataclass
class PseudonymMap:
    """Placeholders and the values behind them, for one request."""

    placeholders: dict[tuple[str, str], str] = field(default_factory=dict)
    values: dict[str, str] = field(default_factory=dict)
    _counts: dict[str, int] = field(default_factory=dict)

    def placeholder(self, label: str, value: str) -> str:
        key = _key(label, value)
        found = self.placeholders.get(key)
        if found is None:
            number = self._counts.get(label, 0) + 1
            self._counts[label] = number
            found = f"<{label}_{number}>"
            self.placeholders[key] = found
            self.values[found] = value
        return found

    def pseudonymise(self, text: str, findings: Iterable[Finding]) -> str:
        """``text`` with each finding replaced by its placeholder."""
        parts: list[str] = []
        position = 0
        for finding in sorted(findings, key=lambda f: f.start):
            if finding.start < position:
                continue
            parts.append(text[position : finding.start])
            parts.append(self.placeholder(finding.label, text[finding.start : finding.end]))
            position = finding.end
        parts.append(text[position:])
        return "".join(parts)

    def restore(self, text: str) -> str:
        """Placeholders back to their values; unknown ones (invented by the model) stay."""
        if "<" not in text:
            return text
        return PLACEHOLDER.sub(lambda m: self.values.get(m.group(), m.group()), text)

    def __len__(self) -> int:
        return len(self.values)


def redact(text: str, findings: Iterable[Finding]) -> str:
    """``text`` with each finding replaced by its class in brackets: "[IBAN]"."""
    parts: list[str] = []
    position = 0
    for finding in sorted(findings, key=lambda f: f.start):
        if finding.start < position:
            continue
        parts.append(text[position : finding.start])
        parts.append(f"[{finding.label}]")
        position = finding.end
    parts.append(text[position:])
    return "".join(parts)


class StreamRestorer:
    """Restores placeholders in a streamed answer whose pieces may split one ("<PER", "SON_1>").

    ``feed`` returns what can be shown now; the start of a possible placeholder is held back
    until it completes or cannot be one. ``flush`` returns the rest at the end.
    """

    def __init__(self, mapping: PseudonymMap) -> None:
        self.mapping = mapping
        self._held = ""

    def feed(self, piece: str) -> str:
        text = self._held + piece
        partial = _PARTIAL.search(text)
        if partial is not None:
            self._held = text[partial.start() :]
            text = text[: partial.start()]
        else:
            self._held = ""
        return self.mapping.restore(text)

    def flush(self) -> str:
        text, self._held = self._held, ""
        return self.mapping.restore(text)
