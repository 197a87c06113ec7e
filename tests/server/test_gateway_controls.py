"""Limits, budgets, answer caches and the tool policy on the request path, over real HTTP.

`leitstand serve` runs as a subprocess (four worker processes for the rate-limit test) in
front of a scripted model server; API keys with teams are created in the database first, so
every request is counted for a key, its team and its use case.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, text

from _server import LeitstandProcess
from leitstand import Leitstand, TextRecord
from leitstand.config.loading import load_config
from leitstand.testing import ScriptedChatServer

pytestmark = pytest.mark.integration

RPM = 120
"""The rate-limited key's requests per minute (a burst of 120, then 2 per second)."""

WEATHER: dict[str, Any] = {
    "type": "function",
    "function": {
        "name": "wetter",
        "parameters": {
            "type": "object",
            "properties": {"stadt": {"type": "string"}},
            "required": ["stadt"],
            "additionalProperties": False,
        },
    },
}
BOOKING: dict[str, Any] = {
    "type": "function",
    "function": {
        "name": "reise_buchen",
        "parameters": {"type": "object", "properties": {"ziel": {"type": "string"}}},
    },
}
DELETE: dict[str, Any] = {
    "type": "function",
    "function": {"name": "konto_loeschen", "parameters": {"type": "object"}},
}


@pytest.fixture(scope="module")
def upstream() -> Iterator[ScriptedChatServer]:
    with ScriptedChatServer(model="small-model") as server:
        yield server


@pytest.fixture(autouse=True)
def _fresh(upstream: ScriptedChatServer) -> None:
    upstream.reset()


def write_config(root: Path, upstream: ScriptedChatServer) -> Path:
    config = root / "leitstand.yaml"
    config.write_text(
        f"data_dir: {root / 'data'}\n"
        "gateway:\n"
        "  currency: EUR\n"
        "  limits:\n"
        "    keys:\n"
        f"      eilig: {{requests_per_minute: {RPM}}}\n"
        "    teams:\n"
        "      vertrieb: {cost_per_day: 0.000001}\n"
        "      marketing: {cost_per_day: 0.000001, budget: soft}\n"
        "models:\n"
        f"  small:\n    base_url: {upstream.url}\n    model: small-model\n    max_retries: 0\n"
        "    price_input: 0.5\n    price_output: 1.5\n"
        "use_cases:\n"
        "  assistent:\n    mode: chat\n    model: small\n    cache: {exact: true}\n"
        "    tools: {allow: [wetter], approve: [reise_buchen]}\n"
        "  handbuch:\n    model: small\n    cache: {exact: true}\n"
        "default_use_case: assistent\n"
        "guard:\n  canary: false\n",
        encoding="utf-8",
    )
    return config


@pytest.fixture(scope="module")
def setup(
    tmp_path_factory: pytest.TempPathFactory, upstream: ScriptedChatServer
) -> Iterator[dict[str, Any]]:
    root = tmp_path_factory.mktemp("controls")
    config = write_config(root, upstream)
    with Leitstand(load_config(config)) as ls:
        secrets = {
            name: ls.keys.create(name, team=team)[0]
            for name, team in [
                ("eilig", None),
                ("vertrieb-bot", "vertrieb"),
                ("marketing-bot", "marketing"),
                ("support-bot", "support"),
                ("support-web", "support"),
                ("legal-bot", "legal"),
            ]
        }
        ls.ingest_texts(
            [
                TextRecord(
                    "reisekosten.md",
                    "# Reisekosten\n\nDie Verpflegungspauschale beträgt 28 Euro pro vollem "
                    "Tag. Belege werden innerhalb von vier Wochen eingereicht.",
                )
            ],
            source="handbuch",
        )
    with LeitstandProcess(config) as process:
        yield {
            "url": process.url,
            "secrets": secrets,
            "database": root / "data" / "leitstand.db",
            "config": config,
            "root": root,
        }


def post(setup: dict[str, Any], key: str, body: dict[str, Any]) -> httpx.Response:
    return httpx.post(
        setup["url"] + "/v1/chat/completions",
        json=body,
        headers={"Authorization": f"Bearer {setup['secrets'][key]}"},
        timeout=30,
    )


def chat(question: str, **extra: Any) -> dict[str, Any]:
    return {"model": "assistent", "messages": [{"role": "user", "content": question}], **extra}


