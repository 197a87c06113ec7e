"""PostgreSQL full-text search passes the base suite, and ranks exactly like SQLite FTS5."""

from __future__ import annotations

import itertools
import math
import threading
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import delete, insert, select, text, update

from conftest import DATASETS
from leitstand.evals.retrieval import load_beir
from leitstand.ingest.pipeline import TextRecord
from leitstand.search.base import LexicalIndex, LexicalWeights
from leitstand.search.postgres_fts import PostgresLexicalIndex
from leitstand.store.models import Chunk, Document, Source
from search.lexical_suite import FILLER, Corpus, LexicalIndexBaseTests, open_corpus

pytestmark = [pytest.mark.integration, pytest.mark.postgres]


class TestPostgresLexicalIndex(LexicalIndexBaseTests):
    @pytest.fixture
    def database_url(self, pg_url: str) -> str:
        return pg_url


@pytest.fixture
def pg_corpus(pg_url: str) -> Iterator[Corpus]:
    corpus = open_corpus(pg_url)
    yield corpus
    corpus.db.dispose()


# -- the same ranking on both backends ---------------------------------------------------------


def _ranked(
    corpus: Corpus, terms: list[str], *, limit: int = 10_000, index: LexicalIndex | None = None
) -> list[tuple[tuple[str, int], float]]:
    """The results best first, each chunk named by (document path, ordinal), with its score."""
    with corpus.db.read() as session:
        scored = (index or corpus.index).search(session, terms, limit=limit)
        keys = {
            row[0]: (row[1], row[2])
            for row in session.execute(
                select(Chunk.id, Document.path, Chunk.ordinal).join(
                    Document, Document.id == Chunk.document_id
                )
            )
        }
    scores = [item.score for item in scored]
    assert scores == sorted(scores, reverse=True), "results must come best first"
    return [(keys[item.chunk_id], item.score) for item in scored]


def _assert_same_top(expected: list[Any], found: list[Any], context: object) -> None:
    """Same scores in the same order; the same chunks, except where scores tie at the end."""
    assert len(found) == len(expected), context
    for (_, want), (_, got) in zip(expected, found, strict=True):
        assert got == pytest.approx(want, rel=1e-6), context
    if expected:
        last = expected[-1][1]
        above = {key for key, score in expected if score > last * (1 + 1e-6)}
        assert above <= {key for key, _ in found}, context


def test_sqlite_and_postgres_rank_alike(sqlite_url: str, pg_url: str) -> None:
    sqlite, postgres = corpora = [open_corpus(sqlite_url), open_corpus(pg_url)]
    sets = {language: load_beir(DATASETS / f"xquad-{language}") for language in ("de", "en")}
    queries: list[list[str]] = []
    # Forced to probe and prune whatever the corpus size; it must not change a result.
    pruning = PostgresLexicalIndex(prune_above=0, probe_chunks_per_result=1)
    try:
        for corpus in corpora:
            for language, data in sets.items():
                documents = dict(itertools.islice(data.corpus.items(), 40))
                corpus.ingestor.ingest_texts(
                    [
                        TextRecord(path=path, text=document["text"], title=document["title"])
                        for path, document in documents.items()
                    ],
                    source=f"xquad-{language}",
                )
        for language, data in sets.items():
            for query in itertools.islice(data.queries.values(), 40):
                queries.append(sqlite.analyser.query_terms(query, [language]))
        queries += [
            ["super", "bowl", "super"],  # a term given twice counts twice
            ["die", "the", "und", "and"],  # stop words: in most chunks, idf at its floor
            ["panth", "zzqxv", "2015"],  # an unknown term among known ones
        ]
        for terms in queries:
            on_sqlite = dict(_ranked(sqlite, terms))
            on_postgres = dict(_ranked(postgres, terms))
            assert on_sqlite.keys() == on_postgres.keys(), terms
            for key, score in on_sqlite.items():
                assert on_postgres[key] == pytest.approx(score, rel=1e-6), (terms, key)
            for limit in (1, 3, 10):
                top = _ranked(postgres, terms, limit=limit)
                # Pruning may sum in another order: equal up to the last bits of a float.
                _assert_same_top(top, _ranked(postgres, terms, limit=limit, index=pruning), terms)
                _assert_same_top(_ranked(sqlite, terms, limit=limit), top, (terms, limit))
    finally:
        for corpus in corpora:
            corpus.db.dispose()
    assert len(queries) == 83


