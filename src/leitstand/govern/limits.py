"""Rate limits and money budgets per API key, team and use case, shared by all workers.

Requests and tokens per minute follow the generic cell rate algorithm (GCRA): each limit
scope (``key:alice:rpm``) keeps one number in ``rate_limits``, its theoretical arrival time
(TAT). A request costing ``n`` units at a limit of ``L`` per minute moves the TAT on by
``n * 60 / L`` seconds and passes while the TAT stays within one minute of now, so a fresh
scope may take a whole minute's allowance at once and then refills continuously. One
``UPDATE ... WHERE tat <= threshold RETURNING`` decides, so every worker process and
replica on the same database shares the limit exactly; the scopes of one request are
taken in one transaction (in a fixed order, so PostgreSQL cannot deadlock), and a refusal
rolls back what the earlier scopes took.

Money budgets per UTC day and calendar month are checked against ``usage_totals``, which
:meth:`Limiter.record` adds to after each answer. A spent hard budget refuses; a soft one
serves and says so in :attr:`Admission.warnings`. Budgets are checked, not reserved:
requests already in flight when a budget runs out still finish and are counted.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

from sqlalchemy import text
from sqlalchemy.orm import Session

from leitstand.config.settings import GatewaySettings, LimitSpec
from leitstand.errors import BudgetExceededError, RateLimitedError, StorageError
from leitstand.store.database import Database

WINDOW_S = 60.0
"""The burst: how far ahead of now a scope's TAT may run (one minute's allowance)."""

_KIND_LABELS = {"key": "key", "team": "team", "use_case": "use case"}


@dataclass(frozen=True)
class Scope:
    """One key, team or use case with limits, as a request meets it."""

    kind: Literal["key", "team", "use_case"]
    name: str
    spec: LimitSpec
    setting: str
    """Where its limits are configured, e.g. ``gateway.limits.teams.legal``."""

    @property
    def id(self) -> str:
        """The scope in ``usage_totals`` and (with a suffix) ``rate_limits``: ``team:legal``."""
        return f"{self.kind}:{self.name}"

    @property
    def label(self) -> str:
        """For people: ``team 'legal'``."""
        return f"{_KIND_LABELS[self.kind]} '{self.name}'"


@dataclass(frozen=True)
class Admission:
    """A request the limiter let through; hand it back to :meth:`Limiter.record`."""

    key: str | None
    team: str | None
    use_case: str
    tokens: int
    """The estimated prompt tokens taken from the token rates at admission."""
    scopes: tuple[Scope, ...] = ()
    """The scopes with limits that the request counts against (empty: nothing to record)."""
    warnings: tuple[str, ...] = ()
    """Spent soft budgets; the request is served anyway."""


@dataclass(frozen=True)
class _Bucket:
    scope: Scope
    unit: Literal["requests", "tokens"]
    per_minute: float

    @property
    def row(self) -> str:
        return f"{self.scope.id}:{'rpm' if self.unit == 'requests' else 'tpm'}"

    @property
    def interval(self) -> float:
        """Seconds of TAT that one unit costs."""
        return WINDOW_S / self.per_minute

    @property
    def limit(self) -> str:
        return f"{_number(self.per_minute)} {self.unit} per minute"

    @property
    def setting(self) -> str:
        field = "requests_per_minute" if self.unit == "requests" else "tokens_per_minute"
        return f"{self.scope.setting}.{field}"


class Limiter:
    """Requests and tokens per minute and money budgets, counted in the database."""

    def __init__(
        self,
        db: Database,
        settings: GatewaySettings,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.db = db
        self.settings = settings
        self.clock = clock
        limits = settings.limits
        self.enabled = bool(limits.keys or limits.default_key or limits.teams or limits.use_cases)
        """False when no limits are configured: then nothing touches the database."""
        if not self.enabled:
            return
        greatest = "max" if db.is_sqlite else "GREATEST"  # SQL text chosen here, no input
        self._take_sql = text(
            f"UPDATE rate_limits SET tat = {greatest}(tat, :now) + :inc "  # noqa: S608
            "WHERE scope = :scope AND tat <= :threshold RETURNING tat"
        )
        self._debit_sql = text(
            f"UPDATE rate_limits SET tat = {greatest}(tat, :now) + :inc "  # noqa: S608
            "WHERE scope = :scope"
        )
        self._tat_sql = text("SELECT tat FROM rate_limits WHERE scope = :scope")
        self._new_sql = text(
            "INSERT INTO rate_limits (scope, tat) VALUES (:scope, 0) ON CONFLICT (scope) DO NOTHING"
        )
        self._spent_sql = text(  # a request has at most three scopes: key, team, use case
            "SELECT scope, period, cost FROM usage_totals "
            "WHERE scope IN (:s0, :s1, :s2) AND period IN (:day, :month)"
        )
        self._add_sql = text(
            "INSERT INTO usage_totals (scope, period, cost, tokens, requests) "
            "VALUES (:scope, :period, :cost, :tokens, 1) "
            "ON CONFLICT (scope, period) DO UPDATE SET "
            "cost = usage_totals.cost + excluded.cost, "
            "tokens = usage_totals.tokens + excluded.tokens, "
            "requests = usage_totals.requests + 1"
        )

    # -- before the request ------------------------------------------------------------

    def admit(self, *, key: str | None, team: str | None, use_case: str, tokens: int) -> Admission:
        """Let a request through or refuse it; ``tokens`` is its estimated prompt size.

        Raises :class:`BudgetExceededError` when a hard budget is spent and
        :class:`RateLimitedError` when a rate is over; a refused request takes nothing.
        """
        scopes = self.scopes(key=key, team=team, use_case=use_case)
        if not scopes:
            return Admission(key=key, team=team, use_case=use_case, tokens=tokens)
        buckets = sorted(_buckets(scopes), key=lambda bucket: bucket.row)
        budgeted = [
            scope
            for scope in scopes
            if scope.spec.cost_per_day is not None or scope.spec.cost_per_month is not None
        ]
        warnings: list[str] = []
        if buckets or budgeted:
            with self.db.write() if buckets else self.db.read() as session:
                now = self.clock()
                if budgeted:
                    warnings = self._check_budgets(session, budgeted, now)
                for bucket in buckets:
                    amount = 1 if bucket.unit == "requests" else max(tokens, 0)
                    self._take(session, bucket, amount, now)
        return Admission(
            key=key,
            team=team,
            use_case=use_case,
            tokens=tokens,
            scopes=scopes,
            warnings=tuple(warnings),
        )

    def scopes(self, *, key: str | None, team: str | None, use_case: str) -> tuple[Scope, ...]:
        """The key, team and use case of a request that have limits configured."""
        if not self.enabled:
            return ()
        limits = self.settings.limits
        found: list[Scope] = []
        if key is not None:
            if key in limits.keys:
                found.append(Scope("key", key, limits.keys[key], f"gateway.limits.keys.{key}"))
            elif limits.default_key is not None:
                found.append(Scope("key", key, limits.default_key, "gateway.limits.default_key"))
        if team is not None and team in limits.teams:
            found.append(Scope("team", team, limits.teams[team], f"gateway.limits.teams.{team}"))
        if use_case in limits.use_cases:
            found.append(
                Scope(
                    "use_case",
                    use_case,
                    limits.use_cases[use_case],
                    f"gateway.limits.use_cases.{use_case}",
                )
            )
        return tuple(found)

    def _take(self, session: Session, bucket: _Bucket, amount: float, now: float) -> None:
        inc = amount * bucket.interval
        # Passes while the TAT after this request stays within the window; a request larger
        # than the whole window passes only when the allowance is full (it then runs into debt).
        threshold = now + max(WINDOW_S - inc, 0.0)
        params = {"scope": bucket.row, "now": now, "inc": inc, "threshold": threshold}
        for _attempt in range(5):
            if session.execute(self._take_sql, params).first() is not None:
                return
            tat = session.execute(self._tat_sql, {"scope": bucket.row}).scalar()
            if tat is None:  # the scope's first request: make its row, then take
                session.execute(self._new_sql, {"scope": bucket.row})
            elif tat > threshold:
                raise _rate_error(bucket, amount, float(tat), now, threshold)
            # else PostgreSQL: another transaction committed the row after the UPDATE's
            # snapshot was taken (read committed); the next UPDATE sees it.
        raise StorageError(f"cannot take from the rate limit {bucket.row!r}: it keeps changing")

    def _check_budgets(self, session: Session, scopes: list[Scope], now: float) -> list[str]:
        day, month = _periods(now)
        ids = [scope.id for scope in scopes]
        padded = {f"s{number}": ids[min(number, len(ids) - 1)] for number in range(3)}
        rows = session.execute(self._spent_sql, {**padded, "day": day.key, "month": month.key})
        spent = {(scope, period): float(cost) for scope, period, cost in rows}
        refusals: list[BudgetExceededError] = []
        warnings: list[str] = []
        for scope in scopes:
            limits = ((day, scope.spec.cost_per_day), (month, scope.spec.cost_per_month))
            for period, limit in limits:
                if limit is None:
                    continue
                used = spent.get((scope.id, period.key), 0.0)
                if used < limit:
                    continue
                error = self._budget_error(scope, period, used, limit, now)
                if scope.spec.budget == "hard":
                    refusals.append(error)
                else:
                    warnings.append(f"{error.message} (soft budget: served anyway)")
        if refusals:
            raise max(refusals, key=lambda error: error.retry_after_s)
        return warnings

    def _budget_error(
        self, scope: Scope, period: _Period, used: float, limit: float, now: float
    ) -> BudgetExceededError:
        currency = self.settings.currency
        digits = _digits(limit)
        field = "cost_per_day" if period.name == "daily" else "cost_per_month"
        return BudgetExceededError(
            f"the {period.name} budget of {scope.label} is spent: "
            f"{used:,.{digits}f} {currency} of {limit:,.{digits}f} {currency}; "
            f"it resets at {period.resets:%Y-%m-%d %H:%M} UTC",
            scope=scope.label,
            limit=f"{period.name} budget of {limit:,.{digits}f} {currency}",
            retry_after_s=max(period.resets.timestamp() - now, 0.0),
            hint=(
                f"wait for the reset, raise {scope.setting}.{field}, or set "
                f"{scope.setting}.budget: soft to warn instead of refusing"
            ),
        )

    # -- after the answer --------------------------------------------------------------

    def record(self, admission: Admission, *, tokens: int, cost: float) -> None:
        """Count an answer: its ``cost`` and all its ``tokens`` (prompt and completion).

        Adds to each scope's totals of the UTC day and month, and takes the tokens beyond
        the estimate that :meth:`admit` took (the completion, mostly) from the token rates,
        even into debt, so the following requests wait for them; an over-estimate is given
        back.
        """
        if not admission.scopes:
            return
        extra = tokens - max(admission.tokens, 0)
        buckets = sorted(
            (b for b in _buckets(admission.scopes) if b.unit == "tokens" and extra),
            key=lambda bucket: bucket.row,
        )
        with self.db.write() as session:
            now = self.clock()
            rows = [
                {"scope": scope.id, "period": period.key, "cost": cost, "tokens": tokens}
                for scope in admission.scopes
                for period in _periods(now)
            ]
            rows.sort(key=lambda row: (row["scope"], row["period"]))
            session.execute(self._add_sql, rows)
            for bucket in buckets:
                inc = extra * bucket.interval
                session.execute(self._debit_sql, {"scope": bucket.row, "now": now, "inc": inc})


@dataclass(frozen=True)
class _Period:
    name: Literal["daily", "monthly"]
    key: str
    resets: datetime


def _periods(now: float) -> tuple[_Period, _Period]:
    """The UTC day and month of ``now``, as ``usage_totals`` periods, with their ends."""
    moment = datetime.fromtimestamp(now, UTC)
    midnight = datetime(moment.year, moment.month, moment.day, tzinfo=UTC)
    year, month = divmod(moment.year * 12 + moment.month, 12)  # the next month, 0-based
    return (
        _Period("daily", f"day:{moment:%Y-%m-%d}", midnight + timedelta(days=1)),
        _Period("monthly", f"month:{moment:%Y-%m}", datetime(year, month + 1, 1, tzinfo=UTC)),
    )


def _buckets(scopes: tuple[Scope, ...]) -> Iterator[_Bucket]:
    for scope in scopes:
        if scope.spec.requests_per_minute is not None:
            yield _Bucket(scope, "requests", scope.spec.requests_per_minute)
        if scope.spec.tokens_per_minute is not None:
            yield _Bucket(scope, "tokens", scope.spec.tokens_per_minute)


def _rate_error(
    bucket: _Bucket, amount: float, tat: float, now: float, threshold: float
) -> RateLimitedError:
    retry = max(tat - threshold, 0.0)
    at = datetime.fromtimestamp(now + retry, UTC)
    when = f"in {_seconds(retry)} (at {at:%H:%M:%S} UTC)"
    used = round(max(tat - now, 0.0) / bucket.interval, 3)  # epoch floats: 599.99999
    label = bucket.scope.label
    if bucket.unit == "requests":
        message = (
            f"{label} has used {_number(min(math.ceil(used), bucket.per_minute))} of its "
            f"{bucket.limit}; the next request passes {when}"
        )
    elif amount > bucket.per_minute:
        message = (
            f"this request needs about {_number(amount)} tokens, more than the {bucket.limit} "
            f"of {label}; it passes once that allowance is full again, {when}"
        )
    else:
        needs = f" and this request needs about {_number(amount)} more" if amount else ""
        message = (
            f"{label} has used {_number(math.ceil(used))} of its {bucket.limit}{needs}; "
            f"it passes {when}"
        )
    return RateLimitedError(
        message,
        scope=label,
        limit=bucket.limit,
        retry_after_s=retry,
        hint=f"retry after {_seconds(retry)}, or raise {bucket.setting} in leitstand.yaml",
    )


def _number(value: float) -> str:
    return f"{value:,.0f}" if value == int(value) else f"{value:,g}"


def _seconds(value: float) -> str:
    return f"{value:.2f} s" if value < 10 else f"{value:,.0f} s"


def _digits(money: float) -> int:
    """Two decimals, more for budgets below a cent's resolution (0.005 EUR)."""
    return 2 if round(money, 2) == money else 4
