"""Prices, token estimates, and the cost report over usage records (SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from typing import Any

import pytest

from leitstand.config.settings import ModelSettings
from leitstand.govern.costs import (
    cost_of,
    cost_report,
    estimate_message_tokens,
    estimate_tokens,
    parse_dimensions,
    total,
)
from leitstand.store.database import Database
from leitstand.store.models import UsageRecord


def _record(day: str, **fields: Any) -> UsageRecord:
    values: dict[str, Any] = {
        "trace_id": None,
        "at": datetime.fromisoformat(f"{day}T12:00:00").replace(tzinfo=UTC),
        "day": day,
        "use_case": "support",
        "key_name": "crm-bot",
        "team": "service",
        "model": "small",
        "provider_model": "gpt-4o-mini",
        "prompt_tokens": 100,
        "completion_tokens": 20,
        "tokens_estimated": False,
        "cost": 0.01,
        "cached": False,
        "status": "ok",
        **fields,
    }
    return UsageRecord(**values)


def _rows() -> list[UsageRecord]:
    return [
        _record("2026-12-01"),
        _record("2026-12-01", use_case="hr", team="people", key_name="hr-bot", cost=0.5),
        _record("2026-12-02", tokens_estimated=True, prompt_tokens=300, completion_tokens=100),
        _record("2026-12-02", cached=True, cost=0.0),
        _record("2026-12-03", model="large", key_name=None, team=None, cost=2.0),
    ]


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    database = Database(database_url)
    database.migrate()
    with database.write() as session:
        session.add_all(_rows())
    yield database
    database.dispose()


@pytest.mark.integration
def test_costs_per_day_add_up(db: Database) -> None:
    rows = cost_report(db, by=["day"])
    assert [r.group["day"] for r in rows] == ["2026-12-01", "2026-12-02", "2026-12-03"]
    first, second, third = rows
    assert first.requests == 2 and first.cost == pytest.approx(0.51)
    assert (first.prompt_tokens, first.completion_tokens) == (200, 40)
    assert second.requests == 2 and second.cache_hits == 1
    assert second.estimated_tokens == 400
    assert second.estimated_share == pytest.approx(400 / 520)
    assert third.cost == pytest.approx(2.0) and third.estimated_share == 0
    summed = total(rows)
    assert summed.requests == 5 and summed.cost == pytest.approx(2.52)
    assert summed.cache_hits == 1 and summed.tokens == 520 + 240 + 120


@pytest.mark.integration
def test_grouping_by_two_dimensions_and_missing_values(db: Database) -> None:
    rows = cost_report(db, by=["team", "model"])
    assert [(r.group["team"], r.group["model"], r.requests) for r in rows] == [
        ("people", "small", 1),
        ("service", "small", 3),
        (None, "large", 1),  # requests without a key have no team; listed last
    ]
    keys = cost_report(db, by=["key"])
    assert [(r.group["key"], r.requests) for r in keys] == [
        ("crm-bot", 3),
        ("hr-bot", 1),
        (None, 1),
    ]
    by_use_case = {r.group["use_case"]: r.cost for r in cost_report(db, by=["use_case"])}
    assert by_use_case == pytest.approx({"support": 2.02, "hr": 0.5})


@pytest.mark.integration
def test_period_includes_both_ends(db: Database) -> None:
    rows = cost_report(db, by=["day"], since=date(2026, 12, 2), until=date(2026, 12, 2))
    assert [r.group["day"] for r in rows] == ["2026-12-02"]
    assert cost_report(db, by=["day"], since=date(2026, 12, 4)) == []
    assert cost_report(db, by=[], until=date(2026, 12, 1))[0].requests == 2
    assert cost_report(db, by=[], since=date(2027, 1, 1)) == []


@pytest.mark.unit
def test_cost_of_uses_prices_per_million_tokens() -> None:
    model = ModelSettings(
        base_url="http://localhost:1/v1", model="m", price_input=0.15, price_output=0.6
    )
    assert cost_of(model, 1_000_000, 0) == pytest.approx(0.15)
    assert cost_of(model, 2_000, 500) == pytest.approx((2_000 * 0.15 + 500 * 0.6) / 1e6)
    free = ModelSettings(base_url="http://localhost:1/v1", model="m")
    assert cost_of(free, 10_000, 10_000) == 0


@pytest.mark.unit
def test_token_estimates() -> None:
    assert estimate_tokens("", 4) == 0
    assert estimate_tokens("abcd", 4) == 1
    assert estimate_tokens("abcde", 4) == 2  # rounded up
    assert estimate_tokens("a" * 30, 3.0) == 10
    messages = [
        {"role": "system", "content": "a" * 40},
        {"role": "user", "content": [{"type": "text", "text": "b" * 8}, {"type": "image_url"}]},
    ]
    # 3 to prime the reply, 4 per message, and the texts (40 + 8 characters, 4 per token;
    # the list's parts are joined by a space, which counts too).
    assert estimate_message_tokens(messages, 4) == 3 + 4 + 10 + 4 + 2
    calls = [
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [{"function": {"name": "lookup", "arguments": '{"id": 1}'}}],
        }
    ]
    assert estimate_message_tokens(calls, 4) > 3 + 4


@pytest.mark.unit
def test_dimensions_are_read_with_hyphens_and_checked() -> None:
    assert parse_dimensions("day, use-case,key,day") == ["day", "use_case", "key"]
    with pytest.raises(ValueError, match="known: day, use-case, key, team, model"):
        parse_dimensions("day,tenant")
