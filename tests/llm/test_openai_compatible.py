"""OpenAICompatibleChat against a real HTTP server (ScriptedChatServer), no mocks."""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from leitstand.config.secrets import SecretRef
from leitstand.config.settings import ModelSettings
from leitstand.errors import ConfigError, ModelError, SecretNotFoundError
from leitstand.llm._sse import ChunkReader, iter_events
from leitstand.llm.base import ChatDelta, ChatMessage, ChatOptions, Usage
from leitstand.llm.openai_compatible import OpenAICompatibleChat
from leitstand.llm.registry import chat_model_from_settings
from leitstand.testing import ScriptedChatServer

QUESTION = [ChatMessage("system", "Answer briefly."), ChatMessage("user", "Wie spät ist es?")]
KEY = "sk-leitstand-test-0123456789"

MakeChat = Callable[..., OpenAICompatibleChat]


@pytest.fixture(scope="module")
def shared_server() -> Iterator[ScriptedChatServer]:
    with ScriptedChatServer() as scripted:
        yield scripted


@pytest.fixture
def server(shared_server: ScriptedChatServer) -> ScriptedChatServer:
    shared_server.reset()
    return shared_server


@pytest.fixture
def make_chat(server: ScriptedChatServer) -> Iterator[MakeChat]:
    """Builds a client for the scripted server; settings may be overridden, backoff is tiny."""
    made: list[OpenAICompatibleChat] = []

    def make(**overrides: Any) -> OpenAICompatibleChat:
        values: dict[str, Any] = {"base_url": server.url, "model": "scripted-model"}
        values.update(overrides)
        chat = OpenAICompatibleChat(
            "assistant", ModelSettings(**values), backoff_base_s=0.001, retry_after_max_s=2
        )
        made.append(chat)
        return chat

    yield make
    for chat in made:
        chat.close()


def collect(chat: OpenAICompatibleChat, received: list[ChatDelta] | None = None) -> list[ChatDelta]:
    received = [] if received is None else received
    for delta in chat.stream(QUESTION):
        received.append(delta)
    return received


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


pytestmark = pytest.mark.integration


def test_complete_returns_the_answer_with_usage(
    server: ScriptedChatServer, make_chat: MakeChat
) -> None:
    server.enqueue("Es ist halb drei.", usage=Usage(prompt_tokens=11, completion_tokens=5))
    result = make_chat().complete(QUESTION)
    assert result.content == "Es ist halb drei."
    assert result.usage == Usage(prompt_tokens=11, completion_tokens=5)
    assert result.finish_reason == "stop"
    assert result.model == "scripted-model"
    body = server.requests[-1].body
    assert server.requests[-1].path == "/v1/chat/completions"
    assert body["model"] == "scripted-model"
    assert body["messages"] == [m.as_dict() for m in QUESTION]
    assert body["temperature"] == 0.2
    assert "stream" not in body


def test_options_override_the_settings(server: ScriptedChatServer, make_chat: MakeChat) -> None:
    chat = make_chat(temperature=0.7, max_tokens=100)
    chat.complete(QUESTION)
    chat.complete(QUESTION, ChatOptions(temperature=0, max_tokens=5, stop=["\n"]))
    first, second = (r.body for r in server.requests)
    assert (first["temperature"], first["max_tokens"]) == (0.7, 100)
    assert (second["temperature"], second["max_tokens"], second["stop"]) == (0, 5, ["\n"])


def test_stream_yields_pieces_then_finish_reason_and_usage(
    server: ScriptedChatServer, make_chat: MakeChat
) -> None:
    server.enqueue("one two three four", chunk_size=4, usage=Usage(7, 4))
    deltas = collect(make_chat())
    assert "".join(d.content for d in deltas) == "one two three four"
    assert len([d for d in deltas if d.content]) == 5
    assert deltas[-1] == ChatDelta(content="", finish_reason="stop", usage=Usage(7, 4))
    body = server.requests[-1].body
    assert body["stream"] is True
    assert body["stream_options"] == {"include_usage": True}


def test_429_is_retried_after_the_time_retry_after_asks_for(
    server: ScriptedChatServer, make_chat: MakeChat
) -> None:
    server.enqueue_error(429, retry_after=0.3)
    server.enqueue("finally")
    started = time.monotonic()
    assert make_chat().complete(QUESTION).content == "finally"
    assert time.monotonic() - started >= 0.3
    assert len(server.requests) == 2


def test_503_twice_then_success(server: ScriptedChatServer, make_chat: MakeChat) -> None:
    server.enqueue_error(503)
    server.enqueue_error(502)
    server.enqueue("recovered")
    assert make_chat(max_retries=2).complete(QUESTION).content == "recovered"
    assert len(server.requests) == 3


