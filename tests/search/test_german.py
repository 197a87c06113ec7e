"""German handling end to end: compounds, folding, OCR forms, and the language of each text.

The integration tests ingest real files and ask through ``ls.search`` on SQLite and on
PostgreSQL; the unit tests hold ``GermanDecompounder`` to the readings its docstring promises.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from conftest import write_files
from leitstand.search.analyser import Analyser, stop_words
from leitstand.search.compounds import GermanDecompounder, Lexicon

# Unrelated German text, so that BM25's idf has a collection to work against.
UNRELATED = {
    "filler/garten.md": "Im Garten wachsen Tomaten, Bohnen und Kürbisse neben dem Zaun.",
    "filler/kueche.md": "Die Küche bekommt einen neuen Herd und eine größere Spüle.",
    "filler/urlaub.md": "Der Urlaub an der Ostsee fiel wegen des Regens kürzer aus.",
    "filler/verein.md": "Der Sportverein sucht Trainer für die Jugendmannschaft im Herbst.",
    "filler/musik.md": "Das Orchester probt jeden Donnerstag im Saal der Musikschule.",
    "filler/wetter.md": "Morgen ziehen Gewitter auf, am Wochenende wird es wieder sonnig.",
}

# One statement about a vector database, in each of the ways German writes the compound.
PHRASINGS = {
    "Vektordatenbank": "kompakt.md",
    "Vektor-Datenbank": "bindestrich.md",
    "Vektor-Datenbanken": "plural.md",
    "Datenbank für Vektoren": "umschrieben.md",
}
COMPOUND_DOCS = {
    "kompakt.md": "Wir betreiben eine Vektordatenbank im Rechenzentrum.",
    "bindestrich.md": "Die Vektor-Datenbank läuft auf einem eigenen Server.",
    "plural.md": "Vektor-Datenbanken speichern die Embeddings aller Texte.",
    "umschrieben.md": "Wir brauchen eine Datenbank für Vektoren und ihre Metadaten.",
}
# Text that shares only one part of the compound with the question (file names are titles,
# so they stay neutral).
ONE_PART = {
    "part/geld.md": "Die Bank am Marktplatz öffnet morgens um neun Uhr.",
    "part/diagramm.md": "Der Vektor zeigt im Diagramm nach Norden.",
    "part/sicherung.md": "Die Datenbank der Kunden wird jede Nacht gesichert.",
    "part/schutz.md": "Personenbezogene Daten werden nur verschlüsselt übertragen.",
}


def _paths(result: Any) -> list[str]:
    return [hit.path for hit in result.hits]


@pytest.fixture
def compounds(tmp_path: Path, database_url: str, open_leitstand: Any) -> Any:
    ls = open_leitstand(database_url)
    ls.ingest(write_files(tmp_path / "docs", {**COMPOUND_DOCS, **ONE_PART, **UNRELATED}))
    return ls


@pytest.mark.integration
@pytest.mark.parametrize("query", list(PHRASINGS))
def test_every_phrasing_of_a_compound_finds_every_other(compounds: Any, query: str) -> None:
    found = _paths(compounds.search(query, k=20))
    targets = set(COMPOUND_DOCS)
    # All four phrasings first, before any text that merely shares one part with them.
    assert set(found[: len(targets)]) == targets, found
    assert set(found[len(targets) :]) <= set(ONE_PART)
    assert not set(found) & set(UNRELATED)


@pytest.mark.integration
def test_a_german_function_word_does_not_find_an_english_homograph(
    tmp_path: Path, database_url: str, open_leitstand: Any
) -> None:
    # "für" folds to "fur", an English noun: a German question must not find a fur coat.
    ls = open_leitstand(database_url)
    english = {"en/coat.md": "The coat is made of warm fur and soft wool."}
    ls.ingest(write_files(tmp_path / "docs", {**COMPOUND_DOCS, **UNRELATED, **english}))
    for query in ("Datenbank für Vektoren", "Datenbank fur Vektoren"):
        found = _paths(ls.search(query, k=20))
        assert "en/coat.md" not in found, (query, found)
        assert set(found) == set(COMPOUND_DOCS)
    # An English question still finds it: "fur" is a word there.
    assert _paths(ls.search("Which coat is made of fur?"))[0] == "en/coat.md"


SPELLINGS = {
    "umlaut.md": "Die Gehälter werden am Monatsende überwiesen.",
    "ocr.md": "Die Gehalter der Praktikanten steigen im Januar.",  # OCR lost the umlaut
    "eszett.md": "Die Straße vor dem Werk wird im Mai gesperrt.",
    "doppel-s.md": "Die Strasse zum Lager bekommt neuen Asphalt.",
    "ocr-fur.md": "Die Richtlinie fur Reisen gilt ab dem ersten Juli.",
}


@pytest.fixture
def spellings(tmp_path: Path, database_url: str, open_leitstand: Any) -> Any:
    ls = open_leitstand(database_url)
    ls.ingest(write_files(tmp_path / "docs", {**SPELLINGS, **UNRELATED}))
    return ls


@pytest.mark.integration
@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("Gehälter", {"umlaut.md", "ocr.md"}),
        ("Gehalter", {"umlaut.md", "ocr.md"}),
        ("Gehalt", {"umlaut.md", "ocr.md"}),
        ("Straße", {"eszett.md", "doppel-s.md"}),
        ("Strasse", {"eszett.md", "doppel-s.md"}),
    ],
)
def test_umlauts_and_eszett_meet_their_folded_spelling(
    spellings: Any, query: str, expected: set[str]
) -> None:
    assert set(_paths(spellings.search(query))) == expected


@pytest.mark.integration
@pytest.mark.parametrize("query", ["Richtlinie für Reisen", "Richtlinie fur Reisen"])
def test_the_ocr_form_fur_is_the_stop_word_fuer(spellings: Any, query: str) -> None:
    result = spellings.search(query)
    # Found by its other words; "für" itself is no term, so the filler with
    # "Trainer für die Jugendmannschaft" is not found.
    assert _paths(result) == ["ocr-fur.md"]
    assert "fur" not in result.terms


@pytest.mark.integration
def test_hyphenated_compounds_are_found_by_their_parts_and_joined_form(
    tmp_path: Path, database_url: str, open_leitstand: Any
) -> None:
    ls = open_leitstand(database_url)
    docs = {
        "e-mail.md": "Das E-Mail-Postfach der Buchhaltung ist voll.",
        "kunden.md": "Im Kunden-Service arbeiten zwölf Leute in zwei Schichten.",
    }
    ls.ingest(write_files(tmp_path / "docs", {**docs, **UNRELATED}))
    assert _paths(ls.search("Kundenservice")) == ["kunden.md"]
    assert _paths(ls.search("Service")) == ["kunden.md"]
    assert _paths(ls.search("Mailpostfach")) == ["e-mail.md"]
    assert _paths(ls.search("Postfach")) == ["e-mail.md"]


@pytest.mark.integration
def test_each_document_and_each_question_is_read_in_its_own_language(
    tmp_path: Path, database_url: str, open_leitstand: Any
) -> None:
    ls = open_leitstand(database_url)
    docs = {
        "en/pump.md": "The pump in the basement keeps running through the night.",
        "de/pumpe.md": "Die Pumpe im Keller läuft die ganze Nacht.",
    }
    ls.ingest(write_files(tmp_path / "docs", {**docs, **UNRELATED}))
    # "runs" meets "running" only through the English stemmer (German keeps "running").
    english = ls.search("Why does the pump run at night?")
    assert english.language == "en"
    assert _paths(english)[0] == "en/pump.md"
    assert english.hits[0].language == "en"
    german = ls.search("Warum läuft die Pumpe nachts?")
    assert german.language == "de"
    assert _paths(german)[0] == "de/pumpe.md"
    assert german.hits[0].language == "de"


@pytest.mark.integration
def test_a_chunk_in_another_language_than_its_document_is_read_in_its_own(
    tmp_path: Path, database_url: str, open_leitstand: Any
) -> None:
    ls = open_leitstand(database_url, ingest={"chunk_chars": 200})  # a section per chunk
    manual = (
        "# Wartung\n\nDie Pumpe im Keller wird jeden Monat von der Haustechnik geprüft und "
        "gereinigt, bevor der Winter kommt.\n\n# Notes for contractors\n\nThe contractors "
        "are running the pumps in the basement at night, when the building is empty.\n"
    )
    ls.ingest(write_files(tmp_path / "docs", {"handbuch.md": manual, **UNRELATED}))
    with ls.db.read() as session:
        languages = [
            row[0]
            for row in session.execute(
                text(
                    "SELECT language FROM chunks "
                    "WHERE document_id = (SELECT id FROM documents WHERE path = 'handbuch.md') "
                    "ORDER BY ordinal"
                )
            )
        ]
    assert languages == ["de", "en"]
    # English stemming for the English chunk: "run" meets "running" ("runn" in German).
    found = ls.search("Who runs the pump?")
    assert found.hits[0].path == "handbuch.md" and found.hits[0].language == "en"


# -- the compound splitter -------------------------------------------------------------


@pytest.fixture(scope="module")
def splitter() -> GermanDecompounder:
    return GermanDecompounder(stop_words=stop_words("de"))


@pytest.mark.unit
@pytest.mark.parametrize(
    ("word", "parts"),
    [
        ("vektordatenbank", ("vektor", "datenbank", "daten", "bank")),
        # an inflected word is read through its base form: the ending stays on the head
        ("vektordatenbanken", ("vektor", "datenbanken", "daten", "banken")),
        # the longest head that leaves a valid modifier: not staub|ecken
        ("staubecken", ("stau", "becken")),
        ("wachstube", ("wach", "stube")),
        # a linking element between modifier and head
        ("verteidigungslinie", ("verteidigung", "linie")),
        # a modifier that is a compound itself; every node of the tree once
        ("blumentopferde", ("blumentopf", "erde", "blumen", "topf")),
        ("amazonasregenwald", ("amazonas", "regenwald", "regen", "wald")),
        # a shorter head wins when its reading is clearly likelier: not bau|marten
        ("baumarten", ("baum", "arten")),
        ("gehaltsabrechnung", ("gehalt", "abrechnung")),
        ("strassenbahn", ("strasse", "bahn")),  # folded "Straßenbahn"
    ],
)
def test_compounds_split_into_the_parts_a_reader_sees(
    splitter: GermanDecompounder, word: str, parts: tuple[str, ...]
) -> None:
    assert splitter.parts(word) == parts


@pytest.mark.unit
@pytest.mark.parametrize(
    "word",
    [
        "urinstinkt",  # ur|instinkt, a derivation: never urin|stinkt
        "hypothese",  # not hypo|these
        "kritikern",  # kritiker + n: an inflection ending never becomes a head (kritik|ern)
        "zugestimmt",  # a participle
        "wiederaufbau",  # starts with a particle
        "programm",  # pro|gramm
        "septische",  # a derivation suffix is no head: not sept|ische
        "datenbankfurvektoren",  # no reading covers the whole word
        "bank",  # too short to split
    ],
)
def test_derivations_and_non_compounds_stay_whole(splitter: GermanDecompounder, word: str) -> None:
    assert splitter.parts(word) == ()
    assert splitter.split(word) is None


@pytest.mark.unit
def test_a_split_must_beat_the_word_itself() -> None:
    # Both parts are words, but "hypothese" is more frequent than "hypo": it stays whole.
    rare_part = Lexicon.parse("36 hypothese\n34 hypo\n42 these\n")
    assert GermanDecompounder(rare_part).split("hypothese") is None
    common_parts = Lexicon.parse("36 hypothese\n38 hypo\n42 these\n")
    assert GermanDecompounder(common_parts).split("hypothese") == ("hypo", "these")
    # ``margin`` asks for more: the weaker part must beat the word by that much.
    assert GermanDecompounder(common_parts, margin=0.5).split("hypothese") is None
    # A word that is more frequent in English is never a head.
    foreign_head = Lexicon.parse("36 hypothese\n38 hypo\ne42 these\n")
    assert GermanDecompounder(foreign_head).split("hypothese") is None


@pytest.mark.unit
def test_splits_are_the_same_for_every_instance_and_every_call() -> None:
    first = GermanDecompounder(stop_words=stop_words("de"))
    words = ["vektordatenbanken", "staubecken", "urinstinkt", "amazonasregenwald"]
    expected = [first.parts(word) for word in words]
    assert [first.parts(word) for word in reversed(words)] == expected[::-1]
    again = GermanDecompounder(stop_words=stop_words("de"))
    assert [again.parts(word) for word in words] == expected


@pytest.mark.unit
def test_the_analyser_emits_a_compound_with_its_parts_stemmed() -> None:
    analyser = Analyser(["de", "en"])
    assert analyser.terms("Vektordatenbank", "de") == [
        "vektordatenbank",
        "vektor",
        "datenbank",
        "dat",  # "daten", stemmed
        "bank",
    ]
    # The same words, however they are written.
    written = ["Vektordatenbanken", "Vektor-Datenbank", "Vektor-Datenbanken"]
    for form in written:
        assert {"vektordatenbank", "vektor", "datenbank", "bank"} <= set(
            analyser.terms(form, "de")
        ), form
    # English text is not split with the German lexicon.
    assert analyser.terms("Vektordatenbank", "en") == ["vektordatenbank"]
    assert Analyser(["de"], decompounders={}).terms("Vektordatenbank", "de") == ["vektordatenbank"]


@pytest.mark.unit
def test_a_questions_own_stop_words_give_no_terms_in_other_languages() -> None:
    analyser = Analyser(["de", "en"])
    german = analyser.query_terms("Wann war die Prüfung für Vektoren?", ["de", "en"])
    assert not {"fur", "war", "die"} & set(german)  # not the English words
    assert {"prufung", "vektor", "vektoren"} <= set(german)  # content words in both languages
    english = analyser.query_terms("Does the pump run?", ["en", "de"])
    assert english == ["pump", "run"]  # not the German readings "dos" and "the"
