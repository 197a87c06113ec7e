"""What a guard reports: a character span of the scanned text, its class and a score."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Finding:
    """One thing a guard found in a text.

    ``start`` and ``end`` are character offsets into the text as it was given (not into a
    normalised copy); ``label`` is the class (``IBAN``, ``PERSON``, ``INJECTION``...);
    ``score`` is the detector's confidence in [0, 1]; ``source`` names the rule or
    recognizer that found it, so a finding can be traced and a false alarm reported.
    """

    start: int
    end: int
    label: str
    score: float
    source: str = ""

    def text(self, scanned: str) -> str:
        return scanned[self.start : self.end]

    def as_dict(self) -> dict[str, object]:
        return {
            "start": self.start,
            "end": self.end,
            "label": self.label,
            "score": round(self.score, 3),
        }


def resolve_overlaps(findings: Iterable[Finding]) -> list[Finding]:
    """Overlapping findings reduced to the ones that win, in text order.

    The higher score wins; on a tie the longer span (an IBAN over the phone number that
    its digits also look like). Findings that do not overlap are all kept.
    """
    ranked = sorted(findings, key=lambda f: (-f.score, -(f.end - f.start), f.start))
    kept: list[Finding] = []
    for finding in ranked:
        if all(finding.end <= other.start or finding.start >= other.end for other in kept):
            kept.append(finding)
    kept.sort(key=lambda f: (f.start, f.end))
    return kept