def test_stream_is_retried_on_503_before_it_starts(
    server: ScriptedChatServer, make_chat: MakeChat
) -> None:
    server.enqueue_error(503)
    server.enqueue("streamed after all")
    deltas = collect(make_chat())
    assert "".join(d.content for d in deltas) == "streamed after all"
    assert len(server.requests) == 2


def test_gives_up_after_max_retries_with_a_clear_error(
    server: ScriptedChatServer, make_chat: MakeChat
) -> None:
    for _ in range(3):
        server.enqueue_error(429, "Rate limit reached for requests")
    with pytest.raises(ModelError) as caught:
        make_chat(max_retries=2).complete(QUESTION)
    assert caught.value.status_code == 429
    assert "rate limited" in caught.value.message
    assert "after 2 retries" in caught.value.message
    assert "models.assistant.max_retries" in str(caught.value.hint)
    assert len(server.requests) == 3


def test_max_retries_zero_means_one_attempt(
    server: ScriptedChatServer, make_chat: MakeChat
) -> None:
    server.enqueue_error(500, "boom")
    with pytest.raises(ModelError) as caught:
        make_chat(max_retries=0).complete(QUESTION)
    assert caught.value.status_code == 500
    assert "boom" in caught.value.message
    assert len(server.requests) == 1


def test_api_key_is_sent_as_bearer_with_the_configured_headers(
    monkeypatch: pytest.MonkeyPatch, make_chat: MakeChat
) -> None:
    monkeypatch.setenv("SCRIPTED_API_KEY", KEY)
    with ScriptedChatServer(api_key=KEY) as guarded:
        chat = make_chat(
            base_url=guarded.url,
            api_key=SecretRef.model_validate({"$env": "SCRIPTED_API_KEY"}),
            headers={"X-Team": "search"},
        )
        assert chat.complete(QUESTION).content == "scripted answer: Wie spät ist es?"
        headers = guarded.requests[-1].headers
    assert headers["authorization"] == f"Bearer {KEY}"
    assert headers["x-team"] == "search"
    assert headers["user-agent"].startswith("leitstand/")