# -- what the migration stores -----------------------------------------------------------------


def test_lexemes_are_exactly_the_analysers_terms(pg_corpus: Corpus) -> None:
    # PostgreSQL's own parser would split "12e3x" into "12e3" and "x".
    sample = "Version v2 kam 12e3x mal, am 1st, 2e5 Stück: ωμέγα, мир, 中文 und ٣٤ Straße."
    pg_corpus.add({"a.txt": sample})
    with pg_corpus.db.read() as session:
        analysed, language = session.execute(select(Chunk.analysed, Chunk.language)).one()
        lexemes = session.execute(
            text(
                "SELECT u.lexeme, u.positions FROM chunks, unnest(chunks.lexical_body) AS u "
                "ORDER BY u.lexeme"
            )
        ).all()
    terms = pg_corpus.analyser.terms(sample, language)
    assert analysed.split() == terms
    assert {"12e3x", "v2", "1st", "мир", "中文"} <= set(terms)
    assert {lexeme: len(positions) for lexeme, positions in lexemes} == Counter(terms)
    positions = {lexeme: list(p) for lexeme, p in lexemes}
    for number, term in enumerate(terms, start=1):
        assert number in positions[term]


def _statistics(corpus: Corpus) -> tuple[Any, ...]:
    """The maintained statistics and the same figures recomputed from the chunks."""
    with corpus.db.read() as session:
        stored = session.execute(
            text("SELECT chunk_count, body_terms, context_terms FROM lexical_stats")
        ).one()
        recomputed = session.execute(
            text(
                "SELECT count(*), coalesce(sum(term_count), 0), "
                "coalesce(sum(cardinality(string_to_array(nullif(analysed_context, ''), ' '))), 0) "
                "FROM chunks"
            )
        ).one()
        stored_terms: dict[str, int] = {
            term: count
            for term, count in session.execute(text("SELECT term, chunk_count FROM lexical_terms"))
        }
        rows = session.execute(select(Chunk.analysed, Chunk.analysed_context)).all()
    frequencies: Counter[str] = Counter()
    for body, context in rows:
        frequencies.update(set(body.split()) | set(context.split()))
    return tuple(stored), tuple(recomputed), stored_terms, dict(frequencies)


def _assert_statistics_exact(corpus: Corpus) -> None:
    stored, recomputed, stored_terms, frequencies = _statistics(corpus)
    assert stored == recomputed
    assert stored_terms == frequencies
    with corpus.db.read() as session:  # what committed transactions recorded is applied
        pending = session.execute(
            text(
                "SELECT (SELECT count(*) FROM lexical_pending), count(*) FROM lexical_pending_xacts"
            )
        ).one()
    assert tuple(pending) == (0, 0)


def test_statistics_follow_every_kind_of_change(pg_corpus: Corpus) -> None:
    pg_corpus.add({"a.txt": "Die Pumpe fördert Öl.", "b.txt": "Das Ventil klemmt."})
    pg_corpus.add({"c.txt": "Die Pumpe im Hafen."}, source="hafen", title="Hafenbecken")
    _assert_statistics_exact(pg_corpus)
    assert _statistics(pg_corpus)[0][0] == 3
    with pg_corpus.db.write() as session:  # an UPDATE of the analysed text
        session.execute(
            update(Chunk).values(analysed="pump pump neu", term_count=3).where(Chunk.ordinal == 0)
        )
        session.execute(update(Chunk).values(heading="egal"))  # and one that changes no terms
    _assert_statistics_exact(pg_corpus)
    pg_corpus.add({"a.txt": "Die Pumpe fördert jetzt Wasser."})  # replace a document's chunks
    _assert_statistics_exact(pg_corpus)
    with pg_corpus.db.write() as session:  # cascades from documents and sources
        session.execute(delete(Document).where(Document.path == "b.txt"))
        session.execute(delete(Source).where(Source.name == "hafen"))
    _assert_statistics_exact(pg_corpus)
    assert _statistics(pg_corpus)[0][0] == 1
    with pg_corpus.db.write() as session:
        session.execute(text("TRUNCATE chunks CASCADE"))
    _assert_statistics_exact(pg_corpus)
    assert _statistics(pg_corpus)[0] == (0, 0, 0)
    assert pg_corpus.search("Pumpe") == []


