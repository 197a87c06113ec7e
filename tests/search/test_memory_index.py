"""The lexical postings in memory: FTS5's scores, and never a stale answer.

The base suite (``test_sqlite_lexical.py``) runs against the postings too; these tests add
what only they have: equality with FTS5 on a real collection, following changes between
searches, building in the background while FTS5 answers, and merging and rebuilding.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from sqlalchemy import delete, select

from conftest import DATASETS
from leitstand.ingest.pipeline import TextRecord
from leitstand.search.base import LexicalWeights
from leitstand.search.impact import (
    ImpactIndex,
    build_segment,
    merge_segments,
    term_hash,
    token_hashes,
)
from leitstand.search.memory_index import MemoryLexicalIndex
from leitstand.search.sqlite_fts import SqliteLexicalIndex
from leitstand.store.models import Document
from search.lexical_suite import FILLER, Corpus, open_corpus, reference_bm25

pytestmark = pytest.mark.integration

WORDS = (
    "pumpe ventil kessel leitung druck wasser strom turbine lager wartung prüfung kran "
    "hafen schicht meister anlage fehler meldung sensor regler motor getriebe öl filter"
).split()


@pytest.fixture
def corpus(sqlite_url: str) -> Iterator[Corpus]:
    corpus = open_corpus(sqlite_url)
    yield corpus
    corpus.index.close()
    corpus.db.dispose()


def _memory(corpus: Corpus, **options: Any) -> MemoryLexicalIndex:
    weights = LexicalWeights(context_weight=1.5)
    return MemoryLexicalIndex(corpus.db, SqliteLexicalIndex(weights), weights, **options)


def _search(corpus: Corpus, index: Any, terms: list[str], limit: int = 50) -> list[Any]:
    with corpus.db.read() as session:
        return index.search(session, terms, limit=limit)


def _texts(rng: random.Random, count: int) -> dict[str, str]:
    return {
        f"doc{rng.randrange(10**9)}.txt": " ".join(rng.choices(WORDS, k=rng.randint(3, 30)))
        for _ in range(count)
    }


@pytest.mark.slow
def test_the_same_results_and_scores_as_fts5_on_xquad(corpus: Corpus) -> None:
    for language in ("de", "en"):
        rows = (DATASETS / f"xquad-{language}" / "corpus.jsonl").read_text("utf-8").splitlines()
        records = [
            TextRecord(path=f"{language}/{row['_id']}", text=row["text"], title=row["title"])
            for row in map(json.loads, rows)
        ]
        corpus.ingestor.ingest_texts(records, source=language)
    fts = SqliteLexicalIndex(LexicalWeights(context_weight=1.5))
    memory = _memory(corpus, mode="on")
    queries = []
    for language in ("de", "en"):
        lines = (DATASETS / f"xquad-{language}" / "queries.jsonl").read_text("utf-8")
        queries += [json.loads(line)["text"] for line in lines.splitlines()[:150]]
    for query in queries:
        terms = corpus.analyser.query_terms(query, ["de", "en"])
        expected = _search(corpus, fts, terms, limit=100)
        found = _search(corpus, memory, terms, limit=100)
        assert [f.chunk_id for f in found] == [e.chunk_id for e in expected], query
        assert [f.score for f in found] == pytest.approx([e.score for e in expected], rel=1e-9)
    assert memory.ready and memory.builds == 1


def test_every_change_between_searches_is_followed_exactly(corpus: Corpus) -> None:
    rng = random.Random(7)
    memory = _memory(corpus, mode="on", inline_chunks=10_000)
    corpus.add(FILLER, source="filler")
    terms = corpus.analyser.query_terms("Pumpe Ventil Kessel Öl Turbine Hafen", ["de"])
    for step in range(12):
        if step % 3 == 2:  # delete some documents directly, as a cascade would
            with corpus.db.write() as session:
                ids = list(session.scalars(select(Document.id)))
                gone = rng.sample(ids, k=min(3, len(ids)))
                session.execute(delete(Document).where(Document.id.in_(gone)))
        else:
            corpus.add(_texts(rng, 15), source=f"s{step % 2}")
        found = {f.chunk_id: f.score for f in _search(corpus, memory, terms, limit=1000)}
        expected = reference_bm25(corpus.db, terms, memory.weights)
        assert found == pytest.approx(expected, rel=1e-9), f"step {step}"
    assert memory.ready


def test_auto_waits_for_enough_chunks_and_fts5_answers_while_it_builds(corpus: Corpus) -> None:
    memory = _memory(corpus, mode="auto", min_chunks=40)
    corpus.add(_texts(random.Random(1), 20))
    terms = corpus.analyser.query_terms("Pumpe Ventil", ["de"])
    before = _search(corpus, memory, terms)
    assert not memory.ready and memory.builds == 0  # 20 chunks: FTS5 is fine
    corpus.add(_texts(random.Random(2), 30))
    during = _search(corpus, memory, terms)  # starts the build; FTS5 answers this one
    assert len(during) > len(before)
    assert memory.wait(timeout_s=30)
    after = _search(corpus, memory, terms)
    assert memory.ready and memory.builds == 1
    assert [f.chunk_id for f in after] == [f.chunk_id for f in during]
    assert [f.score for f in after] == pytest.approx([f.score for f in during], rel=1e-9)


def test_many_new_chunks_are_taken_on_in_the_background_never_missed(corpus: Corpus) -> None:
    memory = _memory(corpus, mode="on", inline_chunks=5)
    corpus.add(_texts(random.Random(3), 200))
    terms = corpus.analyser.query_terms("Kran Hafen Meister", ["de"])
    _search(corpus, memory, terms)
    corpus.add({f"neu{n}.txt": f"Der Kran im Hafen {n} braucht einen Meister." for n in range(30)})
    # 30 new chunks are more than it takes on during a search: FTS5 answers, complete.
    found = {f.chunk_id for f in _search(corpus, memory, terms, limit=1000)}
    assert set(reference_bm25(corpus.db, terms, memory.weights)) == found
    assert memory.wait(timeout_s=30)
    assert len(memory._impact.segments) == 2  # the delta is a segment of its own
    again = {f.chunk_id: f.score for f in _search(corpus, memory, terms, limit=1000)}
    assert again == pytest.approx(reference_bm25(corpus.db, terms, memory.weights), rel=1e-9)


def test_small_segments_are_merged_and_many_deletions_rebuild(corpus: Corpus) -> None:
    rng = random.Random(4)
    memory = _memory(corpus, mode="on")
    corpus.add(_texts(rng, 200), source="base")
    terms = corpus.analyser.query_terms("Pumpe Öl Filter", ["de"])
    _search(corpus, memory, terms)
    for _ in range(12):  # small ingestions: one segment each, merged past MAX_SEGMENTS
        corpus.add(_texts(rng, 2), source="base")
        _search(corpus, memory, terms)
    assert memory.wait(timeout_s=30)
    assert 2 <= len(memory._impact.segments) <= 9
    builds = memory.builds
    with corpus.db.write() as session:
        session.execute(delete(Document).where(Document.id <= 120))
    found = {f.chunk_id: f.score for f in _search(corpus, memory, terms, limit=1000)}
    assert found == pytest.approx(reference_bm25(corpus.db, terms, memory.weights), rel=1e-9)
    assert memory.wait(timeout_s=30)  # over a quarter deleted: rebuilt in the background
    assert memory.builds == builds + 1 and memory._impact.dead_share() == 0


def test_closing_stops_the_work_and_searches_go_to_fts5(corpus: Corpus) -> None:
    memory = _memory(corpus, mode="on")
    corpus.add(_texts(random.Random(5), 20))
    terms = corpus.analyser.query_terms("Pumpe", ["de"])
    assert _search(corpus, memory, terms)
    memory.close()
    assert not memory.ready
    assert [f.chunk_id for f in _search(corpus, memory, terms)] == [
        f.chunk_id for f in _search(corpus, SqliteLexicalIndex(memory.weights), terms)
    ]


# -- the arrays themselves ---------------------------------------------------------------------


@pytest.mark.unit
def test_term_hashes_are_stable_and_per_token() -> None:
    hashes, owners = token_hashes(["a bb  ccc", "", "bb", "üben dat"])
    assert owners.tolist() == [0, 0, 0, 2, 3, 3]
    assert hashes[1] == hashes[3] == term_hash("bb")
    assert len(set(hashes.tolist())) == 5
    # The same in every process and numpy version: pinned.
    assert term_hash("pumpe") == term_hash("pumpe") != term_hash("pump")
    assert term_hash("") == 0


@pytest.mark.unit
def test_merged_segments_equal_one_built_at_once() -> None:
    rng = random.Random(6)
    rows = [
        (n, " ".join(rng.choices(WORDS, k=rng.randint(0, 12))), " ".join(rng.choices(WORDS, k=2)))
        for n in range(1, 301)
    ]
    whole = build_segment(rows)
    parts = [build_segment(rows[:100]), build_segment(rows[100:250]), build_segment(rows[250:])]
    live = [np.ones(p.size, dtype=np.bool_) for p in parts]
    merged = merge_segments(parts, live)
    for name in ("hashes", "indptr", "docs", "body", "context"):
        assert np.array_equal(getattr(merged.postings, name), getattr(whole.postings, name)), name
    assert np.array_equal(merged.chunk_ids, whole.chunk_ids)
    # Dropping dead chunks while merging gives what building without them gives.
    live[1][::3] = False
    kept = [row for i, row in enumerate(rows) if not (100 <= i < 250 and (i - 100) % 3 == 0)]
    pruned = merge_segments(parts, live)
    fresh = build_segment(kept)
    assert np.array_equal(pruned.postings.docs, fresh.postings.docs)
    assert np.array_equal(pruned.postings.hashes, fresh.postings.hashes)


@pytest.mark.unit
def test_ties_are_broken_by_chunk_id_and_allowed_restricts() -> None:
    index = ImpactIndex()
    index.add(build_segment([(n, "gleich wort", "") for n in (3, 5, 9)]))
    found = index.search(["gleich"], limit=10)
    assert found.chunk_ids.tolist() == [3, 5, 9]
    only = index.search(["gleich"], limit=10, allowed=np.asarray([9, 4], dtype=np.int64))
    assert only.chunk_ids.tolist() == [9]