def test_401_names_the_setting_and_never_shows_the_key(
    monkeypatch: pytest.MonkeyPatch,
    server: ScriptedChatServer,
    make_chat: MakeChat,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setenv("SCRIPTED_API_KEY", KEY)
    server.enqueue_error(503)
    server.enqueue_error(401, f"Incorrect API key provided: {KEY}")
    chat = make_chat(api_key=SecretRef.model_validate({"$env": "SCRIPTED_API_KEY"}))
    with caplog.at_level(logging.DEBUG), pytest.raises(ModelError) as caught:
        chat.complete(QUESTION)
    error = caught.value
    assert error.status_code == 401
    assert "the provider rejected the API key for model 'assistant'" in error.message
    assert "models.assistant.api_key" in str(error.hint)
    assert "SCRIPTED_API_KEY" in str(error.hint)
    assert KEY not in str(error)
    assert KEY not in repr(chat)
    assert KEY not in caplog.text
    assert len(server.requests) == 2  # the 503 was retried, the 401 was not


def test_401_without_a_key_says_how_to_configure_one(
    server: ScriptedChatServer, make_chat: MakeChat
) -> None:
    server.enqueue_error(401)
    with pytest.raises(ModelError) as caught:
        make_chat().complete(QUESTION)
    assert "set models.assistant.api_key" in str(caught.value.hint)
    assert "authorization" not in server.requests[-1].headers


def test_missing_key_variable_names_setting_and_variable(
    server: ScriptedChatServer, make_chat: MakeChat
) -> None:
    chat = make_chat(api_key=SecretRef.model_validate({"$env": "SCRIPTED_API_KEY"}))
    with pytest.raises(SecretNotFoundError) as caught:
        chat.complete(QUESTION)
    assert "models.assistant.api_key" in caught.value.message
    assert "SCRIPTED_API_KEY" in str(caught.value)
    assert server.requests == []


def test_404_names_model_and_base_url(server: ScriptedChatServer, make_chat: MakeChat) -> None:
    server.enqueue_error(404, "The model `gpt-9` does not exist")
    with pytest.raises(ModelError) as caught:
        make_chat(model="gpt-9").complete(QUESTION)
    assert caught.value.status_code == 404
    assert f"model 'gpt-9' not found at {server.url}" in caught.value.message


def test_base_url_without_v1_gets_a_hint(server: ScriptedChatServer, make_chat: MakeChat) -> None:
    base = server.url.removesuffix("/v1")
    with pytest.raises(ModelError) as caught:
        make_chat(base_url=base).complete(QUESTION)
    assert caught.value.status_code == 404
    assert "/v1" in str(caught.value.hint)


def test_400_passes_on_the_providers_message(
    server: ScriptedChatServer, make_chat: MakeChat
) -> None:
    server.enqueue_error(400, "max_tokens is too large: 999999")
    with pytest.raises(ModelError) as caught:
        make_chat().complete(QUESTION)
    assert caught.value.status_code == 400
    assert "max_tokens is too large: 999999" in caught.value.message
    assert len(server.requests) == 1


def test_connection_refused_asks_whether_the_server_runs(make_chat: MakeChat) -> None:
    url = f"http://127.0.0.1:{free_port()}/v1"
    with pytest.raises(ModelError) as caught:
        make_chat(base_url=url, max_retries=1).complete(QUESTION)
    assert f"cannot reach {url}: is the server running?" in caught.value.message
    assert caught.value.status_code is None


def test_timeout_says_how_long_it_waited(server: ScriptedChatServer, make_chat: MakeChat) -> None:
    server.enqueue("too late", delay_s=5)
    started = time.monotonic()
    with pytest.raises(ModelError) as caught:
        make_chat(timeout_s=0.2, max_retries=0).complete(QUESTION)
    assert "no answer within 0.2 s" in caught.value.message
    assert "models.assistant.timeout_s" in str(caught.value.hint)
    assert time.monotonic() - started < 2


def test_timeout_is_retried(server: ScriptedChatServer, make_chat: MakeChat) -> None:
    server.enqueue("too late", delay_s=5)
    server.enqueue("in time")
    assert make_chat(timeout_s=0.3, max_retries=1).complete(QUESTION).content == "in time"


def test_broken_stream_raises_instead_of_a_truncated_answer(
    server: ScriptedChatServer, make_chat: MakeChat
) -> None:
    server.enqueue_broken_stream("Die Antwort lautet")
    received: list[ChatDelta] = []
    with pytest.raises(ModelError) as caught:
        collect(make_chat(), received)
    assert "".join(d.content for d in received) == "Die Antwort lautet"
    assert all(d.finish_reason is None for d in received)
    assert "broke off after 18 characters" in caught.value.message
    assert len(server.requests) == 1  # text was already handed out: no silent retry


def test_stream_broken_before_any_text_is_retried(
    server: ScriptedChatServer, make_chat: MakeChat
) -> None:
    server.enqueue_broken_stream("")
    server.enqueue("the whole answer")
    deltas = collect(make_chat())
    assert "".join(d.content for d in deltas) == "the whole answer"
    assert len(server.requests) == 2


def test_broken_non_streamed_answer_is_retried_then_reported(
    server: ScriptedChatServer, make_chat: MakeChat
) -> None:
    server.enqueue_broken_stream("Die Antwort")
    server.enqueue_broken_stream("Die Antwort")
    with pytest.raises(ModelError) as caught:
        make_chat(max_retries=1).complete(QUESTION)
    assert "broke before model 'assistant' answered (after 1 retries)" in caught.value.message


@pytest.mark.unit
def test_a_stream_that_just_ends_is_not_complete() -> None:
    chunk = '{"choices": [{"index": 0, "delta": {"content": "Hal"}, "finish_reason": null}]}'
    reader = ChunkReader()
    deltas = [reader.feed(event) for event in iter_events([f"data: {chunk}", ""])]
    assert deltas == [ChatDelta(content="Hal")]
    assert not reader.complete
    reader.feed(next(iter_events(["data: [DONE]"])))
    assert reader.complete


@pytest.mark.unit
def test_registry_builds_the_openai_provider(server: ScriptedChatServer) -> None:
    settings = ModelSettings(base_url=server.url, model="scripted-model")
    chat = chat_model_from_settings("assistant", settings)
    try:
        assert isinstance(chat, OpenAICompatibleChat)
        assert (chat.name, chat.model_id) == ("assistant", "scripted-model")
    finally:
        chat.close()


@pytest.mark.unit
def test_registry_rejects_an_unknown_provider() -> None:
    settings = ModelSettings(provider="nope", base_url="http://localhost:1/v1", model="m")
    with pytest.raises(ConfigError) as caught:
        chat_model_from_settings("assistant", settings)
    assert (
        "models.assistant.provider = 'nope' is not a known provider; known: azure, openai"
        in str(caught.value)
    )
