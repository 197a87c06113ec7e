"""The gateway's state: usage and cost per request, shared limits, answer caches, held tools.

Revision ID: 0007
Revises: 0006

``usage_records``
    One row per model request that reached (or was answered for) a provider: who asked
    (use case, key, team), which model answered, its tokens (from the provider's usage, or
    estimated: ``tokens_estimated``), the cost in the configured currency, and whether the
    answer came from a cache. ``leitstand costs`` adds these up.
``rate_limits``
    Per limit scope (e.g. ``key:alice:rpm``) the theoretical arrival time of the generic cell
    rate algorithm, as seconds since the epoch. One atomic UPDATE per request decides, so
    every worker process and replica on the same database shares the limit.
``usage_totals``
    Per scope and period (``day:2026-12-03``, ``month:2026-12``) the money and tokens spent:
    what budgets are checked against, updated after each request.
``cache_entries``
    Cached answers, exact (``kind = 'exact'``, found by ``key_hash``) and semantic (the
    question's vector, compared within the same use case, tenant, prompt and model). The
    chunk ids behind an answer let a lookup see that its sources changed.
``tool_approvals``
    Tool calls a model asked for that a use case holds for a human decision.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from leitstand.store.types import JsonType, UTCDateTime

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "usage_records",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("trace_id", sa.String(32), nullable=True),
        sa.Column("at", UTCDateTime, nullable=False),
        sa.Column("day", sa.String(10), nullable=False),
        sa.Column("use_case", sa.String(200), nullable=True),
        sa.Column("key_name", sa.String(200), nullable=True),
        sa.Column("team", sa.String(200), nullable=True),
        sa.Column("model", sa.String(200), nullable=True),
        sa.Column("provider_model", sa.String(200), nullable=True),
        sa.Column("prompt_tokens", sa.Integer, nullable=False),
        sa.Column("completion_tokens", sa.Integer, nullable=False),
        sa.Column("tokens_estimated", sa.Boolean, nullable=False),
        sa.Column("cost", sa.Float, nullable=False),
        sa.Column("cached", sa.Boolean, nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
    )
    op.create_index("ix_usage_records_day", "usage_records", ["day"])
    op.create_index("ix_usage_records_at", "usage_records", ["at"])
    op.create_table(
        "rate_limits",
        sa.Column("scope", sa.String(400), primary_key=True),
        sa.Column("tat", sa.Float, nullable=False),
    )
    op.create_table(
        "usage_totals",
        sa.Column("scope", sa.String(400), primary_key=True),
        sa.Column("period", sa.String(20), primary_key=True),
        sa.Column("cost", sa.Float, nullable=False),
        sa.Column("tokens", sa.BigInteger, nullable=False),
        sa.Column("requests", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "cache_entries",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("kind", sa.String(10), nullable=False),
        sa.Column("key_hash", sa.String(64), nullable=False),
        sa.Column("scope_hash", sa.String(64), nullable=False),
        sa.Column("use_case", sa.String(200), nullable=False),
        sa.Column("tenant", sa.String(200), nullable=False),
        sa.Column("prompt_hash", sa.String(64), nullable=False),
        sa.Column("model", sa.String(200), nullable=False),
        sa.Column("question", sa.Text, nullable=False),
        sa.Column("vector", sa.LargeBinary, nullable=True),
        sa.Column("response", JsonType, nullable=False),
        sa.Column("chunk_ids", JsonType, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("expires_at", UTCDateTime, nullable=True),
        sa.Column("hits", sa.Integer, nullable=False),
    )
    op.create_index("ix_cache_entries_key_hash", "cache_entries", ["key_hash"])
    op.create_index("ix_cache_entries_scope_hash", "cache_entries", ["scope_hash"])
    op.create_table(
        "tool_approvals",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("trace_id", sa.String(32), nullable=True),
        sa.Column("use_case", sa.String(200), nullable=True),
        sa.Column("key_name", sa.String(200), nullable=True),
        sa.Column("call_id", sa.String(200), nullable=True),
        sa.Column("tool", sa.String(200), nullable=False),
        sa.Column("arguments", sa.Text, nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("decided_at", UTCDateTime, nullable=True),
        sa.Column("decided_by", sa.String(200), nullable=True),
    )
    op.create_index("ix_tool_approvals_status", "tool_approvals", ["status"])


def downgrade() -> None:
    raise NotImplementedError("leitstand migrations are append-only")
