"""pgvector's HNSW passes the vector suite; each model has its own index that the planner
uses; a PostgreSQL without pgvector gets a clear error, not a broken migration."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from leitstand.errors import StorageError
from leitstand.search.vectors import pgvector_index
from leitstand.search.vectors.pgvector_index import PostgresVectorIndex, hnsw_index_name
from search.vector_suite import (
    ANIMALS,
    VectorCorpus,
    VectorIndexBaseTests,
    WordHashEmbedder,
    fillers,
    open_vector_corpus,
    word_vector,
)

pytestmark = [pytest.mark.integration, pytest.mark.postgres]


class TestPostgresVectorIndex(VectorIndexBaseTests):
    @pytest.fixture
    def database_url(self, pg_url: str) -> str:
        return pg_url


@pytest.fixture
def corpus(pg_url: str, tmp_path: Path) -> Iterator[VectorCorpus]:
    corpus = open_vector_corpus(pg_url, tmp_path / "vectors")
    yield corpus
    corpus.db.dispose()


def test_each_model_gets_its_own_hnsw_index(corpus: VectorCorpus) -> None:
    corpus.add(ANIMALS)
    corpus.embed()
    corpus.embed(WordHashEmbedder("test/wide", 96))
    with corpus.db.read() as session:
        indexes = dict(
            session.execute(
                text("SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'chunk_vectors'")
            ).all()
        )
    narrow, wide = indexes[hnsw_index_name("test/words")], indexes[hnsw_index_name("test/wide")]
    assert "hnsw" in narrow
    assert "vector(48)" in narrow
    assert "vector_cosine_ops" in narrow
    assert "'test/words'" in narrow
    assert "vector(96)" in wide


def test_unfiltered_searches_use_the_hnsw_index(corpus: VectorCorpus) -> None:
    corpus.add(fillers(200))
    corpus.embed()
    index = PostgresVectorIndex(corpus.db, "test/words", 48)
    query = pgvector_index.vector_literal(word_vector("text", 48))
    with corpus.db.read() as session:
        session.execute(text("SET LOCAL enable_seqscan = off"))
        plan = "\n".join(
            session.execute(
                text("EXPLAIN " + str(index._nearest_sql)), {"q": query, "k": 10}
            ).scalars()
        )
    assert hnsw_index_name("test/words") in plan


def test_a_model_name_with_quotes_is_safe(corpus: VectorCorpus) -> None:
    corpus.add(ANIMALS)
    odd = WordHashEmbedder("test/o'brien; DROP TABLE chunks; --", 48)
    corpus.embed(odd)
    assert corpus.search("the dog", index=corpus.index(odd))[0][0] == "tiere/hund.txt"


def test_without_pgvector_dense_retrieval_fails_with_a_hint(
    corpus: VectorCorpus, monkeypatch: pytest.MonkeyPatch
) -> None:
    corpus.add(ANIMALS)
    with corpus.db.write() as session:  # as on a server where pgvector was never installed
        session.execute(text("DROP EXTENSION vector CASCADE"))
    monkeypatch.setattr(pgvector_index, "pgvector_available", lambda connection: False)
    with pytest.raises(StorageError) as raised:
        corpus.embed()
    assert "pgvector" in raised.value.message
    assert raised.value.hint is not None
    assert "pgvector" in raised.value.hint


def test_pgvector_installed_later_is_enabled_on_first_use(corpus: VectorCorpus) -> None:
    corpus.add(ANIMALS)
    with corpus.db.write() as session:  # as if 0004 ran before pgvector was installed
        session.execute(text("DROP EXTENSION vector CASCADE"))
    corpus.embed()
    assert corpus.search("the dog")[0][0] == "tiere/hund.txt"
