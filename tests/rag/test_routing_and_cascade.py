"""Answers from the documents (rag mode) with fallbacks, a small-to-large cascade and costs,
against two scripted OpenAI-compatible servers."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from conftest import write_files
from leitstand.errors import ModelError
from leitstand.govern.usage import Caller
from leitstand.llm.base import Usage
from leitstand.llm.cascade import parse_score
from leitstand.store.models import UsageRecord
from leitstand.testing import ScriptedChatServer

pytestmark = pytest.mark.integration

DOCS = {
    "reisen.md": "# Reisekosten\n\nDie Verpflegungspauschale beträgt 28 Euro pro vollem Tag.\n"
    "\nDie Kilometerpauschale beträgt 0,30 Euro pro gefahrenem Kilometer.\n",
}
GROUNDED = "Die Verpflegungspauschale beträgt 28 Euro pro vollem Tag [1]."
MADE_UP = "Die Pauschale beträgt 95 Euro und gilt nur für Flugreisen nach Übersee [1]."


@pytest.fixture(scope="module")
def small() -> Iterator[ScriptedChatServer]:
    with ScriptedChatServer(model="small-model") as server:
        yield server


@pytest.fixture(scope="module")
def large() -> Iterator[ScriptedChatServer]:
    with ScriptedChatServer(model="large-model") as server:
        yield server


@pytest.fixture
def ls(
    tmp_path: Path, small: ScriptedChatServer, large: ScriptedChatServer, open_leitstand: Any
) -> Any:
    small.reset()
    large.reset()
    instance = open_leitstand(
        models={
            "klein": {
                "base_url": small.url,
                "model": "small-model",
                "max_retries": 0,
                "price_input": 0.1,
                "price_output": 0.4,
            },
            "gross": {
                "base_url": large.url,
                "model": "large-model",
                "max_retries": 0,
                "price_input": 2.5,
                "price_output": 10,
            },
        },
        use_cases={
            "reisen": {"model": "klein", "fallbacks": ["gross"]},
            "kaskade": {
                "model": "klein",
                "cascade": {"small": "klein", "large": "gross", "threshold": 0.6},
            },
            "selbstpruefung": {
                "model": "klein",
                "cascade": {"small": "klein", "large": "gross", "check": "verify"},
            },
        },
        default_use_case="reisen",
        guard={"canary": False},
    )
    instance.ingest(write_files(tmp_path / "docs", DOCS))
    return instance


def usage_of(ls: Any, trace_id: str) -> list[UsageRecord]:
    ls.tracer.flush()
    with ls.db.read() as session:
        return list(
            session.scalars(
                select(UsageRecord).where(UsageRecord.trace_id == trace_id).order_by(UsageRecord.id)
            )
        )


def test_a_failing_model_falls_back_and_the_cost_is_counted_for_the_caller(
    ls: Any, small: ScriptedChatServer, large: ScriptedChatServer
) -> None:
    small.enqueue_error(503)
    large.enqueue(GROUNDED, usage=Usage(1000, 20))
    answer = ls.ask("Wie hoch ist die Verpflegungspauschale?", caller=Caller("alice", "vertrieb"))
    assert answer.text == GROUNDED
    assert answer.model == "gross"
    rows = usage_of(ls, answer.trace_id)
    assert [(r.model, r.prompt_tokens, r.completion_tokens) for r in rows] == [("gross", 1000, 20)]
    assert rows[0].cost == pytest.approx((1000 * 2.5 + 20 * 10) / 1e6)
    assert (rows[0].key_name, rows[0].team, rows[0].use_case) == ("alice", "vertrieb", "reisen")


def test_without_usage_from_the_provider_tokens_are_estimated(
    ls: Any, small: ScriptedChatServer
) -> None:
    small.enqueue(GROUNDED, usage=Usage(0, 0))
    answer = ls.ask("Wie hoch ist die Verpflegungspauschale?")
    (row,) = usage_of(ls, answer.trace_id)
    assert row.tokens_estimated
    assert row.prompt_tokens > 50  # the prompt carries the sources
    assert row.completion_tokens == -(-len(GROUNDED) // 4)  # characters / 4, rounded up


def test_a_grounded_small_answer_is_kept(
    ls: Any, small: ScriptedChatServer, large: ScriptedChatServer
) -> None:
    small.enqueue(GROUNDED)
    answer = ls.ask("Wie hoch ist die Verpflegungspauschale?", use_case="kaskade")
    assert answer.text == GROUNDED
    assert answer.model == "klein"
    assert not large.requests
    assert [r.model for r in usage_of(ls, answer.trace_id)] == ["klein"]


def test_an_ungrounded_small_answer_goes_to_the_large_model(
    ls: Any, small: ScriptedChatServer, large: ScriptedChatServer
) -> None:
    small.enqueue(MADE_UP)
    large.enqueue(GROUNDED)
    events = list(ls.ask_stream("Wie hoch ist die Verpflegungspauschale?", use_case="kaskade"))
    answer = events[-1].answer
    assert answer.text == GROUNDED
    assert answer.model == "gross"
    assert "".join(e.text for e in events if e.kind == "delta") == GROUNDED
    assert [r.model for r in usage_of(ls, answer.trace_id)] == ["klein", "gross"]
    trace = ls.traces.get(answer.trace_id)
    assert trace.attributes["cascade"]["kept"] is False
    assert trace.attributes["cascade"]["score"] < 0.6


@pytest.mark.parametrize(("verdict", "kept"), [("0.9", True), ("0,2", False)])
def test_the_verify_check_asks_the_small_model(
    ls: Any, small: ScriptedChatServer, large: ScriptedChatServer, verdict: str, kept: bool
) -> None:
    small.enqueue(GROUNDED)
    small.enqueue(verdict)
    large.enqueue("Die große Antwort [1].")
    answer = ls.ask("Wie hoch ist die Verpflegungspauschale?", use_case="selbstpruefung")
    assert answer.model == ("klein" if kept else "gross")
    models = [r.model for r in usage_of(ls, answer.trace_id)]
    assert models == (["klein", "klein"] if kept else ["klein", "klein", "gross"])
    question = small.requests[-1].body["messages"][-1]["content"]
    assert GROUNDED in question and "Verpflegungspauschale" in question


def test_without_a_fallback_the_model_error_reaches_the_caller(
    ls: Any, small: ScriptedChatServer
) -> None:
    small.enqueue_error(503)
    with pytest.raises(ModelError, match="503"):
        ls.ask("Wie hoch ist die Verpflegungspauschale?", use_case="kaskade")


@pytest.mark.unit
@pytest.mark.parametrize(
    ("reply", "score"),
    [("0.8", 0.8), ("Score: 1", 1.0), ("0,25", 0.25), ("Ja.", 1.0), ("no", 0.0), ("?", None)],
)
def test_parse_score(reply: str, score: float | None) -> None:
    assert parse_score(reply) == score
