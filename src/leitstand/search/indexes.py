"""The lexical index that fits the database backend."""

from __future__ import annotations

from typing import Literal

from leitstand.search.base import LexicalIndex, LexicalWeights
from leitstand.store.database import Database


def lexical_index_for(
    db: Database,
    weights: LexicalWeights | None = None,
    *,
    memory: Literal["auto", "on", "off"] = "off",
) -> LexicalIndex:
    """SQLite FTS5 on SQLite (answered from postings in memory unless ``memory`` is off, see
    ``memory_index.py``), PostgreSQL full-text search on PostgreSQL."""
    if db.is_sqlite:
        from leitstand.search.sqlite_fts import SqliteLexicalIndex

        fts = SqliteLexicalIndex(weights)
        if memory == "off":
            return fts
        from leitstand.search.memory_index import MemoryLexicalIndex

        return MemoryLexicalIndex(db, fts, weights, mode=memory)
    from leitstand.search.postgres_fts import PostgresLexicalIndex

    return PostgresLexicalIndex(weights)
