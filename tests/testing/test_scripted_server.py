"""ScriptedChatServer speaks the OpenAI protocol over real HTTP; the official client agrees."""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest

from leitstand.llm.base import Usage
from leitstand.testing import ScriptedChatServer

pytestmark = pytest.mark.integration

QUESTION = {
    "model": "scripted-model",
    "messages": [{"role": "user", "content": "Wie spät ist es?"}],
}


@pytest.fixture(scope="module")
def shared_server() -> Iterator[ScriptedChatServer]:
    with ScriptedChatServer() as scripted:
        yield scripted


@pytest.fixture
def server(shared_server: ScriptedChatServer) -> ScriptedChatServer:
    shared_server.reset()
    return shared_server


def chat(server: ScriptedChatServer, **extra: Any) -> httpx.Response:
    return httpx.post(f"{server.url}/chat/completions", json={**QUESTION, **extra}, timeout=5)


def sse_payloads(server: ScriptedChatServer, **extra: Any) -> list[str]:
    """The data of every event, after checking each line is a data line or a separator."""
    response = chat(server, stream=True, **extra)
    assert response.headers["content-type"].startswith("text/event-stream")
    lines = response.text.split("\n")
    assert all(line.startswith("data: ") or line == "" for line in lines)
    return [line.removeprefix("data: ") for line in lines if line]


def test_url_start_and_stop() -> None:
    server = ScriptedChatServer()
    with pytest.raises(RuntimeError, match="not running"):
        _ = server.url
    server.start()
    url = server.url
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+/v1", url)
    assert httpx.get(f"{url}/models").status_code == 200
    server.stop()
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{url}/models")


def test_default_answer_echoes_the_last_user_message(server: ScriptedChatServer) -> None:
    data = chat(server).json()
    assert data["object"] == "chat.completion"
    assert data["choices"][0]["message"] == {
        "role": "assistant",
        "content": "scripted answer: Wie spät ist es?",
        "refusal": None,
    }
    assert data["choices"][0]["finish_reason"] == "stop"
    usage = data["usage"]
    assert usage["prompt_tokens"] > 0
    assert usage["completion_tokens"] > 0
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]


def test_script_answers_in_order_then_the_default() -> None:
    with ScriptedChatServer(default=lambda body: f"{len(body['messages'])} messages") as server:
        server.enqueue("first")
        server.enqueue("second", usage=Usage(prompt_tokens=3, completion_tokens=1))
        answers = [chat(server).json() for _ in range(3)]
    contents = [a["choices"][0]["message"]["content"] for a in answers]
    assert contents == ["first", "second", "1 messages"]
    assert answers[1]["usage"] == {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4}


def test_requests_are_recorded_with_body_and_headers(server: ScriptedChatServer) -> None:
    httpx.post(
        f"{server.url}/chat/completions", json=QUESTION, headers={"X-Probe": "yes"}, timeout=5
    )
    (received,) = server.requests
    assert (received.method, received.path) == ("POST", "/v1/chat/completions")
    assert received.body == QUESTION
    assert received.headers["x-probe"] == "yes"


