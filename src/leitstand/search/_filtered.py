"""Filters (sources, languages, tags) for indexes that hold every chunk: HNSW graphs and the
in-memory lexical index, the same on every backend.

Such an index cannot skip chunks that a filter excludes, so a filtered search asks it for
more results than it needs and keeps those the filter allows (one SQL query over the
candidates). When too few survive, the filter is selective: then the allowed chunks are few
enough to score exactly, and the answer is complete rather than approximate.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from sqlalchemy import bindparam, select

from leitstand.search.base import ScoredChunk, SearchFilters
from leitstand.store.database import Database
from leitstand.store.models import Chunk

MAX_OVERFETCH = 1000
"""The most neighbours asked of the index before scoring the allowed chunks exactly."""


def allowed_among(db: Database, chunk_ids: Sequence[int], filters: SearchFilters) -> set[int]:
    """The chunks among ``chunk_ids`` that the filters allow."""
    if not chunk_ids:
        return set()
    query = filters.apply(
        select(Chunk.id).where(Chunk.id.in_(bindparam("ids", expanding=True))), Chunk.document_id
    )
    with db.read() as session:
        return {int(row[0]) for row in session.execute(query, {"ids": list(chunk_ids)})}


def allowed_ids(db: Database, filters: SearchFilters) -> list[int]:
    """Every chunk the filters allow."""
    with db.read() as session:
        return [
            int(row[0])
            for row in session.execute(filters.apply(select(Chunk.id), Chunk.document_id))
        ]


def filtered_search(
    db: Database,
    *,
    limit: int,
    filters: SearchFilters,
    size: int,
    nearest: Callable[[int], list[ScoredChunk]],
    exact: Callable[[list[int]], list[ScoredChunk]],
) -> list[ScoredChunk]:
    """The best ``limit`` allowed chunks: over-fetch from ``nearest(count)`` and filter, or
    score the allowed chunks with ``exact(ids)`` when the filter lets too few through.

    ``size`` is the number of chunks in the index; ``nearest`` may return fewer than asked
    when fewer match (then every match was seen).
    """
    fetch = min(size, max(2 * limit, 64))
    while fetch > 0:
        candidates = nearest(fetch)
        allowed = allowed_among(db, [item.chunk_id for item in candidates], filters)
        kept = [item for item in candidates if item.chunk_id in allowed]
        if len(kept) >= limit or len(candidates) < fetch or fetch >= size:
            return kept[:limit]
        # Ask again for as many as the share that passed suggests, if that is not too many.
        wanted = int(1.5 * limit * len(candidates) / len(kept)) if kept else MAX_OVERFETCH + 1
        if wanted > MAX_OVERFETCH or wanted <= fetch:
            break
        fetch = min(size, wanted)
    return exact(allowed_ids(db, filters))[:limit]
