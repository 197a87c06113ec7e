"""Answers from documents through the answer cache, on SQLite and PostgreSQL, with the real
local embedding model for the semantic cache and a scripted chat model."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from leitstand import TextRecord
from leitstand.govern.usage import Caller
from leitstand.prompts.templates import PromptTemplate
from leitstand.testing import ScriptedChatServer

ALLOWANCE = (
    "# Travel expenses\n\nThe daily meal allowance is 28 euros for each full day away. "
    "Receipts are handed in within four weeks."
)
ANSWER = "The daily meal allowance is 28 euros per full day [1]."


@pytest.fixture
def model() -> Iterator[ScriptedChatServer]:
    with ScriptedChatServer() as server:
        yield server


@pytest.fixture
def ls(
    open_leitstand: Callable[..., Any],
    database_url: str,
    model: ScriptedChatServer,
    dense_by_default: None,
) -> Any:
    instance = open_leitstand(
        database_url,
        models={"small": {"base_url": model.url, "model": "m", "max_retries": 0}},
        use_cases={
            "travel": {
                "model": "small",
                "cache": {"exact": True, "semantic_threshold": 0.77},
            }
        },
        default_use_case="travel",
        guard={"canary": False},
    )
    instance.ingest_texts([TextRecord("travel.md", ALLOWANCE)], source="handbook")
    return instance


def test_a_paraphrase_is_served_from_the_semantic_cache_and_traced(
    ls: Any, model: ScriptedChatServer
) -> None:
    model.enqueue(ANSWER)
    first = ls.ask("How much is the daily meal allowance?")
    assert first.cached is None
    again = ls.ask("What is the daily meal allowance?")
    assert again.cached is not None and again.cached["kind"] == "semantic"
    assert 0.77 <= again.cached["similarity"] < 1
    assert again.text == first.text
    assert [s.hit.chunk_id for s in again.sources] == [s.hit.chunk_id for s in first.sources]
    assert again.sources[0].hit.path == "travel.md"
    assert len(model.requests) == 1
    ls.tracer.flush()
    trace = ls.traces.get(again.trace_id)
    assert trace.attributes["cache"]["kind"] == "semantic"
    assert trace.attributes["cache"]["similarity"] == again.cached["similarity"]
    assert any(span.name == "cache" for span in trace.spans)


def test_other_facts_are_not_served_from_the_cache(ls: Any, model: ScriptedChatServer) -> None:
    model.enqueue(ANSWER)
    ls.ask("How much is the daily meal allowance?")
    model.enqueue("For two days it is 56 euros [1].")
    other = ls.ask("How much is the meal allowance for 2 days?")
    assert other.cached is None
    assert other.text.startswith("For two days")


def test_teams_do_not_share_cached_answers(ls: Any, model: ScriptedChatServer) -> None:
    model.enqueue(ANSWER)
    ls.ask("How much is the daily meal allowance?", caller=Caller("a", "sales"))
    model.enqueue("Another answer [1].")
    other = ls.ask("How much is the daily meal allowance?", caller=Caller("b", "legal"))
    assert other.cached is None
    same_team = ls.ask("How much is the daily meal allowance?", caller=Caller("c", "sales"))
    assert same_team.cached is not None and same_team.cached["kind"] == "exact"


def test_deleting_the_source_drops_its_cached_answers(ls: Any, model: ScriptedChatServer) -> None:
    model.enqueue(ANSWER)
    ls.ask("How much is the daily meal allowance?")
    assert ls.cache.clear(use_case="other") == 0  # nothing of another use case
    ls.delete_source("handbook")
    ls.ingest_texts([TextRecord("travel.md", ALLOWANCE)], source="handbook")
    model.enqueue(ANSWER)
    again = ls.ask("How much is the daily meal allowance?")
    assert again.cached is None
    assert len(model.requests) == 2


def test_a_changed_prompt_template_is_a_new_cache(
    ls: Any,
    model: ScriptedChatServer,
    open_leitstand: Callable[..., Any],
    database_url: str,
    tmp_path: Path,
) -> None:
    model.enqueue(ANSWER)
    ls.ask("How much is the daily meal allowance?")
    template = tmp_path / "answer-v2.j2"
    template.write_text(PromptTemplate.bundled().text + "\n{# version 2 #}\n", "utf-8")
    revised = open_leitstand(
        database_url,
        models={"small": {"base_url": model.url, "model": "m", "max_retries": 0}},
        use_cases={"travel": {"model": "small", "prompt": str(template), "cache": {"exact": True}}},
        default_use_case="travel",
        guard={"canary": False},
    )
    model.enqueue(ANSWER)
    assert revised.ask("How much is the daily meal allowance?").cached is None
    assert revised.ask("How much is the daily meal allowance?").cached is not None
    assert len(model.requests) == 2


def test_a_miss_embeds_the_question_once_for_cache_and_search(
    ls: Any, model: ScriptedChatServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    embedder = ls.embeddings.embedder
    asked: list[str] = []
    embed = embedder.embed

    def counted(texts: Any, kind: Any) -> Any:
        if kind == "query":
            asked.extend(texts)
        return embed(texts, kind)

    monkeypatch.setattr(embedder, "embed", counted)
    model.enqueue(ANSWER)
    answer = ls.ask("How much is the daily meal allowance for interns?")
    assert answer.cached is None
    assert asked.count("How much is the daily meal allowance for interns?") == 1
    assert ls.search("How much is the daily meal allowance for interns?").mode == "hybrid"
