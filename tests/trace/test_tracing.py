"""Traces: one per request and ingestion run, a span per stage, written off the request path."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from conftest import write_files

pytestmark = pytest.mark.integration

DOCS = {"faq.txt": "Der Fehlercode E42 meldet eine Übertemperatur des Motors."}


def test_a_request_trace_has_its_stages_and_chunk_scores(
    tmp_path: Path, database_url: str, open_leitstand: Any
) -> None:
    ls = open_leitstand(database_url)
    ls.ingest(write_files(tmp_path / "docs", DOCS))
    answer = ls.ask("Was meldet E42?")
    assert ls.tracer.flush()
    trace = ls.traces.get(answer.trace_id)
    assert trace.summary.kind == "request"
    assert trace.summary.input == "Was meldet E42?"
    assert trace.output == answer.text
    assert trace.summary.use_case == "default" and trace.summary.model == "extractive"
    guard, retrieve, lexical, assemble, generate = trace.spans
    assert guard.name == "guard_input" and guard.attributes["action"] == "allow"
    assert guard.attributes["injection"] == {"score": 0.0, "flagged": False, "rules": []}
    assert retrieve.name == "retrieve" and generate.name == "generate"
    assert lexical.name == "lexical" and lexical.parent_position == retrieve.position
    assert assemble.name == "assemble" and assemble.parent_position == retrieve.position
    assert retrieve.attributes["language"] == "de"
    assert retrieve.attributes["chunks"][0]["id"] == answer.sources[0].hit.chunk_id
    assert generate.attributes["sentences"][0]["chunk"] == answer.sources[0].hit.chunk_id
    assert all(span.duration_ms >= 0 for span in trace.spans)
    assert trace.summary.duration_ms >= retrieve.duration_ms


def test_an_ingest_trace_counts_what_happened(
    tmp_path: Path, sqlite_url: str, open_leitstand: Any
) -> None:
    ls = open_leitstand(sqlite_url)
    docs = write_files(tmp_path / "docs", {**DOCS, "leer.txt": ""})
    report = ls.ingest(docs)
    ls.tracer.flush()
    trace = ls.traces.get(report.trace_id)
    assert trace.summary.kind == "ingest" and trace.summary.status == "partial"
    assert trace.attributes["added"] == 1 and trace.attributes["failed"] == 1
    assert "leer.txt" in trace.attributes["failures"][0]
    assert [span.name for span in trace.spans] == ["scan", "parse"]


def test_content_can_be_kept_out_of_traces(
    tmp_path: Path, sqlite_url: str, open_leitstand: Any
) -> None:
    ls = open_leitstand(sqlite_url, tracing={"store_content": False})
    ls.ingest(write_files(tmp_path / "docs", DOCS))
    answer = ls.ask("Was meldet E42?")
    ls.tracer.flush()
    trace = ls.traces.get(answer.trace_id)
    assert trace.summary.input is None and trace.output is None
    assert trace.spans, "the stages are still recorded"


def test_tracing_can_be_switched_off_and_old_traces_pruned(
    tmp_path: Path, sqlite_url: str, open_leitstand: Any
) -> None:
    ls = open_leitstand(sqlite_url)
    ls.ingest(write_files(tmp_path / "docs", DOCS))
    ls.ask("E42?")
    ls.tracer.flush()
    assert ls.traces.count() == 2
    assert ls.traces.prune(older_than_days=1) == 0
    assert ls.traces.prune(older_than_days=-1) == 2
    quiet = open_leitstand(sqlite_url, tracing={"enabled": False})
    quiet.ask("E42?")
    quiet.tracer.flush()
    assert quiet.traces.count() == 0