def sql(database: Path, query: str, **params: Any) -> list[Any]:
    engine = create_engine(f"sqlite:///{database}")
    try:
        with engine.connect() as connection:
            return list(connection.execute(text(query), params))
    finally:
        engine.dispose()


def wait_for_rows(database: Path, query: str, count: int, **params: Any) -> list[Any]:
    """Traces and usage rows are written in the background: wait for them."""
    deadline = time.monotonic() + 10
    while True:
        rows = sql(database, query, **params)
        if len(rows) >= count or time.monotonic() > deadline:
            return rows
        time.sleep(0.05)


# -- caches ------------------------------------------------------------------------------


def test_a_repeated_chat_request_is_answered_from_the_cache(
    setup: dict[str, Any], upstream: ScriptedChatServer
) -> None:
    upstream.enqueue("Die Hauptstadt von Frankreich ist Paris.")
    first = post(setup, "support-bot", chat("Was ist die Hauptstadt von Frankreich?"))
    assert first.status_code == 200, first.text
    assert "X-Leitstand-Cache" not in first.headers
    # another key of the same team, the same question with other spacing
    second = post(setup, "support-web", chat("Was ist die Hauptstadt  von Frankreich? "))
    assert second.status_code == 200, second.text
    assert second.headers["X-Leitstand-Cache"] == "exact"
    body = second.json()
    assert body["choices"][0]["message"]["content"] == "Die Hauptstadt von Frankreich ist Paris."
    assert body["leitstand"]["cache"]["kind"] == "exact"
    assert body["leitstand"]["cache"]["similarity"] == 1.0
    assert body["leitstand"]["cost"] == 0
    assert len(upstream.requests) == 1  # the model was asked once
    # streamed, the cached answer comes as a stream
    with httpx.stream(
        "POST",
        setup["url"] + "/v1/chat/completions",
        json=chat("Was ist die Hauptstadt von Frankreich?", stream=True),
        headers={"Authorization": f"Bearer {setup['secrets']['support-bot']}"},
        timeout=30,
    ) as response:
        assert response.headers["X-Leitstand-Cache"] == "exact"
        events = [line[6:] for line in response.iter_lines() if line.startswith("data: ")]
    assert events[-1] == "[DONE]"
    pieces = [json.loads(e)["choices"][0]["delta"].get("content") for e in events[:-1]]
    assert "".join(p for p in pieces if p) == "Die Hauptstadt von Frankreich ist Paris."
    assert len(upstream.requests) == 1
    # the hit is traced with its similarity, and metered as a cached request without cost
    trace_id = second.headers["X-Leitstand-Trace-Id"]
    rows = wait_for_rows(
        setup["database"],
        "SELECT cached, cost FROM usage_records WHERE trace_id = :t",
        1,
        t=trace_id,
    )
    assert [(bool(cached), cost) for cached, cost in rows] == [(True, 0.0)]
    (attributes,) = wait_for_rows(
        setup["database"], "SELECT attributes FROM traces WHERE id = :t", 1, t=trace_id
    )[0]
    assert json.loads(attributes)["cache"]["kind"] == "exact"


def test_the_cache_is_scoped_per_team(setup: dict[str, Any], upstream: ScriptedChatServer) -> None:
    upstream.enqueue("Für das Team Support: 42.")
    upstream.enqueue("Für das Team Legal: 7.")
    question = chat("Wie viele offene Fälle haben wir?")
    assert post(setup, "support-bot", question).status_code == 200
    other = post(setup, "legal-bot", question)
    assert other.status_code == 200
    assert "X-Leitstand-Cache" not in other.headers
    assert other.json()["choices"][0]["message"]["content"] == "Für das Team Legal: 7."


def test_questions_with_personal_data_are_never_cached(
    setup: dict[str, Any], upstream: ScriptedChatServer
) -> None:
    question = chat("Bitte prüfe die IBAN DE89 3704 0044 0532 0130 00 von Max Mustermann.")
    for _ in range(2):
        response = post(setup, "support-bot", question)
        assert response.status_code == 200, response.text
        assert "X-Leitstand-Cache" not in response.headers
    assert len(upstream.requests) == 2
    assert not sql(setup["database"], "SELECT id FROM cache_entries WHERE question LIKE '%IBAN%'")


