from __future__ import annotations

import pytest

from leitstand.text.language import LanguageDetector

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("Welche Vektor-Datenbanken werden genannt?", "de"),
        ("Wie hoch ist die Verpflegungspauschale für einen Tag?", "de"),
        ("Which vector databases are mentioned in the article?", "en"),
        ("What does a Prompt Engineer build?", "en"),
        ("Alle reden uber KI, wenige verdienen damit Geld, und noch weniger bauen daraus.", "de"),
        ("The committee approved the pilot and set the monthly budget to 1,500 euros.", "en"),
    ],
)
def test_detects_german_and_english(text: str, language: str) -> None:
    assert LanguageDetector(["de", "en"]).detect(text) == language


def test_single_language_and_empty_text_use_the_first_language() -> None:
    assert LanguageDetector(["en"]).detect("Das ist Deutsch.") == "en"
    assert LanguageDetector(["de", "en"]).detect("  123  ") == "de"


def test_languages_without_stop_words_use_the_model() -> None:
    detector = LanguageDetector(["de", "fr"])
    assert (
        detector.detect("Le comité a approuvé le projet pilote et fixé le budget mensuel.") == "fr"
    )
