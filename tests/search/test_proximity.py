"""The proximity re-ranker: query terms close together, and in the title or heading path."""

from __future__ import annotations

from typing import Any

import pytest

from leitstand.config.settings import RetrievalProfile
from leitstand.ingest.pipeline import TextRecord
from leitstand.search.hits import Hit
from leitstand.search.rerank.base import RerankQuery
from leitstand.search.rerank.proximity import ProximityReranker

UNRELATED = [
    TextRecord(f"filler/{name}.txt", text, title="Notiz")
    for name, text in {
        "garten": "Im Garten wachsen Tomaten, Bohnen und Kürbisse neben dem Zaun.",
        "kueche": "Die Küche bekommt einen neuen Herd und eine größere Spüle.",
        "urlaub": "Der Urlaub an der Ostsee fiel wegen des Regens kürzer aus.",
        "verein": "Der Sportverein sucht Trainer für die Jugendmannschaft im Herbst.",
        "musik": "Das Orchester probt jeden Donnerstag im Saal der Musikschule.",
        "wetter": "Morgen ziehen Gewitter auf, am Wochenende wird es wieder sonnig.",
    }.items()
]
# The same words, the same length: BM25 cannot tell them apart.
SCATTERED = (
    "Die Kühlung meldet seit Montag einen Alarm, und im Bericht über das alte Kraftwerk "
    "steht am Ende nur ein Satz zur Turbine."
)
TOGETHER = (
    "Die Kühlung der Turbine meldet seit Montag einen Alarm, und im Bericht über das alte "
    "Kraftwerk steht am Ende nur ein Satz."
)
QUESTION = "Kühlung der Turbine"


def _ingest(ls: Any, records: list[TextRecord], source: str = "docs") -> None:
    report = ls.ingest_texts([*records, *UNRELATED], source=source)
    assert not report.failed


def _query(ls: Any, question: str) -> RerankQuery:
    language, terms = ls.retriever.analyse_query(question)
    return RerankQuery(question, language, tuple(terms))


def _equal_scores(ls: Any, question: str, paths: list[str]) -> list[Hit]:
    """The hits of ``paths`` in that order, as the fusion would hand them over with a tie."""
    found = {hit.path: hit for hit in ls.search(question, k=20).hits}
    return [found[path].with_score(1.0) for path in paths]


@pytest.mark.integration
def test_terms_standing_together_outrank_scattered_ones_at_equal_bm25(
    database_url: str, open_leitstand: Any
) -> None:
    ls = open_leitstand(database_url)
    _ingest(ls, [TextRecord("a-verstreut.txt", SCATTERED), TextRecord("b-nah.txt", TOGETHER)])
    plain = ls.search(QUESTION, k=20).hits
    assert {hit.path for hit in plain} == {"a-verstreut.txt", "b-nah.txt"}
    assert plain[0].score == pytest.approx(plain[1].score)  # a tie for BM25
    hits = _equal_scores(ls, QUESTION, ["a-verstreut.txt", "b-nah.txt"])
    reranked = ProximityReranker(ls.db).rerank(_query(ls, QUESTION), hits)
    assert [hit.path for hit in reranked] == ["b-nah.txt", "a-verstreut.txt"]
    assert reranked[0].score > reranked[1].score


@pytest.mark.integration
def test_the_window_decides_what_counts_as_together(database_url: str, open_leitstand: Any) -> None:
    ls = open_leitstand(database_url)
    _ingest(ls, [TextRecord("a-verstreut.txt", SCATTERED), TextRecord("b-nah.txt", TOGETHER)])
    hits = _equal_scores(ls, QUESTION, ["a-verstreut.txt", "b-nah.txt"])
    query = _query(ls, QUESTION)
    # "Kühlung" and "Turbine" are far apart in one and next to each other in the other;
    # a window wide enough to span the scattered text makes them equal again.
    wide = ProximityReranker(ls.db, weight=1.0, window=100).rerank(query, hits)
    near = ProximityReranker(ls.db, weight=1.0, window=2).rerank(query, hits)
    assert [hit.path for hit in near] == ["b-nah.txt", "a-verstreut.txt"]
    assert near[1].score == 0.0  # no pair within two positions
    assert wide[1].score > 0.0


