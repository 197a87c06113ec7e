"""Lexical search on SQLite: FTS5's ``bm25()`` over text that leitstand analysed itself."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Select,
    column,
    literal_column,
    select,
    table,
    text,
)
from sqlalchemy.orm import Session

from leitstand.search.base import LexicalIndex, LexicalWeights, ScoredChunk, SearchFilters
from leitstand.store.models import Chunk

_FTS = table("chunks_fts", column("rowid"))


def match_expression(terms: Sequence[str]) -> str:
    """An FTS5 query that matches any of the terms (each quoted, so no term is an operator)."""
    return " OR ".join(f'"{term}"' for term in terms if term and '"' not in term)


class SqliteLexicalIndex(LexicalIndex):
    """FTS5 ranks with BM25 (k1 = 1.2, b = 0.75, fixed by SQLite) over two fields: the chunk's
    text and its title and heading path, weighted by ``LexicalWeights.context_weight``."""

    dialect = "sqlite"

    def __init__(self, weights: LexicalWeights | None = None) -> None:
        self.weights = weights or LexicalWeights()
        self._rank: ColumnElement[float] = literal_column(
            f"bm25(chunks_fts, 1.0, {float(self.weights.context_weight)})"
        )
        self._query: Select[Any] = (
            select(_FTS.c.rowid, self._rank.label("rank"))
            .select_from(_FTS)
            .where(text("chunks_fts MATCH :match"))
            .order_by(self._rank)
        )

    def search(
        self,
        session: Session | Connection,
        terms: Sequence[str],
        *,
        limit: int,
        filters: SearchFilters | None = None,
    ) -> list[ScoredChunk]:
        expression = match_expression(terms)
        if not expression:
            return []
        query = self._query.limit(limit)
        if filters:
            query = filters.apply(query.join(Chunk, Chunk.id == _FTS.c.rowid), Chunk.document_id)
        rows = session.execute(query, {"match": expression}).all()
        return [ScoredChunk(int(row[0]), -float(row[1])) for row in rows]
