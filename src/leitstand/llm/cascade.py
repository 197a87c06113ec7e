"""Small model first: its answer is kept when a check passes, otherwise the large one answers.

Three checks (``use_cases.<name>.cascade.check``):

``groundedness``
    The small model's answer sentences against the passages they cite (rag mode only), as
    ``guard.groundedness`` scores them, on the answer as the user would see it (placeholders
    restored). The score is the support of the *weakest* sentence: one made-up fact is enough
    to hand the question to the large model. Costs no model call.
``verify``
    The small model is asked whether its own answer is correct and complete, and answers
    with a number from 0 to 1. One short extra call of the cheap model.
``judge``
    Another model (``cascade.judge``) scores the answer from 0 to 1.

Verify and judge see the question and the answer as the small model did: with the
placeholders of pseudonymised personal data, never the values.

A cascade answers in one piece: the small model's answer must be whole before it can be
checked, so it is not streamed while it is made (the large model's answer, when needed, is).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from leitstand.llm.base import ChatMessage, ChatModel, ChatOptions, ChatResult

VERIFY_PROMPT = (
    "Check an answer to a question. Reply with one number between 0 and 1: how likely the "
    "answer is correct and complete (1 = certainly, 0 = certainly not). Reply with the number "
    "only."
)

_NUMBER = re.compile(r"(?<![\d.])(0(?:[.,]\d+)?|1(?:[.,]0+)?)(?![\d.])")


@dataclass(frozen=True)
class CascadeDecision:
    """What the check said about the small model's answer."""

    check: str
    score: float | None
    threshold: float
    kept: bool

    def as_dict(self) -> dict[str, Any]:
        return {
            "check": self.check,
            "score": None if self.score is None else round(self.score, 3),
            "threshold": self.threshold,
            "kept": self.kept,
        }


def parse_score(text: str) -> float | None:
    """The first number from 0 to 1 in a model's reply (``0,8`` too); yes/no as 1/0."""
    match = _NUMBER.search(text)
    if match:
        return float(match.group(1).replace(",", "."))
    words = text.strip().lower()
    if words.startswith(("yes", "ja")):
        return 1.0
    if words.startswith(("no", "nein")):
        return 0.0
    return None


def score_by_model(
    model: ChatModel, question: str, answer: str
) -> tuple[float | None, ChatResult, list[ChatMessage]]:
    """A model's 0–1 score of an answer (verify and judge), its reply and the prompt."""
    messages = [
        ChatMessage("system", VERIFY_PROMPT),
        ChatMessage("user", f"Question:\n{question}\n\nAnswer:\n{answer}"),
    ]
    result = model.complete(messages, ChatOptions(temperature=0, max_tokens=8))
    return parse_score(result.content), result, messages
