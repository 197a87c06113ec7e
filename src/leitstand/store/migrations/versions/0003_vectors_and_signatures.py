"""Dense retrieval and near-duplicates: chunk vectors, the embedding cache, signatures.

Revision ID: 0003
Revises: 0002

``chunks.text_hash``
    SHA-256 of the chunk text: exact duplicates and the key of the embedding cache.
``chunks.signature``, ``chunks.duplicate_of``
    A MinHash signature of the chunk's terms, and the chunk it nearly duplicates (if any),
    set at ingestion.
``embedding_models``
    Every embedding model that has vectors here, with its dimensions and when its
    vectors were complete (a model being introduced is not used until then).
``chunk_vectors``
    The vectors (float32, little-endian) per chunk and model: the source of truth that the
    vector indexes are built from. They go with their chunk (ON DELETE CASCADE).
``embedding_cache``
    Vectors by model and text hash, so unchanged texts are never embedded twice.
``vector_deletions``
    A log of deleted vectors (written by a trigger), so that an HNSW file next to an SQLite
    database can follow deletions without rescanning every vector.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from leitstand.store.types import UTCDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("chunks") as batch:
        batch.add_column(sa.Column("text_hash", sa.String(64)))
        batch.add_column(sa.Column("signature", sa.LargeBinary))
        batch.add_column(sa.Column("duplicate_of", sa.Integer))
    op.create_index("ix_chunks_text_hash", "chunks", ["text_hash"])
    op.create_table(
        "embedding_models",
        sa.Column("name", sa.String(300), primary_key=True),
        sa.Column("dimensions", sa.Integer, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("completed_at", UTCDateTime),
    )
    op.create_table(
        "chunk_vectors",
        sa.Column(
            "chunk_id",
            sa.Integer,
            sa.ForeignKey("chunks.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column(
            "model",
            sa.String(300),
            sa.ForeignKey("embedding_models.name", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("vector", sa.LargeBinary, nullable=False),
    )
    op.create_index("ix_chunk_vectors_model", "chunk_vectors", ["model", "chunk_id"])
    op.create_table(
        "embedding_cache",
        sa.Column("model", sa.String(300), primary_key=True),
        sa.Column("text_hash", sa.String(64), primary_key=True),
        sa.Column("vector", sa.LargeBinary, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
    )
    op.create_table(
        "vector_deletions",
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("chunk_id", sa.Integer, nullable=False),
        sa.Column("model", sa.String(300), nullable=False),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_vector_deletions_model_seq", "vector_deletions", ["model", "seq"])
    if op.get_bind().dialect.name == "sqlite":
        op.execute(
            "CREATE TRIGGER chunk_vectors_deleted AFTER DELETE ON chunk_vectors BEGIN "
            "INSERT INTO vector_deletions(chunk_id, model) VALUES (old.chunk_id, old.model); END"
        )
    else:
        op.execute(
            """
            CREATE FUNCTION leitstand_vector_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                INSERT INTO vector_deletions(chunk_id, model)
                SELECT chunk_id, model FROM gone;
                RETURN NULL;
            END $$
            """
        )
        op.execute(
            "CREATE TRIGGER chunk_vectors_deleted AFTER DELETE ON chunk_vectors "
            "REFERENCING OLD TABLE AS gone FOR EACH STATEMENT "
            "EXECUTE FUNCTION leitstand_vector_deleted()"
        )


def downgrade() -> None:
    raise NotImplementedError("leitstand migrations are append-only")
