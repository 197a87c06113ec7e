"""Chat mode end to end: `leitstand serve` (a subprocess) forwards conversations to scripted
model servers over real HTTP, falls back when one fails, meters tokens and cost, and never
ends a broken stream in silence.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from sqlalchemy import create_engine, text

from _server import LeitstandProcess, free_port
from leitstand.llm.base import Usage
from leitstand.testing import ScriptedChatServer

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def primary() -> Iterator[ScriptedChatServer]:
    with ScriptedChatServer(model="small-model") as server:
        yield server


@pytest.fixture(scope="module")
def backup() -> Iterator[ScriptedChatServer]:
    with ScriptedChatServer(model="large-model") as server:
        yield server


class UpstreamProcess:
    """A scripted model server in its own process, so that a test can kill it."""

    def __init__(self, delay_s: float) -> None:
        self.port = free_port()
        self.process = subprocess.Popen(
            [
                *(sys.executable, "-m", "leitstand.testing.scripted_server"),
                *("--port", str(self.port), "--delay", str(delay_s), "--reply", "zu spät"),
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        self.url = self.process.stdout.readline().strip()

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)


@pytest.fixture(scope="module")
def doomed() -> Iterator[UpstreamProcess]:
    upstream = UpstreamProcess(delay_s=30)
    yield upstream
    if upstream.process.poll() is None:
        upstream.kill()


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory,
    primary: ScriptedChatServer,
    backup: ScriptedChatServer,
    doomed: UpstreamProcess,
) -> Iterator[tuple[LeitstandProcess, Path]]:
    root = tmp_path_factory.mktemp("chat")
    config = root / "leitstand.yaml"
    config.write_text(
        f"data_dir: {root / 'data'}\n"
        "gateway:\n  currency: EUR\n  circuit_failures: 100\n"
        "models:\n"
        f"  small:\n    base_url: {primary.url}\n    model: small-model\n    max_retries: 0\n"
        "    price_input: 0.5\n    price_output: 1.5\n"
        f"  large:\n    base_url: {backup.url}\n    model: large-model\n    max_retries: 0\n"
        "    price_input: 5\n    price_output: 15\n"
        f"  fragile:\n    base_url: {doomed.url}\n    model: fragile-model\n"
        "    max_retries: 0\n    timeout_s: 60\n"
        "use_cases:\n"
        "  assistent:\n    mode: chat\n    model: small\n    fallbacks: [large]\n"
        "    routes:\n      - {model: large, tasks: [code]}\n"
        "  ohne-ersatz:\n    mode: chat\n    model: small\n"
        "  wackelig:\n    mode: chat\n    model: fragile\n    fallbacks: [large]\n"
        "  sparsam:\n    mode: chat\n    model: small\n"
        "    cascade: {small: small, large: large, check: judge, judge: large, threshold: 0.7}\n"
        "default_use_case: assistent\n"
        "guard:\n  canary: false\n",
        encoding="utf-8",
    )
    with LeitstandProcess(config) as process:
        yield process, root / "data" / "leitstand.db"


@pytest.fixture
def client(server: tuple[LeitstandProcess, Path]) -> openai.OpenAI:
    return openai.OpenAI(base_url=server[0].url + "/v1", api_key="unused", max_retries=0)


@pytest.fixture(autouse=True)
def _fresh(primary: ScriptedChatServer, backup: ScriptedChatServer) -> None:
    primary.reset()
    backup.reset()


def usage_rows(database: Path, trace_id: str, timeout_s: float = 10.0) -> list[dict[str, Any]]:
    """The usage rows of one trace (written in the background, so waited for)."""
    engine = create_engine(f"sqlite:///{database}")
    deadline = time.monotonic() + timeout_s
    try:
        while True:
            with engine.connect() as connection:
                rows = connection.execute(
                    text("SELECT * FROM usage_records WHERE trace_id = :id"), {"id": trace_id}
                ).mappings()
                found = [dict(row) for row in rows]
            if found or time.monotonic() > deadline:
                return found
            time.sleep(0.05)
    finally:
        engine.dispose()


def test_a_conversation_passes_through_as_it_is(
    client: openai.OpenAI, primary: ScriptedChatServer, server: tuple[LeitstandProcess, Path]
) -> None:
    primary.enqueue("Guten Tag! Wie kann ich helfen?", usage=Usage(120, 8))
    messages: list[Any] = [
        {"role": "system", "content": "Du bist höflich."},
        {"role": "user", "content": "Hallo"},
        {"role": "assistant", "content": "Hallo!"},
        {"role": "user", "content": "Wer bist du?"},
    ]
    response = client.chat.completions.with_raw_response.create(
        model="assistent", messages=messages, temperature=0.1, seed=7
    )
    completion = response.parse()
    assert completion.choices[0].message.content == "Guten Tag! Wie kann ich helfen?"
    assert completion.model == "assistent"
    assert response.headers["x-leitstand-model"] == "small"
    sent = primary.requests[-1].body
    assert sent["model"] == "small-model"
    assert [m["content"] for m in sent["messages"]] == [m["content"] for m in messages]
    assert sent["seed"] == 7  # fields leitstand does not know pass on too
    extra = completion.model_extra or {}
    assert extra["leitstand"]["model"] == "small"
    # 120 input tokens at 0.5 and 8 output tokens at 1.5 per 1M
    assert extra["leitstand"]["cost"] == pytest.approx((120 * 0.5 + 8 * 1.5) / 1e6)
    rows = usage_rows(server[1], response.headers["x-leitstand-trace-id"])
    assert len(rows) == 1
    assert rows[0]["model"] == "small"
    assert (rows[0]["prompt_tokens"], rows[0]["completion_tokens"]) == (120, 8)
    assert not rows[0]["tokens_estimated"]
    assert rows[0]["use_case"] == "assistent"


def test_a_rule_routes_code_to_the_large_model(
    client: openai.OpenAI, primary: ScriptedChatServer, backup: ScriptedChatServer
) -> None:
    backup.enqueue("def f(): pass")
    completion = client.chat.completions.create(
        model="assistent",
        messages=[{"role": "user", "content": "Schreib eine Python-Funktion, die nichts tut"}],
    )
    assert completion.choices[0].message.content == "def f(): pass"
    assert not primary.requests
    assert len(backup.requests) == 1


@pytest.mark.parametrize("status", [500, 503, 429])
def test_a_failing_model_falls_back(
    client: openai.OpenAI, primary: ScriptedChatServer, backup: ScriptedChatServer, status: int
) -> None:
    primary.enqueue_error(status, "kaputt")
    backup.enqueue("Antwort vom Ersatz")
    response = client.chat.completions.with_raw_response.create(
        model="assistent", messages=[{"role": "user", "content": "Wie spät ist es?"}]
    )
    assert response.parse().choices[0].message.content == "Antwort vom Ersatz"
    assert response.headers["x-leitstand-model"] == "large"
    attempts = (response.parse().model_extra or {})["leitstand"]["attempts"]
    assert [a["model"] for a in attempts] == ["small", "large"]
    assert len(primary.requests) == 1  # no retry of the failed model while a fallback waits


def test_a_content_filter_refusal_falls_back(
    client: openai.OpenAI, primary: ScriptedChatServer, backup: ScriptedChatServer
) -> None:
    primary.enqueue("", finish_reason="content_filter")
    backup.enqueue("Hier ist die Antwort.")
    completion = client.chat.completions.create(
        model="assistent", messages=[{"role": "user", "content": "Erklär mir Brandschutz"}]
    )
    assert completion.choices[0].message.content == "Hier ist die Antwort."


def test_a_client_error_is_not_sent_elsewhere(
    client: openai.OpenAI, primary: ScriptedChatServer, backup: ScriptedChatServer
) -> None:
    primary.enqueue_error(400, "temperature must be at most 2")
    with pytest.raises(openai.APIStatusError) as caught:
        client.chat.completions.create(
            model="assistent", messages=[{"role": "user", "content": "Hallo"}]
        )
    assert "temperature must be at most 2" in str(caught.value)
    assert not backup.requests


def test_streaming_is_kept_and_metered(
    client: openai.OpenAI, primary: ScriptedChatServer, server: tuple[LeitstandProcess, Path]
) -> None:
    primary.enqueue("Eins zwei drei vier fünf", usage=Usage(30, 5))
    stream = client.chat.completions.create(
        model="assistent",
        messages=[{"role": "user", "content": "Zähl bis fünf"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    content = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert content == "Eins zwei drei vier fünf"
    assert sum(1 for c in chunks if c.choices and c.choices[0].delta.content) >= 5
    assert chunks[-1].usage is not None
    assert (chunks[-1].usage.prompt_tokens, chunks[-1].usage.completion_tokens) == (30, 5)
    finish = [c for c in chunks if c.choices and c.choices[0].finish_reason]
    trace_id = (finish[-1].model_extra or {})["leitstand"]["trace_id"]
    rows = usage_rows(server[1], trace_id)
    assert rows[0]["completion_tokens"] == 5


def test_a_stream_that_breaks_before_any_text_falls_back(
    client: openai.OpenAI, primary: ScriptedChatServer, backup: ScriptedChatServer
) -> None:
    primary.enqueue_broken_stream("")
    backup.enqueue("Vom Ersatzmodell gestreamt")
    stream = client.chat.completions.create(
        model="assistent", messages=[{"role": "user", "content": "Hallo"}], stream=True
    )
    content = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    assert content == "Vom Ersatzmodell gestreamt"


def test_a_stream_that_breaks_after_text_ends_in_an_error_event(
    server: tuple[LeitstandProcess, Path], primary: ScriptedChatServer
) -> None:
    primary.enqueue_broken_stream("Die Antwort lautet")
    with httpx.stream(
        "POST",
        server[0].url + "/v1/chat/completions",
        json={
            "model": "assistent",
            "stream": True,
            "messages": [{"role": "user", "content": "Hallo"}],
        },
        timeout=30,
    ) as response:
        assert response.status_code == 200
        events = [line[6:] for line in response.iter_lines() if line.startswith("data: ")]
    assert events[-1] != "[DONE]"
    error = json.loads(events[-1])["error"]
    assert "broke off" in error["message"]
    shown = "".join(
        (json.loads(e)["choices"][0]["delta"].get("content") or "")
        for e in events[:-1]
        if json.loads(e).get("choices")
    )
    assert shown == "Die Antwort lautet"


def test_an_upstream_killed_mid_stream_gives_the_fallbacks_answer(
    server: tuple[LeitstandProcess, Path], doomed: UpstreamProcess, backup: ScriptedChatServer
) -> None:
    backup.enqueue("Antwort des Ersatzmodells")
    # leitstand will be waiting for the fragile model's first byte: kill it then.
    killer = threading.Timer(1.0, doomed.kill)
    killer.start()
    with httpx.stream(
        "POST",
        server[0].url + "/v1/chat/completions",
        json={
            "model": "wackelig",
            "stream": True,
            "messages": [{"role": "user", "content": "Hallo"}],
        },
        timeout=60,
    ) as response:
        assert response.status_code == 200
        events = [line[6:] for line in response.iter_lines() if line.startswith("data: ")]
    assert events[-1] == "[DONE]"
    chunks = [json.loads(e) for e in events[:-1]]
    content = "".join(
        c["choices"][0]["delta"].get("content") or "" for c in chunks if c.get("choices")
    )
    assert content == "Antwort des Ersatzmodells"
    assert response.headers["x-leitstand-model"] == "large"
    killer.join()
    assert doomed.process.returncode == -signal.SIGKILL


def test_without_a_fallback_the_error_says_what_failed(
    client: openai.OpenAI, primary: ScriptedChatServer
) -> None:
    primary.enqueue_error(503, "überlastet")
    with pytest.raises(openai.APIStatusError) as caught:
        client.chat.completions.create(
            model="ohne-ersatz", messages=[{"role": "user", "content": "Hallo"}]
        )
    assert caught.value.status_code == 502
    assert "503" in str(caught.value)


def test_tool_calls_pass_through(client: openai.OpenAI, primary: ScriptedChatServer) -> None:
    tools: list[Any] = [
        {
            "type": "function",
            "function": {
                "name": "wetter",
                "parameters": {
                    "type": "object",
                    "properties": {"stadt": {"type": "string"}},
                    "required": ["stadt"],
                },
            },
        }
    ]
    for stream in (False, True):
        primary.enqueue_tool_calls([("wetter", '{"stadt": "Köln"}')])
        if stream:
            chunks = list(
                client.chat.completions.create(
                    model="assistent",
                    messages=[{"role": "user", "content": "Wetter in Köln?"}],
                    tools=tools,
                    stream=True,
                )
            )
            calls = [
                call
                for c in chunks
                if c.choices and c.choices[0].delta.tool_calls
                for call in c.choices[0].delta.tool_calls
            ]
            assert len(calls) == 1
            assert calls[0].function and calls[0].function.name == "wetter"
            assert json.loads(calls[0].function.arguments or "") == {"stadt": "Köln"}
            reasons = [c.choices[0].finish_reason for c in chunks if c.choices]
            assert reasons[-1] == "tool_calls"
        else:
            completion = client.chat.completions.create(
                model="assistent",
                messages=[{"role": "user", "content": "Wetter in Köln?"}],
                tools=tools,
            )
            call = completion.choices[0].message.tool_calls[0]  # type: ignore[index]
            assert call.function.name == "wetter"  # type: ignore[union-attr]
            assert completion.choices[0].finish_reason == "tool_calls"
        assert primary.requests[-1].body["tools"] == tools


def test_unknown_use_case(client: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(
            model="gibt-es-nicht", messages=[{"role": "user", "content": "Hallo"}]
        )


@pytest.mark.parametrize(("score", "answered_by"), [("0.9", "small"), ("0.3", "large")])
@pytest.mark.parametrize("stream", [False, True])
def test_a_cascade_keeps_the_small_answer_only_when_the_judge_agrees(
    server: tuple[LeitstandProcess, Path],
    client: openai.OpenAI,
    primary: ScriptedChatServer,
    backup: ScriptedChatServer,
    score: str,
    answered_by: str,
    stream: bool,
) -> None:
    primary.enqueue("Kleine Antwort")
    backup.enqueue(score)  # the judge
    backup.enqueue("Große Antwort")
    messages: list[Any] = [{"role": "user", "content": "Was ist ein Leitstand?"}]
    if stream:
        chunks = list(
            client.chat.completions.create(model="sparsam", messages=messages, stream=True)
        )
        content = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        extra = next(c for c in chunks if c.choices and c.choices[0].finish_reason).model_extra
    else:
        completion = client.chat.completions.create(model="sparsam", messages=messages)
        content = completion.choices[0].message.content or ""
        extra = completion.model_extra
    assert content == ("Kleine Antwort" if answered_by == "small" else "Große Antwort")
    assert (extra or {})["leitstand"]["model"] == answered_by
    judged = backup.requests[0].body["messages"][-1]["content"]
    assert "Was ist ein Leitstand?" in judged and "Kleine Antwort" in judged
    # the answer's cost is the request's: every call (small, judge, large) is in it
    rows = usage_rows(server[1], extra["leitstand"]["trace_id"])
    assert len(rows) == (2 if answered_by == "small" else 3)
    assert extra["leitstand"]["cost"] == pytest.approx(sum(row["cost"] for row in rows))
    assert extra["leitstand"]["cost"] > max(row["cost"] for row in rows)
