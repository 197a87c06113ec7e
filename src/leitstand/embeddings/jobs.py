"""Embedding the chunks that have no vector yet, in batches, through the cache.

One pass (:func:`embed_pending`) walks the chunks without a vector of the model in id order,
a batch at a time: texts already in the embedding cache cost nothing, the rest go to the
embedder, and the batch's vectors and new cache entries are written in one transaction.
A crash loses at most the batch in flight; the next pass picks up where it stopped. When
no chunk is left without a vector, the model is marked complete.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy import Connection, select

from leitstand.embeddings import catalog
from leitstand.embeddings.base import Embedder
from leitstand.embeddings.cache import cached_vectors, store_vectors
from leitstand.errors import ModelError
from leitstand.store.database import Database
from leitstand.store.models import Chunk

BATCH = 256
"""Chunks per transaction; the embedder splits them further by its own batch size."""


@dataclass(frozen=True)
class EmbedProgress:
    """Reported after every batch."""

    model: str
    total: int
    done: int
    cached: int


EmbedProgressCallback = Callable[[EmbedProgress], None]


@dataclass
class EmbedReport:
    """What one pass did for one model."""

    model: str
    pending: int = 0
    embedded: int = 0
    cached: int = 0
    complete: bool = False
    duration_s: float = 0.0

    def summary(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "pending": self.pending,
            "embedded": self.embedded,
            "cached": self.cached,
            "complete": self.complete,
            "duration_s": round(self.duration_s, 3),
        }


def register(db: Database, embedder: Embedder, settings: dict[str, Any]) -> catalog.ModelRecord:
    """Record the model (and on PostgreSQL create its HNSW index) before vectors are written.

    A model recorded before keeps its dimensions (the embedder then checks every answer
    against them); a new one is asked for its size once.
    """
    with db.read() as session:
        known = catalog.get_model(session.connection(), embedder.name)
    dimensions = known.dimensions if known is not None else embedder.dimensions
    with db.write() as session:
        connection = session.connection()
        record = catalog.register_model(connection, embedder.name, dimensions, settings)
        if not db.is_sqlite:
            from leitstand.search.vectors.pgvector_index import prepare_model

            prepare_model(connection, embedder.name, dimensions)
    embedder.dimensions = record.dimensions
    return record


def embed_pending(
    db: Database,
    embedder: Embedder,
    *,
    progress: EmbedProgressCallback | None = None,
    stop: threading.Event | None = None,
    batch: int = BATCH,
) -> EmbedReport:
    """Embed every chunk without a vector of ``embedder`` (which must be registered)."""
    started = time.perf_counter()
    model = embedder.name
    report = EmbedReport(model)
    with db.read() as session:
        report.pending = catalog.pending_count(session.connection(), model)
    after = 0
    while report.pending and not (stop is not None and stop.is_set()):
        with db.read() as session:
            rows = session.execute(
                select(Chunk.id, Chunk.text, Chunk.text_hash)
                .where(Chunk.id > after, catalog.pending_filter(model))
                .order_by(Chunk.id)
                .limit(batch)
            ).all()
        if not rows:
            break
        after = int(rows[-1][0])
        cached = _embed_batch(db, embedder, [(int(r[0]), str(r[1]), r[2]) for r in rows])
        report.embedded += len(rows) - cached
        report.cached += cached
        if progress is not None:
            done = report.embedded + report.cached
            progress(EmbedProgress(model, max(report.pending, done), done, report.cached))
    with db.write() as session:
        report.complete = catalog.mark_complete(session.connection(), model)
    report.duration_s = time.perf_counter() - started
    return report


def _embed_batch(db: Database, embedder: Embedder, rows: list[tuple[int, str, str | None]]) -> int:
    """Embed and store one batch; returns how many came from the cache."""
    dimensions = embedder.dimensions
    hashes = [text_hash or _hash(text) for _, text, text_hash in rows]
    with db.read() as session:
        known = cached_vectors(session.connection(), embedder.name, hashes)
    known = {key: blob for key, blob in known.items() if len(blob) == 4 * dimensions}
    missing: dict[str, str] = {}
    for (_, text, _), text_hash in zip(rows, hashes, strict=True):
        if text_hash not in known:
            missing.setdefault(text_hash, text)
    fresh: dict[str, bytes] = {}
    if missing:
        vectors = embedder.embed(list(missing.values()), "document")
        if vectors.shape != (len(missing), dimensions):
            raise ModelError(
                f"the embedding model {embedder.name!r} returned vectors of shape "
                f"{vectors.shape} for {len(missing)} texts; {dimensions} dimensions expected",
                hint=f"if the model changed, remove its old vectors: `leitstand embed drop "
                f"{embedder.name}`",
            )
        data = np.ascontiguousarray(vectors, dtype="<f4")
        fresh = {key: data[i].tobytes() for i, key in enumerate(missing)}
    with db.write() as session:
        connection = session.connection()
        store_vectors(connection, embedder.name, fresh)
        _write_vectors(
            connection,
            embedder.name,
            [
                (chunk_id, fresh.get(h) or known[h])
                for (chunk_id, _, _), h in zip(rows, hashes, strict=True)
            ],
        )
    return sum(1 for h in hashes if h in known)


def _write_vectors(connection: Connection, model: str, rows: list[tuple[int, bytes]]) -> None:
    """Insert vectors of chunks that still exist; a vector written meanwhile stays."""
    if connection.dialect.name == "sqlite":
        connection.exec_driver_sql(
            "INSERT INTO chunk_vectors (chunk_id, model, vector) SELECT ?, ?, ? "
            "WHERE EXISTS (SELECT 1 FROM chunks WHERE id = ?) ON CONFLICT DO NOTHING",
            [(chunk_id, model, blob, chunk_id) for chunk_id, blob in rows],
        )
        return
    connection.exec_driver_sql(
        "INSERT INTO chunk_vectors (chunk_id, model, vector, embedding) "
        "SELECT %s, %s, %s, %s WHERE EXISTS (SELECT 1 FROM chunks WHERE id = %s) "
        "ON CONFLICT DO NOTHING",
        [
            (chunk_id, model, blob, np.frombuffer(blob, "<f4").tolist(), chunk_id)
            for chunk_id, blob in rows
        ],
    )


def _hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
