"""Reading traces back: lists, one trace with its spans, and pruning by age."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import selectinload

from leitstand.errors import NotFoundError
from leitstand.store.database import Database
from leitstand.store.models import Trace
from leitstand.trace.recorder import retention_cutoff


@dataclass(frozen=True)
class TraceSummary:
    id: str
    kind: str
    name: str
    started_at: datetime
    duration_ms: float
    status: str
    use_case: str | None
    model: str | None
    input: str | None


@dataclass(frozen=True)
class SpanView:
    position: int
    parent_position: int | None
    name: str
    started_at: datetime
    duration_ms: float
    status: str
    error: str | None
    attributes: dict[str, Any]


@dataclass(frozen=True)
class TraceView:
    summary: TraceSummary
    prompt_hash: str | None
    output: str | None
    error: str | None
    attributes: dict[str, Any]
    spans: list[SpanView]

    def as_dict(self) -> dict[str, Any]:
        s = self.summary
        return {
            "id": s.id,
            "kind": s.kind,
            "name": s.name,
            "started_at": s.started_at.isoformat(),
            "duration_ms": round(s.duration_ms, 3),
            "status": s.status,
            "use_case": s.use_case,
            "model": s.model,
            "prompt_hash": self.prompt_hash,
            "input": s.input,
            "output": self.output,
            "error": self.error,
            "attributes": self.attributes,
            "spans": [
                {
                    "position": span.position,
                    "parent": span.parent_position,
                    "name": span.name,
                    "started_at": span.started_at.isoformat(),
                    "duration_ms": round(span.duration_ms, 3),
                    "status": span.status,
                    "error": span.error,
                    "attributes": span.attributes,
                }
                for span in self.spans
            ],
        }


def _summary(row: Trace) -> TraceSummary:
    return TraceSummary(
        id=row.id,
        kind=row.kind,
        name=row.name,
        started_at=row.started_at,
        duration_ms=row.duration_ms,
        status=row.status,
        use_case=row.use_case,
        model=row.model,
        input=row.input,
    )


class TraceStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    def list(
        self, *, limit: int = 20, kind: str | None = None, status: str | None = None
    ) -> list[TraceSummary]:
        query = select(Trace).order_by(Trace.started_at.desc()).limit(limit)
        if kind:
            query = query.where(Trace.kind == kind)
        if status:
            query = query.where(Trace.status == status)
        with self.db.read() as session:
            return [_summary(row) for row in session.scalars(query)]

    def get(self, trace_id: str) -> TraceView:
        """One trace by id or by a unique prefix of at least 6 characters."""
        with self.db.read() as session:
            query = select(Trace).options(selectinload(Trace.spans))
            row = session.scalar(query.where(Trace.id == trace_id))
            if row is None and len(trace_id) >= 6:
                matches = session.scalars(
                    query.where(Trace.id.startswith(trace_id, autoescape=True)).limit(2)
                ).all()
                if len(matches) > 1:
                    raise NotFoundError(
                        f"trace id prefix {trace_id!r} is ambiguous", hint="give more characters"
                    )
                row = matches[0] if matches else None
            if row is None:
                raise NotFoundError(
                    f"no trace with id {trace_id!r}",
                    hint="`leitstand traces list` shows recent ids",
                )
            return TraceView(
                summary=_summary(row),
                prompt_hash=row.prompt_hash,
                output=row.output,
                error=row.error,
                attributes=row.attributes,
                spans=[
                    SpanView(
                        position=span.position,
                        parent_position=span.parent_position,
                        name=span.name,
                        started_at=span.started_at,
                        duration_ms=span.duration_ms,
                        status=span.status,
                        error=span.error,
                        attributes=span.attributes,
                    )
                    for span in row.spans
                ],
            )

    def count(self) -> int:
        with self.db.read() as session:
            return int(session.scalar(select(func.count()).select_from(Trace)) or 0)

    def prune(self, older_than_days: int) -> int:
        """Delete traces (and their spans) older than the given number of days."""
        cutoff = retention_cutoff(older_than_days)
        with self.db.write() as session:
            result = session.execute(delete(Trace).where(Trace.started_at < cutoff))
            return int(getattr(result, "rowcount", 0) or 0)
