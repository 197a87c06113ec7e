"""What model requests cost: prices, token estimates, and the report behind `leitstand costs`.

Prices are per 1M tokens in ``gateway.currency`` (``models.<name>.price_input`` and
``price_output``). When a provider reports no usage, tokens are estimated from the text:
characters ÷ ``gateway.chars_per_token`` (4 for English and German prose with OpenAI's and
Llama's tokenizers), plus OpenAI's per-message overhead. No tokenizer is downloaded; rows
with estimated tokens are marked (``usage_records.tokens_estimated``) and the report shows
their share, so nobody takes an estimate for an invoice.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Literal, get_args

from sqlalchemy import ColumnElement, case, func, select
from sqlalchemy.orm import InstrumentedAttribute

from leitstand.config.settings import ModelSettings
from leitstand.store.database import Database
from leitstand.store.models import UsageRecord

Dimension = Literal["day", "use_case", "key", "team", "model"]
DIMENSIONS: tuple[Dimension, ...] = get_args(Dimension)

_COLUMNS: dict[Dimension, Any] = {
    "day": UsageRecord.day,
    "use_case": UsageRecord.use_case,
    "key": UsageRecord.key_name,
    "team": UsageRecord.team,
    "model": UsageRecord.model,
}

TOKENS_PER_MESSAGE = 4
"""Tokens a chat message costs beyond its text (role and separators), as OpenAI counts."""
TOKENS_PER_REPLY = 3
"""Tokens that prime the assistant's reply, counted once per request."""


# -- pricing -------------------------------------------------------------------------------


def cost_of(settings: ModelSettings, prompt_tokens: int, completion_tokens: int) -> float:
    """The price of one request in ``gateway.currency`` (prices are per 1M tokens)."""
    return (
        prompt_tokens * settings.price_input + completion_tokens * settings.price_output
    ) / 1_000_000


def estimate_tokens(text: str, chars_per_token: float = 4.0) -> int:
    """Tokens of a text, estimated as characters ÷ ``chars_per_token``, rounded up."""
    if chars_per_token <= 0:
        raise ValueError("chars_per_token must be positive")
    return math.ceil(len(text) / chars_per_token)


def estimate_prompt_tokens(texts: Iterable[str], chars_per_token: float = 4.0) -> int:
    """Prompt tokens of chat messages given as their texts: each text's estimate plus
    ``TOKENS_PER_MESSAGE`` (what routing rules and limits count before a model is asked)."""
    return sum(estimate_tokens(text, chars_per_token) + TOKENS_PER_MESSAGE for text in texts)


def estimate_message_tokens(
    messages: Iterable[Mapping[str, Any]], chars_per_token: float = 4.0
) -> int:
    """Prompt tokens of OpenAI-style chat messages: each message's text (string content or
    its text parts, a name, tool calls' names and arguments) plus ``TOKENS_PER_MESSAGE``, and
    ``TOKENS_PER_REPLY`` once."""
    total = TOKENS_PER_REPLY
    for message in messages:
        total += TOKENS_PER_MESSAGE + estimate_tokens(_message_text(message), chars_per_token)
    return total


def _message_text(message: Mapping[str, Any]) -> str:
    parts: list[str] = []
    content = message.get("content")
    if isinstance(content, str):
        parts.append(content)
    elif isinstance(content, list):
        parts += [
            str(part.get("text") or "")
            for part in content
            if isinstance(part, Mapping) and part.get("type") == "text"
        ]
    if isinstance(message.get("name"), str):
        parts.append(message["name"])
    for call in message.get("tool_calls") or []:
        function = call.get("function") if isinstance(call, Mapping) else None
        if isinstance(function, Mapping):
            parts += [str(function.get("name") or ""), str(function.get("arguments") or "")]
    return " ".join(parts)


# -- the report ----------------------------------------------------------------------------


