"""Personal data per collection at ingestion (``ingest.pii``): keep, mask or refuse."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from conftest import write_files
from leitstand.errors import ConfigError
from leitstand.ingest.pipeline import TextRecord
from leitstand.ingest.workers import POOL_MIN_FILES

IBAN = "DE89 3704 0044 0532 0130 00"
PAYROLL = (
    "# Gehaltsabrechnung März\n\n"
    f"Die Auszahlung an Angela Merkel erfolgt auf das Konto {IBAN} am 28. des Monats. "
    "Rückfragen beantwortet die Lohnbuchhaltung.\n"
)
HANDBOOK = "# Urlaub\n\nUrlaub beantragen Sie im Personalportal mindestens zwei Wochen vorher.\n"


def test_masked_values_never_reach_the_index_and_offsets_stay_true(
    tmp_path: Path, database_url: str, open_leitstand: Any
) -> None:
    ls = open_leitstand(database_url, ingest={"pii": {"hr": {"IBAN": "mask", "PERSON": "mask"}}})
    report = ls.ingest(write_files(tmp_path / "hr", {"maerz.md": PAYROLL}), source="hr")
    assert dict(report.masked) == {"IBAN": 1, "PERSON": 1}
    assert report.summary()["masked"] == 2
    (hit,) = ls.search("Auszahlung Konto Lohnbuchhaltung").hits
    assert "Merkel" not in hit.text and "3704" not in hit.text
    assert "[IBAN]•••" in hit.text and "[PERSON]" in hit.text
    # Every offset into the document is unchanged: the masks keep the values' lengths.
    assert len(hit.text) == hit.end_char - hit.start_char
    masked = "Die Auszahlung an Angela Merkel erfolgt auf das Konto " + IBAN + " am 28."
    assert hit.text.startswith("Die Auszahlung an [PERSON]") and hit.text.index(" am 28.") == (
        masked.index(" am 28.")
    )
    assert ls.search("Merkel").hits == [] and ls.search("DE89370400440532013000").hits == []


def test_a_refused_document_is_reported_and_removed_if_it_was_indexed(
    tmp_path: Path, database_url: str, open_leitstand: Any
) -> None:
    docs = write_files(tmp_path / "hr", {"maerz.md": PAYROLL, "urlaub.md": HANDBOOK})
    before = open_leitstand(database_url)
    assert before.ingest(docs, source="hr").summary()["added"] == 2
    assert before.search("Auszahlung Lohnbuchhaltung").hits
    before.close()

    ls = open_leitstand(database_url, ingest={"pii": {"hr": {"IBAN": "refuse"}}})
    report = ls.ingest(docs, source="hr")
    (refused,) = report.refused
    assert refused.path == "maerz.md" and "IBAN ×1" in refused.message
    assert "ingest.pii" in (refused.hint or "")
    assert report.removed == ["maerz.md"] and report.failed == []
    assert ls.search("Auszahlung Lohnbuchhaltung").hits == []
    assert ls.search("Urlaub Personalportal").hits[0].path == "urlaub.md"


def test_the_policy_is_per_collection(tmp_path: Path, sqlite_url: str, open_leitstand: Any) -> None:
    ls = open_leitstand(
        sqlite_url, ingest={"pii": {"*": {"IBAN": "mask"}, "finanzen": {"IBAN": "keep"}}}
    )
    ls.ingest_texts([TextRecord("a.txt", PAYROLL)], source="hr")
    ls.ingest_texts([TextRecord("a.txt", PAYROLL)], source="finanzen")
    texts = {hit.source: hit.text for hit in ls.search("Auszahlung Konto").hits}
    assert "[IBAN]" in texts["hr"] and "Merkel" in texts["hr"]
    assert IBAN in texts["finanzen"]


def test_worker_processes_apply_the_policy(
    tmp_path: Path, sqlite_url: str, open_leitstand: Any
) -> None:
    files = {f"abrechnung-{n:02}.md": PAYROLL.replace("März", f"Monat {n}") for n in range(6)}
    files.update({f"urlaub-{n:02}.md": HANDBOOK for n in range(POOL_MIN_FILES)})
    ls = open_leitstand(
        sqlite_url, ingest={"workers": 2, "pii": {"*": {"PERSON": "mask", "IBAN": "refuse"}}}
    )
    report = ls.ingest(write_files(tmp_path / "docs", files))
    assert sorted(p.path for p in report.refused) == sorted(f for f in files if "abr" in f)
    assert report.summary()["added"] == POOL_MIN_FILES


def test_an_unknown_class_is_refused_with_its_place(open_leitstand: Any) -> None:
    with pytest.raises(ConfigError) as error:
        open_leitstand(ingest={"pii": {"hr": {"KONTO": "mask"}}})
    assert "unknown PII class 'KONTO'" in str(error.value) and "IBAN" in str(error.value)


def test_the_cli_reports_refused_files_and_masked_values(tmp_path: Path) -> None:
    docs = write_files(tmp_path / "hr", {"maerz.md": PAYROLL, "brief.md": "Frau Angela Merkel"})
    config = tmp_path / "leitstand.yaml"
    config.write_text(
        f"data_dir: {tmp_path / 'data'}\ningest:\n  pii:\n    hr: {{IBAN: refuse, PERSON: mask}}\n",
        encoding="utf-8",
    )
    run = [sys.executable, "-m", "leitstand", "--config", str(config), "ingest", str(docs)]
    shown = subprocess.run([*run, "--json"], capture_output=True, text=True, check=False)
    assert shown.returncode == 0, shown.stderr
    (report,) = json.loads(shown.stdout)
    assert [f["path"] for f in report["refused_files"]] == ["maerz.md"]
    assert report["masked_pii"] == {"PERSON": 1}
    (docs / "brief.md").write_text("Herr Olaf Scholz", encoding="utf-8")
    printed = subprocess.run(run, capture_output=True, text=True, check=False)
    assert "maerz.md: contains personal data its collection refuses (IBAN ×1)" in printed.stdout
    assert "personal data masked before indexing: PERSON ×1" in printed.stdout
