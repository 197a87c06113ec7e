"""Language detection restricted to the configured languages.

Short texts (questions) are decided by stop words where they are clear, longer texts by
py3langid's bundled model, which is loaded on first use (about a second) so that start-up
stays fast.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Sequence
from typing import Any

from leitstand.search.analyser import fold, stop_words

_WORD = re.compile(r"\w+")
_lock = threading.Lock()
_identifiers: dict[tuple[str, ...], Any] = {}


def _identifier(languages: tuple[str, ...]) -> Any:
    with _lock:
        identifier = _identifiers.get(languages)
        if identifier is None:
            from py3langid.langid import MODEL_FILE, LanguageIdentifier

            identifier = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
            identifier.set_languages(list(languages))
            _identifiers[languages] = identifier
        return identifier


def warm_up(languages: Sequence[str]) -> None:
    """Load the model now (e.g. in a background thread at server start)."""
    if len(languages) > 1:
        _identifier(tuple(languages))


class LanguageDetector:
    """Detects which of the configured languages a text is written in."""

    def __init__(self, languages: Sequence[str]) -> None:
        self.languages = tuple(languages)
        self.default = self.languages[0]

    def detect(self, text: str) -> str:
        if len(self.languages) == 1:
            return self.default
        sample = text[:4000]
        words = [fold(word) for word in _WORD.findall(sample.lower())]
        if not words:
            return self.default
        if len(words) <= 40:
            votes = {code: sum(word in stop_words(code) for word in words) for code in self.languages}
            ranked = sorted(votes.items(), key=lambda item: item[1], reverse=True)
            if ranked[0][1] > 0 and ranked[0][1] >= 2 * ranked[1][1] + 1:
                return ranked[0][0]
        language, probability = _identifier(self.languages).classify(sample)
        return str(language) if probability >= 0.5 else self.default