@dataclass(frozen=True)
class CostRow:
    """Requests, tokens and money of one group (one value per ``by`` dimension)."""

    group: dict[str, str | None] = field(default_factory=dict)
    """Dimension -> value; None where the requests had none (e.g. no API key)."""
    requests: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    estimated_tokens: int = 0
    """Tokens counted by estimate rather than reported by the provider."""
    cost: float = 0.0
    cache_hits: int = 0

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    @property
    def estimated_share(self) -> float:
        """Share of the tokens that are estimates (0 when there are no tokens)."""
        return self.estimated_tokens / self.tokens if self.tokens else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            **self.group,
            "requests": self.requests,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "cost": self.cost,
            "estimated_share": round(self.estimated_share, 4),
            "cache_hits": self.cache_hits,
        }


def parse_dimensions(text: str) -> list[Dimension]:
    """``"day,use-case"`` -> ``["day", "use_case"]``; raises ValueError naming the known ones."""
    names: list[Dimension] = []
    for raw in text.split(","):
        name = raw.strip().lower().replace("-", "_")
        if name in ("key_name", "api_key"):
            name = "key"
        if not name:
            continue
        if name not in DIMENSIONS:
            known = ", ".join(d.replace("_", "-") for d in DIMENSIONS)
            raise ValueError(f"cannot group by {raw.strip()!r}; known: {known}")
        if name not in names:
            names.append(name)
    return names


def cost_report(
    db: Database,
    *,
    by: Sequence[Dimension] = ("day",),
    since: date | None = None,
    until: date | None = None,
) -> list[CostRow]:
    """Usage records added up per group of ``by``, for the UTC days ``since`` to ``until``
    (both included, open where None); sorted by the group values, empty values last."""
    unknown = [name for name in by if name not in _COLUMNS]
    if unknown:
        raise ValueError(f"cannot group by {unknown[0]!r}; known: {', '.join(DIMENSIONS)}")
    columns = [_COLUMNS[name].label(name) for name in by]
    tokens = UsageRecord.prompt_tokens + UsageRecord.completion_tokens
    statement = select(
        *columns,
        func.count().label("requests"),
        _sum(UsageRecord.prompt_tokens).label("prompt_tokens"),
        _sum(UsageRecord.completion_tokens).label("completion_tokens"),
        _sum(case((UsageRecord.tokens_estimated.is_(True), tokens), else_=0)).label(
            "estimated_tokens"
        ),
        func.coalesce(func.sum(UsageRecord.cost), 0.0).label("cost"),
        _sum(case((UsageRecord.cached.is_(True), 1), else_=0)).label("cache_hits"),
    )
    if since is not None:
        statement = statement.where(UsageRecord.day >= since.isoformat())
    if until is not None:
        statement = statement.where(UsageRecord.day <= until.isoformat())
    if columns:
        statement = statement.group_by(*(_COLUMNS[name] for name in by))
    with db.read() as session:
        result = session.execute(statement).all()
    rows = [
        CostRow(
            group={name: getattr(row, name) for name in by},
            requests=int(row.requests),
            prompt_tokens=int(row.prompt_tokens),
            completion_tokens=int(row.completion_tokens),
            estimated_tokens=int(row.estimated_tokens),
            cost=float(row.cost),
            cache_hits=int(row.cache_hits),
        )
        for row in result
        if row.requests  # without GROUP BY an empty table still gives one row of zeros
    ]
    return sorted(rows, key=lambda r: [(v is None, v or "") for v in r.group.values()])


def total(rows: Iterable[CostRow]) -> CostRow:
    """All rows added up (group empty)."""
    rows = list(rows)
    return CostRow(
        requests=sum(r.requests for r in rows),
        prompt_tokens=sum(r.prompt_tokens for r in rows),
        completion_tokens=sum(r.completion_tokens for r in rows),
        estimated_tokens=sum(r.estimated_tokens for r in rows),
        cost=sum(r.cost for r in rows),
        cache_hits=sum(r.cache_hits for r in rows),
    )


def _sum(expression: ColumnElement[Any] | InstrumentedAttribute[Any]) -> ColumnElement[Any]:
    # PostgreSQL sums integers as NUMERIC (Decimal); int() in the caller evens that out.
    return func.coalesce(func.sum(expression), 0)
