"""Language detection restricted to the configured languages.

Stop words decide where they are clear (nearly always for German and English prose, and
for most questions); otherwise py3langid's bundled model decides. The model is loaded on
first use (about a second), so start-up stays fast.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Sequence
from typing import Any

from leitstand.search.analyser import fold, stop_words

_WORD = re.compile(r"[^\W_]+")
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
        sample = text[:3000]
        words = _WORD.findall(fold(sample))
        if not words:
            return self.default
        # Stop words decide when they are clear (nearly always for prose in de/en);
        # the statistical model decides otherwise, e.g. for languages without a list.
        decided = self.by_stop_words(words)
        if decided is not None:
            return decided
        language, probability = _identifier(self.languages).classify(sample[:1500])
        return str(language) if probability >= 0.5 else self.default

    def by_stop_words(self, words: Sequence[str]) -> str | None:
        """The language whose stop words clearly dominate these folded words, or None.

        Cheap (set lookups over at most 400 words), so ingestion asks it for every chunk
        with the words it has folded anyway; None leaves the document's language.
        """
        if len(self.languages) == 1:
            return self.default
        lists = [(code, stop_words(code)) for code in self.languages]
        if not words or not all(stops for _, stops in lists):
            return None
        head = words[:400]
        votes = sorted(
            ((len([word for word in head if word in stops]), code) for code, stops in lists),
            reverse=True,
        )
        (best, code), (second, _) = votes[0], votes[1]
        if best >= 2 * second + 1 and (best >= 3 or len(words) <= 12):
            return code
        if best >= 12 and best * 4 >= second * 5:
            return code  # a text in two languages: the one it uses most
        return None
