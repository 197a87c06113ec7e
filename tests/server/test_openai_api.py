"""The official openai client against `leitstand serve` running as a subprocess."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest

from _server import LeitstandProcess
from conftest import write_files
from leitstand.testing import ScriptedChatServer

pytestmark = pytest.mark.integration

DOCS = {
    "reisen.md": "# Reisekosten\n\nDie Verpflegungspauschale beträgt 28 Euro pro vollem Tag.\n",
    "faq.txt": "Der Fehlercode E42 meldet eine Übertemperatur des Motors.\n",
}


def _cli(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "leitstand", "--config", str(config), *args],
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.fixture(scope="module")
def model_server() -> Iterator[ScriptedChatServer]:
    with ScriptedChatServer() as server:
        yield server


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory, model_server: ScriptedChatServer
) -> Iterator[LeitstandProcess]:
    root = tmp_path_factory.mktemp("serve")
    config = root / "leitstand.yaml"
    config.write_text(
        f"data_dir: {root / 'data'}\n"
        "models:\n"
        f"  scripted:\n    base_url: {model_server.url}\n    model: scripted-model\n"
        "    max_retries: 0\n"
        "use_cases:\n"
        "  handbuch:\n    model: extractive\n    description: Antworten aus dem Handbuch\n"
        "  assistent:\n    model: scripted\n"
        "default_use_case: handbuch\n",
        encoding="utf-8",
    )
    result = _cli(config, "ingest", str(write_files(root / "docs", DOCS)))
    assert result.returncode == 0, result.stderr
    with LeitstandProcess(config) as process:
        yield process


@pytest.fixture
def client(server: LeitstandProcess) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{server.url}/v1", api_key="unused", max_retries=0)


def test_models_lists_use_cases_and_models(client: openai.OpenAI) -> None:
    ids = [model.id for model in client.models.list()]
    assert ids == ["handbuch", "assistent", "scripted", "extractive"]


def test_completion_with_sources_and_footnotes(client: openai.OpenAI) -> None:
    response = client.chat.completions.create(
        model="handbuch",
        messages=[{"role": "user", "content": "Wie hoch ist die Verpflegungspauschale?"}],
    )
    content = response.choices[0].message.content or ""
    assert "28 Euro" in content
    assert "[1]" in content
    assert "Quellen:" in content and "reisen.md" in content
    extra = response.model_extra or {}
    assert extra["sources"][0]["path"] == "reisen.md"
    assert extra["sources"][0]["number"] == 1
    assert extra["leitstand"]["trace_id"]


def test_streaming_with_the_official_client(client: openai.OpenAI) -> None:
    stream = client.chat.completions.create(
        model="handbuch",
        messages=[{"role": "user", "content": "Was meldet der Fehlercode E42?"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert "Übertemperatur" in text
    assert "faq.txt" in text
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices]
    assert finishes[-1] == "stop"
    assert chunks[-1].usage is not None
    assert (chunks[0].model_extra or {})["sources"][0]["path"] == "faq.txt"


def test_a_model_use_case_streams_through_leitstand(
    client: openai.OpenAI, model_server: ScriptedChatServer
) -> None:
    model_server.enqueue("Laut Reiserichtlinie 28 Euro [1].", chunk_size=5)
    stream = client.chat.completions.create(
        model="assistent",
        messages=[{"role": "user", "content": "Verpflegungspauschale?"}],
        stream=True,
        extra_body={"footnotes": False},
    )
    text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    assert text == "Laut Reiserichtlinie 28 Euro [1]."


def test_an_upstream_failure_mid_stream_is_an_error_not_a_truncated_answer(
    client: openai.OpenAI, model_server: ScriptedChatServer
) -> None:
    model_server.enqueue_broken_stream("Laut Reise")
    stream = client.chat.completions.create(
        model="assistent",
        messages=[{"role": "user", "content": "Verpflegungspauschale?"}],
        stream=True,
    )
    with pytest.raises(openai.APIError):
        list(stream)


def test_errors_come_in_openai_shape(client: openai.OpenAI, server: LeitstandProcess) -> None:
    with pytest.raises(openai.NotFoundError) as missing:
        client.chat.completions.create(
            model="gibt-es-nicht", messages=[{"role": "user", "content": "Hallo?"}]
        )
    assert missing.value.code == "model_not_found"
    assert "handbuch" in str(missing.value)
    response = httpx.post(
        f"{server.url}/v1/chat/completions", json={"model": "handbuch", "messages": []}
    )
    assert response.status_code == 400
    assert response.json()["error"]["param"] == "messages"
    response = httpx.post(
        f"{server.url}/v1/chat/completions",
        json={"model": "handbuch", "messages": [{"role": "assistant", "content": "hi"}]},
    )
    assert response.status_code == 400
    assert "user message" in response.json()["error"]["message"]


def test_passage_endpoint_and_trace_header(server: LeitstandProcess) -> None:
    response = httpx.post(
        f"{server.url}/v1/chat/completions",
        json={"model": "handbuch", "messages": [{"role": "user", "content": "Fehlercode E42?"}]},
    )
    trace_id = response.headers["x-leitstand-trace-id"]
    assert trace_id == response.json()["leitstand"]["trace_id"]
    source = response.json()["sources"][0]
    passage = httpx.get(f"{server.url}/v1/passages/{source['chunk_id']}").json()
    assert passage["text"] == source["text"]
    assert passage["path"] == "faq.txt"
    assert httpx.get(f"{server.url}/v1/passages/999999").status_code == 404


def test_health_and_readiness(server: LeitstandProcess) -> None:
    assert httpx.get(f"{server.url}/healthz").json() == {"status": "ok"}
    assert httpx.get(f"{server.url}/readyz").json()["status"] == "ready"
    assert "leitstand" in httpx.get(f"{server.url}/").text


def test_api_keys_are_required_once_one_exists(tmp_path: Path) -> None:
    from leitstand import Leitstand

    config = tmp_path / "leitstand.yaml"
    config.write_text(f"data_dir: {tmp_path / 'data'}\n", encoding="utf-8")
    with Leitstand.open(config) as ls:
        ls.ingest(write_files(tmp_path / "docs", DOCS))
        scoped_secret, _ = ls.keys.create("faq-only", use_case="faq")
    created = _cli(config, "keys", "create", "crm-bot")
    assert created.returncode == 0, created.stderr
    secret = created.stdout.strip().splitlines()[-1]
    assert secret.startswith("lsk_")
    with LeitstandProcess(config) as process:
        body = {"model": "default", "messages": [{"role": "user", "content": "E42?"}]}
        url = f"{process.url}/v1/chat/completions"
        refused = httpx.post(url, json=body)
        assert refused.status_code == 401
        assert refused.json()["error"]["code"] == "invalid_api_key"
        allowed = httpx.post(url, json=body, headers={"Authorization": f"Bearer {secret}"})
        assert allowed.status_code == 200
        wrong_scope = httpx.post(
            url, json=body, headers={"Authorization": f"Bearer {scoped_secret}"}
        )
        assert wrong_scope.status_code == 403
        revoked = _cli(config, "keys", "revoke", "crm-bot")
        assert revoked.returncode == 0, revoked.stderr
    with LeitstandProcess(config) as process:
        revoked = httpx.post(
            f"{process.url}/v1/chat/completions",
            json=body,
            headers={"Authorization": f"Bearer {secret}"},
        )
        assert revoked.status_code == 401


def test_serve_refuses_a_public_interface_without_keys(tmp_path: Path) -> None:
    config = tmp_path / "leitstand.yaml"
    config.write_text(f"data_dir: {tmp_path / 'data'}\n", encoding="utf-8")
    result = _cli(config, "serve", "--host", "0.0.0.0", "--port", "1")
    assert result.returncode == 1
    assert "without API keys" in result.stderr
    assert "leitstand keys create" in result.stderr
