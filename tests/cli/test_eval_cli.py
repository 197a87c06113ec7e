"""``leitstand eval retrieval`` and ``leitstand eval tune`` on a small golden set in BEIR layout."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from leitstand.cli.app import app
from leitstand.testing import ScriptedChatServer

pytestmark = pytest.mark.integration

CORPUS = {
    "d1": ("Reisekosten", "Die Verpflegungspauschale beträgt 28 Euro pro vollem Kalendertag."),
    "d2": ("Reisekosten", "Übernachtungskosten werden bis 120 Euro pro Nacht erstattet."),
    "d3": ("IT-Sicherheit", "Passwörter haben mindestens zwölf Zeichen und werden nie geteilt."),
    "d4": ("IT-Sicherheit", "Verdächtige E-Mails meldet man dem Helpdesk unter 4711."),
    "d5": ("Fuhrpark", "Dienstwagen werden über das Portal gebucht, Tankkarten liegen bei."),
    "d6": ("Kantine", "Die Kantine öffnet um halb zwölf und schließt um zwei Uhr."),
}
QUERIES = {
    "q1": ("Wie hoch ist die Verpflegungspauschale?", "d1"),
    "q2": ("Wie lang muss ein Passwort sein?", "d3"),
    "q3": ("Wer hilft bei einem Virus auf dem Laptop?", "d4"),  # no shared word: fails
}


@pytest.fixture
def golden(tmp_path: Path) -> Path:
    folder = tmp_path / "golden"
    (folder / "qrels").mkdir(parents=True)
    (folder / "corpus.jsonl").write_text(
        "".join(
            json.dumps({"_id": i, "title": t, "text": x}, ensure_ascii=False) + "\n"
            for i, (t, x) in CORPUS.items()
        ),
        encoding="utf-8",
    )
    (folder / "queries.jsonl").write_text(
        "".join(
            json.dumps({"_id": i, "text": q}, ensure_ascii=False) + "\n"
            for i, (q, _) in QUERIES.items()
        ),
        encoding="utf-8",
    )
    (folder / "qrels" / "dev.tsv").write_text(
        "query-id\tcorpus-id\tscore\n" + "".join(f"{i}\t{d}\t1\n" for i, (_, d) in QUERIES.items()),
        encoding="utf-8",
    )
    return folder


def _run(config: Path, *args: str) -> Any:
    return CliRunner().invoke(app, ["--config", str(config), *args])


def test_per_query_shows_which_questions_fail_and_what_came_instead(
    golden: Path, tmp_path: Path
) -> None:
    config = tmp_path / "leitstand.yaml"
    config.write_text(f"data_dir: {tmp_path / 'data'}\n", encoding="utf-8")
    result = _run(config, "eval", "retrieval", str(golden), "--per-query", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["mode"] == "lexical" and report["queries"] == 3
    per_query = {row["id"]: row for row in report["per_query"]}
    assert per_query["q1"]["top"][0] == "d1" and per_query["q1"]["ndcg"] == 1.0
    assert per_query["q3"]["ndcg"] < 1.0 and per_query["q3"]["relevant"] == ["d4"]
    human = _run(config, "eval", "retrieval", str(golden), "--per-query")
    assert human.exit_code == 0
    lines = human.stdout.splitlines()
    failing = next(n for n, line in enumerate(lines) if "Virus" in line)
    assert "✗" in lines[failing]
    assert "relevant: d4 (IT-Sicherheit)" in lines[failing + 1]
    assert "found:" in lines[failing + 2]
    assert lines.index(lines[failing]) < next(n for n, line in enumerate(lines) if "✓" in line)


@pytest.mark.usefixtures("dense_by_default")  # the config file's embeddings apply
def test_tune_compares_profiles_and_prints_the_lines_for_the_config(
    golden: Path, tmp_path: Path
) -> None:
    with ScriptedChatServer() as endpoint:  # hashed-word vectors over real HTTP: hybrid
        config = tmp_path / "leitstand.yaml"
        config.write_text(
            yaml.safe_dump(
                {
                    "data_dir": str(tmp_path / "data"),
                    "embeddings": {
                        "provider": "openai",
                        "base_url": endpoint.url,
                        "model": "hashed",
                    },
                }
            ),
            encoding="utf-8",
        )
        result = _run(config, "eval", "tune", str(golden), "--source", "handbuch", "--json")
        assert result.exit_code == 0, result.output
        trials = json.loads(result.stdout)["trials"]
        fusions = {(t["profile"]["fusion"], t["profile"]["dense_weight"]) for t in trials}
        assert ("rrf", 0.5) in fusions and ("weighted", 0.0) in fusions
        assert {t["profile"]["expansion"] for t in trials} == {"none", "prf"}
        assert {t["profile"]["reranker"] for t in trials} >= {"none", "proximity"}
        scores = [t["ndcg@10"] for t in trials]
        assert scores == sorted(scores, reverse=True)
        human = _run(config, "eval", "tune", str(golden), "--source", "handbuch")
    assert human.exit_code == 0, human.output
    suggested = yaml.safe_load(human.stdout[human.stdout.index("retrieval:") :])
    best = suggested["retrieval"]["collections"]["handbuch"]
    assert best == trials[0]["profile"]
