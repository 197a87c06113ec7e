"""The CLI end to end, in-process through typer's runner (real files, real database)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from conftest import write_files
from leitstand.cli.app import app

pytestmark = pytest.mark.integration

DOCS = {
    "reisen.md": "# Reisekosten\n\nDie Verpflegungspauschale beträgt 28 Euro pro vollem Tag.\n",
    "faq.txt": "Der Fehlercode E42 meldet eine Übertemperatur des Motors.\n",
    "kaputt.pdf": b"%PDF-1.4 this is not really a pdf",
    "bild.png": b"\x89PNG\r\n",
}


@pytest.fixture
def cli(tmp_path: Path) -> tuple[CliRunner, Path]:
    config = tmp_path / "leitstand.yaml"
    config.write_text(f"data_dir: {tmp_path / 'data'}\n", encoding="utf-8")
    return CliRunner(), config


def run(cli: tuple[CliRunner, Path], *args: str) -> tuple[int, str, str]:
    runner, config = cli
    result = runner.invoke(app, ["--config", str(config), *args])
    return result.exit_code, result.stdout, result.stderr


def test_init_writes_a_commented_config_once(tmp_path: Path) -> None:
    runner = CliRunner()
    target = tmp_path / "leitstand.yaml"
    assert runner.invoke(app, ["init", str(target)]).exit_code == 0
    assert "# retrieval:" in target.read_text(encoding="utf-8")
    again = runner.invoke(app, ["init", str(target)])
    assert again.exit_code == 1
    assert "already exists" in again.stderr and "--force" in again.stderr
    assert runner.invoke(app, ["init", str(target), "--force"]).exit_code == 0


def test_ingest_reports_per_file_and_goes_on(cli: tuple[CliRunner, Path], tmp_path: Path) -> None:
    docs = write_files(tmp_path / "docs", DOCS)
    code, out, _ = run(cli, "ingest", str(docs))
    assert code == 0
    assert "added           2" in out
    assert "kaputt.pdf" in out and "hint:" in out
    assert "skipped unsupported file types: .png ×1" in out
    code, out, _ = run(cli, "ingest", str(docs), "--json")
    report = json.loads(out)[0]
    assert report["unchanged"] == 2 and report["added"] == 0
    assert report["failed_files"][0]["path"] == "kaputt.pdf"


def test_ask_search_and_traces(cli: tuple[CliRunner, Path], tmp_path: Path) -> None:
    run(cli, "ingest", str(write_files(tmp_path / "docs", DOCS)))
    code, out, _ = run(cli, "ask", "Wie hoch ist die Verpflegungspauschale?")
    assert code == 0
    assert "28 Euro" in out and "[1]" in out
    assert "Quellen:" in out and "reisen.md" in out
    trace_id = out.strip().splitlines()[-1].split()[-1]

    code, out, _ = run(cli, "ask", "Was meldet E42?", "--json")
    answer = json.loads(out)
    assert answer["answered"] is True
    assert answer["sources"][0]["path"] == "faq.txt"

    code, out, _ = run(cli, "search", "Übertemperatur", "--json")
    assert json.loads(out)["hits"][0]["path"] == "faq.txt"

    code, out, _ = run(cli, "traces", "list", "--json")
    traces = json.loads(out)
    assert {t["kind"] for t in traces} == {"ingest", "request"}
    code, out, _ = run(cli, "traces", "show", trace_id[:10], "--json")
    shown = json.loads(out)
    assert shown["id"] == trace_id
    assert [s["name"] for s in shown["spans"] if s["parent"] is None] == [
        "guard_input",
        "retrieve",
        "generate",
    ]
    assert [s["name"] for s in shown["spans"] if s["parent"] == 1] == ["lexical", "assemble"]
    assert shown["spans"][1]["attributes"]["chunks"]
    code, out, _ = run(cli, "traces", "show", trace_id[:10])
    assert code == 0 and "retrieve" in out
    code, _, err = run(cli, "traces", "show", "ffffffffffff")
    assert code == 1 and "no trace" in err


def test_ask_without_an_answer_says_so(cli: tuple[CliRunner, Path], tmp_path: Path) -> None:
    run(cli, "ingest", str(write_files(tmp_path / "docs", DOCS)))
    code, out, _ = run(cli, "ask", "Wann ist die Betriebsversammlung?")
    assert code == 0
    assert "keine Antwort gefunden" in out


def test_sources_list_and_delete(cli: tuple[CliRunner, Path], tmp_path: Path) -> None:
    run(cli, "ingest", str(write_files(tmp_path / "docs", DOCS)), "--source", "handbuch")
    code, out, _ = run(cli, "sources", "--json")
    assert json.loads(out) == [
        {
            "name": "handbuch",
            "root": str((tmp_path / "docs").resolve()),
            "documents": 2,
            "chunks": 2,
        }
    ]
    assert run(cli, "sources", "--delete", "handbuch")[0] == 0
    assert json.loads(run(cli, "sources", "--json")[1]) == []
    code, _, err = run(cli, "sources", "--delete", "handbuch")
    assert code == 1 and "no source named" in err


def test_eval_retrieval_on_a_beir_folder(cli: tuple[CliRunner, Path], tmp_path: Path) -> None:
    beir = tmp_path / "beir"
    write_files(
        beir,
        {
            "corpus.jsonl": "\n".join(
                json.dumps({"_id": i, "title": t, "text": x})
                for i, t, x in [
                    ("d1", "Reisen", "Die Verpflegungspauschale beträgt 28 Euro."),
                    ("d2", "IT", "Passwörter haben mindestens 14 Zeichen."),
                    ("d3", "Motor", "Der Fehlercode E42 meldet Übertemperatur."),
                ]
            ),
            "queries.jsonl": "\n".join(
                json.dumps({"_id": q, "text": t})
                for q, t in [("q1", "Wie lang sind Passwörter?"), ("q2", "Was ist E42?")]
            ),
            "qrels/dev.tsv": "query-id\tcorpus-id\tscore\nq1\td2\t1\nq2\td3\t1\n",
        },
    )
    code, out, _ = run(cli, "eval", "retrieval", str(beir), "--k", "2", "--json", "--per-query")
    assert code == 0
    result = json.loads(out)
    assert result["ndcg@2"] == 1.0 and result["queries"] == 2
    assert result["per_query"][0]["top"][0] == "d2"
    code, _, err = run(cli, "eval", "retrieval", str(tmp_path), "--split", "test")
    assert code == 1 and "missing" in err


def test_configuration_errors_exit_with_2(cli: tuple[CliRunner, Path]) -> None:
    config = cli[1]
    config.write_text("retrieval:\n  top_k: many\n", encoding="utf-8")
    code, _, err = run(cli, "config", "check")
    assert code == 2
    assert "retrieval.top_k = 'many'" in err
    config.write_text("data_dir: x\n", encoding="utf-8")
    code, out, _ = run(cli, "config", "check")
    assert code == 0 and "ok" in out


def test_errors_show_square_brackets_as_written(cli: tuple[CliRunner, Path]) -> None:
    code, _, err = run(cli, "sources", "--delete", "[bold]handbuch[/bold]")
    assert code == 1
    assert "no source named '[bold]handbuch[/bold]'" in err
