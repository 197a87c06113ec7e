"""A log of deleted chunks, so in-memory indexes can follow deletions.

Revision ID: 0005
Revises: 0004

``chunk_deletions``
    One row per deleted chunk, written by a trigger in the transaction that deletes it
    (a changed document, a pruned file, a deleted source). The in-memory lexical index
    (``search/memory_index.py``) remembers the highest ``seq`` it has applied and masks the
    chunks logged after it; together with the highest chunk id (ids are never reused) that
    tells it exactly what changed since it last looked.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "chunk_deletions",
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("chunk_id", sa.Integer, nullable=False),
        sqlite_autoincrement=True,
    )
    if op.get_bind().dialect.name == "sqlite":
        op.execute(
            "CREATE TRIGGER chunks_deleted AFTER DELETE ON chunks BEGIN "
            "INSERT INTO chunk_deletions(chunk_id) VALUES (old.id); END"
        )
        return
    op.execute(
        """
        CREATE FUNCTION leitstand_chunk_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            INSERT INTO chunk_deletions(chunk_id) SELECT id FROM gone;
            RETURN NULL;
        END $$
        """
    )
    op.execute(
        "CREATE TRIGGER chunks_deleted AFTER DELETE ON chunks "
        "REFERENCING OLD TABLE AS gone FOR EACH STATEMENT "
        "EXECUTE FUNCTION leitstand_chunk_deleted()"
    )


def downgrade() -> None:
    raise NotImplementedError("leitstand migrations are append-only")
