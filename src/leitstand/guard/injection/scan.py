"""Scanning documents at ingestion for instructions addressed to an AI (indirect injection).

A chunk that tells "the assistant", "KI-Systeme" or "the model" what to do, or that carries
the moves of an attack ("ignore all previous instructions"), must not reach a prompt as if it
were knowledge. :class:`ChunkScanner` runs the injection detector only on chunks whose words
could make one — a cheap gate, so that ingestion keeps its speed — and reports the rest.
"""

from __future__ import annotations

import re

from leitstand.guard.injection.detector import InjectionDetector, InjectionResult
from leitstand.search.analyser import fold

_GATE = re.compile(
    r"\b(?:ai|ki|llm|gpt|chatgpt|bot|chatbot|assistant|assistent\w*|sprachmodell\w*|language"
    r" model|model|modell|system ?prompt|prompt|instruction\w*|anweisung\w*|ignor\w*|disregard"
    r"|vergiss|forget|jailbreak|dan|developer mode|entwicklermodus|you are now|du bist jetzt)\b"
    r"|<\|?im_start|\[inst\]|https?://\S+[?&]\S+="
)


class ChunkScanner:
    """Flags chunks that carry instructions to an AI (see the module's docstring)."""

    def __init__(self, detector: InjectionDetector | None = None) -> None:
        self.detector = detector or InjectionDetector()

    def scan(self, text: str) -> InjectionResult | None:
        """The detector's result when the chunk is flagged, else None."""
        if not _GATE.search(fold(text)):
            return None
        result = self.detector.detect(text)
        return result if result.flagged else None