def test_stream_sends_sse_chunks_usage_and_done(server: ScriptedChatServer) -> None:
    server.enqueue("Es ist halb drei.", chunk_size=5)
    payloads = sse_payloads(server, stream_options={"include_usage": True})
    assert payloads[-1] == "[DONE]"
    chunks = [json.loads(p) for p in payloads[:-1]]
    assert {c["object"] for c in chunks} == {"chat.completion.chunk"}
    assert len({c["id"] for c in chunks}) == 1
    pieces = [c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"]]
    assert "".join(pieces) == "Es ist halb drei."
    assert max(len(p) for p in pieces) == 5
    assert [c["choices"][0]["finish_reason"] for c in chunks if c["choices"]][-1] == "stop"
    assert chunks[-1]["choices"] == []
    assert chunks[-1]["usage"]["completion_tokens"] > 0


def test_stream_without_include_usage_sends_no_usage(server: ScriptedChatServer) -> None:
    payloads = sse_payloads(server)
    chunks = [json.loads(p) for p in payloads[:-1]]
    assert all("usage" not in c for c in chunks)
    assert all(c["choices"] for c in chunks)


def test_enqueued_error_has_openais_shape_and_retry_after(server: ScriptedChatServer) -> None:
    server.enqueue_error(429, retry_after=1.5)
    server.enqueue_error(500, "kaputt")
    limited, failed = chat(server), chat(server)
    assert limited.status_code == 429
    assert limited.headers["retry-after"] == "1.5"
    assert limited.json()["error"]["code"] == "rate_limit_exceeded"
    assert failed.status_code == 500
    assert failed.json()["error"] == {
        "message": "kaputt",
        "type": "server_error",
        "param": None,
        "code": None,
    }


def test_broken_stream_closes_the_connection_mid_answer(server: ScriptedChatServer) -> None:
    server.enqueue_broken_stream("Die Antwort lautet")
    received: list[bytes] = []

    def read() -> None:
        body = {**QUESTION, "stream": True}
        with httpx.stream("POST", f"{server.url}/chat/completions", json=body) as response:
            received.extend(response.iter_bytes())

    with pytest.raises(httpx.RemoteProtocolError):
        read()
    assert b"lautet" in b"".join(received)
    assert b"[DONE]" not in b"".join(received)


def test_delay_waits_before_answering(server: ScriptedChatServer) -> None:
    server.enqueue("late", delay_s=0.3)
    started = time.monotonic()
    assert chat(server).json()["choices"][0]["message"]["content"] == "late"
    assert time.monotonic() - started >= 0.3


def test_stop_cuts_a_pending_delay_short() -> None:
    server = ScriptedChatServer().start()
    server.enqueue("never", delay_s=60)
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(f"{server.url}/chat/completions", json=QUESTION, timeout=0.2)
    started = time.monotonic()
    server.stop()
    assert time.monotonic() - started < 3


def test_bad_requests_get_400_and_a_configured_key_is_enforced() -> None:
    with ScriptedChatServer(api_key="sk-right") as server:
        anonymous = chat(server)
        headers = {"Authorization": "Bearer sk-right"}
        no_messages = httpx.post(
            f"{server.url}/chat/completions", json={"model": "m"}, headers=headers
        )
        not_json = httpx.post(f"{server.url}/chat/completions", content=b"{", headers=headers)
    assert anonymous.status_code == 401
    assert no_messages.status_code == 400
    assert "'messages' is a required property" in no_messages.json()["error"]["message"]
    assert not_json.status_code == 400


def test_models_lists_the_configured_model() -> None:
    with ScriptedChatServer(model="llama-scripted") as server:
        data = httpx.get(f"{server.url}/models").json()
    assert [m["id"] for m in data["data"]] == ["llama-scripted"]


def test_embeddings_are_deterministic_unit_vectors_of_the_configured_size() -> None:
    texts = ["Der Server läuft", "der server läuft nicht", "Bananen sind gelb"]
    with ScriptedChatServer(embedding_dim=32) as server:
        first = httpx.post(f"{server.url}/embeddings", json={"model": "e", "input": texts}).json()
        again = httpx.post(f"{server.url}/embeddings", json={"model": "e", "input": texts[0]})
    vectors = [item["embedding"] for item in first["data"]]
    assert [item["index"] for item in first["data"]] == [0, 1, 2]
    assert all(len(v) == 32 for v in vectors)
    assert all(math.isclose(math.hypot(*v), 1.0) for v in vectors)
    assert again.json()["data"][0]["embedding"] == vectors[0]

    def cosine(a: list[float], b: list[float]) -> float:
        return sum(x * y for x, y in zip(a, b, strict=True))

    assert cosine(vectors[0], vectors[1]) > cosine(vectors[0], vectors[2])


def test_openai_client_non_streaming(server: ScriptedChatServer) -> None:
    server.enqueue("Hallo vom Skript.", usage=Usage(prompt_tokens=9, completion_tokens=4))
    with openai.OpenAI(base_url=server.url, api_key="sk-test", max_retries=0) as client:
        completion = client.chat.completions.create(
            model="scripted-model", messages=[{"role": "user", "content": "Hallo?"}]
        )
    assert completion.choices[0].message.content == "Hallo vom Skript."
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage is not None
    assert (completion.usage.prompt_tokens, completion.usage.total_tokens) == (9, 13)
    assert server.requests[-1].headers["authorization"] == "Bearer sk-test"


def test_openai_client_streaming(server: ScriptedChatServer) -> None:
    server.enqueue("eins zwei drei", usage=Usage(prompt_tokens=5, completion_tokens=3))
    with openai.OpenAI(base_url=server.url, api_key="sk-test", max_retries=0) as client:
        chunks = list(
            client.chat.completions.create(
                model="scripted-model",
                messages=[{"role": "user", "content": "Zähl bis drei"}],
                stream=True,
                stream_options={"include_usage": True},
            )
        )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "eins zwei drei"
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens == 3


def test_openai_client_models_and_embeddings(server: ScriptedChatServer) -> None:
    with openai.OpenAI(base_url=server.url, api_key="sk-test", max_retries=0) as client:
        models = [m.id for m in client.models.list()]
        embedded = client.embeddings.create(model="e", input=["eins", "zwei"])  # base64
        plain = client.embeddings.create(model="e", input="eins", encoding_format="float")
    assert models == ["scripted-model"]
    assert len(embedded.data) == 2
    assert len(embedded.data[0].embedding) == 64
    assert embedded.data[0].embedding == pytest.approx(plain.data[0].embedding, rel=1e-6)


def test_openai_client_sees_errors_as_its_own_exceptions(server: ScriptedChatServer) -> None:
    server.enqueue_error(404, "The model `gpt-9` does not exist")
    with (
        openai.OpenAI(base_url=server.url, api_key="sk-test", max_retries=0) as client,
        pytest.raises(openai.NotFoundError) as caught,
    ):
        client.chat.completions.create(model="gpt-9", messages=[{"role": "user", "content": "?"}])
    assert "gpt-9" in str(caught.value)


def test_runs_standalone_and_prints_its_url() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "leitstand.testing.scripted_server", "--reply", "fest verdrahtet"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip()
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+/v1", url)
        answer = httpx.post(f"{url}/chat/completions", json=QUESTION, timeout=5).json()
        assert answer["choices"][0]["message"]["content"] == "fest verdrahtet"
    finally:
        process.terminate()
        process.wait(timeout=10)
