"""Which model answers: routing rules, fallbacks and a circuit breaker per provider.

A use case names its model; ``routes`` may pick another one by the key's team, the input's
length in tokens, its language or the detected task (the first rule that matches wins).
``fallbacks`` follow in order. A fallback is taken when a model times out, cannot be
reached, answers 5xx or 429, rejects the key (401/403), or refuses by its content filter;
a request the provider calls malformed (other 4xx) is the client's to fix and is not sent
elsewhere. While a fallback waits, the model before it is not retried.

The circuit breaker counts failures in a row per provider (its base URL). After
``gateway.circuit_failures`` of them the provider is skipped for
``gateway.circuit_cooldown_s``; then one request may try it (half open), and its success
closes the circuit again. Breakers live in each process: a worker learns of an outage from
its own requests, which costs at most ``circuit_failures`` requests per worker.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from leitstand.config.settings import GatewaySettings, ModelSettings, UseCaseSettings
from leitstand.errors import ModelError
from leitstand.llm.base import ChatDelta, ChatMessage, ChatModel, ChatOptions, ChatResult

Task = str
"""code, translate, summarise, extract or question."""

_TASKS: tuple[tuple[Task, re.Pattern[str]], ...] = (
    (
        "code",
        re.compile(
            r"```|\b(def|class|function|return|import|SELECT|console\.log)\b|"
            r"\b(python|javascript|typescript|java|sql|regex|bash|code|programmier\w*|"
            r"funktion|skript|script)\b",
            re.IGNORECASE,
        ),
    ),
    ("translate", re.compile(r"\b(übersetz\w*|translat\w*|auf (englisch|deutsch))\b", re.I)),
    (
        "summarise",
        re.compile(r"\b(zusammenfass\w*|fass\w* .{0,40}zusammen|summar\w*|tl;?dr)\b", re.I),
    ),
    ("extract", re.compile(r"\b(extrahier\w*|extract\w*|als json|as json|liste alle)\b", re.I)),
)


def detect_task(text: str) -> Task:
    """The kind of work a request asks for, from its words (German and English)."""
    sample = text[:4000]
    for task, pattern in _TASKS:
        if pattern.search(sample):
            return task
    return "question"


@dataclass(frozen=True)
class RouteContext:
    """What routing rules look at."""

    input_tokens: int
    language: str | None = None
    team: str | None = None
    task: Task = "question"


def choose_model(use_case: UseCaseSettings, context: RouteContext) -> tuple[str, int | None]:
    """The model the first matching rule names (and the rule's index), or the use case's."""
    for index, rule in enumerate(use_case.routes):
        if rule.teams and context.team not in rule.teams:
            continue
        if rule.min_input_tokens is not None and context.input_tokens < rule.min_input_tokens:
            continue
        if rule.max_input_tokens is not None and context.input_tokens > rule.max_input_tokens:
            continue
        if rule.languages and context.language not in rule.languages:
            continue
        if rule.tasks and context.task not in rule.tasks:
            continue
        return rule.model, index
    return use_case.model, None


class CircuitBreaker:
    """Failures in a row per provider; an open circuit skips the provider for a while."""

    def __init__(
        self, failures: int, cooldown_s: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.failures = failures
        self.cooldown_s = cooldown_s
        self.clock = clock
        self._lock = threading.Lock()
        self._count: dict[str, int] = {}
        self._opened: dict[str, float] = {}
        self._trial: set[str] = set()

    def state(self, provider: str) -> str:
        with self._lock:
            return self._state(provider)

    def _state(self, provider: str) -> str:
        opened = self._opened.get(provider)
        if opened is None:
            return "closed"
        if self.clock() - opened >= self.cooldown_s:
            return "half-open"
        return "open"

    def allow(self, provider: str) -> bool:
        """Whether a request may go to ``provider`` now (one trial while half open)."""
        with self._lock:
            state = self._state(provider)
            if state == "closed":
                return True
            if state == "half-open" and provider not in self._trial:
                self._trial.add(provider)
                return True
            return False

    def success(self, provider: str) -> None:
        with self._lock:
            self._count.pop(provider, None)
            self._opened.pop(provider, None)
            self._trial.discard(provider)

    def failure(self, provider: str) -> None:
        with self._lock:
            self._trial.discard(provider)
            count = self._count.get(provider, 0) + 1
            self._count[provider] = count
            if count >= self.failures or provider in self._opened:
                self._opened[provider] = self.clock()


def should_fall_back(error: ModelError) -> bool:
    """Whether another model may succeed where this one failed."""
    if error.content_filter:
        return True
    status = error.status_code
    return status is None or status in (401, 403, 408, 409, 429) or status >= 500


@dataclass
class Attempt:
    """One model tried for a request, for the trace."""

    model: str
    outcome: str
    """ok, skipped (open circuit), content_filter, or the error."""
    ms: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {"model": self.model, "outcome": self.outcome, "ms": round(self.ms, 2)}


@dataclass
class Plan:
    """The models to try in order, and how the first was chosen."""

    models: list[str]
    rule: int | None = None
    attempts: list[Attempt] = field(default_factory=list)


class Router:
    """Plans and runs the models of a request, falling back as the use case allows."""

    def __init__(
        self,
        models: dict[str, ModelSettings],
        get_model: Callable[[str], ChatModel],
        settings: GatewaySettings,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.models = models
        self.get_model = get_model
        self.breaker = CircuitBreaker(settings.circuit_failures, settings.circuit_cooldown_s, clock)

    def provider(self, name: str) -> str:
        return self.models[name].base_url

    def plan(
        self, use_case: UseCaseSettings, context: RouteContext, first: str | None = None
    ) -> Plan:
        """``first`` (or the routed model), then the use case's fallbacks."""
        rule = None
        if first is None:
            first, rule = choose_model(use_case, context)
        names = list(dict.fromkeys([first, *use_case.fallbacks]))
        return Plan(names, rule)

    def _candidates(self, plan: Plan) -> Iterator[tuple[str, bool]]:
        """(model, last) for each model whose circuit lets a request through; when every
        circuit is open, the last model is tried anyway rather than failing unasked."""
        allowed = []
        for name in plan.models:
            if self.breaker.allow(self.provider(name)):
                allowed.append(name)
            else:
                plan.attempts.append(Attempt(name, "skipped: circuit open"))
        if not allowed:
            allowed = plan.models[-1:]
        for index, name in enumerate(allowed):
            yield name, index == len(allowed) - 1

    def complete(self, plan: Plan, body: dict[str, Any]) -> tuple[str, ChatResult]:
        """The first model's answer that comes back, falling back along the plan."""
        error: ModelError | None = None
        for name, last in self._candidates(plan):
            model = self.get_model(name)
            started = time.perf_counter()
            try:
                result = model.forward(body, retries=None if last else 0)
            except ModelError as exc:
                self._failed(plan, name, exc, started)
                if last or not should_fall_back(exc):
                    raise
                error = exc
                continue
            self.breaker.success(self.provider(name))
            if result.finish_reason == "content_filter" and not last:
                plan.attempts.append(Attempt(name, "content_filter", _ms(started)))
                continue
            plan.attempts.append(Attempt(name, "ok", _ms(started)))
            return name, result
        raise error or ModelError("no model could be tried")

    def stream(
        self, plan: Plan, body: dict[str, Any], chosen: list[str]
    ) -> Iterator[dict[str, Any]]:
        """The chunks of the first model whose stream starts; ``chosen`` gets its name.

        A model that fails before any part of its answer was passed on is replaced by the
        next one; once text has gone out, a failure is raised (the client gets an error
        event: a different model cannot continue another one's sentence)."""
        for name, last in self._candidates(plan):
            model = self.get_model(name)
            started = time.perf_counter()
            chosen.append(name)
            try:
                yield from model.forward_stream(body, retries=None if last else 0)
            except ModelError as exc:
                self._failed(plan, name, exc, started)
                if last or exc.partial or not should_fall_back(exc):
                    raise
                chosen.pop()
                continue
            self.breaker.success(self.provider(name))
            plan.attempts.append(Attempt(name, "ok", _ms(started)))
            return
        raise ModelError("no model could be tried")

    def answer(
        self,
        plan: Plan,
        messages: list[ChatMessage],
        options_for: Callable[[str], ChatOptions],
    ) -> tuple[str, ChatResult]:
        """A whole answer to leitstand's own prompt, falling back along the plan."""
        chosen: list[str] = []
        pieces: list[str] = []
        usage = None
        finish = None
        for delta in self.deltas(plan, messages, options_for, chosen):
            pieces.append(delta.content)
            usage = delta.usage or usage
            finish = delta.finish_reason or finish
        name = chosen[-1]
        return name, ChatResult("".join(pieces), name, usage, finish)

    def deltas(
        self,
        plan: Plan,
        messages: list[ChatMessage],
        options_for: Callable[[str], ChatOptions],
        chosen: list[str],
    ) -> Iterator[ChatDelta]:
        """Like :meth:`stream`, for leitstand's own prompts (rag mode): the pieces of the first
        model that answers; a model that fails before its first piece of text is replaced."""
        for name, last in self._candidates(plan):
            model = self.get_model(name)
            started = time.perf_counter()
            chosen.append(name)
            sent = False
            try:
                for delta in _deltas(model, messages, options_for(name)):
                    if delta.finish_reason == "content_filter" and not sent and not last:
                        raise ModelError(f"model '{name}' refused", content_filter=True)
                    sent = sent or bool(delta.content)
                    yield delta
            except ModelError as exc:
                self._failed(plan, name, exc, started)
                if last or sent or not should_fall_back(exc):
                    raise
                chosen.pop()
                continue
            self.breaker.success(self.provider(name))
            plan.attempts.append(Attempt(name, "ok", _ms(started)))
            return
        raise ModelError("no model could be tried")

    def _failed(self, plan: Plan, name: str, error: ModelError, started: float) -> None:
        if should_fall_back(error) and not error.content_filter:
            self.breaker.failure(self.provider(name))
        reason = "content_filter" if error.content_filter else error.message[:200]
        plan.attempts.append(Attempt(name, reason, _ms(started)))


def _deltas(
    model: ChatModel, messages: list[ChatMessage], options: ChatOptions
) -> Iterator[ChatDelta]:
    if model.can_stream:
        yield from model.stream(messages, options)
        return
    result = model.complete(messages, options)
    yield ChatDelta(content=result.content, finish_reason=result.finish_reason, usage=result.usage)


def _ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000
