from __future__ import annotations

import pytest

from leitstand.text.sentences import sentence_spans, split_sentences

pytestmark = pytest.mark.unit


def test_german_abbreviations_and_dates_do_not_end_sentences() -> None:
    text = (
        "Das gilt z. B. für Reisen. Am 3. Oktober 2024 kam Dr. Müller bzw. sein Team. "
        "Die Kosten betragen ca. 30 Euro usw. Danach: fertig!"
    )
    assert split_sentences(text) == [
        "Das gilt z. B. für Reisen.",
        "Am 3. Oktober 2024 kam Dr. Müller bzw. sein Team.",
        "Die Kosten betragen ca. 30 Euro usw.",
        "Danach: fertig!",
    ]


def test_english_abbreviations() -> None:
    assert split_sentences("Use tools e.g. Pinecone. Then ship it. Done?") == [
        "Use tools e.g. Pinecone.",
        "Then ship it.",
        "Done?",
    ]


def test_spans_point_at_the_text() -> None:
    text = "  Erster Satz.  Zweiter Satz!\n\nDritter Absatz"
    spans = sentence_spans(text)
    assert [text[a:b] for a, b in spans] == ["Erster Satz.", "Zweiter Satz!", "Dritter Absatz"]


def test_paragraph_breaks_and_list_items_separate() -> None:
    assert split_sentences("Einleitung:\n- Punkt eins\n- Punkt zwei") == [
        "Einleitung:",
        "- Punkt eins",
        "- Punkt zwei",
    ]
