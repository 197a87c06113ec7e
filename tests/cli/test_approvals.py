"""``leitstand approvals``: list held tool calls, approve and reject them."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from leitstand.cli.app import app
from leitstand.guard.tools import ToolApprovals
from leitstand.store.database import Database

pytestmark = pytest.mark.integration


@pytest.fixture
def setup(tmp_path: Path) -> Iterator[tuple[Path, ToolApprovals]]:
    url = f"sqlite:///{tmp_path / 'data' / 'leitstand.db'}"
    config = tmp_path / "leitstand.yaml"
    config.write_text(f"data_dir: {tmp_path / 'data'}\ndatabase_url: {url}\n", encoding="utf-8")
    db = Database(url)
    db.migrate()
    yield config, ToolApprovals(db)
    db.dispose()


def run(config: Path, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, ["--config", str(config), "approvals", *args])
    return result.exit_code, result.stdout, result.stderr


def test_list_approve_reject(setup: tuple[Path, ToolApprovals]) -> None:
    config, approvals = setup
    mail = approvals.hold("send_mail", '{"to": "chef@example.org"}', use_case="support")
    refund = approvals.hold("refund", '{"amount": 120}', key_name="crm-bot")

    code, out, _ = run(config, "list")
    assert code == 0
    assert "send_mail" in out and "refund" in out and out.count("pending") == 2

    code, out, _ = run(config, "approve", str(mail.id), "--by", "alice")
    assert code == 0
    assert f"approved call of send_mail (approval {mail.id}) by alice" in out
    code, out, _ = run(config, "reject", str(refund.id), "--by", "bob")
    assert code == 0 and "rejected call of refund" in out

    code, out, _ = run(config, "list", "--json")
    rows = json.loads(out)
    assert [(r["id"], r["status"], r["decided_by"]) for r in rows] == [
        (mail.id, "approved", "alice"),
        (refund.id, "rejected", "bob"),
    ]
    assert rows[0]["use_case"] == "support" and rows[1]["key_name"] == "crm-bot"
    assert json.loads(run(config, "list", "--status", "pending", "--json")[1]) == []
    assert approvals.get(mail.id).status == "approved"  # written where the server reads


def test_errors_are_messages_not_tracebacks(setup: tuple[Path, ToolApprovals]) -> None:
    config, approvals = setup
    held = approvals.hold("send_mail", "{}")
    run(config, "approve", str(held.id), "--by", "alice")

    code, _, err = run(config, "reject", str(held.id), "--by", "bob")
    assert code == 1 and f"approval {held.id} was already approved by alice" in err
    code, _, err = run(config, "approve", "999", "--by", "alice")
    assert code == 1 and "no tool approval with id 999" in err
    assert "leitstand approvals list" in err
    code, _, err = run(config, "list", "--status", "done")
    assert code == 1 and "status 'done' is not known" in err
    code, _, _ = run(config, "approve", str(held.id))
    assert code == 2  # --by is required
