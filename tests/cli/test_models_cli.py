"""``leitstand models``: the configured models, and which of them answer."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from leitstand.cli.app import app
from leitstand.testing import ScriptedChatServer

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def server() -> Iterator[ScriptedChatServer]:
    with ScriptedChatServer(model="gpt-4o-mini") as running:
        yield running


@pytest.fixture
def closed_port() -> int:
    """A port on loopback that nothing listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _config(tmp_path: Path, models: dict[str, Any], **extra: Any) -> Path:
    path = tmp_path / "leitstand.yaml"
    settings = {"data_dir": str(tmp_path / "data"), "models": models, **extra}
    path.write_text(yaml.safe_dump(settings, sort_keys=False), encoding="utf-8")
    return path


def run(config: Path, *args: str) -> Any:
    return CliRunner().invoke(app, ["--config", str(config), "models", *args])


def test_reachable_and_unreachable_models(
    tmp_path: Path, server: ScriptedChatServer, closed_port: int
) -> None:
    config = _config(
        tmp_path,
        {
            "small": {
                "base_url": server.url,
                "model": "gpt-4o-mini",
                "price_input": 0.15,
                "price_output": 0.6,
                "context_window": 128000,
            },
            "gone": {"base_url": f"http://127.0.0.1:{closed_port}/v1", "model": "llama3.1"},
        },
        use_cases={"support": {"model": "small", "fallbacks": ["gone"]}, "hr": {"model": "small"}},
        default_use_case="support",
    )
    result = run(config, "--json")
    assert result.exit_code == 1, result.output
    listed = {entry["name"]: entry for entry in json.loads(result.stdout)}
    small, gone = listed["small"], listed["gone"]
    assert small["check"]["ok"] is True and small["check"]["listed"] is True
    assert small["check"]["latency_ms"] > 0
    assert (small["price_input"], small["price_output"], small["currency"]) == (0.15, 0.6, "EUR")
    assert small["use_cases"] == ["support", "hr"] and gone["use_cases"] == ["support"]
    assert gone["check"]["ok"] is False
    assert gone["check"]["detail"].startswith("connection refused")

    result = run(config)
    assert result.exit_code == 1
    assert "small" in result.stdout and "ok" in result.stdout and "failed" in result.stdout
    assert "✗ gone: connection refused" in result.stdout


def test_all_reachable_exits_zero_and_no_check_asks_nothing(
    tmp_path: Path, server: ScriptedChatServer, closed_port: int
) -> None:
    config = _config(tmp_path, {"small": {"base_url": server.url, "model": "gpt-4o-mini"}})
    server.reset()
    assert run(config).exit_code == 0
    asked = server.requests
    assert [(r.method, r.path) for r in asked] == [("GET", "/v1/models")]

    down = _config(
        tmp_path, {"gone": {"base_url": f"http://127.0.0.1:{closed_port}/v1", "model": "m"}}
    )
    result = run(down, "--no-check", "--json")
    assert result.exit_code == 0
    assert json.loads(result.stdout)[0]["check"] is None


def test_a_model_missing_from_the_list_is_a_warning(
    tmp_path: Path, server: ScriptedChatServer
) -> None:
    config = _config(tmp_path, {"typo": {"base_url": server.url, "model": "gpt-4o-mimi"}})
    result = run(config)
    assert result.exit_code == 0
    assert "! typo: gpt-4o-mimi is not in its /models list (gpt-4o-mini)" in result.stdout


def test_a_rejected_key_and_a_missing_one_are_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MODEL_TOKEN", "wrong")
    with ScriptedChatServer(api_key="right") as guarded:
        config = _config(
            tmp_path,
            {
                "keyed": {
                    "base_url": guarded.url,
                    "model": "scripted-model",
                    "api_key": {"$env": "MODEL_TOKEN"},
                },
                "keyless": {"base_url": guarded.url, "model": "scripted-model"},
                "unset": {
                    "base_url": guarded.url,
                    "model": "scripted-model",
                    "api_key": {"$env": "UNSET_MODEL_TOKEN"},
                },
            },
        )
        result = run(config, "--json")
        auth = [r.headers.get("authorization") for r in guarded.requests]
    assert result.exit_code == 1
    checks = {entry["name"]: entry["check"] for entry in json.loads(result.stdout)}
    assert checks["keyed"]["detail"].startswith("key rejected (HTTP 401)")
    assert checks["keyless"]["detail"] == "needs an API key (HTTP 401): set models.keyless.api_key"
    assert "UNSET_MODEL_TOKEN is not set" in checks["unset"]["detail"]
    assert sorted(auth, key=lambda value: value or "") == [
        None,
        "Bearer wrong",
    ]  # the unset key sent nothing


def test_azure_gets_a_one_token_completion_with_api_key_and_version(
    tmp_path: Path, server: ScriptedChatServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AZURE_TOKEN", "azure-secret")
    config = _config(
        tmp_path,
        {
            "az": {
                "provider": "azure",
                "base_url": server.url,
                "model": "gpt-4o",
                "api_version": "2024-10-21",
                "api_key": {"$env": "AZURE_TOKEN"},
            }
        },
    )
    server.reset()
    server.enqueue("p")
    result = run(config, "--json")
    assert result.exit_code == 0, result.output
    check = json.loads(result.stdout)[0]["check"]
    assert check["ok"] is True and check["listed"] is None
    (request,) = server.requests
    assert (request.method, request.path) == ("POST", "/v1/chat/completions")
    assert request.query == {"api-version": "2024-10-21"}
    assert request.headers["api-key"] == "azure-secret" and "authorization" not in request.headers
    assert request.body["max_tokens"] == 1


def test_no_models_configured(tmp_path: Path) -> None:
    config = _config(tmp_path, {})
    result = run(config)
    assert result.exit_code == 0 and "no chat models configured" in result.stdout
    assert json.loads(run(config, "--json").stdout) == []


def test_silent_endpoints_time_out_together(tmp_path: Path) -> None:
    # Sockets that accept connections (into the backlog) but never answer.
    silent = [socket.socket() for _ in range(3)]
    try:
        for sock in silent:
            sock.bind(("127.0.0.1", 0))
            sock.listen(8)
        models = {
            f"silent{index}": {
                "base_url": f"http://127.0.0.1:{sock.getsockname()[1]}/v1",
                "model": "m",
            }
            for index, sock in enumerate(silent)
        }
        config = _config(tmp_path, models)
        started = time.monotonic()
        result = run(config, "--timeout", "1", "--json")
        elapsed = time.monotonic() - started
    finally:
        for sock in silent:
            sock.close()
    assert result.exit_code == 1
    details = {entry["check"]["detail"] for entry in json.loads(result.stdout)}
    assert details == {"no answer within 1 s"}
    assert elapsed < 2.5  # one after the other would take at least 3 s
