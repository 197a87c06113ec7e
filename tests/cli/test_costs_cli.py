"""``leitstand costs``: the table with its totals, JSON, and the PNG chart."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from leitstand.cli.app import app
from leitstand.store.database import Database
from leitstand.store.models import UsageRecord

pytestmark = pytest.mark.integration

PERIOD = ["--since", "2026-12-01", "--until", "2026-12-03"]


def _record(day: str, use_case: str, cost: float, **fields: Any) -> UsageRecord:
    values: dict[str, Any] = {
        "at": datetime.fromisoformat(f"{day}T08:30:00").replace(tzinfo=UTC),
        "day": day,
        "use_case": use_case,
        "key_name": "crm-bot",
        "team": "service",
        "model": "small",
        "provider_model": "gpt-4o-mini",
        "prompt_tokens": 1000,
        "completion_tokens": 250,
        "tokens_estimated": False,
        "cost": cost,
        "cached": False,
        "status": "ok",
        **fields,
    }
    return UsageRecord(**values)


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "leitstand.yaml"
    path.write_text(f"data_dir: {tmp_path / 'data'}\ngateway:\n  currency: CHF\n", encoding="utf-8")
    db = Database(f"sqlite:///{tmp_path / 'data' / 'leitstand.db'}")
    db.migrate()
    with db.write() as session:
        session.add_all(
            [
                _record("2026-11-30", "support", 100.0),  # before the period
                _record("2026-12-01", "support", 0.25),
                _record("2026-12-01", "hr", 1.5, team="people", tokens_estimated=True),
                _record("2026-12-02", "support", 0.75, cached=True),
                _record("2026-12-03", "support", 2.0, model="large"),
            ]
        )
    db.dispose()
    return path


def run(config: Path, *args: str) -> Any:
    return CliRunner().invoke(app, ["--config", str(config), "costs", *args])


def test_table_per_day_with_totals_and_currency(config: Path) -> None:
    result = run(config, *PERIOD)
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "Costs 2026-12-01 – 2026-12-03 (CHF)" in out
    lines = {line.split()[1]: line for line in out.splitlines() if line.startswith("│ 2026-")}
    assert set(lines) == {"2026-12-01", "2026-12-02", "2026-12-03"}
    assert "1.7500" in lines["2026-12-01"] and "50%" in lines["2026-12-01"]
    total = next(line for line in out.splitlines() if "total" in line)
    assert "4.5000" in total and "100.0000" not in out


def test_json_grouped_by_use_case_and_team(config: Path) -> None:
    result = run(config, *PERIOD, "--by", "use-case,team", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["currency"] == "CHF" and report["by"] == ["use_case", "team"]
    assert [(r["use_case"], r["team"], r["requests"], r["cost"]) for r in report["rows"]] == [
        ("hr", "people", 1, 1.5),
        ("support", "service", 3, 3.0),
    ]
    assert report["rows"][0]["estimated_share"] == 1.0
    assert report["total"]["requests"] == 4 and report["total"]["cache_hits"] == 1
    assert report["total"]["cost"] == pytest.approx(4.5)


def test_days_counts_back_from_until(config: Path) -> None:
    result = run(config, "--until", "2026-12-01", "--days", "2", "--json")
    report = json.loads(result.stdout)
    assert report["since"] == "2026-11-30"
    assert report["total"]["cost"] == pytest.approx(101.75)


def test_chart_is_a_png(config: Path, tmp_path: Path) -> None:
    chart = tmp_path / "out" / "costs.png"
    result = run(config, *PERIOD, "--by", "day,model", "--chart", str(chart), "--json")
    assert result.exit_code == 0, result.output
    json.loads(result.stdout)  # the note about the chart goes to stderr
    assert "costs.png" in result.stderr
    data = chart.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(data) > 10_000  # bars, axes, labels and legend, not an empty canvas


def test_chart_without_matplotlib_says_what_to_install(
    config: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    result = run(config, "--chart", str(tmp_path / "costs.png"))
    assert result.exit_code == 1
    assert "pip install 'leitstand[charts]'" in result.stderr
    assert not (tmp_path / "costs.png").exists()


def test_mistakes_are_named(config: Path) -> None:
    result = run(config, "--by", "day,tenant")
    assert result.exit_code == 1
    assert "cannot group by 'tenant'" in result.stderr and "use-case" in result.stderr
    result = run(config, "--since", "2026-12-03", "--until", "2026-12-01")
    assert result.exit_code == 1 and "after --until" in result.stderr
    result = run(config, "--since", "1.12.2026")
    assert result.exit_code == 1 and "YYYY-MM-DD" in result.stderr
    result = run(config, "--since", "2026-12-01", "--days", "3")
    assert result.exit_code == 1 and "not both" in result.stderr
