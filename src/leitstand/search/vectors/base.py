"""The vector index contract: the database holds the vectors, the index finds neighbours.

Vectors are stored in ``chunk_vectors`` (the source of truth). An index answers
nearest-neighbour queries for one embedding model and keeps up with the database by
itself: on SQLite an HNSW file next to the database (rebuilt when missing or stale, updated
with additions and deletions), on PostgreSQL pgvector's HNSW index.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar

from leitstand.embeddings.base import Vectors
from leitstand.search.base import ScoredChunk, SearchFilters


class VectorIndex(ABC):
    dialect: ClassVar[str]

    model: str
    """The embedder name whose vectors this index holds."""

    @abstractmethod
    def search(
        self, query: Vectors, *, limit: int, filters: SearchFilters | None = None
    ) -> list[ScoredChunk]:
        """The ``limit`` nearest chunks to one query vector, best first; score = cosine."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release files and memory."""
