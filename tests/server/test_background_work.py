"""What `leitstand serve` does by itself after it starts: embed for a newly configured model
in the background, while it keeps answering."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from _server import LeitstandProcess
from conftest import write_files
from leitstand import Leitstand
from leitstand.testing import ScriptedChatServer

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("dense_by_default")]

DOCS = {
    "reisen.md": "# Reisekosten\n\nDie Verpflegungspauschale beträgt 28 Euro pro vollem Tag.\n",
    "it.md": "# IT\n\nPasswörter haben mindestens vierzehn Zeichen und werden nie geteilt.\n",
}


def _config(path: Path, endpoint: ScriptedChatServer, model: str) -> Path:
    settings: dict[str, Any] = {
        "data_dir": str(path.parent / "data"),
        "embeddings": {"provider": "openai", "base_url": endpoint.url, "model": model},
    }
    path.write_text(yaml.safe_dump(settings), encoding="utf-8")
    return path


def _status(config: Path) -> dict[str, Any]:
    with Leitstand.open(config) as ls:
        return {status.name: status for status in ls.embedding_status()}


def test_serve_embeds_a_new_model_in_the_background_and_keeps_answering(
    tmp_path: Path,
) -> None:
    config = tmp_path / "leitstand.yaml"
    with ScriptedChatServer() as old, ScriptedChatServer() as new:
        with Leitstand.open(_config(config, old, "embed-old")) as ls:
            ls.ingest(write_files(tmp_path / "docs", DOCS))
        assert _status(config)["openai/embed-old"].complete
        _config(config, new, "embed-new")  # the model changes; nothing is embedded yet
        assert "openai/embed-new" not in _status(config)
        with LeitstandProcess(config) as server:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                found = _status(config).get("openai/embed-new")
                if found is not None and found.complete:
                    break
                time.sleep(0.2)
            else:
                pytest.fail("the server did not embed the chunks for the new model")
            embedded = [r for r in new.requests if r.path.endswith("/embeddings")]
            assert embedded, "the new model's endpoint was asked"
            reply = httpx.post(
                f"{server.url}/v1/chat/completions",
                json={
                    "model": "default",
                    "messages": [{"role": "user", "content": "Wie hoch ist die Pauschale?"}],
                },
                timeout=30,
            )
        assert reply.status_code == 200
        assert "28 Euro" in reply.json()["choices"][0]["message"]["content"]