def test_a_rag_answer_is_cached_with_its_sources_and_dropped_with_them(
    setup: dict[str, Any], upstream: ScriptedChatServer
) -> None:
    upstream.enqueue("Die Verpflegungspauschale beträgt 28 Euro pro vollem Tag [1].")
    question = {
        "model": "handbuch",
        "messages": [{"role": "user", "content": "Wie hoch ist die Verpflegungspauschale?"}],
    }
    first = post(setup, "support-bot", question)
    assert first.status_code == 200, first.text
    second = post(setup, "support-bot", question)
    assert second.status_code == 200, second.text
    assert second.headers["X-Leitstand-Cache"] == "exact"
    body = second.json()
    assert (
        body["choices"][0]["message"]["content"] == first.json()["choices"][0]["message"]["content"]
    )
    assert body["sources"][0]["path"] == "reisekosten.md"
    assert body["sources"][0]["chunk_id"] == first.json()["sources"][0]["chunk_id"]
    assert len(upstream.requests) == 1
    # deleting the source deletes the answers given from it
    with Leitstand(load_config(setup["config"])) as ls:
        ls.delete_source("handbuch")
    assert not sql(setup["database"], "SELECT id FROM cache_entries WHERE use_case = 'handbuch'")


# -- budgets and limits --------------------------------------------------------------------


def test_a_spent_hard_budget_refuses_with_the_budget_and_its_reset(
    setup: dict[str, Any], upstream: ScriptedChatServer
) -> None:
    first = post(setup, "vertrieb-bot", chat("Erste Frage des Vertriebs?"))
    assert first.status_code == 200, first.text
    refused = post(setup, "vertrieb-bot", chat("Zweite Frage des Vertriebs?"))
    assert refused.status_code == 429
    error = refused.json()["error"]
    assert error["code"] == "budget_exceeded"
    assert "daily budget of team 'vertrieb' is spent" in error["message"]
    assert "resets at" in error["message"] and "UTC" in error["message"]
    assert "gateway.limits.teams.vertrieb" in error["message"]  # how to change it
    assert 0 < int(refused.headers["Retry-After"]) <= 86_400
    assert len(upstream.requests) == 1  # the refused request never reached the model


def test_a_spent_soft_budget_warns_and_serves(
    setup: dict[str, Any], upstream: ScriptedChatServer
) -> None:
    assert post(setup, "marketing-bot", chat("Erste Frage des Marketings?")).status_code == 200
    served = post(setup, "marketing-bot", chat("Zweite Frage des Marketings?"))
    assert served.status_code == 200
    warning = served.headers["X-Leitstand-Budget-Warning"]
    assert "daily budget of team 'marketing' is spent" in warning
    assert served.json()["leitstand"]["warnings"] == [warning]


