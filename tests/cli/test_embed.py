"""``leitstand embed run/status/drop`` and the embedding bar of ``leitstand ingest``, in-process
through typer's runner, with dense retrieval through a scripted embedding endpoint."""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console
from typer.testing import CliRunner

from conftest import write_files
from leitstand.cli.app import app
from leitstand.testing import ScriptedChatServer

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("dense_by_default")]

DOCS = {
    "reisen.md": "# Reisekosten\n\nDie Verpflegungspauschale beträgt 28 Euro pro vollem Tag.\n",
    "faq.txt": "Der Fehlercode E42 meldet eine Übertemperatur des Motors.\n",
}


@pytest.fixture(scope="module")
def shared_endpoint() -> Iterator[ScriptedChatServer]:
    with ScriptedChatServer() as server:
        yield server


@pytest.fixture
def endpoint(shared_endpoint: ScriptedChatServer) -> ScriptedChatServer:
    shared_endpoint.reset()
    return shared_endpoint


class Cli:
    """The CLI with a leitstand.yaml whose embedding model can be changed between runs."""

    def __init__(self, tmp_path: Path, endpoint: ScriptedChatServer) -> None:
        self.runner = CliRunner()
        self.config = tmp_path / "leitstand.yaml"
        self.data = tmp_path / "data"
        self.endpoint = endpoint
        self.use_model("embed-a")

    def use_model(self, model: str) -> None:
        self.config.write_text(
            f"data_dir: {self.data}\n"
            "embeddings:\n"
            "  provider: openai\n"
            f"  base_url: {self.endpoint.url}\n"
            f"  model: {model}\n"
            "  max_retries: 0\n",
            encoding="utf-8",
        )

    def __call__(self, *args: str) -> tuple[int, str, str]:
        result = self.runner.invoke(app, ["--config", str(self.config), *args])
        return result.exit_code, result.stdout, result.stderr

    def json(self, *args: str) -> Any:
        code, out, err = self(*args, "--json")
        assert code == 0, err
        return json.loads(out)


@pytest.fixture
def cli(tmp_path: Path, endpoint: ScriptedChatServer, monkeypatch: pytest.MonkeyPatch) -> Cli:
    monkeypatch.setenv("COLUMNS", "120")  # tables as wide as a usual terminal
    return Cli(tmp_path, endpoint)


def models(cli: Cli) -> dict[str, dict[str, Any]]:
    return {model["name"]: model for model in cli.json("embed", "status")["models"]}


