"""Tokens and cost of one model request, as a row of ``usage_records``.

Tokens come from the provider's ``usage`` when it reports one; otherwise they are estimated
(:func:`leitstand.govern.costs.estimate_prompt_tokens`) and the row says so. Cost is tokens
times the model's prices per 1M tokens (``models.<name>.price_input`` / ``price_output``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from leitstand.config.settings import ModelSettings
from leitstand.govern.costs import cost_of, estimate_prompt_tokens, estimate_tokens
from leitstand.llm.base import Usage

if TYPE_CHECKING:
    from leitstand.trace.recorder import ActiveTrace


@dataclass(frozen=True)
class Caller:
    """Who sent a request: the API key's name and team (None without authentication)."""

    key: str | None = None
    team: str | None = None


@dataclass(frozen=True)
class Metered:
    prompt_tokens: int
    completion_tokens: int
    estimated: bool
    cost: float

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


def meter(
    settings: ModelSettings,
    usage: Usage | None,
    prompt_texts: Sequence[str],
    completion: str,
    chars_per_token: float,
) -> Metered:
    """Tokens (reported or estimated) and their cost."""
    if usage is not None and (usage.prompt_tokens or usage.completion_tokens):
        prompt, answer, estimated = usage.prompt_tokens, usage.completion_tokens, False
    else:
        prompt = estimate_prompt_tokens(prompt_texts, chars_per_token)
        answer = estimate_tokens(completion, chars_per_token)
        estimated = True
    return Metered(prompt, answer, estimated, cost_of(settings, prompt, answer))


def usage_row(
    *,
    trace_id: str | None,
    use_case: str,
    caller: Caller,
    model: str,
    provider_model: str,
    metered: Metered,
    cached: bool = False,
    status: str = "ok",
) -> dict[str, Any]:
    now = datetime.now(UTC)
    return {
        "trace_id": trace_id,
        "at": now,
        "day": now.strftime("%Y-%m-%d"),
        "use_case": use_case,
        "key_name": caller.key,
        "team": caller.team,
        "model": model,
        "provider_model": provider_model,
        "prompt_tokens": metered.prompt_tokens,
        "completion_tokens": metered.completion_tokens,
        "tokens_estimated": metered.estimated,
        "cost": metered.cost,
        "cached": cached,
        "status": status,
    }


def add_usage(
    trace: ActiveTrace,
    *,
    use_case: str,
    caller: Caller,
    model: str,
    settings: ModelSettings,
    metered: Metered,
    cached: bool = False,
) -> None:
    """Counts one model call of a request: its ``usage_records`` row, and the request's
    totals in the trace's ``cost`` and ``tokens`` attributes (a cascade, a judge or a
    fallback makes several calls)."""
    cost = (trace.attributes.get("cost") or 0.0) + metered.cost
    tokens = trace.attributes.get("tokens") or {"prompt": 0, "completion": 0, "estimated": False}
    trace.set(
        cost=round(cost, 8),
        tokens={
            "prompt": tokens["prompt"] + metered.prompt_tokens,
            "completion": tokens["completion"] + metered.completion_tokens,
            "estimated": bool(tokens["estimated"] or metered.estimated),
        },
    )
    trace.usage.append(
        usage_row(
            trace_id=trace.id,
            use_case=use_case,
            caller=caller,
            model=model,
            provider_model=settings.model,
            metered=metered,
            cached=cached,
        )
    )
