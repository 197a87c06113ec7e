"""The extractive answerer picks supporting sentences and cites them."""

from __future__ import annotations

import pytest

from leitstand.rag.extractive import ExtractiveAnswerer
from leitstand.search.analyser import Analyser
from leitstand.search.retriever import Hit

pytestmark = pytest.mark.unit


def hit(chunk_id: int, text: str, score: float = 1.0, language: str = "de") -> Hit:
    return Hit(
        chunk_id=chunk_id,
        document_id=chunk_id,
        score=score,
        text=text,
        heading="",
        start_char=100 * chunk_id,
        end_char=100 * chunk_id + len(text),
        page_start=None,
        page_end=None,
        language=language,
        title=f"doc{chunk_id}",
        path=f"doc{chunk_id}.md",
        uri=f"file:///doc{chunk_id}.md",
        source="docs",
    )


@pytest.fixture(scope="module")
def answerer() -> ExtractiveAnswerer:
    return ExtractiveAnswerer(Analyser(["de", "en"]), max_sentences=2)


def test_the_sentence_with_the_answer_wins(answerer: ExtractiveAnswerer) -> None:
    hits = [
        hit(
            1,
            "Reisen werden im Portal beantragt. Die Verpflegungspauschale beträgt 28 Euro "
            "pro vollem Kalendertag. Belege werden digital hochgeladen.",
        ),
        hit(2, "Das Portal ist rund um die Uhr erreichbar.", score=0.5),
    ]
    chosen = answerer.select("Wie hoch ist die Verpflegungspauschale?", "de", hits)
    assert chosen[0].text.startswith("Die Verpflegungspauschale beträgt 28 Euro")
    first = chosen[0]
    assert hits[0].text[first.start_char - 100 : first.end_char - 100] == first.text


def test_nothing_matching_means_no_answer(answerer: ExtractiveAnswerer) -> None:
    hits = [hit(1, "Der Fehlercode E42 meldet eine Übertemperatur des Motors.")]
    assert answerer.select("Wann ist Betriebsversammlung?", "de", hits) == []
    assert answerer.select("irgendwas", "de", []) == []


def test_a_list_lead_in_brings_its_items(answerer: ExtractiveAnswerer) -> None:
    text = (
        "Dazu kommen Frameworks, die Du kennen solltest:\n\n- TensorFlow, Keras, PyTorch\n\n"
        "- Pandas und NumPy\n\nDanach geht es um Gehälter, die stark schwanken."
    )
    chosen = answerer.select("Welche Frameworks sollte ich kennen?", "de", [hit(1, text)])
    assert "TensorFlow" in chosen[0].text
    assert "Pandas" in chosen[0].text
    assert "Gehälter" not in chosen[0].text


def test_questions_in_the_text_are_poor_answers(answerer: ExtractiveAnswerer) -> None:
    text = (
        "Was macht ein KI Manager eigentlich? Ein KI Manager verantwortet das Register der "
        "Anwendungsfälle und ihre Risiken."
    )
    chosen = answerer.select("Was macht ein KI Manager?", "de", [hit(1, text)])
    assert chosen[0].text.startswith("Ein KI Manager verantwortet")


def test_definitions_are_preferred_for_what_is_questions(answerer: ExtractiveAnswerer) -> None:
    text = (
        "Viele Systeme nutzen Embeddings für die Suche. Embeddings sind numerische "
        "Repräsentationen von Texten. Embeddings kosten Rechenzeit beim Indexieren."
    )
    chosen = answerer.select("Was sind Embeddings?", "de", [hit(1, text)])
    assert chosen[0].text.startswith("Embeddings sind numerische")


def test_sentences_in_the_question_language_are_preferred(answerer: ExtractiveAnswerer) -> None:
    german = hit(1, "Die Gewährleistung der Baureihe HA-300 beträgt 24 Monate.", language="de")
    english = hit(2, "The warranty of the HA-300 series is 24 months.", language="en")
    chosen = answerer.select("What is the warranty of the HA-300?", "en", [german, english])
    assert chosen[0].hit.chunk_id == 2


def test_near_duplicates_are_not_repeated(answerer: ExtractiveAnswerer) -> None:
    same = "Die Hotelkosten werden bis 120 Euro pro Nacht erstattet."
    chosen = answerer.select("Hotelkosten pro Nacht?", "de", [hit(1, same), hit(2, same + " ")])
    assert len(chosen) == 1


def test_an_faq_question_is_not_its_own_answer(answerer: ExtractiveAnswerer) -> None:
    text = (
        "Was bedeutet der Fehlercode E42? E42 meldet eine Übertemperatur des Motors. Prüfen "
        "Sie den Lüfter und die Umgebungstemperatur."
    )
    chosen = answerer.select("Was bedeutet der Fehlercode E42?", "de", [hit(1, text)])
    assert chosen[0].text == "E42 meldet eine Übertemperatur des Motors."
    assert all(not c.text.endswith("?") for c in chosen)
