"""Fusion of ranked lists, and hybrid search with per-collection profiles.

The hybrid tests run the real dense path: ``embeddings.provider: openai`` pointed at a
ScriptedChatServer, whose ``/v1/embeddings`` returns hashed word vectors (texts that share
words point alike, like ``WordHashEmbedder``). Such a "model" sees every word as written,
stop words included, while lexical search sees stemmed terms without stop words; the
documents below use that to make the two disagree.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import write_files
from leitstand.search.base import ScoredChunk
from leitstand.search.fusion import rrf_fusion, weighted_fusion
from leitstand.testing import ScriptedChatServer


def _ids(fused: list[ScoredChunk]) -> list[int]:
    return [item.chunk_id for item in fused]


def _scores(fused: list[ScoredChunk]) -> dict[int, float]:
    return {item.chunk_id: item.score for item in fused}


# -- weighted fusion ----------------------------------------------------------------------


@pytest.mark.unit
def test_weighted_fusion_normalises_each_list_to_its_own_range() -> None:
    # BM25 in the tens, cosine below one: after min-max both span 0..1.
    lexical = [ScoredChunk(1, 30.0), ScoredChunk(2, 20.0), ScoredChunk(3, 10.0)]
    dense = [ScoredChunk(3, 0.9), ScoredChunk(2, 0.5), ScoredChunk(1, 0.1)]
    fused = weighted_fusion({"lexical": lexical, "dense": dense}, {"lexical": 0.5, "dense": 0.5})
    assert _scores(fused) == pytest.approx({1: 0.5, 2: 0.5, 3: 0.5})
    fused = weighted_fusion({"lexical": lexical, "dense": dense}, {"lexical": 0.7, "dense": 0.3})
    assert _ids(fused) == [1, 2, 3]
    assert _scores(fused) == pytest.approx({1: 0.7, 2: 0.5, 3: 0.3})


@pytest.mark.unit
def test_weighted_fusion_gives_a_missing_chunk_zero_in_that_list() -> None:
    lexical = [ScoredChunk(1, 8.0), ScoredChunk(2, 4.0), ScoredChunk(3, 0.0)]
    dense = [ScoredChunk(4, 0.8), ScoredChunk(1, 0.4)]
    fused = weighted_fusion({"lexical": lexical, "dense": dense}, {"lexical": 0.6, "dense": 0.4})
    assert _scores(fused) == pytest.approx({1: 0.6, 2: 0.3, 3: 0.0, 4: 0.4})
    assert _ids(fused) == [1, 4, 2, 3]


@pytest.mark.unit
def test_weighted_fusion_ties_and_flat_lists() -> None:
    # A list whose scores are all equal (or a single hit) counts fully for each of its chunks.
    flat = [ScoredChunk(9, 2.0), ScoredChunk(5, 2.0)]
    assert weighted_fusion({"a": flat}, {"a": 1.0}) == [ScoredChunk(5, 1.0), ScoredChunk(9, 1.0)]
    # Equal fused scores come in chunk id order, whatever order the lists had.
    a = [ScoredChunk(7, 1.0), ScoredChunk(3, 0.0)]
    b = [ScoredChunk(3, 1.0), ScoredChunk(7, 0.0)]
    assert _ids(weighted_fusion({"a": a, "b": b}, {"a": 0.5, "b": 0.5})) == [3, 7]
    assert _ids(weighted_fusion({"b": b, "a": a}, {"a": 0.5, "b": 0.5})) == [3, 7]


@pytest.mark.unit
def test_weighted_fusion_skips_empty_lists_and_lists_without_weight() -> None:
    lexical = [ScoredChunk(1, 3.0), ScoredChunk(2, 1.0)]
    assert weighted_fusion({"lexical": lexical, "dense": []}, {"lexical": 0.5, "dense": 0.5}) == [
        ScoredChunk(1, 0.5),
        ScoredChunk(2, 0.0),
    ]
    dense = [ScoredChunk(3, 0.9)]
    # A weight of 0, or none at all, leaves that list's chunks out.
    assert _ids(weighted_fusion({"lexical": lexical, "dense": dense}, {"lexical": 1.0})) == [1, 2]
    zero = {"lexical": 1.0, "dense": 0.0}
    assert _ids(weighted_fusion({"lexical": lexical, "dense": dense}, zero)) == [1, 2]
    assert weighted_fusion({}, {"lexical": 1.0}) == []


# -- reciprocal rank fusion ---------------------------------------------------------------


@pytest.mark.unit
def test_rrf_sums_weight_over_k_plus_rank() -> None:
    lexical = [ScoredChunk(1, 30.0), ScoredChunk(2, 20.0)]
    dense = [ScoredChunk(2, 0.9), ScoredChunk(3, 0.8)]
    fused = rrf_fusion({"lexical": lexical, "dense": dense}, {"lexical": 0.5, "dense": 0.5}, k=60)
    assert _scores(fused) == pytest.approx({1: 0.5 / 61, 2: 0.5 / 62 + 0.5 / 61, 3: 0.5 / 62})
    assert _ids(fused) == [2, 1, 3]


@pytest.mark.unit
def test_rrf_uses_ranks_not_scores_and_weights_lists() -> None:
    # Scores far apart or close together: only the order counts.
    lexical = [ScoredChunk(1, 1000.0), ScoredChunk(2, 0.001)]
    dense = [ScoredChunk(2, 0.51), ScoredChunk(1, 0.50)]
    even = rrf_fusion({"lexical": lexical, "dense": dense}, {"lexical": 0.5, "dense": 0.5})
    assert _ids(even) == [1, 2]  # a tie, broken by chunk id
    assert even[0].score == pytest.approx(even[1].score)
    dense_heavy = rrf_fusion({"lexical": lexical, "dense": dense}, {"lexical": 0.3, "dense": 0.7})
    assert _ids(dense_heavy) == [2, 1]
    # A small k makes the first ranks count more than the rest.
    assert rrf_fusion({"a": lexical}, {"a": 1.0}, k=1)[0].score == pytest.approx(0.5)


@pytest.mark.unit
def test_rrf_ties_stable_by_chunk_id_and_missing_lists() -> None:
    a = [ScoredChunk(8, 1.0), ScoredChunk(4, 0.5)]
    b = [ScoredChunk(4, 1.0), ScoredChunk(8, 0.5)]
    assert _ids(rrf_fusion({"a": a, "b": b}, {"a": 1.0, "b": 1.0})) == [4, 8]
    assert _ids(rrf_fusion({"b": b, "a": a}, {"a": 1.0, "b": 1.0})) == [4, 8]
    # An empty list adds nothing; a list without a weight adds zero to its chunks.
    assert rrf_fusion({"a": a, "b": []}, {"a": 1.0, "b": 1.0}) == rrf_fusion({"a": a}, {"a": 1.0})
    unweighted = rrf_fusion({"a": a, "c": [ScoredChunk(1, 1.0)]}, {"a": 1.0})
    assert _scores(unweighted)[1] == 0.0
    assert _ids(unweighted) == [8, 4, 1]


# -- hybrid search through ls.search ------------------------------------------------------

# Lexical search finds the "-1" documents by the questions' content words (stemmed); the
# hashed-word "model" prefers the "-2" documents, which share the questions' stop words.
# File names are neutral: they become titles, and titles are searched too.
EN_QUESTION = "Where are the dogs running?"
DE_QUESTION = "Wo laufen die Hunde?"
DOCS = {
    "en-1.md": "A dog runs.",
    "en-2.md": "Where are the keys? They are where the keys are.",
    "de-1.md": "Der Hund läuft.",
    "de-2.md": "Wo sind die Schlüssel? Die Schlüssel sind, wo die Schlüssel sind.",
}
FILLER = {
    "filler/1.md": "Im Garten wachsen Tomaten, Bohnen und Kürbisse neben dem Zaun.",
    "filler/2.md": "Das Orchester probt jeden Donnerstag im Saal der Musikschule.",
    "filler/3.md": "The cat sleeps on the warm windowsill all afternoon.",
    "filler/4.md": "A pressure valve protects the boiler from bursting.",
}


@pytest.fixture(scope="module")
def embedding_server() -> Iterator[ScriptedChatServer]:
    with ScriptedChatServer() as server:
        yield server


@pytest.fixture
def hybrid(
    tmp_path: Path, database_url: str, open_leitstand: Any, embedding_server: ScriptedChatServer
) -> Any:
    """Open leitstand in hybrid mode with the given settings, the documents ingested."""
    embedding_server.reset()
    folder = write_files(tmp_path / "docs", DOCS)
    filler = write_files(tmp_path / "filler", FILLER)

    def factory(*, languages: list[str] | None = None, **retrieval: Any) -> Any:
        ls = open_leitstand(
            database_url,
            embeddings={
                "provider": "openai",
                "base_url": embedding_server.url,
                "model": "words",
                "max_retries": 0,
                "languages": ["en"] if languages is None else languages,
            },
            retrieval={"mode": "hybrid", **retrieval},
        )
        for source, path in (("handbuch", folder), ("filler", filler)):
            report = ls.ingest(path, source=source)
            assert not report.failed and not report.warnings
        return ls

    return factory


def _first(result: Any) -> str:
    assert result.mode == "hybrid"
    return str(result.hits[0].path)


@pytest.mark.integration
def test_a_collection_profile_applies_when_a_search_is_limited_to_it(hybrid: Any) -> None:
    ls = hybrid(dense_weight=0.1, collections={"handbuch": {"dense_weight": 0.9}})
    # Limited to the collection: its profile, mostly dense.
    assert _first(ls.search(EN_QUESTION, sources=["handbuch"])) == "en-2.md"
    # Anything else: the defaults, mostly lexical.
    assert _first(ls.search(EN_QUESTION)) == "en-1.md"
    assert _first(ls.search(EN_QUESTION, sources=["handbuch", "filler"])) == "en-1.md"
    # The collection's profile holds all of fusion: rrf with its own k there.
    rrf = hybrid(collections={"handbuch": {"fusion": "rrf", "dense_weight": 0.4, "rrf_k": 10}})
    scores = {hit.path: hit.score for hit in rrf.search(EN_QUESTION, sources=["handbuch"]).hits}
    assert scores["en-2.md"] == pytest.approx(0.4 / 11)  # first in the dense list only
    assert scores["en-1.md"] > 0.6 / 11  # first in the lexical list, and somewhere in dense
    weighted = {hit.path: hit.score for hit in rrf.search(EN_QUESTION).hits}
    assert weighted["en-2.md"] == pytest.approx(0.5)  # the defaults: weighted, dense 0.5


@pytest.mark.integration
def test_questions_outside_the_embedding_languages_weigh_dense_less(hybrid: Any) -> None:
    ls = hybrid(dense_weight=0.9, dense_weight_other=0.1)  # embeddings.languages: [en]
    english = ls.search(EN_QUESTION)
    assert english.language == "en"
    assert _first(english) == "en-2.md"  # dense_weight
    german = ls.search(DE_QUESTION)
    assert german.language == "de"
    assert _first(german) == "de-1.md"  # dense_weight_other
    # A model for every language (languages: []) gives German questions the full weight.
    every = hybrid(languages=[], dense_weight=0.9, dense_weight_other=0.1)
    assert _first(every.search(DE_QUESTION)) == "de-2.md"
