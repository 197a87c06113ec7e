"""Query expansion by pseudo-relevance feedback (RM3): the expander, and ``expansion: prf``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from conftest import write_files
from leitstand.config.settings import RetrievalProfile
from leitstand.search.expansion import Rm3Expander

# -- the expander -------------------------------------------------------------------------
# Feedback chunks are analysed text (terms joined by spaces), as the index stores them.


@pytest.mark.unit
def test_expansion_terms_come_from_the_feedback_chunks() -> None:
    feedback = [
        "pump dicht dicht keller wart",
        "pump schlauch keller rohr",
    ]
    terms = Rm3Expander().expand(["pump"], "de", feedback, count=20)
    assert set(terms) == {"dicht", "keller", "wart", "schlauch", "rohr"}
    # Weight is a term's share of the chunks: twice in one, or once in each of two, wins.
    assert terms[:2] == ["keller", "dicht"]


@pytest.mark.unit
def test_a_chunk_that_matches_the_query_better_weighs_more() -> None:
    # The same length, the same shape; only the number of query terms differs.
    feedback = [
        "pump schlauch schlauch rohr rohr gart",
        "pump pump pump dicht dicht gart",
    ]
    by_pump = Rm3Expander().expand(["pump"], "de", feedback, count=10)
    assert by_pump.index("dicht") < by_pump.index("schlauch")
    by_rohr = Rm3Expander().expand(["rohr"], "de", feedback, count=10)
    assert by_rohr.index("schlauch") < by_rohr.index("dicht")


@pytest.mark.unit
def test_query_terms_numbers_and_short_terms_stay_out() -> None:
    feedback = ["pump wartung 2024 42 kw v ventil ventil", "pump wartung ventil 2024"]
    expander = Rm3Expander()
    terms = expander.expand(["pump", "wartung"], "de", feedback, count=20)
    assert terms == ["ventil"]
    # Numbers only when asked for; ``min_chars`` decides what is too short.
    with_numbers = Rm3Expander(numbers=True, min_chars=2).expand(
        ["pump", "wartung"], "de", feedback, count=20
    )
    assert with_numbers[:2] == ["ventil", "2024"]
    assert set(with_numbers) == {"ventil", "2024", "42", "kw"}


@pytest.mark.unit
def test_the_order_is_deterministic_ties_alphabetical() -> None:
    feedback = ["pump zeta alpha mitte", "pump beta alpha"]
    expander = Rm3Expander()
    first = expander.expand(["pump"], "de", feedback, count=10)
    assert first[0] == "alpha"  # in both chunks
    assert first == expander.expand(["pump"], "de", feedback, count=10)
    # Terms of one chunk with equal weight come in alphabetical order.
    assert first[1:] == ["beta", "mitte", "zeta"]
    assert expander.expand(["pump"], "de", feedback, count=2) == ["alpha", "beta"]


@pytest.mark.unit
def test_nothing_to_expand_from_gives_no_terms() -> None:
    expander = Rm3Expander()
    assert expander.expand(["pump"], "de", [], count=5) == []
    assert expander.expand(["pump"], "de", ["", ""], count=5) == []
    assert expander.expand([], "de", ["pump ventil"], count=5) == []
    assert expander.expand(["pump"], "de", ["pump ventil"], count=0) == []
    # Feedback that shares no term with the query is no evidence about it.
    assert expander.expand(["turbin"], "de", ["pump ventil"], count=5) == []


# -- expansion: prf through ls.search -------------------------------------------------------

DOCS = {
    # The answer the question's words find.
    "stoerung.md": "Zeigt die Wärmepumpe den Fehlercode E42, fehlt meist Kältemittel im "
    "Verdichter. Der Kundendienst prüft dann den Verdichter und füllt Kältemittel nach.",
    # Shares the top hit's vocabulary (Verdichter, Kältemittel), none of the question's.
    "wartung.md": "Einmal im Jahr misst der Kundendienst den Druck im Verdichter und "
    "ergänzt bei Bedarf Kältemittel.",
    "garten.md": "Im Garten wachsen Tomaten, Bohnen und Kürbisse neben dem Zaun.",
    "kueche.md": "Die Küche bekommt einen neuen Herd und eine größere Spüle.",
    "urlaub.md": "Der Urlaub an der Ostsee fiel wegen des Regens kürzer aus.",
    "verein.md": "Der Sportverein sucht Trainer für die Jugendmannschaft im Herbst.",
    "musik.md": "Das Orchester probt jeden Donnerstag im Saal der Musikschule.",
    "wetter.md": "Morgen ziehen Gewitter auf, am Wochenende wird es wieder sonnig.",
}
QUESTION = "Was bedeutet der Fehlercode E42 an der Wärmepumpe?"


@pytest.mark.integration
def test_prf_finds_a_document_that_shares_only_the_top_hits_vocabulary(
    tmp_path: Path, database_url: str, open_leitstand: Any
) -> None:
    ls = open_leitstand(database_url)
    ls.ingest(write_files(tmp_path / "docs", DOCS))
    plain = ls.search(QUESTION, k=5, profile=RetrievalProfile(expansion="none"))
    assert [hit.path for hit in plain.hits] == ["stoerung.md"]
    expanded = ls.search(QUESTION, k=5, profile=RetrievalProfile(expansion="prf"))
    paths = [hit.path for hit in expanded.hits]
    assert paths[:2] == ["stoerung.md", "wartung.md"]
    assert not set(paths) - {"stoerung.md", "wartung.md"}
    assert expanded.terms == plain.terms  # the question's own terms are reported unchanged


@pytest.mark.integration
def test_prf_configured_for_a_collection_applies_to_searches_of_it(
    tmp_path: Path, database_url: str, open_leitstand: Any
) -> None:
    ls = open_leitstand(database_url, retrieval={"collections": {"technik": {"expansion": "prf"}}})
    ls.ingest(write_files(tmp_path / "technik", DOCS), source="technik")
    only = [hit.path for hit in ls.search(QUESTION, sources=["technik"]).hits]
    assert "wartung.md" in only
    assert [hit.path for hit in ls.search(QUESTION).hits] == ["stoerung.md"]
