"""Scanning documents at ingestion for instructions addressed to an AI (indirect injection).

A chunk that tells "the assistant", "KI-Systeme" or "the model" what to do, or that carries
the moves of an attack ("ignore all previous instructions"), must not reach a prompt as if it
were knowledge. :class:`ChunkScanner` runs the injection detector only on chunks whose words
could make one — a cheap gate, so that ingestion keeps its speed — and reports the rest.
"""

from __future__ import annotations

from leitstand.guard.injection.detector import InjectionDetector, InjectionResult

_GATE_WORDS = (
    "ignor", "disregard", "vergiss", "vergessen sie", "forget", "anweisung", "instruction",
    "prompt", "assistant", "assistent", " ki ", " ki-", "ki-s", " ai ", " ai-", "llm", "gpt",
    "chatbot", "sprachmodell", "language model", "jailbreak", "developer mode",
    "entwicklermodus", "im_start", "[inst]", "du bist jetzt", "you are now", "http",
)  # fmt: skip
"""Lower-case pieces of text without one of which a chunk is not scanned further (a substring
test each: the gate costs a few microseconds per chunk)."""


class ChunkScanner:
    """Flags chunks that carry instructions to an AI (see the module's docstring)."""

    def __init__(self, detector: InjectionDetector | None = None) -> None:
        self.detector = detector or InjectionDetector()

    def scan(self, text: str) -> InjectionResult | None:
        """The detector's result when the chunk is flagged, else None."""
        lowered = text.lower()
        if not any(word in lowered for word in _GATE_WORDS):
            return None
        result = self.detector.detect(text)
        return result if result.flagged else None
