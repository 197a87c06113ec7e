"""Storage: one database (SQLite by default, PostgreSQL for production) for all state."""

from leitstand.store.database import Database

__all__ = ["Database"]
