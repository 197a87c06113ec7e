"""Alembic environment: leitstand runs migrations in-process on a connection it hands over."""

from __future__ import annotations

from alembic import context

from leitstand.store.models import Base

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    transaction_per_migration=False,
)
with context.begin_transaction():
    if connection.dialect.name == "postgresql":
        # Two processes opening a fresh database at once: the second waits, then sees head.
        connection.exec_driver_sql("SELECT pg_advisory_xact_lock(7411620291)")
    context.run_migrations()
