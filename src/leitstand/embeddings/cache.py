"""The persistent embedding cache: vectors by (model, SHA-256 of the text).

A text that was embedded once under a model is never embedded again: a re-ingested file
whose paragraphs did not change, the same paragraph in two documents, a model switch back.
The key is ``chunks.text_hash``, so the cache can tell which entries no chunk uses any more.

Erasure: :func:`sweep_unused` deletes every entry whose text no chunk has. ``Leitstand``
runs it in the transaction that deletes a source, and after every ingestion run that
replaced or removed documents (after the new chunks took what they could from the cache).
Code that deletes documents or chunks some other way must call it too.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import cast

from sqlalchemy import Connection, Table, delete, exists, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from leitstand.store.models import Chunk, EmbeddingCacheEntry, utcnow

_CACHE = cast(Table, EmbeddingCacheEntry.__table__)
_LOOKUP_BATCH = 500


def cached_vectors(connection: Connection, model: str, hashes: Iterable[str]) -> dict[str, bytes]:
    """The cached vectors (float32 little-endian bytes) among ``hashes``, by hash."""
    wanted = sorted(set(hashes))
    found: dict[str, bytes] = {}
    for start in range(0, len(wanted), _LOOKUP_BATCH):
        rows = connection.execute(
            select(_CACHE.c.text_hash, _CACHE.c.vector).where(
                _CACHE.c.model == model,
                _CACHE.c.text_hash.in_(wanted[start : start + _LOOKUP_BATCH]),
            )
        )
        found.update({str(row[0]): bytes(row[1]) for row in rows})
    return found


def store_vectors(connection: Connection, model: str, vectors: Mapping[str, bytes]) -> None:
    """Remember vectors by text hash; entries that exist already stay as they are."""
    if not vectors:
        return
    dialect_insert = pg_insert if connection.dialect.name == "postgresql" else sqlite_insert
    now = utcnow()
    rows = [
        {"model": model, "text_hash": text_hash, "vector": vector, "created_at": now}
        for text_hash, vector in vectors.items()
    ]
    connection.execute(dialect_insert(_CACHE).on_conflict_do_nothing(), rows)


def sweep_unused(connection: Connection, model: str | None = None) -> int:
    """Delete cache entries whose text no chunk has any more; returns how many."""
    used = exists(select(Chunk.id).where(Chunk.text_hash == _CACHE.c.text_hash))
    statement = delete(_CACHE).where(~used)
    if model is not None:
        statement = statement.where(_CACHE.c.model == model)
    return int(getattr(connection.execute(statement), "rowcount", 0) or 0)


def drop_model(connection: Connection, model: str) -> int:
    """Delete every cache entry of one model."""
    result = connection.execute(delete(_CACHE).where(_CACHE.c.model == model))
    return int(getattr(result, "rowcount", 0) or 0)
