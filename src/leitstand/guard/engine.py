"""One engine for the request path and ``leitstand guard check``: findings in, an action out.

Actions, from mildest to strictest: ``allow``, ``redact`` (PII replaced by its class),
``pseudonymise`` (PII replaced by placeholders that are restored in the answer),
``escalate`` (let through, recorded for a human), ``block``. A text's action is the
strictest that any of its findings calls for.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from leitstand.guard.findings import Finding
from leitstand.guard.injection.detector import (
    InjectionClassifier,
    InjectionDetector,
    InjectionResult,
)
from leitstand.guard.pii import PiiDetector

if TYPE_CHECKING:
    from leitstand.config.settings import GuardSettings

Action = Literal["allow", "redact", "pseudonymise", "escalate", "block"]
SEVERITY: dict[str, int] = {
    "allow": 0,
    "redact": 1,
    "pseudonymise": 2,
    "escalate": 3,
    "block": 4,
}


@dataclass(frozen=True)
class InputPolicy:
    """What happens to a text that carries findings (a use case's input policy)."""

    injection: Action = "block"
    pii: Action = "pseudonymise"
    pii_classes: dict[str, Action] = field(default_factory=dict)
    """Per PII class, overriding ``pii`` (e.g. ``{"CREDIT_CARD": "block"}``)."""


@dataclass(frozen=True)
class Verdict:
    action: Action
    pii: list[Finding]
    injection: InjectionResult

    def as_dict(self) -> dict[str, object]:
        return {
            "pii": [f.as_dict() for f in self.pii],
            "injection": self.injection.as_dict(),
            "action": self.action,
        }


class GuardEngine:
    """Scans inputs for PII and injection and decides by a policy."""

    def __init__(
        self,
        policy: InputPolicy | None = None,
        *,
        pii: PiiDetector | None = None,
        injection: InjectionDetector | None = None,
    ) -> None:
        self.policy = policy or InputPolicy()
        self.pii = pii or PiiDetector()
        self.injection = injection or InjectionDetector()

    @classmethod
    def from_settings(
        cls, settings: GuardSettings, *, classifier: InjectionClassifier | None = None
    ) -> GuardEngine:
        """The engine the ``guard`` section of leitstand.yaml describes."""
        return cls(
            InputPolicy(
                injection=settings.injection_action,
                pii=settings.pii_action,
                pii_classes=dict(settings.pii_classes),
            ),
            pii=PiiDetector(
                threshold=settings.pii_threshold, phone_regions=tuple(settings.phone_regions)
            ),
            injection=InjectionDetector(
                threshold=settings.injection_threshold, classifier=classifier
            ),
        )

    def check(self, text: str) -> Verdict:
        findings = self.pii.detect(text)
        injection = self.injection.detect(text)
        actions: list[Action] = ["allow"]
        if injection.flagged:
            actions.append(self.policy.injection)
        for finding in findings:
            actions.append(self.policy.pii_classes.get(finding.label, self.policy.pii))
        return Verdict(max(actions, key=SEVERITY.__getitem__), findings, injection)
