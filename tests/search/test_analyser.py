from __future__ import annotations

import pytest

from leitstand.search.analyser import SUPPORTED_LANGUAGES, Analyser, fold

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def analyser() -> Analyser:
    return Analyser(["de", "en"])


def test_ocr_text_without_umlauts_meets_the_real_spelling(analyser: Analyser) -> None:
    assert analyser.terms("Gehälter für Wertschöpfung", "de") == analyser.terms(
        "Gehalter fur Wertschopfung", "de"
    )


def test_sharp_s_and_diacritics_fold(analyser: Analyser) -> None:
    assert fold("Straße Größe Café") == "strasse grosse cafe"
    assert analyser.terms("Straße", "de") == analyser.terms("Strasse", "de")


def test_hyphenated_compounds_give_parts_and_joined_form(analyser: Analyser) -> None:
    terms = analyser.terms("Vektor-Datenbanken", "de")
    # The parts, the joined form and its own parts ("daten" stems to "dat").
    assert set(terms) == {"vektor", "datenbank", "vektordatenbank", "dat", "bank"}
    assert "vektordatenbank" in analyser.terms("Vektordatenbanken", "de")


def test_stop_words_are_removed_per_language(analyser: Analyser) -> None:
    assert analyser.terms("der die das und für über", "de") == []
    assert analyser.terms("the and of which", "en") == []


def test_stemming_follows_the_language(analyser: Analyser) -> None:
    assert analyser.terms("Datenbanken", "de") == analyser.terms("Datenbank", "de")
    assert analyser.terms("databases", "en") == analyser.terms("database", "en")


def test_underscores_separate_like_postgres(analyser: Analyser) -> None:
    assert analyser.terms("foo_bar", "en") == ["foo", "bar"]


def test_query_terms_union_of_languages_keeps_order_and_is_distinct(analyser: Analyser) -> None:
    terms = analyser.query_terms("Researchers researcher", ["en", "de"])
    assert len(terms) == len(set(terms))
    assert terms[0] == analyser.terms("Researchers", "en")[0]


def test_unknown_language_falls_back_to_the_first(analyser: Analyser) -> None:
    assert analyser.terms("Datenbanken", "xx") == analyser.terms("Datenbanken", "de")


def test_supported_languages_have_stemmers() -> None:
    Analyser(list(SUPPORTED_LANGUAGES))
    with pytest.raises(ValueError, match="no stemmer"):
        Analyser(["de", "tlh"])


def test_the_word_memo_starting_again_loses_no_word_of_the_text(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The memo is emptied when full; a text whose new words overflow it must still get all
    its terms (at a million chunks this raised KeyError for a word of the text)."""
    from leitstand.search import analyser as module

    monkeypatch.setattr(module, "MEMO_WORDS", 5)
    analyser = Analyser(("de",))
    first = analyser.terms("Anlage Wartung Filter Lager")
    second = analyser.terms("Schwerhörigkeit Getriebe Motor Kupplung Bremse Anlage")
    assert first == Analyser(("de",)).terms("Anlage Wartung Filter Lager")
    assert second == Analyser(("de",)).terms(
        "Schwerhörigkeit Getriebe Motor Kupplung Bremse Anlage"
    )
