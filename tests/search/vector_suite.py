"""The base test suite every vector index backend passes.

A backend proves itself by subclassing :class:`VectorIndexBaseTests` and overriding the
``database_url`` fixture with a URL of a fresh database on that backend; the index under
test is the one ``vector_index_for`` picks for it. Documents go in through the real
ingestion pipeline and vectors through the real embedding job, with :class:`WordHashEmbedder`
(deterministic: texts that share words point alike)::

    class TestUsearchVectorIndex(VectorIndexBaseTests):
        @pytest.fixture
        def database_url(self, sqlite_url: str) -> str:
            return sqlite_url
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest
from sqlalchemy import delete, select

from leitstand.config.settings import IngestSettings
from leitstand.embeddings.base import Embedder, Kind, Vectors
from leitstand.embeddings.jobs import EmbedReport, embed_pending, register
from leitstand.ingest.pipeline import Ingestor, IngestReport, TextRecord
from leitstand.search.analyser import Analyser
from leitstand.search.base import SearchFilters
from leitstand.search.dense import vector_index_for
from leitstand.search.vectors.base import VectorIndex
from leitstand.store.database import Database
from leitstand.store.models import Chunk, Document, Source
from leitstand.text.language import LanguageDetector
from leitstand.trace.recorder import Tracer

LANGUAGES = ("de", "en")
_WORD = re.compile(r"\w+")


class WordHashEmbedder(Embedder):
    """A deterministic stand-in for an embedding model: hashed words, L2-normalised.

    ``calls`` counts the texts it was asked to embed, so tests see cache hits.
    """

    batch_size: ClassVar[int] = 16

    def __init__(self, name: str = "test/words", dimensions: int = 48) -> None:
        self.name = name
        self.dimensions = dimensions
        self.calls: list[str] = []

    def embed(self, texts: Sequence[str], kind: Kind) -> Vectors:
        self.calls.extend(texts)
        return (
            np.vstack([word_vector(text, self.dimensions) for text in texts]).astype(np.float32)
            if texts
            else np.zeros((0, self.dimensions), dtype=np.float32)
        )


def word_vector(text: str, dimensions: int) -> Vectors:
    vector = np.zeros(dimensions, dtype=np.float32)
    for word in _WORD.findall(text.lower()) or [text]:
        digest = hashlib.blake2b(word.encode(), digest_size=8).digest()
        vector[int.from_bytes(digest[:4], "little") % dimensions] += 1.0 if digest[4] & 1 else -1.0
    norm = float(np.linalg.norm(vector))
    if norm == 0:
        vector[0], norm = 1.0, 1.0
    return vector / norm


@dataclass
class VectorCorpus:
    """One database with the real pipeline and embedding job in front of it."""

    db: Database
    ingestor: Ingestor
    folder: Path
    embedder: WordHashEmbedder
    indexes: list[VectorIndex] = field(default_factory=list)

    def add(
        self,
        texts: Mapping[str, str],
        *,
        source: str = "docs",
        tags: Iterable[str] = (),
        prune: bool = False,
    ) -> IngestReport:
        records = [TextRecord(path=path, text=text, title="Notiz") for path, text in texts.items()]
        report = self.ingestor.ingest_texts(records, source=source, tags=tags, prune=prune)
        assert not report.failed, report.failed
        return report

    def embed(self, embedder: WordHashEmbedder | None = None) -> EmbedReport:
        embedder = embedder or self.embedder
        register(self.db, embedder, {"provider": "test", "model": embedder.name})
        return embed_pending(self.db, embedder)

    def index(self, embedder: WordHashEmbedder | None = None) -> VectorIndex:
        embedder = embedder or self.embedder
        index = vector_index_for(
            self.db, embedder.name, embedder.dimensions, self.folder, check_interval_s=0
        )
        self.indexes.append(index)
        return index

    def search(
        self,
        query: str,
        *,
        limit: int = 10,
        filters: SearchFilters | None = None,
        index: VectorIndex | None = None,
    ) -> list[tuple[str, float]]:
        """(document path, score) of the nearest chunks, best first."""
        found = (index or self.index()).search(
            word_vector(query, self.embedder.dimensions), limit=limit, filters=filters
        )
        paths = self.paths([item.chunk_id for item in found])
        return [(paths[item.chunk_id], item.score) for item in found]

    def paths(self, chunk_ids: list[int]) -> dict[int, str]:
        with self.db.read() as session:
            rows = session.execute(
                select(Chunk.id, Document.path)
                .join(Document, Document.id == Chunk.document_id)
                .where(Chunk.id.in_(chunk_ids))
            ).all()
        return {int(chunk_id): path for chunk_id, path in rows}

    def chunk_ids(self, source: str) -> list[int]:
        with self.db.read() as session:
            return list(
                session.scalars(
                    select(Chunk.id)
                    .join(Document, Document.id == Chunk.document_id)
                    .join(Source, Source.id == Document.source_id)
                    .where(Source.name == source)
                )
            )

    def delete_source(self, name: str) -> None:
        with self.db.write() as session:
            session.execute(delete(Source).where(Source.name == name))


def open_vector_corpus(url: str, folder: Path) -> VectorCorpus:
    db = Database(url)
    db.migrate()
    analyser = Analyser(LANGUAGES)
    ingestor = Ingestor(
        db, IngestSettings(), analyser, LanguageDetector(LANGUAGES), Tracer(db, enabled=False)
    )
    return VectorCorpus(db, ingestor, folder, WordHashEmbedder())


ANIMALS = {
    "tiere/katze.txt": "The cat sleeps on the warm windowsill all afternoon.",
    "tiere/hund.txt": "The dog fetches the red ball in the park.",
    "tiere/pferd.txt": "The horse gallops across the green meadow at dawn.",
    "technik/pumpe.txt": "The pump moves cooling water through the turbine housing.",
    "technik/ventil.txt": "A pressure valve protects the boiler from bursting.",
}


def fillers(count: int, prefix: str = "filler") -> dict[str, str]:
    """Unrelated documents, each with words of its own."""
    return {
        f"{prefix}/{n}.txt": f"Filler text number {n} about topic t{n} and item i{n * 7}."
        for n in range(count)
    }


class VectorIndexBaseTests:
    """Subclass with a ``database_url`` fixture that gives a fresh database per test."""

    @pytest.fixture
    def corpus(self, database_url: str, tmp_path: Path) -> Iterator[VectorCorpus]:
        corpus = open_vector_corpus(database_url, tmp_path / "vectors")
        yield corpus
        for index in corpus.indexes:
            index.close()
        corpus.db.dispose()

    def test_the_chunk_with_the_same_text_comes_first_with_cosine_one(
        self, corpus: VectorCorpus
    ) -> None:
        corpus.add(ANIMALS)
        corpus.embed()
        found = corpus.search(ANIMALS["tiere/hund.txt"], limit=3)
        assert found[0][0] == "tiere/hund.txt"
        assert found[0][1] == pytest.approx(1.0, abs=1e-5)
        scores = [score for _, score in found]
        assert scores == sorted(scores, reverse=True)
        assert all(-1.0 - 1e-5 <= score <= 1.0 + 1e-5 for score in scores)

    def test_scores_are_the_cosine_of_the_stored_vectors(self, corpus: VectorCorpus) -> None:
        corpus.add(ANIMALS)
        corpus.embed()
        query = "the cat and the dog in the park"
        expected = {
            path: float(word_vector(text, 48) @ word_vector(query, 48))
            for path, text in ANIMALS.items()
        }
        for path, score in corpus.search(query, limit=5):
            assert score == pytest.approx(expected[path], abs=1e-4)

    def test_an_index_without_vectors_finds_nothing(self, corpus: VectorCorpus) -> None:
        assert corpus.search("cat") == []
        corpus.add(ANIMALS)
        assert corpus.search("cat") == []  # chunks, but no vectors yet

    def test_vectors_of_another_model_stay_apart(self, corpus: VectorCorpus) -> None:
        corpus.add(ANIMALS)
        other = WordHashEmbedder("test/other", 48)
        corpus.embed(other)
        assert corpus.search("cat", index=corpus.index()) == []
        assert len(corpus.search("cat", index=corpus.index(other))) == len(ANIMALS)

    def test_limit_is_honoured(self, corpus: VectorCorpus) -> None:
        corpus.add({**ANIMALS, **fillers(30)})
        corpus.embed()
        assert len(corpus.search("filler text", limit=7)) == 7
        assert corpus.search("filler text", limit=0) == []

    def test_filters_by_source_language_and_tag(self, corpus: VectorCorpus) -> None:
        corpus.add(ANIMALS, source="animals", tags=["zoo"])
        corpus.add(
            {"de/katze.txt": "Die Katze schläft auf der warmen Fensterbank, the cat sleeps."},
            source="german",
        )
        corpus.add(fillers(40), source="filler")
        corpus.embed()
        query = "the cat sleeps"
        only = SearchFilters(sources=("german",))
        assert [path for path, _ in corpus.search(query, filters=only)] == ["de/katze.txt"]
        tagged = {path for path, _ in corpus.search(query, filters=SearchFilters(tags=("zoo",)))}
        assert tagged == set(ANIMALS)
        german = corpus.search(query, filters=SearchFilters(languages=("de",)))
        assert [path for path, _ in german] == ["de/katze.txt"]
        assert corpus.search(query, filters=SearchFilters(sources=("nowhere",))) == []

    def test_a_selective_filter_still_finds_all_its_chunks(self, corpus: VectorCorpus) -> None:
        # The allowed chunks are far from the query: approximate search over the whole
        # index would not reach them; they must come back anyway, in the right order.
        corpus.add(
            {f"near/{n}.txt": f"red apple pie number {n}" for n in range(150)}, source="near"
        )
        rare = {
            "rare/a.txt": "blue whale song in the deep ocean apple",
            "rare/b.txt": "blue whale song in the deep ocean",
            "rare/c.txt": "green frog",
        }
        corpus.add(rare, source="rare")
        corpus.embed()
        found = corpus.search("red apple pie", limit=5, filters=SearchFilters(sources=("rare",)))
        assert {path for path, _ in found} == set(rare)
        assert found[0][0] == "rare/a.txt"  # the one sharing a word with the query
        scores = [score for _, score in found]
        assert scores == sorted(scores, reverse=True)

    def test_a_deleted_source_is_gone_from_the_index(self, corpus: VectorCorpus) -> None:
        corpus.add(ANIMALS, source="animals")
        corpus.add(fillers(10), source="filler")
        corpus.embed()
        index = corpus.index()
        assert corpus.search("the cat sleeps", index=index)[0][0] == "tiere/katze.txt"
        deleted = set(corpus.chunk_ids("animals"))
        corpus.delete_source("animals")
        found = index.search(word_vector("the cat sleeps", 48), limit=100)
        assert found
        assert not deleted & {item.chunk_id for item in found}

    def test_vectors_written_through_another_connection_are_found(
        self, corpus: VectorCorpus, database_url: str
    ) -> None:
        corpus.add(fillers(5))
        corpus.embed()
        index = corpus.index()
        assert len(corpus.search("cat", index=index, limit=50)) == 5
        other = open_vector_corpus(database_url, corpus.folder)  # another process, as it were
        try:
            other.add(ANIMALS, source="animals")
            other.embed()
        finally:
            other.db.dispose()
        assert corpus.search("the horse gallops", index=index)[0][0] == "tiere/pferd.txt"
        assert len(corpus.search("cat", index=index, limit=50)) == 5 + len(ANIMALS)

    def test_a_changed_document_is_found_by_its_new_text_only(self, corpus: VectorCorpus) -> None:
        corpus.add({**ANIMALS, **fillers(5)})
        corpus.embed()
        index = corpus.index()
        corpus.add({"tiere/katze.txt": "The parrot repeats every word it hears."})
        corpus.embed()
        found = corpus.search("The parrot repeats every word it hears.", index=index, limit=50)
        assert found[0] == ("tiere/katze.txt", pytest.approx(1.0, abs=1e-5))
        assert len(found) == len(ANIMALS) + 5
        texts = [score for path, score in found if path == "tiere/katze.txt"]
        assert len(texts) == 1