def test_four_workers_share_one_rate_limit(
    tmp_path: Path, setup: dict[str, Any], upstream: ScriptedChatServer
) -> None:
    """A loopback load test bounded in time: 16 threads hammer `serve --workers 4` with one
    key for 6 s; the requests served must match the key's limit within 5 % (a limit kept
    per process would serve up to four times as many)."""
    served: list[float] = []
    refused: list[int] = []
    errors: list[str] = []
    lock = threading.Lock()
    with LeitstandProcess(setup["config"], args=("--workers", "4"), timeout_s=60) as process:
        with httpx.Client(timeout=30) as warm:  # every worker up before the clock starts
            for _ in range(8):
                assert warm.get(process.url + "/readyz").status_code == 200
        started = time.monotonic()
        stop_at = started + 6.0

        def hammer() -> None:
            with httpx.Client(
                timeout=30, headers={"Authorization": f"Bearer {setup['secrets']['eilig']}"}
            ) as client:
                while time.monotonic() < stop_at:
                    response = client.post(
                        process.url + "/v1/chat/completions", json=chat("Wie spät ist es?")
                    )
                    with lock:
                        if response.status_code == 200:
                            served.append(time.monotonic())
                        elif response.status_code == 429:
                            refused.append(int(response.headers["Retry-After"]))
                        else:
                            errors.append(f"{response.status_code}: {response.text[:200]}")

        threads = [threading.Thread(target=hammer) for _ in range(16)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert not errors
    assert refused, "the test did not reach the limit"
    elapsed = max(served) - started
    expected = RPM + RPM / 60 * elapsed
    assert len(served) == pytest.approx(expected, rel=0.05)
    assert all(1 <= seconds <= 60 for seconds in refused)


# -- tools -------------------------------------------------------------------------------


def test_tool_calls_outside_the_policy_are_refused_or_held(
    setup: dict[str, Any], upstream: ScriptedChatServer
) -> None:
    tools = [WEATHER, BOOKING, DELETE]
    # allowed, with arguments that fit the schema: passed on
    upstream.enqueue_tool_calls([("wetter", '{"stadt": "Köln"}')])
    allowed = post(setup, "support-bot", chat("Wie wird das Wetter in Köln?", tools=tools))
    assert allowed.status_code == 200, allowed.text
    choice = allowed.json()["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"]["tool_calls"][0]["function"]["name"] == "wetter"
    # not in the allow-list, and allowed but with arguments that break the schema: refused
    upstream.enqueue_tool_calls([("konto_loeschen", "{}"), ("wetter", '{"ort": "Köln"}')])
    refused = post(setup, "support-bot", chat("Lösche mein Konto.", tools=tools))
    assert refused.status_code == 200, refused.text
    body = refused.json()
    message = body["choices"][0]["message"]
    assert not message.get("tool_calls")
    assert body["choices"][0]["finish_reason"] == "stop"
    assert "konto_loeschen" in message["content"] and "refused" in message["content"]
    verdicts = body["leitstand"]["tool_calls"]
    assert [v["status"] for v in verdicts] == ["rejected", "rejected"]
    assert "allow" in verdicts[0]["reason"]
    assert "stadt" in verdicts[1]["reason"]  # the schema's complaint
    # listed for approval: held and recorded, streamed as well
    upstream.enqueue_tool_calls([("reise_buchen", '{"ziel": "Berlin"}')])
    with httpx.stream(
        "POST",
        setup["url"] + "/v1/chat/completions",
        json=chat("Buche mir eine Reise nach Berlin.", tools=tools, stream=True),
        headers={"Authorization": f"Bearer {setup['secrets']['support-bot']}"},
        timeout=30,
    ) as response:
        events = [json.loads(line[6:]) for line in response.iter_lines() if line[6:7] == "{"]
    deltas = [e["choices"][0]["delta"] for e in events if e.get("choices")]
    assert not any(delta.get("tool_calls") for delta in deltas)
    text_sent = "".join(delta.get("content") or "" for delta in deltas)
    assert "waits for a person's approval" in text_sent
    (held,) = events[-1]["leitstand"]["tool_calls"]
    assert held["status"] == "held"
    rows = sql(
        setup["database"],
        "SELECT tool, arguments, status, key_name FROM tool_approvals WHERE id = :i",
        i=held["approval_id"],
    )
    assert rows == [("reise_buchen", '{"ziel": "Berlin"}', "pending", "support-bot")]


def test_a_broken_tool_schema_is_the_clients_error(
    setup: dict[str, Any], upstream: ScriptedChatServer
) -> None:
    broken = {"type": "function", "function": {"name": "wetter", "parameters": {"type": 5}}}
    response = post(setup, "support-bot", chat("Wetter?", tools=[broken]))
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_tools"
    assert error["param"].startswith("tools[0]")
    assert not upstream.requests


def test_many_slow_streams_are_in_flight_at_once(tmp_path: Path) -> None:
    """Each streamed answer holds a worker thread while it waits for the model: with the
    thread pool's default of 40, the 41st stream would not reach the model before another
    finished. 60 streams against a model that takes 3 s must all reach it at once."""
    with ScriptedChatServer(delay_s=3.0) as slow:
        config = tmp_path / "leitstand.yaml"
        config.write_text(
            f"data_dir: {tmp_path / 'data'}\n"
            f"models:\n  slow:\n    base_url: {slow.url}\n    model: m\n    max_retries: 0\n"
            "use_cases:\n  assistent:\n    mode: chat\n    model: slow\n"
            "default_use_case: assistent\nguard:\n  canary: false\n",
            encoding="utf-8",
        )
        with LeitstandProcess(config) as process:
            answers: list[str] = []

            def stream() -> None:
                with httpx.stream(
                    "POST",
                    process.url + "/v1/chat/completions",
                    json=chat("Wie spät ist es?", stream=True),
                    timeout=60,
                ) as response:
                    answers.append(response.read().decode())

            threads = [threading.Thread(target=stream) for _ in range(60)]
            for thread in threads:
                thread.start()
            deadline = time.monotonic() + 2.5
            while len(slow.requests) < 60 and time.monotonic() < deadline:
                time.sleep(0.05)
            reached = len(slow.requests)  # before the first answer has come back
            for thread in threads:
                thread.join()
    assert reached == 60
    assert len(answers) == 60 and all(answer.endswith("data: [DONE]\n\n") for answer in answers)
