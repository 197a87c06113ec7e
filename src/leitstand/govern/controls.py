"""Limits and answer caches around one request, the same in rag and chat mode.

The order on the request path: the input guards, then :meth:`RequestControls.admit` (rates
and budgets; a refusal raises before anything is spent), then :meth:`RequestControls.lookup`
(a cache hit answers without a model), then the model; after the answer,
:meth:`RequestControls.store` and :meth:`RequestControls.settle` (the tokens and money the
trace's ``usage_records`` rows add up to are counted against the limits).

Caching leaves out what should not be kept or shared: requests whose input carries personal
data (the guard found PII), answers that were escalated, that called tools, or that say
nothing. The cache's *tenant* is the API key's team: keys of one team share answers, other
teams never see them; requests without a key or team share the tenant ``""``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from leitstand.config.settings import CacheSettings
from leitstand.govern.usage import Caller

if TYPE_CHECKING:
    from leitstand.cache.answers import AnswerCache, CacheHit, Message
    from leitstand.govern.limits import Admission, Limiter
    from leitstand.guard.request import InputCheck
    from leitstand.trace.recorder import ActiveTrace


class RequestControls:
    """The limiter and the answer cache of a leitstand, as one request meets them."""

    def __init__(self, limiter: Limiter | None, cache: AnswerCache | None) -> None:
        self.limiter = limiter if limiter is not None and limiter.enabled else None
        self.cache = cache

    # -- limits ----------------------------------------------------------------------

    def admit(
        self, trace: ActiveTrace, use_case: str, caller: Caller, tokens: int
    ) -> Admission | None:
        """Let the request through or raise ``RateLimitedError`` / ``BudgetExceededError``;
        None when no limits are configured. Warnings of spent soft budgets go to the trace."""
        if self.limiter is None:
            return None
        with trace.span("limits", tokens=tokens) as span:
            admission = self.limiter.admit(
                key=caller.key, team=caller.team, use_case=use_case, tokens=tokens
            )
            span.set(scopes=[scope.label for scope in admission.scopes])
            if admission.warnings:
                span.set(warnings=list(admission.warnings))
        if admission.warnings:
            trace.set(budget_warnings=list(admission.warnings))
        return admission

    def settle(self, admission: Admission | None, trace: ActiveTrace) -> None:
        """Count what the request cost (every model call the trace metered)."""
        if self.limiter is None or admission is None or not admission.scopes:
            return
        tokens = sum(
            int(row["prompt_tokens"]) + int(row["completion_tokens"]) for row in trace.usage
        )
        cost = sum(float(row["cost"]) for row in trace.usage)
        self.limiter.record(admission, tokens=tokens, cost=cost)

    # -- caches ----------------------------------------------------------------------

    def caching(self, settings: CacheSettings, check: InputCheck | None) -> bool:
        """Whether this request may be looked up and stored at all."""
        if self.cache is None or not (settings.exact or settings.semantic_threshold):
            return False
        if check is None:
            return True
        return check.action == "allow" and not check.question and not any(check.history)

    def lookup(self, trace: ActiveTrace, key: CacheKey) -> CacheHit | None:
        """The cached answer, traced with its kind and similarity; None on a miss."""
        assert self.cache is not None
        with trace.span("cache") as span:
            hit = self.cache.lookup(**key.fields())
            span.set(hit=hit is not None)
            if hit is not None:
                span.set(kind=hit.kind, similarity=hit.similarity, entry_id=hit.entry_id)
        if hit is not None:
            trace.set(
                cache={
                    "kind": hit.kind,
                    "similarity": hit.similarity,
                    "entry_id": hit.entry_id,
                    "cached_at": hit.created_at.isoformat(),
                }
            )
        return hit

    def store(
        self,
        trace: ActiveTrace,
        key: CacheKey,
        response: dict[str, Any],
        chunk_ids: Iterable[int] = (),
    ) -> None:
        """Keep an answer for the next asker (not when the request was escalated)."""
        assert self.cache is not None
        if trace.attributes.get("escalated"):
            return
        with trace.span("cache_store") as span:
            entry = self.cache.store(**key.fields(), response=response, chunk_ids=chunk_ids)
            span.set(entry_id=entry)


@dataclass(frozen=True)
class CacheKey:
    """What a request's answer is cached under, built once for its lookup and its store."""

    use_case: str
    settings: CacheSettings
    caller: Caller
    prompt_hash: str
    """The prompt's version: the template's hash (rag), the system messages' (chat)."""
    model: str
    messages: Sequence[Message]

    def fields(self) -> dict[str, Any]:
        """The arguments of :meth:`AnswerCache.lookup` and :meth:`AnswerCache.store`."""
        return {
            "use_case": self.use_case,
            "tenant": tenant_of(self.caller),
            "prompt_hash": self.prompt_hash,
            "model": self.model,
            "messages": self.messages,
            "settings": self.settings,
        }


def tenant_of(caller: Caller) -> str:
    """The cache's tenant: the API key's team ("" without one)."""
    return caller.team or ""


def system_hash(messages: Iterable[dict[str, Any]]) -> str:
    """Chat mode's prompt version: the hash of the request's system and developer messages."""
    digest = hashlib.sha256()
    for message in messages:
        if message.get("role") in ("system", "developer"):
            content = message.get("content")
            digest.update(str(content).encode("utf-8", "replace"))
            digest.update(b"\x00")
    return digest.hexdigest()[:16]
