"""Rate limits and budgets hold across worker processes, on SQLite and on PostgreSQL."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import pytest
from sqlalchemy import select

from leitstand.config.settings import GatewaySettings
from leitstand.errors import BudgetExceededError, RateLimitedError
from leitstand.govern.limits import Admission, Limiter
from leitstand.store.database import Database
from leitstand.store.models import RateLimitState, UsageTotal

pytestmark = pytest.mark.integration

NOON = datetime(2026, 12, 3, 12, 0, tzinfo=UTC).timestamp()


class FakeClock:
    def __init__(self, now: float = NOON) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds

    def set(self, year: int, month: int, day: int, hour: int = 0) -> None:
        self.now = datetime(year, month, day, hour, tzinfo=UTC).timestamp()


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    database = Database(database_url)
    database.migrate()
    yield database
    database.dispose()


def limiter(db: Database, clock: FakeClock, currency: str = "EUR", **limits: Any) -> Limiter:
    settings = GatewaySettings.model_validate({"limits": limits, "currency": currency})
    return Limiter(db, settings, clock)


def admit(
    limiter: Limiter,
    key: str | None = "alice",
    use_case: str = "support",
    team: str | None = None,
    tokens: int = 0,
) -> Admission:
    return limiter.admit(key=key, team=team, use_case=use_case, tokens=tokens)


@pytest.mark.unit
def test_without_limits_nothing_touches_the_database() -> None:
    limits = Limiter(cast(Any, object()), GatewaySettings())  # any database access would fail
    admission = limits.admit(key="alice", team="legal", use_case="support", tokens=10_000)
    assert admission.scopes == ()
    assert admission.warnings == ()
    limits.record(admission, tokens=12_000, cost=99.0)


def test_requests_within_the_limit_pass_and_the_next_is_refused_until_it_refills(
    db: Database,
) -> None:
    clock = FakeClock()
    limits = limiter(db, clock, keys={"alice": {"requests_per_minute": 3}})
    for _ in range(3):  # a fresh key may take its whole minute at once
        admit(limits)
    with pytest.raises(RateLimitedError) as refused:
        admit(limits)
    error = refused.value
    assert error.scope == "key 'alice'"
    assert error.limit == "3 requests per minute"
    assert error.retry_after_s == pytest.approx(20.0)
    assert "key 'alice' has used 3 of its 3 requests per minute" in str(error)
    assert "passes in 20 s (at 12:00:20 UTC)" in str(error)
    assert "gateway.limits.keys.alice.requests_per_minute" in str(error)

    clock.advance(19.9)
    with pytest.raises(RateLimitedError):  # refusals take nothing, but do not refill either
        admit(limits)
    clock.now = NOON + 20
    admit(limits)  # one request's worth refilled after 60 s / 3
    with pytest.raises(RateLimitedError):
        admit(limits)
    admit(limits, key="bob")  # other keys are not limited
    clock.advance(60)
    for _ in range(3):
        admit(limits)


def test_a_scope_that_refuses_gives_back_what_the_scopes_before_it_took(
    db: Database,
) -> None:
    clock = FakeClock()
    limits = limiter(
        db,
        clock,
        keys={"alice": {"requests_per_minute": 3}},
        use_cases={"support": {"requests_per_minute": 2}},
    )
    admit(limits)
    admit(limits)
    with pytest.raises(RateLimitedError) as refused:  # the use case, checked after the key
        admit(limits)
    assert refused.value.scope == "use case 'support'"
    admit(limits, use_case="other")  # alice's third request is still there
    with pytest.raises(RateLimitedError) as refused:
        admit(limits, use_case="other")
    assert refused.value.scope == "key 'alice'"


def test_default_key_limits_every_key_on_its_own_and_no_key_not_at_all(db: Database) -> None:
    clock = FakeClock()
    limits = limiter(db, clock, default_key={"requests_per_minute": 1})
    admit(limits, key="alice")
    admit(limits, key="bob")
    with pytest.raises(RateLimitedError, match=r"(?s)key 'alice'.*gateway\.limits\.default_key"):
        admit(limits, key="alice")
    for _ in range(5):
        assert admit(limits, key=None).scopes == ()


def test_tokens_per_minute_count_the_prompt_first_and_the_answer_after(db: Database) -> None:
    clock = FakeClock()
    limits = limiter(db, clock, teams={"legal": {"tokens_per_minute": 1000}})
    first = admit(limits, team="legal", tokens=600)
    with pytest.raises(RateLimitedError) as refused:
        admit(limits, team="legal", tokens=600)
    assert refused.value.scope == "team 'legal'"
    assert refused.value.retry_after_s == pytest.approx(12.0)  # 200 tokens at 1000/min
    assert "has used 600 of its 1,000 tokens per minute" in str(refused.value)
    assert "needs about 600 more" in str(refused.value)
    admit(limits, team="legal", tokens=390)

    # 600 prompt + 900 completion: 900 more than admitted, into debt
    limits.record(first, tokens=1500, cost=0.01)
    with pytest.raises(RateLimitedError) as refused:
        admit(limits, team="legal", tokens=0)
    assert refused.value.retry_after_s == pytest.approx(53.4)  # 1890 used, 1000 allowed
    assert "has used 1,890 of its 1,000 tokens per minute" in str(refused.value)
    clock.advance(53.5)
    admit(limits, team="legal", tokens=0)

    # a request bigger than a whole minute passes when the allowance is full, then waits
    clock.advance(120)
    big = admit(limits, team="legal", tokens=5000)
    assert big.tokens == 5000
    with pytest.raises(RateLimitedError, match="it passes once that allowance is full again"):
        admit(limits, team="legal", tokens=5000)
    with pytest.raises(RateLimitedError):
        admit(limits, team="legal", tokens=1)


def _totals(db: Database) -> dict[tuple[str, str], tuple[float, int, int]]:
    with db.read() as session:
        rows = session.scalars(select(UsageTotal)).all()
    return {(r.scope, r.period): (r.cost, r.tokens, r.requests) for r in rows}


def test_record_adds_to_the_day_and_month_of_every_limited_scope(db: Database) -> None:
    clock = FakeClock()
    limits = limiter(
        db,
        clock,
        keys={"alice": {"cost_per_day": 5}},
        teams={"legal": {"requests_per_minute": 100}},
    )
    for cost in (0.5, 0.25):
        admission = admit(limits, team="legal", tokens=10)
        limits.record(admission, tokens=30, cost=cost)
    limits.record(admit(limits, key="bob", use_case="other"), tokens=5, cost=1.0)  # no limits
    assert _totals(db) == {
        ("key:alice", "day:2026-12-03"): (0.75, 60, 2),
        ("key:alice", "month:2026-12"): (0.75, 60, 2),
        ("team:legal", "day:2026-12-03"): (0.75, 60, 2),
        ("team:legal", "month:2026-12"): (0.75, 60, 2),
    }


def test_a_hard_daily_budget_refuses_until_the_next_utc_day(db: Database) -> None:
    clock = FakeClock()
    limits = limiter(db, clock, teams={"legal": {"cost_per_day": 10}})
    admission = admit(limits, team="legal")
    limits.record(admission, tokens=100, cost=6.01)
    limits.record(admit(limits, team="legal"), tokens=100, cost=4.01)  # admitted while under
    with pytest.raises(BudgetExceededError) as refused:
        admit(limits, team="legal")
    error = refused.value
    assert error.message == (
        "the daily budget of team 'legal' is spent: 10.02 EUR of 10.00 EUR; "
        "it resets at 2026-12-04 00:00 UTC"
    )
    assert error.scope == "team 'legal'"
    assert error.limit == "daily budget of 10.00 EUR"
    assert error.retry_after_s == pytest.approx(12 * 3600)
    assert "gateway.limits.teams.legal.cost_per_day" in str(error)
    admit(limits, team="sales")  # other teams go on

    clock.set(2026, 12, 3, 23)
    with pytest.raises(BudgetExceededError):
        admit(limits, team="legal")
    clock.set(2026, 12, 4)
    assert admit(limits, team="legal").warnings == ()


def test_a_hard_monthly_budget_holds_across_days_until_the_next_month(db: Database) -> None:
    clock = FakeClock()
    clock.set(2026, 12, 30, 9)
    limits = limiter(db, clock, use_cases={"support": {"cost_per_month": 50}}, currency="CHF")
    limits.record(admit(limits), tokens=1, cost=30)
    clock.set(2026, 12, 31, 9)
    limits.record(admit(limits), tokens=1, cost=25)
    clock.set(2026, 12, 31, 23)
    with pytest.raises(BudgetExceededError) as refused:
        admit(limits)
    assert refused.value.message == (
        "the monthly budget of use case 'support' is spent: 55.00 CHF of 50.00 CHF; "
        "it resets at 2027-01-01 00:00 UTC"
    )
    assert refused.value.retry_after_s == pytest.approx(3600)
    clock.set(2027, 1, 1)
    admit(limits)


def test_a_soft_budget_serves_and_warns(db: Database) -> None:
    clock = FakeClock()
    limits = limiter(
        db,
        clock,
        keys={"alice": {"cost_per_day": 1, "cost_per_month": 2, "budget": "soft"}},
    )
    limits.record(admit(limits), tokens=1, cost=1.5)
    warnings = admit(limits).warnings
    assert warnings == (
        "the daily budget of key 'alice' is spent: 1.50 EUR of 1.00 EUR; "
        "it resets at 2026-12-04 00:00 UTC (soft budget: served anyway)",
    )
    clock.advance(24 * 3600)
    limits.record(admit(limits), tokens=1, cost=0.5)
    assert [w.split(":")[0] for w in admit(limits).warnings] == [
        "the monthly budget of key 'alice' is spent"
    ]


def test_a_hard_budget_refuses_before_any_rate_is_taken(db: Database) -> None:
    clock = FakeClock()
    limits = limiter(db, clock, keys={"alice": {"cost_per_day": 0, "requests_per_minute": 1}})
    with pytest.raises(BudgetExceededError):
        admit(limits)
    with db.read() as session:
        assert session.scalars(select(RateLimitState)).all() == []


_HAMMER = textwrap.dedent(
    """
    import json, os, sys, time
    from pathlib import Path
    from sqlalchemy import text
    from leitstand.config.settings import GatewaySettings
    from leitstand.errors import RateLimitedError
    from leitstand.govern.limits import Admission, Limiter
    from leitstand.store.database import Database

    url, settings, ready, go = sys.argv[1], sys.argv[2], Path(sys.argv[3]), Path(sys.argv[4])

    class Clock:  # the real time, remembering the first and last moment a decision used
        first, last = float("inf"), 0.0
        def __call__(self):
            now = time.time()
            self.first, self.last = min(self.first, now), max(self.last, now)
            return now

    db = Database(url)
    gateway = GatewaySettings.model_validate_json(settings)
    limiters = {key: (Limiter(db, gateway, Clock())) for key in ("fresh", "drained")}
    with db.read() as session:
        session.execute(text("SELECT 1"))
    ready.touch()
    while not go.exists():
        time.sleep(0.002)
    stop = float(go.read_text())
    admitted = dict.fromkeys(limiters, 0)
    refused = 0
    while time.time() < stop:
        for key, limiter in limiters.items():
            try:
                limiter.admit(key=key, team=None, use_case="x", tokens=0)
            except RateLimitedError as error:
                assert error.retry_after_s > 0
                refused += 1
            else:
                admitted[key] += 1
    clocks = {key: [limiter.clock.first, limiter.clock.last] for key, limiter in limiters.items()}
    print(json.dumps({"admitted": admitted, "refused": refused, "clocks": clocks}), flush=True)
    os._exit(0)  # skip the interpreter's clean-up: it took a second on a busy machine
    """
)


@pytest.mark.slow
def test_four_processes_share_one_limit(database_url: str, tmp_path: Path) -> None:
    fresh_rpm, drained_rpm = 120, 1200
    settings = GatewaySettings.model_validate(
        {
            "limits": {
                "keys": {
                    "fresh": {"requests_per_minute": fresh_rpm},
                    "drained": {"requests_per_minute": drained_rpm},
                }
            }
        }
    )
    db = Database(database_url)
    db.migrate()
    go = tmp_path / "go"
    processes = []
    for number in range(4):
        ready = tmp_path / f"ready{number}"
        command = [sys.executable, "-c", _HAMMER, database_url, settings.model_dump_json()]
        process = subprocess.Popen(
            [*command, str(ready), str(go)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        processes.append((ready, process))
    try:
        deadline = time.monotonic() + 60
        while not all(ready.exists() for ready, _ in processes):
            assert time.monotonic() < deadline, "the hammering processes did not start"
            assert all(process.poll() is None for _, process in processes)
            time.sleep(0.01)
        # "drained" starts with its minute used up: it passes exactly at its rate
        drained_since = time.time()
        with db.write() as session:
            session.add(RateLimitState(scope="key:drained:rpm", tat=drained_since + 60))
        pending = tmp_path / "go.tmp"
        pending.write_text(str(time.time() + 3.0))
        os.replace(pending, go)  # all start now and stop in 3 s
        reports = []
        for _, process in processes:
            out, err = process.communicate(timeout=60)
            assert process.returncode == 0, err
            reports.append(json.loads(out))
    finally:
        for _, process in processes:
            if process.poll() is None:
                process.kill()
        db.dispose()

    def total(key: str) -> int:
        return sum(report["admitted"][key] for report in reports)

    def clock(key: str, which: int) -> float:
        pick = min if which == 0 else max
        return float(pick(report["clocks"][key][which] for report in reports))

    assert sum(report["refused"] for report in reports) > 0
    # a fresh scope: one minute's allowance at once, then the rate
    fresh_expected = fresh_rpm + fresh_rpm / 60 * (clock("fresh", 1) - clock("fresh", 0))
    assert total("fresh") == pytest.approx(fresh_expected, rel=0.05)
    drained_expected = drained_rpm / 60 * (clock("drained", 1) - drained_since)
    assert drained_expected > 40  # the test ran long enough to mean something
    assert total("drained") == pytest.approx(drained_expected, rel=0.05)
