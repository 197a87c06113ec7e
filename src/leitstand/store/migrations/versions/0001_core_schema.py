"""Core schema: sources, documents, chunks with a lexical index, prompts, traces, API keys.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from leitstand.store.types import JsonType, UTCDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sources",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(200), nullable=False, unique=True),
        sa.Column("root", sa.Text),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
    )
    op.create_table(
        "documents",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "source_id",
            sa.Integer,
            sa.ForeignKey("sources.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("path", sa.Text, nullable=False),
        sa.Column("uri", sa.Text, nullable=False),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.Column("pipeline_hash", sa.String(16), nullable=False),
        sa.Column("size_bytes", sa.BigInteger, nullable=False),
        sa.Column("mtime_ns", sa.BigInteger, nullable=False),
        sa.Column("language", sa.String(8), nullable=False),
        sa.Column("page_count", sa.Integer),
        sa.Column("chunk_count", sa.Integer, nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("metadata", JsonType, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
        sa.UniqueConstraint("source_id", "path", name="uq_documents_source_path"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_documents_source_id", "documents", ["source_id"])
    op.create_index("ix_documents_content_hash", "documents", ["content_hash"])
    op.create_table(
        "document_tags",
        sa.Column(
            "document_id",
            sa.Integer,
            sa.ForeignKey("documents.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("tag", sa.String(200), primary_key=True),
    )
    op.create_index("ix_document_tags_tag", "document_tags", ["tag"])
    op.create_table(
        "chunks",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "document_id",
            sa.Integer,
            sa.ForeignKey("documents.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("ordinal", sa.Integer, nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("analysed", sa.Text, nullable=False),
        sa.Column("analysed_context", sa.Text, nullable=False),
        sa.Column("heading", sa.Text, nullable=False),
        sa.Column("start_char", sa.Integer, nullable=False),
        sa.Column("end_char", sa.Integer, nullable=False),
        sa.Column("page_start", sa.Integer),
        sa.Column("page_end", sa.Integer),
        sa.Column("language", sa.String(8), nullable=False),
        sa.Column("term_count", sa.Integer, nullable=False),
        sqlite_autoincrement=True,  # ids are never reused: old citations stay unambiguous
    )
    op.create_index("ix_chunks_document_ordinal", "chunks", ["document_id", "ordinal"])
    if op.get_bind().dialect.name == "sqlite":
        _sqlite_lexical_index()
    op.create_table(
        "prompts",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("content_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("template", sa.Text, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
    )
    op.create_table(
        "traces",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("started_at", UTCDateTime, nullable=False),
        sa.Column("duration_ms", sa.Float, nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("use_case", sa.String(200)),
        sa.Column("model", sa.String(200)),
        sa.Column("prompt_hash", sa.String(64)),
        sa.Column("input", sa.Text),
        sa.Column("output", sa.Text),
        sa.Column("error", sa.Text),
        sa.Column("attributes", JsonType, nullable=False),
    )
    op.create_index("ix_traces_kind", "traces", ["kind"])
    op.create_index("ix_traces_started_at", "traces", ["started_at"])
    op.create_table(
        "spans",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "trace_id",
            sa.String(32),
            sa.ForeignKey("traces.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("parent_position", sa.Integer),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("started_at", UTCDateTime, nullable=False),
        sa.Column("duration_ms", sa.Float, nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("error", sa.Text),
        sa.Column("attributes", JsonType, nullable=False),
    )
    op.create_index("ix_spans_trace_id", "spans", ["trace_id"])
    op.create_table(
        "api_keys",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(200), nullable=False, unique=True),
        sa.Column("prefix", sa.String(16), nullable=False),
        sa.Column("key_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("use_case", sa.String(200)),
        sa.Column("team", sa.String(200)),
        sa.Column("role", sa.String(40), nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("revoked_at", UTCDateTime),
        sa.Column("last_used_at", UTCDateTime),
    )


def _sqlite_lexical_index() -> None:
    """FTS5 over the analysed text, kept in step with ``chunks`` by triggers.

    The text is analysed by leitstand before it is stored (terms separated by spaces), so FTS5
    must take each term as it is: the ``ascii`` tokenizer splits only at ASCII punctuation and
    spaces, which analysed terms never contain, and needs no Unicode tables of its own.
    """
    op.execute(
        "CREATE VIRTUAL TABLE chunks_fts USING fts5("
        "analysed, analysed_context, content='chunks', content_rowid='id', tokenize='ascii')"
    )
    op.execute(
        "CREATE TRIGGER chunks_fts_insert AFTER INSERT ON chunks BEGIN "
        "INSERT INTO chunks_fts(rowid, analysed, analysed_context) "
        "VALUES (new.id, new.analysed, new.analysed_context); END"
    )
    op.execute(
        "CREATE TRIGGER chunks_fts_delete AFTER DELETE ON chunks BEGIN "
        "INSERT INTO chunks_fts(chunks_fts, rowid, analysed, analysed_context) "
        "VALUES ('delete', old.id, old.analysed, old.analysed_context); END"
    )
    op.execute(
        "CREATE TRIGGER chunks_fts_update AFTER UPDATE OF analysed, analysed_context ON chunks "
        "BEGIN "
        "INSERT INTO chunks_fts(chunks_fts, rowid, analysed, analysed_context) "
        "VALUES ('delete', old.id, old.analysed, old.analysed_context); "
        "INSERT INTO chunks_fts(rowid, analysed, analysed_context) "
        "VALUES (new.id, new.analysed, new.analysed_context); END"
    )


def downgrade() -> None:
    raise NotImplementedError("leitstand migrations are append-only")
