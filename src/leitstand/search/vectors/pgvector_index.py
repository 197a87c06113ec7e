"""Nearest neighbours on PostgreSQL: pgvector's HNSW, one partial index per model.

``chunk_vectors.embedding`` (``real[]``, added by migration 0004) holds every model's
vectors as arrays; each model gets a partial expression index
``USING hnsw ((embedding::vector(<dimensions>)) vector_cosine_ops) WHERE model = '<name>'``,
created before its first vectors are written, so PostgreSQL keeps it current with every
insert and delete; nothing needs syncing. Searches spell out the same expression and the
model as a literal so the planner can use that index.

Filters: unfiltered searches walk the HNSW graph (``hnsw.ef_search`` raised to the number
wanted); filtered ones over-fetch and filter, or score the allowed chunks exactly (see
``_filtered.py``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import ClassVar

import numpy as np
from sqlalchemy import Connection, text

from leitstand.embeddings.base import Vectors
from leitstand.errors import StorageError
from leitstand.search._filtered import filtered_search
from leitstand.search.base import ScoredChunk, SearchFilters
from leitstand.search.vectors.base import VectorIndex
from leitstand.store.database import Database

PGVECTOR_HINT = (
    "install pgvector on the PostgreSQL server (https://github.com/pgvector/pgvector, "
    "package postgresql-16-pgvector), or set embeddings.provider: none"
)
MAX_EF_SEARCH = 1000


def vector_literal(vector: Iterable[float]) -> str:
    """pgvector's text form: ``[0.1,0.2,...]``."""
    return "[" + ",".join(f"{float(value):.9g}" for value in vector) + "]"


def _quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def hnsw_index_name(model: str) -> str:
    return f"ix_chunk_vectors_hnsw_{hashlib.sha256(model.encode()).hexdigest()[:16]}"


def pgvector_installed(connection: Connection) -> bool:
    return (
        connection.execute(text("SELECT 1 FROM pg_extension WHERE extname = 'vector'")).first()
        is not None
    )


def pgvector_available(connection: Connection) -> bool:
    """Whether dense retrieval can work here: pgvector is enabled or can be."""
    return (
        connection.execute(
            text("SELECT 1 FROM pg_available_extensions WHERE name = 'vector'")
        ).first()
        is not None
    )


def ensure_pgvector(connection: Connection) -> None:
    """Enable pgvector if the server has it (installed after migration 0004, say); a clear
    error if it does not."""
    if pgvector_installed(connection):
        return
    if not pgvector_available(connection):
        raise StorageError(
            "dense retrieval on PostgreSQL needs the pgvector extension, which this server "
            "does not have",
            hint=PGVECTOR_HINT,
        )
    try:
        with connection.begin_nested():
            connection.execute(text("CREATE EXTENSION IF NOT EXISTS vector"))
    except Exception as exc:
        raise StorageError(
            f"cannot enable pgvector in this database: {exc}",
            hint="run `CREATE EXTENSION vector;` as a superuser in the leitstand database",
        ) from exc


def prepare_model(connection: Connection, model: str, dimensions: int) -> None:
    """The model's HNSW index (created once, before its vectors arrive), and the array
    column filled for vectors of it that lack it (written by an older version)."""
    ensure_pgvector(connection)
    name = hnsw_index_name(model)
    connection.execute(
        text(
            f"CREATE INDEX IF NOT EXISTS {name} ON chunk_vectors USING hnsw "
            f"((embedding::vector({int(dimensions)})) vector_cosine_ops) "
            f"WHERE model = {_quote(model)}"
        )
    )
    rows = connection.execute(
        text("SELECT chunk_id, vector FROM chunk_vectors WHERE model = :m AND embedding IS NULL"),
        {"m": model},
    ).all()
    if rows:
        connection.execute(
            text("UPDATE chunk_vectors SET embedding = :e WHERE chunk_id = :c AND model = :m"),
            [{"c": row[0], "m": model, "e": np.frombuffer(row[1], "<f4").tolist()} for row in rows],
        )


def drop_model_index(connection: Connection, model: str) -> None:
    connection.execute(text(f"DROP INDEX IF EXISTS {hnsw_index_name(model)}"))


class PostgresVectorIndex(VectorIndex):
    """pgvector HNSW over one model's vectors; PostgreSQL keeps it in step by itself."""

    dialect: ClassVar[str] = "postgresql"

    def __init__(self, db: Database, model: str, dimensions: int) -> None:
        self.db = db
        self.model = model
        self.dimensions = dimensions
        cast = f"(embedding::vector({int(dimensions)}))"
        where = f"model = {_quote(model)}"
        # The model is a literal so that the planner can match the partial index.
        self._nearest_sql = text(
            f"SELECT chunk_id, 1 - ({cast} <=> CAST(:q AS vector)) FROM chunk_vectors "  # noqa: S608
            f"WHERE {where} ORDER BY {cast} <=> CAST(:q AS vector) LIMIT :k"
        )
        # Cast without the size the expression does not match the index: an exact scan.
        self._exact_sql = text(
            f"SELECT chunk_id, 1 - (embedding::vector <=> CAST(:q AS vector)) "  # noqa: S608
            f"FROM chunk_vectors WHERE {where} AND chunk_id = ANY(CAST(:ids AS integer[])) "
            "ORDER BY embedding::vector <=> CAST(:q AS vector) LIMIT :k"
        )
        self._size_sql = text(f"SELECT count(*) FROM chunk_vectors WHERE {where}")  # noqa: S608
        self._ready = False

    def _check(self, connection: Connection) -> None:
        if not self._ready:
            ensure_pgvector(connection)  # raises the clear error when pgvector is missing
            self._ready = True

    def search(
        self, query: Vectors, *, limit: int, filters: SearchFilters | None = None
    ) -> list[ScoredChunk]:
        if limit <= 0:
            return []
        literal = vector_literal(np.asarray(query, dtype=np.float32).reshape(-1))
        if not filters:
            return self._nearest(literal, limit)
        with self.db.read() as session:
            size = int(session.execute(self._size_sql).scalar_one())
        if size == 0:
            return []
        return filtered_search(
            self.db,
            limit=limit,
            filters=filters,
            size=size,
            nearest=lambda count: self._nearest(literal, count),
            exact=lambda ids: self._exact(literal, ids, limit),
        )

    def _nearest(self, literal: str, count: int) -> list[ScoredChunk]:
        with self.db.read() as session:
            connection = session.connection()
            self._check(connection)
            ef = str(min(MAX_EF_SEARCH, max(40, count)))
            connection.execute(text("SELECT set_config('hnsw.ef_search', :ef, true)"), {"ef": ef})
            rows = connection.execute(self._nearest_sql, {"q": literal, "k": count}).all()
        return [ScoredChunk(int(row[0]), float(row[1])) for row in rows]

    def _exact(self, literal: str, ids: list[int], limit: int) -> list[ScoredChunk]:
        if not ids:
            return []
        with self.db.read() as session:
            rows = session.execute(self._exact_sql, {"q": literal, "ids": ids, "k": limit}).all()
        return [ScoredChunk(int(row[0]), float(row[1])) for row in rows]
