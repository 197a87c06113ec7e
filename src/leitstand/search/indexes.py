"""The lexical index that fits the database backend."""

from __future__ import annotations

from leitstand.search.base import LexicalIndex, LexicalWeights
from leitstand.store.database import Database


def lexical_index_for(db: Database, weights: LexicalWeights | None = None) -> LexicalIndex:
    """SQLite FTS5 on SQLite, PostgreSQL full-text search on PostgreSQL."""
    if db.is_sqlite:
        from leitstand.search.sqlite_fts import SqliteLexicalIndex

        return SqliteLexicalIndex(weights)
    from leitstand.search.postgres_fts import PostgresLexicalIndex

    return PostgresLexicalIndex(weights)
