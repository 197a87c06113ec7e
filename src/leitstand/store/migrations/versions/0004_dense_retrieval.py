"""Dense retrieval: how to rebuild an embedder, and pgvector on PostgreSQL.

Revision ID: 0004
Revises: 0003

``embedding_models.settings``
    The embedder settings that produced a model's vectors (provider, model, base URL, key
    *reference*, prefixes), so that dense search can keep using the last complete model
    while the configuration has already moved on to a new one that is still being embedded.
``chunk_vectors.embedding`` (PostgreSQL only)
    The vector as ``real[]`` next to the float32 bytes (which stay the source of truth), and
    the pgvector extension where the server has it. Each model gets its own partial HNSW
    index on ``(embedding::vector(<dimensions>)) vector_cosine_ops`` when its first vectors
    are written, because dimensions differ between models. The column is a plain array so
    that the schema is the same with or without pgvector; on a server without it dense
    retrieval fails with a message saying how to install it, and enables the extension
    itself once it is installed.
"""

from __future__ import annotations

import contextlib

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from leitstand.store.types import JsonType

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("embedding_models") as batch:
        batch.add_column(sa.Column("settings", JsonType))
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    op.add_column("chunk_vectors", sa.Column("embedding", postgresql.ARRAY(sa.REAL)))
    available = bind.execute(
        sa.text("SELECT 1 FROM pg_available_extensions WHERE name = 'vector'")
    ).first()
    if available is None:
        return
    # In a savepoint: lacking the privilege to create extensions must not abort 0004.
    with contextlib.suppress(sa.exc.DBAPIError), bind.begin_nested():
        bind.execute(sa.text("CREATE EXTENSION IF NOT EXISTS vector"))


def downgrade() -> None:
    raise NotImplementedError("leitstand migrations are append-only")