def test_ingest_shows_a_second_bar_for_embedding(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    screen = io.StringIO()
    monkeypatch.setattr(
        "leitstand.cli.embed.err_console", Console(file=screen, force_terminal=True, width=120)
    )
    code, out, _ = cli("ingest", str(write_files(tmp_path / "docs", DOCS)))
    assert code == 0 and "added           2" in out
    frames = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", screen.getvalue())  # no terminal codes
    shown = frames.replace("\r", "\n")
    assert re.search(r"^ingest .*docs ━+ 2/2", shown, re.MULTILINE)
    assert re.search(r"^embed openai/embed-a +━+ 2/2", shown, re.MULTILINE)
    assert models(cli)["openai/embed-a"]["vectors"] == 2


def test_embed_run_status_and_drop(cli: Cli, tmp_path: Path, endpoint: ScriptedChatServer) -> None:
    docs = write_files(tmp_path / "docs", DOCS)
    [report] = cli.json("ingest", str(docs))
    assert report["warnings_files"] == []
    status = cli.json("embed", "status")
    assert (status["configured"], status["serving"]) == ("openai/embed-a", "openai/embed-a")
    [model] = status["models"]
    assert model["dimensions"] == endpoint.embedding_dim
    assert (model["vectors"], model["chunks"], model["coverage"]) == (2, 2, 1.0)
    assert model["complete"] and model["configured"] and model["serving"]
    code, out, _ = cli("embed", "status")
    assert code == 0 and "openai/embed-a" in out and "2 / 2 (100%)" in out

    # A failing endpoint during ingestion: the document is in, its vector is missing.
    endpoint.enqueue_embeddings_error(503, "warming up")
    write_files(docs, {"it.txt": "Passwörter haben mindestens vierzehn Zeichen.\n"})
    [report] = cli.json("ingest", str(docs))
    assert report["added"] == 1
    [warning] = report["warnings_files"]
    assert warning["path"] == "(embeddings)"
    assert warning["message"].startswith("the new chunks were not embedded: ")
    assert "warming up" in warning["message"]
    assert "`leitstand embed run` embeds them" in warning["hint"]
    code, out, _ = cli("embed", "status")
    assert "1 chunk(s) have no vector of openai/embed-a yet: run `leitstand embed run`" in out
    assert cli.json("embed", "run") == [
        {
            "model": "openai/embed-a",
            "pending": 1,
            "embedded": 1,
            "cached": 0,
            "complete": True,
            "duration_s": pytest.approx(0, abs=30),
        }
    ]
    code, out, _ = cli("embed", "run")
    assert code == 0 and "openai/embed-a: every chunk has a vector" in out

    # Another model: it is embedded on `embed run`, the old one serves until then.
    cli.use_model("embed-b")
    code, out, _ = cli("embed", "status")
    assert "openai/embed-b is configured but has no vectors yet" in out
    assert cli.json("embed", "status")["serving"] == "openai/embed-a"
    code, out, _ = cli("embed", "run")
    assert code == 0 and "openai/embed-b: 3 embedded, 0 from the cache" in out
    assert {name: m["serving"] for name, m in models(cli).items()} == {
        "openai/embed-a": False,
        "openai/embed-b": True,
    }

    code, out, _ = cli("embed", "drop", "openai/embed-a")
    assert code == 0 and "dropped the embedding model openai/embed-a" in out
    assert list(models(cli)) == ["openai/embed-b"]
    code, _, err = cli("embed", "drop", "openai/embed-a")
    assert code == 1
    assert "no embedding model named 'openai/embed-a'" in err
    assert "`leitstand embed status` lists the models" in err
    code, out, _ = cli("embed", "drop", "openai/embed-b")
    assert code == 0 and "`leitstand embed run` embeds every chunk again" in out
    assert models(cli) == {}


def test_a_failing_endpoint_fails_embed_run_with_the_reason(
    cli: Cli, tmp_path: Path, endpoint: ScriptedChatServer
) -> None:
    cli.json("ingest", str(write_files(tmp_path / "docs", DOCS)))
    cli.use_model("embed-b")
    endpoint.enqueue_embeddings_error(404, "model 'embed-b' not found")
    code, _, err = cli("embed", "run")
    assert code == 1
    assert "embedding model 'embed-b' not found" in err
    assert "hint:" in err and "embeddings.model" in err


def test_without_dense_retrieval_run_and_drop_say_how_to_turn_it_on(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cli.json("ingest", str(write_files(tmp_path / "docs", DOCS)))
    monkeypatch.setenv("LEITSTAND_EMBEDDINGS__PROVIDER", "none")
    for command in (["embed", "run"], ["embed", "drop", "openai/embed-a"]):
        code, _, err = cli(*command)
        assert code == 2, command
        assert "dense retrieval is off: embeddings.provider resolves to none" in err
        assert "hint: set embeddings.provider: local" in err
    # status still shows what the database holds (nothing was dropped).
    status = cli.json("embed", "status")
    assert (status["configured"], status["serving"]) == (None, None)
    assert [(m["name"], m["vectors"], m["serving"]) for m in status["models"]] == [
        ("openai/embed-a", 2, False)
    ]
    code, out, _ = cli("embed", "status")
    assert code == 0 and "openai/embed-a" in out and "dense retrieval is off" in out
