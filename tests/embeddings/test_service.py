"""Dense retrieval end to end through Leitstand, on SQLite and PostgreSQL, with the
OpenAI-compatible provider pointed at a scripted endpoint over real HTTP: ingestion embeds,
the cache saves calls, a model switch never leaves searches without the last complete model,
dropping a model removes everything of it."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from embeddings.helpers import DOCS, add, count, dense_settings, embedded_texts
from leitstand.embeddings.jobs import EmbedProgress
from leitstand.embeddings.service import EmbeddingService, ModelStatus
from leitstand.errors import LeitstandError
from leitstand.search.vectors.usearch_index import file_name
from leitstand.testing import ScriptedChatServer
from search.vector_suite import WordHashEmbedder

pytestmark = pytest.mark.integration


def status(ls: Any) -> dict[str, ModelStatus]:
    return {model.name: model for model in ls.embedding_status()}


def paths(ls: Any, query: str) -> list[str]:
    return [hit.path for hit in ls.search(query, k=3).hits]


def test_ingestion_embeds_the_new_chunks(
    database_url: str, open_leitstand: Any, endpoint: ScriptedChatServer
) -> None:
    ls = open_leitstand(database_url, **dense_settings(endpoint))
    events: list[EmbedProgress] = []
    report = add(ls, DOCS, embed_progress=events.append)
    assert not report.warnings
    assert sorted(embedded_texts(endpoint)) == sorted([*DOCS.values(), "dimensions"])
    assert events and events[-1].done == events[-1].total == len(DOCS)
    assert {event.model for event in events} == {"openai/embed-a"}
    model = status(ls)["openai/embed-a"]
    assert (model.vectors, model.chunks, model.dimensions) == (5, 5, endpoint.embedding_dim)
    assert model.complete and model.configured and model.serving
    assert paths(ls, "a dog with a red ball")[0] == "tiere/hund.txt"

    endpoint.reset()
    add(ls, {"tiere/maus.txt": "The mouse hides in the barn."})
    assert embedded_texts(endpoint) == ["The mouse hides in the barn."]  # only the new chunk
    assert status(ls)["openai/embed-a"].vectors == 6
    assert paths(ls, "where does the mouse hide")[0] == "tiere/maus.txt"


def test_unchanged_texts_cost_no_embedding_call(
    database_url: str, open_leitstand: Any, endpoint: ScriptedChatServer
) -> None:
    ls = open_leitstand(database_url, **dense_settings(endpoint))
    add(ls, DOCS)
    endpoint.reset()
    again = add(ls, DOCS)
    assert len(again.unchanged) == len(DOCS)
    assert embedded_texts(endpoint) == []

    # The same text in another source comes from the cache; a changed document costs its
    # new text only.
    add(ls, {"kopie.txt": DOCS["tiere/hund.txt"]}, source="copies")
    assert embedded_texts(endpoint) == []
    changed = {"tiere/katze.txt": "The cat chases a mouse through the kitchen."}
    add(ls, changed)
    assert embedded_texts(endpoint) == [changed["tiere/katze.txt"]]
    model = status(ls)["openai/embed-a"]
    assert model.vectors == model.chunks == 6 and model.complete
    assert paths(ls, "the cat chases a mouse")[0] == "tiere/katze.txt"
    # The cache holds exactly the texts that chunks have: the old text of katze.txt is gone.
    assert count(ls, "SELECT count(*) FROM embedding_cache") == 5
    assert count(ls, "SELECT count(DISTINCT text_hash) FROM chunks") == 5


def test_a_failing_endpoint_leaves_a_warning_and_embed_finishes_later(
    sqlite_url: str, open_leitstand: Any, endpoint: ScriptedChatServer
) -> None:
    ls = open_leitstand(sqlite_url, **dense_settings(endpoint, max_retries=0))
    add(ls, {"vorab.txt": "An early note about the canteen menu."})
    endpoint.enqueue_embeddings_error(500, "model is loading")
    report = add(ls, DOCS)
    assert len(report.added) == len(DOCS)  # the documents are in
    assert [w.path for w in report.warnings] == ["(embeddings)"]
    assert "model is loading" in report.warnings[0].message
    assert "`leitstand embed run`" in (report.warnings[0].hint or "")
    model = status(ls)["openai/embed-a"]
    # Complete once, it keeps serving; the new chunks wait for their vectors.
    assert (model.vectors, model.chunks, model.complete, model.serving) == (1, 6, True, True)
    assert paths(ls, "a dog with a red ball") == ["vorab.txt"]

    reports = ls.embed()
    assert [(r.model, r.embedded, r.complete) for r in reports] == [("openai/embed-a", 5, True)]
    assert paths(ls, "a dog with a red ball")[0] == "tiere/hund.txt"


@pytest.fixture(scope="module")
def new_endpoint() -> Iterator[ScriptedChatServer]:
    """A second embedding endpoint: the one the configuration switches to."""
    with ScriptedChatServer() as server:
        yield server


def test_a_model_switch_embeds_in_the_background_while_the_old_model_serves(
    database_url: str,
    open_leitstand: Any,
    endpoint: ScriptedChatServer,
    new_endpoint: ScriptedChatServer,
) -> None:
    old = open_leitstand(database_url, **dense_settings(endpoint, model="embed-a"))
    add(old, DOCS)

    new_endpoint.reset()
    new = open_leitstand(database_url, **dense_settings(new_endpoint, model="embed-b"))
    assert new.embeddings.dense.serving == "openai/embed-a"  # complete; embed-b has nothing
    # The background pass: a warm-up query, then the documents; the first batch of
    # documents takes a while at the new endpoint.
    new_endpoint.enqueue_embeddings()
    new_endpoint.enqueue_embeddings(delay_s=1.5)
    new.start_background_embedding()
    deadline = time.monotonic() + 20
    while not set(DOCS.values()) & set(embedded_texts(new_endpoint)):
        assert time.monotonic() < deadline, "the background pass did not start"
        time.sleep(0.01)

    # Mid-pass: embed-b is incomplete, so embed-a answers (its endpoint embeds the query).
    switching = status(new)
    assert switching["openai/embed-a"].serving and not switching["openai/embed-b"].complete
    assert switching["openai/embed-b"].configured and not switching["openai/embed-b"].serving
    endpoint.reset()
    assert paths(new, "the horse at dawn")[0] == "tiere/pferd.txt"
    assert embedded_texts(endpoint, model="embed-a") == ["the horse at dawn"]
    assert "the horse at dawn" not in embedded_texts(new_endpoint)

    assert new.embeddings.wait_for_pass(1, timeout_s=30)
    done = status(new)
    assert done["openai/embed-b"].complete and done["openai/embed-b"].serving
    assert done["openai/embed-b"].vectors == len(DOCS)
    assert done["openai/embed-a"].complete and not done["openai/embed-a"].serving
    assert paths(new, "a pressure valve")[0] == "technik/ventil.txt"
    assert "a pressure valve" in embedded_texts(new_endpoint, model="embed-b")
    # The other instance is still configured for embed-a, which is complete: it keeps it.
    assert old.embeddings.dense.serving == "openai/embed-a"


def test_dropping_a_model_removes_its_vectors_cache_and_index(
    database_url: str, open_leitstand: Any, endpoint: ScriptedChatServer, tmp_path: Path
) -> None:
    ls = open_leitstand(database_url, **dense_settings(endpoint))
    add(ls, DOCS)
    assert paths(ls, "a dog with a red ball")[0] == "tiere/hund.txt"  # the index is loaded
    hnsw = tmp_path / "data" / "vectors" / file_name("openai/embed-a")
    name = "openai/embed-a"
    assert count(ls, "SELECT count(*) FROM embedding_cache WHERE model = :m", m=name) == 5
    if ls.db.is_sqlite:
        assert hnsw.is_file()

    ls.drop_embeddings(name)
    assert status(ls) == {}
    assert count(ls, "SELECT count(*) FROM chunk_vectors") == 0
    assert count(ls, "SELECT count(*) FROM embedding_cache") == 0
    if ls.db.is_sqlite:
        assert not hnsw.exists()
    else:
        assert count(ls, "SELECT count(*) FROM pg_indexes WHERE indexname LIKE '%hnsw%'") == 0
    assert ls.search("a dog with a red ball").hits == []

    with pytest.raises(LeitstandError, match="no embedding model named 'openai/embed-x'") as err:
        ls.drop_embeddings("openai/embed-x")
    assert err.value.hint == "`leitstand embed status` lists the models"

    # Embedding again starts from nothing (the cache went too) and serves again.
    endpoint.reset()
    [report] = ls.embed()
    assert (report.embedded, report.cached, report.complete) == (5, 0, True)
    assert sorted(embedded_texts(endpoint)) == sorted(DOCS.values())
    assert paths(ls, "a dog with a red ball")[0] == "tiere/hund.txt"


def test_the_service_takes_any_embedder(sqlite_url: str, open_leitstand: Any) -> None:
    ls = open_leitstand(sqlite_url)  # lexical only: the service is built by hand
    add(ls, DOCS)
    embedder = WordHashEmbedder()
    service = EmbeddingService(
        ls.db, ls.settings.embeddings, embedder, ls.config.data_dir / "vectors"
    )
    try:
        assert service.dense.serving is None
        [report] = service.embed()
        assert (report.model, report.embedded, report.complete) == ("test/words", 5, True)
        assert len(embedder.calls) == 5
        found = service.dense.search("the dog fetches the ball", limit=2)
        assert [hit.chunk_id for hit in found][:1] == [
            hit.chunk_id for hit in ls.search("dog fetches ball").hits[:1]
        ]
        [status_] = service.status()
        assert (status_.name, status_.serving, status_.coverage) == ("test/words", True, 1.0)
        assert embedder.calls[5:] == ["the dog fetches the ball"]  # the query
        assert service.embed()[0].pending == 0
        assert len(embedder.calls) == 6
    finally:
        service.close()
