"""Traces with one span per stage, written off the request path by a batch writer thread.

A request opens a trace, wraps each stage in ``with trace.span("retrieve") as span:``, and
finishes it; the finished trace goes onto a queue. One background thread takes whatever is
queued, writes it in one transaction, and waits for more. ``flush()`` waits until everything
queued so far is stored (the CLI calls it before exiting; tests call it before reading).
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import insert

from leitstand.store.database import Database
from leitstand.store.models import Span, Trace, UsageRecord

log = logging.getLogger(__name__)

_MAX_TEXT = 20_000


def _clip(text: str | None) -> str | None:
    if text is None or len(text) <= _MAX_TEXT:
        return text
    return text[:_MAX_TEXT] + f"… [{len(text) - _MAX_TEXT} more characters]"


@dataclass
class SpanRecord:
    position: int
    parent_position: int | None
    name: str
    started_at: datetime
    started: float
    duration_ms: float = 0.0
    status: str = "ok"
    error: str | None = None
    attributes: dict[str, Any] = field(default_factory=dict)

    def set(self, **attributes: Any) -> None:
        self.attributes.update(attributes)

    def elapsed_ms(self) -> float:
        return (time.perf_counter() - self.started) * 1000

    def fail(self, error: BaseException | str) -> None:
        self.status = "error"
        self.error = error if isinstance(error, str) else f"{type(error).__name__}: {error}"


class ActiveTrace:
    """A trace being recorded. Not shared between threads."""

    def __init__(self, tracer: Tracer, kind: str, name: str, attributes: dict[str, Any]) -> None:
        self._tracer = tracer
        self.id = uuid.uuid4().hex
        self.kind = kind
        self.name = name
        self.started_at = datetime.now(UTC)
        self._started = time.perf_counter()
        self.attributes = attributes
        self.use_case: str | None = None
        self.model: str | None = None
        self.prompt_hash: str | None = None
        self.input: str | None = None
        self.output: str | None = None
        self.spans: list[SpanRecord] = []
        self._stack: list[SpanRecord] = []
        self.finished = False
        self.usage: list[dict[str, Any]] = []
        """Rows for ``usage_records`` (tokens and cost), stored with the trace and also when
        tracing is off: costs are counted either way."""

    def set(self, **attributes: Any) -> None:
        self.attributes.update(attributes)

    def span(self, name: str, **attributes: Any) -> _SpanScope:
        """``with trace.span("retrieve") as span:`` records the block as a span (failed when
        it raises)."""
        return _SpanScope(self, name, attributes)

    def open_span(self, name: str, **attributes: Any) -> SpanRecord:
        parent = self._stack[-1].position if self._stack else None
        record = SpanRecord(
            position=len(self.spans),
            parent_position=parent,
            name=name,
            started_at=datetime.now(UTC),
            started=time.perf_counter(),
            attributes=attributes,
        )
        self.spans.append(record)
        self._stack.append(record)
        return record

    def close_span(self, record: SpanRecord) -> None:
        record.duration_ms = (time.perf_counter() - record.started) * 1000
        stack = self._stack
        if stack and stack[-1] is record:  # spans close in order, but for a failed stream
            stack.pop()
        elif record in stack:
            stack.remove(record)

    def finish(self, *, status: str = "ok", error: BaseException | str | None = None) -> None:
        if self.finished:
            return
        self.finished = True
        self.duration_ms = (time.perf_counter() - self._started) * 1000
        if error is not None:
            status = "error"
            self.error: str | None = (
                error if isinstance(error, str) else f"{type(error).__name__}: {error}"
            )
        else:
            self.error = None
        self.status = status
        for record in list(self._stack):
            self.close_span(record)
        self._tracer.submit(self)


class _SpanScope:
    """The context manager of :meth:`ActiveTrace.span` (a class: cheaper than a generator
    on every stage of every request)."""

    __slots__ = ("_attributes", "_name", "_record", "_trace")

    def __init__(self, trace: ActiveTrace, name: str, attributes: dict[str, Any]) -> None:
        self._trace = trace
        self._name = name
        self._attributes = attributes

    def __enter__(self) -> SpanRecord:
        self._record = self._trace.open_span(self._name, **self._attributes)
        return self._record

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, _: object
    ) -> None:
        if error is not None:
            self._record.fail(error)
        self._trace.close_span(self._record)


class Tracer:
    """Creates traces and stores them through one background writer."""

    def __init__(self, db: Database, *, enabled: bool = True, store_content: bool = True) -> None:
        self.db = db
        self.enabled = enabled
        self.store_content = store_content
        self._queue: queue.Queue[ActiveTrace | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._pending = 0
        self._idle = threading.Condition(self._lock)
        self.dropped = 0

    def start(self, kind: str, name: str, **attributes: Any) -> ActiveTrace:
        return ActiveTrace(self, kind, name, attributes)

    def submit(self, trace: ActiveTrace) -> None:
        if not self.enabled and not trace.usage:
            return
        with self._lock:
            self._pending += 1
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._run, name="leitstand-trace-writer", daemon=True
                )
                self._thread.start()
        self._queue.put(trace)

    def flush(self, timeout: float = 30.0) -> bool:
        """Wait until every submitted trace is stored; False on timeout."""
        deadline = time.monotonic() + timeout
        with self._idle:
            while self._pending:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._idle.wait(remaining)
        return True

    def close(self) -> None:
        self.flush()
        if self._thread is not None and self._thread.is_alive():
            self._queue.put(None)
            self._thread.join(timeout=5)

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            batch = [item]
            with contextlib.suppress(queue.Empty):
                while len(batch) < 500:
                    next_item = self._queue.get_nowait()
                    if next_item is None:
                        self._write(batch)
                        return
                    batch.append(next_item)
            self._write(batch)

    def _write(self, batch: list[ActiveTrace]) -> None:
        try:
            traces: list[dict[str, Any]] = []
            spans: list[dict[str, Any]] = []
            usage: list[dict[str, Any]] = []
            for trace in batch:
                usage.extend(trace.usage)
                if not self.enabled:
                    continue
                traces.append(self._trace_row(trace))
                spans.extend(
                    {
                        "trace_id": trace.id,
                        "position": s.position,
                        "parent_position": s.parent_position,
                        "name": s.name,
                        "started_at": s.started_at,
                        "duration_ms": s.duration_ms,
                        "status": s.status,
                        "error": s.error,
                        "attributes": s.attributes,
                    }
                    for s in trace.spans
                )
            with self.db.write() as session:
                if traces:
                    session.execute(insert(Trace), traces)
                if spans:
                    session.execute(insert(Span), spans)
                if usage:
                    session.execute(insert(UsageRecord), usage)
        except Exception:
            self.dropped += len(batch)
            log.exception("could not store %d trace(s)", len(batch))
        finally:
            with self._idle:
                self._pending -= len(batch)
                self._idle.notify_all()

    def _trace_row(self, trace: ActiveTrace) -> dict[str, Any]:
        keep = self.store_content
        return {
            "id": trace.id,
            "kind": trace.kind,
            "name": trace.name,
            "started_at": trace.started_at,
            "duration_ms": trace.duration_ms,
            "status": trace.status,
            "use_case": trace.use_case,
            "model": trace.model,
            "prompt_hash": trace.prompt_hash,
            "input": _clip(trace.input) if keep else None,
            "output": _clip(trace.output) if keep else None,
            "error": trace.error,
            "attributes": trace.attributes,
        }


def retention_cutoff(days: int) -> datetime:
    return datetime.now(UTC) - timedelta(days=days)