@pytest.mark.integration
def test_title_and_heading_count_only_with_a_context_weight(
    database_url: str, open_leitstand: Any
) -> None:
    ls = open_leitstand(database_url)
    text = "Die Kühlung der Turbine wird jeden Freitag geprüft."
    _ingest(
        ls,
        [
            TextRecord("a-protokoll.txt", text, title="Protokoll"),
            TextRecord("b-turbine.txt", text, title="Kühlung der Turbine"),
        ],
    )
    hits = _equal_scores(ls, QUESTION, ["a-protokoll.txt", "b-turbine.txt"])
    query = _query(ls, QUESTION)
    # Without a context weight the two are equal and keep the order they came in.
    unweighted = ProximityReranker(ls.db).rerank(query, hits)
    assert [hit.path for hit in unweighted] == ["a-protokoll.txt", "b-turbine.txt"]
    assert unweighted[0].score == pytest.approx(unweighted[1].score)
    weighted = ProximityReranker(ls.db, context_weight=0.5).rerank(query, hits)
    assert [hit.path for hit in weighted] == ["b-turbine.txt", "a-protokoll.txt"]
    assert weighted[0].score - weighted[1].score == pytest.approx(0.5)  # all terms in the title


@pytest.mark.integration
def test_reranked_hits_keep_their_passage_and_citation(
    database_url: str, open_leitstand: Any
) -> None:
    ls = open_leitstand(database_url)
    _ingest(ls, [TextRecord("a-verstreut.txt", SCATTERED), TextRecord("b-nah.txt", TOGETHER)])
    hits = ls.search(QUESTION, k=20).hits
    reranked = ProximityReranker(ls.db).rerank(_query(ls, QUESTION), hits)
    assert sorted(hit.chunk_id for hit in reranked) == sorted(hit.chunk_id for hit in hits)
    for hit in reranked:
        original = next(h for h in hits if h.chunk_id == hit.chunk_id)
        assert hit == original.with_score(hit.score)
        assert hit.text == ls.chunk(hit.chunk_id).text
    assert [h.score for h in reranked] == sorted((h.score for h in reranked), reverse=True)


@pytest.mark.unit
def test_nothing_to_reorder_is_left_as_it_is() -> None:
    reranker = ProximityReranker(None)  # type: ignore[arg-type]  # never reaches the database
    hit = Hit(1, 1, 0.5, "Text", "", 0, 4, None, None, "de", "t", "p", "u", "s")
    assert reranker.rerank(RerankQuery("Text", "de", ("text",)), [hit]) == [hit]
    assert reranker.rerank(RerankQuery("der", "de", ()), [hit, hit]) == [hit, hit]
    with pytest.raises(ValueError, match="weight"):
        ProximityReranker(None, weight=1.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="window"):
        ProximityReranker(None, window=0)  # type: ignore[arg-type]


@pytest.mark.unit
def test_a_compound_next_to_its_own_part_is_no_proximity() -> None:
    reranker = ProximityReranker(None)  # type: ignore[arg-type]  # score() needs no database
    terms = ["vektordatenbank", "datenbank", "server"]
    # "Vektordatenbank" is analysed as the word followed by its parts: adjacent by construction.
    compound_only = "vektordatenbank datenbank lauft stabil"
    near_server = "vektordatenbank datenbank lauft server"
    [(alone, _), (served, _)] = reranker.score(terms, [(compound_only, ""), (near_server, "")])
    assert alone == 0.0
    assert served == 1.0


@pytest.mark.integration
def test_a_configured_proximity_reranker_changes_the_search_order(
    database_url: str, open_leitstand: Any
) -> None:
    ls = open_leitstand(database_url, retrieval={"reranker": "proximity"})
    # The scattered text is a little shorter, so BM25 alone puts it first; weaker candidates
    # (one of the terms, in longer text) give the retrieval scores their range.
    shorter = SCATTERED.replace("das alte Kraftwerk", "das Kraftwerk")
    weaker = [
        TextRecord(
            f"c-schwach{n}.txt",
            f"Die Turbine Nummer {n} steht im Nebengebäude und wird im Herbst von einer "
            "Fachfirma gewartet, die auch die Pumpen und Leitungen der Anlage prüft.",
        )
        for n in range(4)
    ]
    _ingest(
        ls, [TextRecord("a-verstreut.txt", shorter), TextRecord("b-nah.txt", TOGETHER), *weaker]
    )
    plain = ls.search(QUESTION, profile=RetrievalProfile(reranker="none"))
    assert [hit.path for hit in plain.hits[:2]] == ["a-verstreut.txt", "b-nah.txt"]
    assert plain.hits[0].score > plain.hits[1].score
    reranked = ls.search(QUESTION)
    assert [hit.path for hit in reranked.hits[:2]] == ["b-nah.txt", "a-verstreut.txt"]
    assert {hit.path for hit in reranked.hits} == {hit.path for hit in plain.hits}
    # The same with the proximity re-ranker in a collection's profile.
    collection = open_leitstand(
        database_url, retrieval={"collections": {"docs": {"reranker": "proximity"}}}
    )
    top = [h.path for h in collection.search(QUESTION, sources=["docs"]).hits[:2]]
    assert top == ["b-nah.txt", "a-verstreut.txt"]
    top = [h.path for h in collection.search(QUESTION).hits[:2]]
    assert top == ["a-verstreut.txt", "b-nah.txt"]