def test_statistics_follow_transactions_and_savepoints(pg_corpus: Corpus) -> None:
    pg_corpus.add({"a.txt": "Die Pumpe fördert Öl."})
    before = _statistics(pg_corpus)
    with pg_corpus.db.engine.connect() as connection:  # rolled back
        connection.execute(delete(Chunk))
        connection.rollback()
    assert _statistics(pg_corpus) == before
    with pg_corpus.db.write() as session:
        document_id = session.execute(select(Document.id)).scalar_one()
        row = {
            "document_id": document_id,
            "text": "",
            "heading": "",
            "start_char": 0,
            "end_char": 0,
            "language": "de",
            "analysed_context": "",
        }
        # Added and removed within one transaction: no trace in the statistics.
        session.execute(insert(Chunk).values(ordinal=1, analysed="kurz leb", term_count=2, **row))
        session.execute(delete(Chunk).where(Chunk.ordinal == 1))
        # Undone by rolling back to a savepoint: no trace either.
        with session.begin_nested() as savepoint:
            session.execute(
                insert(Chunk).values(ordinal=2, analysed="verworf", term_count=1, **row)
            )
            savepoint.rollback()
        # Kept.
        session.execute(
            insert(Chunk).values(ordinal=3, analysed="bleib bleib", term_count=2, **row)
        )
    with pg_corpus.db.write() as session:  # the transaction's first change rolled back
        with session.begin_nested() as savepoint:
            session.execute(delete(Chunk).where(Chunk.ordinal == 3))
            savepoint.rollback()
        session.execute(insert(Chunk).values(ordinal=4, analysed="spat", term_count=1, **row))
    _assert_statistics_exact(pg_corpus)
    stored_terms = _statistics(pg_corpus)[2]
    assert stored_terms["spat"] == 1
    assert stored_terms["bleib"] == 1
    assert "kurz" not in stored_terms
    assert "verworf" not in stored_terms
    assert [f.path for f in pg_corpus.search_terms(["bleib"])] == ["a.txt"]


def test_concurrent_writers_keep_statistics_exact(pg_url: str) -> None:
    # Several processes' worth of writers (one engine each) ingest, replace and delete at once,
    # sharing most of their vocabulary. None may deadlock, and the statistics stay exact.
    words = ["Pumpe", "Ventil", "Kessel", "Leitung", "Druck"]
    words += ["Wasser", "Dampf", "Filter", "Motor", "Lager"]
    corpora = [open_corpus(pg_url) for _ in range(4)]
    errors: list[BaseException] = []
    start = threading.Barrier(len(corpora))

    def work(number: int, corpus: Corpus) -> None:
        try:
            start.wait()
            for round_ in range(6):
                texts = {
                    f"{number}/{doc}.txt": " ".join(
                        words[(number + doc + round_ + k) % len(words)] for k in range(6)
                    )
                    + f" Runde{round_} Schreiber{number}."
                    for doc in range(8)
                }
                corpus.add(texts, source=f"s{number}", prune=round_ % 2 == 1)
                if round_ == 3:
                    with corpus.db.write() as session:
                        session.execute(delete(Document).where(Document.path.like(f"{number}/1%")))
        except BaseException as exc:  # reported below, in the test's thread
            errors.append(exc)

    threads = [
        threading.Thread(target=work, args=(number, corpus))
        for number, corpus in enumerate(corpora)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    try:
        assert not errors, errors
        _assert_statistics_exact(corpora[0])
        assert len(corpora[0].paths("Pumpe")) > 0
    finally:
        for corpus in corpora:
            corpus.db.dispose()


def test_extreme_weights_still_score(pg_corpus: Corpus) -> None:
    # k1 = 0 (no saturation) with context_weight = 0: a title-only match scores 0, not 0 / 0.
    pg_corpus.add({"titel.txt": "Bitte lesen."}, title="Vorsicht")
    pg_corpus.add({"text.txt": "Vorsicht bitte lesen."}, title="Hinweis")
    pg_corpus.add(FILLER, source="filler")
    index = PostgresLexicalIndex(LexicalWeights(k1=0.0, context_weight=0.0))
    found = pg_corpus.search("Vorsicht", index=index)
    assert [f.path for f in found] == ["text.txt", "titel.txt"]
    # Two of eight chunks contain the term: idf = ln(6.5 / 2.5); with k1 = 0 that is the share.
    assert found[0].score == pytest.approx(math.log(6.5 / 2.5), rel=1e-9)
    assert found[1].score == 0.0
