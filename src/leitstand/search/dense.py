"""Dense retrieval: embed the question, find the nearest chunk vectors.

:class:`DenseRetriever` pairs one embedder with the vector index of its model; query
vectors are cached in memory (a repeated question costs no model call).
:class:`ServingDense` is what the retriever gets: it picks the model that serves, the
configured one once its vectors are complete, until then the last complete one
(see ``embeddings/catalog.py``), and switches by itself when that changes, checking the
database at most once a second.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from leitstand.embeddings import catalog
from leitstand.embeddings.base import Embedder, Vectors
from leitstand.search.base import ScoredChunk, SearchFilters
from leitstand.search.vectors.base import VectorIndex
from leitstand.store.database import Database

QUERY_CACHE_SIZE = 1024


def vector_index_for(
    db: Database, model: str, dimensions: int, folder: Path, *, check_interval_s: float = 1.0
) -> VectorIndex:
    """An HNSW file in ``folder`` on SQLite (checking for changes at most every
    ``check_interval_s``), pgvector HNSW on PostgreSQL (always current)."""
    if db.is_sqlite:
        from leitstand.search.vectors.usearch_index import UsearchVectorIndex

        return UsearchVectorIndex(db, model, dimensions, folder, check_interval_s=check_interval_s)
    from leitstand.search.vectors.pgvector_index import PostgresVectorIndex

    return PostgresVectorIndex(db, model, dimensions)


class DenseRetriever:
    """One embedding model and its vector index."""

    def __init__(
        self,
        embedder: Embedder,
        index: VectorIndex,
        *,
        languages: Sequence[str] = (),
        cache_size: int = QUERY_CACHE_SIZE,
    ) -> None:
        self.embedder = embedder
        self.index = index
        self.languages = tuple(languages)
        self.cache_size = cache_size
        self._queries: OrderedDict[str, Vectors] = OrderedDict()
        self._lock = threading.Lock()

    def embed_query(self, query: str) -> Vectors:
        """The query's vector, from the in-memory cache when it was asked before."""
        with self._lock:
            cached = self._queries.get(query)
            if cached is not None:
                self._queries.move_to_end(query)
                return cached
        vector = np.asarray(self.embedder.embed([query], "query")[0], dtype=np.float32)
        with self._lock:
            self._queries[query] = vector
            while len(self._queries) > self.cache_size:
                self._queries.popitem(last=False)
        return vector

    def search(
        self, query: str, *, limit: int, filters: SearchFilters | None = None
    ) -> list[ScoredChunk]:
        if not query.strip():
            return []
        return self.index.search(self.embed_query(query), limit=limit, filters=filters)

    def close(self) -> None:
        self.index.close()


class ServingDense:
    """Dense search with whichever model serves now (see the module docstring)."""

    def __init__(
        self,
        db: Database,
        target: Embedder,
        *,
        index_for: Callable[[str, int], VectorIndex],
        embedder_for: Callable[[catalog.ModelRecord], Embedder | None],
        languages: Sequence[str] = (),
        check_interval_s: float = 1.0,
    ) -> None:
        self.db = db
        self.target = target
        self.languages = tuple(languages)
        self.check_interval_s = check_interval_s
        self._index_for = index_for
        self._embedder_for = embedder_for
        self._retrievers: dict[str, DenseRetriever] = {}
        self._serving: str | None = None
        self._checked_at = -1e9
        self._lock = threading.Lock()

    @property
    def serving(self) -> str | None:
        """The model that answers searches now (None: dense search is not ready)."""
        self._check()
        return self._serving

    def retriever(self, name: str) -> DenseRetriever | None:
        """The retriever of a recorded model (built on first use), or None."""
        with self._lock:
            found = self._retrievers.get(name)
            if found is not None:
                return found
        with self.db.read() as session:
            record = catalog.get_model(session.connection(), name)
        if record is None:
            return None
        embedder = self.target if name == self.target.name else self._embedder_for(record)
        if embedder is None:
            return None
        built = DenseRetriever(
            embedder, self._index_for(record.name, record.dimensions), languages=self.languages
        )
        with self._lock:
            return self._retrievers.setdefault(name, built)

    def _check(self, *, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._checked_at < self.check_interval_s:
            return
        self._checked_at = now
        with self.db.read() as session:
            records = catalog.list_models(session.connection())
        chosen = catalog.serving_model(records, self.target.name)
        name = chosen.name if chosen is not None else None
        if name is not None and self.retriever(name) is None:
            # The last complete model cannot be loaded any more: none serves until the
            # configured one is complete.
            name = None
        self._serving = name

    def refresh(self) -> None:
        """Look at the models now (after an embedding run), not within the next second."""
        self._check(force=True)

    def search(
        self, query: str, *, limit: int, filters: SearchFilters | None = None
    ) -> list[ScoredChunk]:
        self._check()
        name = self._serving
        found = self.retriever(name) if name is not None else None
        if found is None:
            return []
        return found.search(query, limit=limit, filters=filters)

    def indexes(self) -> list[VectorIndex]:
        with self._lock:
            return [retriever.index for retriever in self._retrievers.values()]

    def close(self) -> None:
        with self._lock:
            retrievers, self._retrievers = list(self._retrievers.values()), {}
        for retriever in retrievers:
            retriever.close()
            if retriever.embedder is not self.target:
                retriever.embedder.close()
