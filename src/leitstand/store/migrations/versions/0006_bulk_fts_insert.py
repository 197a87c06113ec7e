"""SQLite: new chunks go into FTS5 in one statement per batch, not one trigger call per row.

Revision ID: 0006
Revises: 0005

The row trigger ``chunks_fts_insert`` of 0001 costs about five times what one
``INSERT INTO chunks_fts ... SELECT ... FROM chunks WHERE id > :before`` costs per chunk
(``bench/ingest_throughput.py``). Ingestion, the only writer of chunks, now runs that statement
after each batch, in the batch's transaction, so the index is as consistent as before; the
triggers that follow deletions and updates stay.
"""

from __future__ import annotations

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TRIGGER IF EXISTS chunks_fts_insert")


def downgrade() -> None:
    raise NotImplementedError("leitstand migrations are append-only")
