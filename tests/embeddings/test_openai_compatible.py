"""OpenAICompatibleEmbedder against a real ScriptedChatServer over HTTP: batching, order and
normalisation, retries, clear errors for what an endpoint gets wrong, the API key."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from leitstand.config.settings import EmbeddingSettings
from leitstand.embeddings.openai_compatible import OpenAICompatibleEmbedder
from leitstand.errors import ConfigError, ModelError, SecretNotFoundError
from leitstand.testing import ReceivedRequest, ScriptedChatServer

pytestmark = pytest.mark.integration

TEXTS = [f"Absatz {n} über Reisekosten und Beleg{n}" for n in range(7)]


@pytest.fixture
def server(endpoint: ScriptedChatServer) -> ScriptedChatServer:
    return endpoint


@pytest.fixture
def make_embedder(server: ScriptedChatServer) -> Iterator[Any]:
    made: list[OpenAICompatibleEmbedder] = []

    def factory(url: str | None = None, **settings: Any) -> OpenAICompatibleEmbedder:
        embedder = OpenAICompatibleEmbedder(
            EmbeddingSettings(
                provider="openai",
                base_url=url or server.url,
                model=settings.pop("model", "embed-small"),
                **settings,
            ),
            backoff_base_s=0.001,
            backoff_max_s=0.01,
        )
        made.append(embedder)
        return embedder

    yield factory
    for embedder in made:
        embedder.close()


def embedding_requests(server: ScriptedChatServer) -> list[ReceivedRequest]:
    return [r for r in server.requests if r.path == "/v1/embeddings"]


def test_texts_go_in_batches_of_batch_size_and_come_back_in_order(
    server: ScriptedChatServer, make_embedder: Any
) -> None:
    embedder = make_embedder(batch_size=3)
    vectors = embedder.embed(TEXTS, "document")
    requests = embedding_requests(server)
    assert [r.body["input"] for r in requests] == [TEXTS[0:3], TEXTS[3:6], TEXTS[6:7]]
    assert {r.body["model"] for r in requests} == {"embed-small"}
    assert vectors.dtype == np.float32
    assert vectors.shape == (7, server.embedding_dim) == (7, embedder.dimensions)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-6)
    # Row i is text i: the same as embedding that text on its own.
    for index in (0, 4, 6):
        assert np.allclose(vectors[index], embedder.embed([TEXTS[index]], "document")[0])
    assert not np.allclose(vectors[0], vectors[1])


def test_vectors_are_normalised_whatever_the_endpoint_sends(
    server: ScriptedChatServer, make_embedder: Any
) -> None:
    server.enqueue_embeddings([[3.0, 4.0], [0.0, 2.0], [-5.0, 0.0]])
    vectors = make_embedder().embed(["a", "b", "c"], "document")
    assert np.allclose(vectors, [[0.6, 0.8], [0.0, 1.0], [-1.0, 0.0]])


def test_prefixes_are_sent_and_an_empty_list_costs_no_request(
    server: ScriptedChatServer, make_embedder: Any
) -> None:
    embedder = make_embedder(query_prefix="query: ", document_prefix="passage: ")
    assert embedder.name.startswith("openai/embed-small#")  # a prefix changes every vector
    embedder.embed(["Wie hoch ist die Pauschale?"], "query")
    embedder.embed(["Die Pauschale beträgt 28 Euro."], "document")
    assert [r.body["input"] for r in embedding_requests(server)] == [
        ["query: Wie hoch ist die Pauschale?"],
        ["passage: Die Pauschale beträgt 28 Euro."],
    ]
    assert embedder.embed([], "document").shape == (0, server.embedding_dim)
    assert len(embedding_requests(server)) == 2


def test_429_and_5xx_are_retried_until_the_endpoint_answers(
    server: ScriptedChatServer, make_embedder: Any
) -> None:
    server.enqueue_embeddings_error(429, retry_after=0.3)
    server.enqueue_embeddings_error(503)
    server.enqueue_embeddings_error(500, "kaputt")
    started = time.monotonic()
    vectors = make_embedder(max_retries=3).embed(["eins", "zwei"], "document")
    assert time.monotonic() - started >= 0.3  # Retry-After is honoured
    assert vectors.shape == (2, server.embedding_dim)
    requests = embedding_requests(server)
    assert len(requests) == 4
    assert all(r.body["input"] == ["eins", "zwei"] for r in requests)


def test_a_clear_error_once_the_retries_are_spent(
    server: ScriptedChatServer, make_embedder: Any
) -> None:
    for _ in range(3):
        server.enqueue_embeddings_error(500, "the GPU caught fire")
    with pytest.raises(ModelError) as failed:
        make_embedder(max_retries=2).embed(["eins"], "document")
    assert failed.value.status_code == 500
    assert "HTTP 500 (after 2 retries): the GPU caught fire" in failed.value.message
    assert len(embedding_requests(server)) == 3

    server.reset()
    for _ in range(2):
        server.enqueue_embeddings_error(429)
    with pytest.raises(ModelError) as limited:
        make_embedder(max_retries=1).embed(["eins"], "document")
    assert "rate limited" in limited.value.message and "after 1 retries" in limited.value.message
    assert limited.value.hint is not None and "embeddings.batch_size" in limited.value.hint


def test_a_client_error_is_not_retried(server: ScriptedChatServer, make_embedder: Any) -> None:
    server.enqueue_embeddings_error(400, "input too long")
    with pytest.raises(ModelError, match=r"rejected the request \(HTTP 400\): input too long"):
        make_embedder(max_retries=3).embed(["eins"], "document")
    assert len(embedding_requests(server)) == 1


def test_a_wrong_base_url_says_what_to_check(
    server: ScriptedChatServer, make_embedder: Any
) -> None:
    with pytest.raises(ModelError) as failed:
        make_embedder(url=server.url.removesuffix("/v1")).embed(["eins"], "document")
    assert failed.value.status_code == 404
    assert failed.value.hint is not None and "embeddings.base_url" in failed.value.hint
    with pytest.raises(ConfigError, match=r"needs embeddings\.base_url"):
        make_embedder(url="localhost:11434")


def test_a_slow_endpoint_times_out_with_a_clear_error(
    server: ScriptedChatServer, make_embedder: Any
) -> None:
    server.enqueue_embeddings(delay_s=5)
    with pytest.raises(ModelError, match=r"gave no answer within 0\.2 s") as failed:
        make_embedder(timeout_s=0.2, max_retries=0).embed(["eins"], "document")
    assert failed.value.hint is not None and "embeddings.timeout_s" in failed.value.hint


def test_too_few_vectors_are_a_clear_error(server: ScriptedChatServer, make_embedder: Any) -> None:
    server.enqueue_embeddings([[1.0, 0.0]])
    with pytest.raises(ModelError, match="returned 1 embeddings for 2 texts"):
        make_embedder().embed(["eins", "zwei"], "document")


def test_a_changed_vector_size_is_a_clear_error(
    server: ScriptedChatServer, make_embedder: Any
) -> None:
    embedder = make_embedder(batch_size=1)
    assert embedder.dimensions == server.embedding_dim  # asked of the endpoint once
    server.enqueue_embeddings([[1.0] * 32])
    with pytest.raises(ModelError) as later:
        embedder.embed(["eins"], "document")
    assert f"32-dimensional vectors, but 'openai/embed-small' has {server.embedding_dim}" in (
        later.value.message
    )
    assert later.value.hint is not None
    assert "leitstand embed drop openai/embed-small" in later.value.hint
    # Batches of one call that disagree get the same message, not numpy's.
    fresh = make_embedder(batch_size=1)
    server.enqueue_embeddings([[1.0, 0.0, 0.0]])
    server.enqueue_embeddings([[1.0, 0.0]])
    with pytest.raises(ModelError, match=r"2-dimensional vectors, but .* has 3 dimensions"):
        fresh.embed(["eins", "zwei"], "document")


def test_a_reply_that_is_not_an_embeddings_list_is_a_clear_error(
    server: ScriptedChatServer, make_embedder: Any
) -> None:
    server.enqueue_embeddings([[1.0, 0.0], [1.0]])  # ragged
    with pytest.raises(ModelError, match="did not answer like an OpenAI-compatible"):
        make_embedder().embed(["eins", "zwei"], "document")


def test_the_api_key_is_sent_as_a_bearer_token(
    make_embedder: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    with ScriptedChatServer(api_key="sk-embed-123") as locked:
        monkeypatch.setenv("EMBED_TEST_KEY", "sk-embed-123")
        key = {"$env": "EMBED_TEST_KEY"}
        vectors = make_embedder(url=locked.url, api_key=key).embed(["eins"], "document")
        assert vectors.shape == (1, locked.embedding_dim)
        assert locked.requests[-1].headers["authorization"] == "Bearer sk-embed-123"

        monkeypatch.setenv("EMBED_TEST_KEY", "sk-wrong")
        with pytest.raises(ModelError) as rejected:
            make_embedder(url=locked.url, api_key=key).embed(["eins"], "document")
        assert rejected.value.status_code == 401
        assert "rejected the API key" in rejected.value.message
        assert "sk-wrong" not in str(rejected.value)
        assert rejected.value.hint is not None and "$env:EMBED_TEST_KEY" in rejected.value.hint

        monkeypatch.delenv("EMBED_TEST_KEY")
        with pytest.raises(SecretNotFoundError, match=r"embeddings\.api_key"):
            make_embedder(url=locked.url, api_key=key).embed(["eins"], "document")


def test_azure_openai_gets_its_api_version_and_api_key_header(
    server: ScriptedChatServer, make_embedder: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AZURE_TEST_KEY", "az-123")
    embedder = make_embedder(api_key={"$env": "AZURE_TEST_KEY"}, api_version="2024-10-21")
    assert embedder.embed(["eins"], "document").shape == (1, server.embedding_dim)
    sent = embedding_requests(server)[-1]
    assert sent.query == {"api-version": "2024-10-21"}
    assert sent.headers["api-key"] == "az-123"
    assert "authorization" not in sent.headers


def test_no_authorization_header_without_a_key(
    server: ScriptedChatServer, make_embedder: Any
) -> None:
    make_embedder().embed(["eins"], "document")
    assert "authorization" not in embedding_requests(server)[0].headers
