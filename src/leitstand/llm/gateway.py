"""Chat mode: the client's own conversation goes to a model, through leitstand's corridor.

A use case with ``mode: chat`` answers nothing from documents: the request's messages (and
its ``tools``) are forwarded as they are, after the input guards, the limits and the cache,
to the model the router picks, with fallbacks. The answer comes back in the provider's own
shape (``model`` is the use case), passes the output guards and is metered: tokens, cost
and the trace are recorded for the key, its team and the use case.

Streaming is kept end to end. Tool calls are gathered while streaming and passed on as one
piece when the answer ends, after the tool policy has seen them whole. A stream that breaks
after text has gone out ends in an error event, never in a silent, truncated answer.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from leitstand.config.settings import Settings, UseCaseSettings
from leitstand.errors import GuardBlockedError, LeitstandError
from leitstand.govern.controls import CacheKey, RequestControls, system_hash
from leitstand.govern.costs import estimate_prompt_tokens
from leitstand.govern.usage import Caller, Metered, add_usage, meter
from leitstand.guard.tools import (
    OfferedTools,
    ToolApprovals,
    ToolCallGuard,
    ToolVerdict,
    offered_tools,
)
from leitstand.llm.base import ChatMessage, ChatResult, Usage
from leitstand.llm.cascade import CascadeDecision, score_by_model
from leitstand.llm.router import Plan, RouteContext, Router, detect_task
from leitstand.trace.recorder import ActiveTrace, SpanRecord, Tracer

if TYPE_CHECKING:
    from leitstand.govern.limits import Admission
    from leitstand.guard.request import AnswerWatch, InputCheck, RequestGuard

LEITSTAND_FIELDS = ("footnotes",)
"""Request fields of leitstand's own, not forwarded."""


@dataclass
class Conversation:
    """The texts of a request's messages that guards read, and where they sit."""

    question: str
    question_index: int
    history: list[ChatMessage]
    history_index: list[int]

    @classmethod
    def of(cls, messages: list[dict[str, Any]]) -> Conversation:
        texts = [
            (index, str(message.get("role")), _text(message.get("content")))
            for index, message in enumerate(messages)
        ]
        users = [index for index, role, text in texts if role == "user" and text.strip()]
        if not users:
            raise LeitstandError(
                "the request has no user message with text",
                hint="send at least one message with role 'user' and some content",
            )
        last = users[-1]
        history = [
            (index, ChatMessage("assistant" if role == "assistant" else "user", text))
            for index, role, text in texts
            if index != last and role in ("user", "assistant") and text.strip()
        ]
        return cls(
            question=texts[last][2],
            question_index=last,
            history=[message for _, message in history],
            history_index=[index for index, _ in history],
        )

    def all_texts(self, messages: list[dict[str, Any]]) -> list[str]:
        return [_text(message.get("content")) for message in messages]


@dataclass
class Outcome:
    """What the HTTP layer needs besides the body."""

    trace_id: str
    model: str
    cached: str | None = None
    """``exact`` or ``semantic`` for an answer from the cache."""
    warnings: list[str] = field(default_factory=list)
    """Spent soft budgets of the caller (served anyway)."""


@dataclass
class _Request:
    """One chat-mode request on its way through the corridor."""

    trace: ActiveTrace
    forwarded: dict[str, Any]
    plan: Plan
    watch: AnswerWatch | None
    check: InputCheck | None
    offered: OfferedTools
    admission: Admission | None = None
    cache_key: CacheKey | None = None
    """Set when the answer may be looked up in and stored to the cache."""

    @property
    def warnings(self) -> list[str]:
        return list(self.admission.warnings) if self.admission is not None else []


class ChatGateway:
    """Runs chat-mode requests: guards, limits, cache, routing, metering, tracing."""

    def __init__(
        self,
        settings: Settings,
        tracer: Tracer,
        router: Router,
        guard_for: Callable[[str], RequestGuard | None],
        detect_language: Callable[[str], str],
        *,
        controls: RequestControls | None = None,
        approvals: ToolApprovals | None = None,
    ) -> None:
        self.detect_language = detect_language
        self.settings = settings
        self.tracer = tracer
        self.router = router
        self.guard_for = guard_for
        self.controls = controls or RequestControls(None, None)
        self.approvals = approvals
        self._tool_guards: dict[str, ToolCallGuard] = {}

    # -- the corridor ---------------------------------------------------------------

    def _begin(
        self,
        body: dict[str, Any],
        use_case: str,
        settings: UseCaseSettings,
        caller: Caller,
        model: str | None,
    ) -> _Request:
        trace = self.tracer.start("request", "chat")
        trace.use_case = use_case
        try:
            messages = body.get("messages")
            if not isinstance(messages, list) or not messages:
                raise LeitstandError(
                    "messages must be a non-empty list", hint="send the conversation"
                )
            offered = offered_tools(body.get("tools"))  # a broken schema fails before any call
            conversation = Conversation.of(messages)
            trace.input = conversation.question
            guard = self.guard_for(use_case)
            check = self._guard_input(guard, conversation, trace)
            forwarded = {k: v for k, v in body.items() if k not in LEITSTAND_FIELDS}
            if check is not None and check.action in ("pseudonymise", "redact"):
                forwarded["messages"] = _replaced(messages, conversation, check)
            texts = conversation.all_texts(messages)
            tokens = estimate_prompt_tokens(texts, self.settings.gateway.chars_per_token)
            admission = self.controls.admit(trace, use_case, caller, tokens)
            context = RouteContext(
                input_tokens=tokens,
                language=(
                    self.detect_language(conversation.question)
                    if any(rule.languages for rule in settings.routes)
                    else None
                ),
                team=caller.team,
                task=detect_task(conversation.question),
            )
            plan = self.router.plan(settings, context, first=model)
            trace.set(route={"task": context.task, "input_tokens": tokens, "rule": plan.rule})
            watch = guard.watch(check) if guard is not None else None
            if watch is not None and watch.canary is not None:
                _plant_canary(forwarded, watch)
            request = _Request(trace, forwarded, plan, watch, check, offered, admission)
            if (
                not offered.tools
                and body.get("n", 1) == 1
                and self.controls.caching(settings.cache, check)
            ):
                request.cache_key = CacheKey(
                    use_case,
                    settings.cache,
                    caller,
                    system_hash(messages),
                    model or settings.model,
                    [
                        (str(m.get("role")), _text(m.get("content")))
                        for m in messages
                        if m.get("role") not in ("system", "developer")
                    ],
                )
            return request
        except BaseException as exc:
            trace.finish(error=exc)
            raise

    @staticmethod
    def _guard_input(
        guard: RequestGuard | None, conversation: Conversation, trace: ActiveTrace
    ) -> InputCheck | None:
        if guard is None:
            return None
        with trace.span("guard_input") as span:
            try:
                check = guard.check_input(conversation.question, conversation.history)
            except GuardBlockedError as exc:
                span.set(action="block", reasons=exc.reason.split(","))
                raise
            span.set(**check.trace_attributes())
        if check.action == "escalate":
            _escalate(trace, check.reasons)
        return check

    def _lookup(self, request: _Request, use_case: str, caller: Caller) -> dict[str, Any] | None:
        """A cached answer in the provider's shape, or None."""
        if request.cache_key is None:
            return None
        hit = self.controls.lookup(request.trace, request.cache_key)
        if hit is None:
            return None
        trace = request.trace
        payload = dict(hit.response)
        name = request.cache_key.model
        message = _first_message(payload) or {}
        trace.model = name
        trace.output = message.get("content") if isinstance(message.get("content"), str) else None
        trace.set(cached=True)
        metered = Metered(0, 0, False, 0.0)
        self._record(trace, use_case, caller, name, metered, cached=True)
        payload["model"] = use_case
        payload["leitstand"] = {
            **self._summary(trace, use_case, name, Plan([name]), metered),
            "attempts": [],
            "cache": trace.attributes.get("cache"),
        }
        if request.warnings:
            payload["leitstand"]["warnings"] = request.warnings
        return payload

    def complete(
        self,
        body: dict[str, Any],
        use_case: str,
        settings: UseCaseSettings,
        caller: Caller,
        *,
        model: str | None = None,
    ) -> tuple[dict[str, Any], Outcome]:
        """A whole answer in the provider's shape; ``model`` skips the routing rules."""
        request = self._begin(body, use_case, settings, caller, model)
        trace, forwarded, plan, watch = (
            request.trace,
            request.forwarded,
            request.plan,
            request.watch,
        )
        try:
            cached = self._lookup(request, use_case, caller)
            if cached is not None:
                name = str(cached["leitstand"]["model"])
                self.controls.settle(request.admission, trace)
                trace.finish()
                kind = cached["leitstand"]["cache"]["kind"]
                return cached, Outcome(trace.id, name, cached=kind, warnings=request.warnings)
            if settings.cascade is not None and model is None:
                name, result, plan = self._cascade(
                    settings, plan, forwarded, trace, use_case, caller
                )
            else:
                with trace.span("generate") as span:
                    name, result = self.router.complete(plan, forwarded)
                    span.set(model=name, attempts=[a.as_dict() for a in plan.attempts])
            payload = result.raw
            message = _first_message(payload) or {}
            text = message.get("content")
            if isinstance(text, str) and watch is not None:
                text = message["content"] = watch.final(text)
            trace.model = name
            trace.output = text if isinstance(text, str) else None
            metered = self._meter(name, result.usage, forwarded, text or "")
            self._record(trace, use_case, caller, name, metered)
            verdicts = self._check_tools(request, settings, caller, use_case, payload)
            payload["model"] = use_case
            payload["leitstand"] = self._summary(trace, use_case, name, plan, metered)
            if verdicts:
                payload["leitstand"]["tool_calls"] = [v.as_dict() for v in verdicts]
            if request.check is not None and request.check.action != "allow":
                payload["leitstand"]["guard"] = request.check.action
            if request.warnings:
                payload["leitstand"]["warnings"] = request.warnings
            if (
                request.cache_key is not None
                and isinstance(text, str)
                and text.strip()
                and not message.get("tool_calls")
                and _finish_reason(payload) == "stop"
            ):
                stored = {k: v for k, v in payload.items() if k != "leitstand"}
                self.controls.store(trace, request.cache_key, stored)
        except BaseException as exc:
            self.controls.settle(request.admission, trace)
            trace.finish(error=exc)
            raise
        self.controls.settle(request.admission, trace)
        trace.finish()
        return payload, Outcome(trace.id, name, warnings=request.warnings)

    def stream(
        self,
        body: dict[str, Any],
        use_case: str,
        settings: UseCaseSettings,
        caller: Caller,
        *,
        model: str | None = None,
    ) -> Iterator[str | Outcome]:
        """Server-sent events. The first item is an :class:`Outcome`, produced once the
        chosen model's stream has started (errors before that raise, for a proper status);
        then ``data:`` lines as strings. A cascade and a cache hit answer in one piece (see
        ``llm/cascade.py``), sent as a stream."""
        if settings.cascade is not None and model is None:
            payload, outcome = self.complete(body, use_case, settings, caller)
            yield outcome
            yield from _as_stream(payload, body)
            return
        request = self._begin(body, use_case, settings, caller, model)
        trace = request.trace
        try:
            cached = self._lookup(request, use_case, caller)
        except BaseException as exc:
            self.controls.settle(request.admission, trace)
            trace.finish(error=exc)
            raise
        if cached is not None:
            self.controls.settle(request.admission, trace)
            trace.finish()
            name = str(cached["leitstand"]["model"])
            kind = cached["leitstand"]["cache"]["kind"]
            yield Outcome(trace.id, name, cached=kind, warnings=request.warnings)
            yield from _as_stream(cached, body)
            return
        yield from self._relay(request, body, use_case, settings, caller)

    def _relay(
        self,
        request: _Request,
        body: dict[str, Any],
        use_case: str,
        settings: UseCaseSettings,
        caller: Caller,
    ) -> Iterator[str | Outcome]:
        """The routed model's stream, passed on through the watch and the tool policy."""
        trace, forwarded, plan = request.trace, request.forwarded, request.plan
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        chosen: list[str] = []
        span = trace.open_span("generate")
        try:
            chunks = self.router.stream(plan, forwarded, chosen)
            first = next(chunks, None)
        except BaseException as exc:
            span.fail(exc)
            self.controls.settle(request.admission, trace)
            trace.finish(error=exc)
            raise
        name = chosen[-1] if chosen else settings.model
        yield Outcome(trace.id, name, warnings=request.warnings)

        def check_tools(calls: list[dict[str, Any]]) -> list[ToolVerdict]:
            return self._tool_guard(use_case, settings).check(
                request.offered, calls, trace_id=trace.id, use_case=use_case, key_name=caller.key
            )

        reply = _StreamedReply(use_case, request.watch, span, check_tools)
        try:
            if first is not None and (event := reply.take(first)) is not None:
                yield event
            for chunk in chunks:
                if (event := reply.take(chunk)) is not None:
                    yield event
            yield from reply.close()
            yield from self._ending(request, reply, name, use_case, settings, caller)
            if include_usage:
                yield _sse(_usage_chunk(reply.last, use_case, reply.metered))
            yield "data: [DONE]\n\n"
        except GeneratorExit:
            self.controls.settle(request.admission, trace)
            trace.finish(status="cancelled")
            raise
        except Exception as exc:  # the client must learn that the answer is incomplete
            span.fail(exc)
            self.controls.settle(request.admission, trace)
            trace.finish(error=exc)
            yield _error_event(exc)
            return
        finally:
            span.set(model=name, attempts=[a.as_dict() for a in plan.attempts])
            trace.close_span(span)
        self.controls.settle(request.admission, trace)
        trace.finish()

    def _ending(
        self,
        request: _Request,
        reply: _StreamedReply,
        name: str,
        use_case: str,
        settings: UseCaseSettings,
        caller: Caller,
    ) -> Iterator[str]:
        """Meters a streamed answer, caches it, and sends the closing chunk."""
        trace = request.trace
        text = reply.text()
        trace.model = name
        trace.output = text
        metered = reply.metered = self._meter(name, reply.usage, request.forwarded, text)
        self._record(trace, use_case, caller, name, metered)
        closing = _finish_chunk(reply.last, use_case, reply.finish())
        closing["leitstand"] = self._summary(trace, use_case, name, request.plan, metered)
        if reply.verdicts:
            closing["leitstand"]["tool_calls"] = [v.as_dict() for v in reply.verdicts]
            _trace_tools(trace, reply.verdicts)
        if request.warnings:
            closing["leitstand"]["warnings"] = request.warnings
        if (
            request.cache_key is not None
            and text.strip()
            and not reply.tool_calls
            and reply.finish_reason in (None, "stop")
        ):
            self.controls.store(
                trace, request.cache_key, _whole(reply.last, use_case, text, metered)
            )
        yield _sse(closing)

    # -- tools ----------------------------------------------------------------------

    def _tool_guard(self, use_case: str, settings: UseCaseSettings) -> ToolCallGuard:
        """The use case's tool policy, made on its first tool call."""
        guard = self._tool_guards.get(use_case)
        if guard is None:
            approvals = self.approvals
            if approvals is None and settings.tools.approve:
                raise LeitstandError(
                    "tools.approve lists tools, but this gateway records no approvals",
                    hint="open leitstand with its database (Leitstand.open)",
                )
            guard = self._tool_guards[use_case] = ToolCallGuard(settings.tools, approvals)
        return guard

    def _check_tools(
        self,
        request: _Request,
        settings: UseCaseSettings,
        caller: Caller,
        use_case: str,
        payload: dict[str, Any],
    ) -> list[ToolVerdict]:
        """Checks the answer's tool calls; rejected and held ones are taken out of it and
        explained (in the text when no call is left, and in ``leitstand.tool_calls``)."""
        message = _first_message(payload)
        calls = message.get("tool_calls") if message is not None else None
        if message is None or not isinstance(calls, list) or not calls:
            return []
        verdicts = self._tool_guard(use_case, settings).check(
            request.offered,
            calls,
            trace_id=request.trace.id,
            use_case=use_case,
            key_name=caller.key,
        )
        _trace_tools(request.trace, verdicts)
        kept = [call for call, verdict in zip(calls, verdicts, strict=True) if verdict.allowed]
        if len(kept) == len(calls):
            return verdicts
        if kept:
            message["tool_calls"] = kept
        else:
            message.pop("tool_calls", None)
            note = _tool_note(verdicts)
            text = message.get("content")
            message["content"] = f"{text}\n\n{note}" if isinstance(text, str) and text else note
            payload["choices"][0]["finish_reason"] = "stop"
        return verdicts

    def _cascade(
        self,
        settings: UseCaseSettings,
        plan: Plan,
        forwarded: dict[str, Any],
        trace: ActiveTrace,
        use_case: str,
        caller: Caller,
    ) -> tuple[str, ChatResult, Plan]:
        """The small model's answer when the check passes, else the large model's."""
        cascade = settings.cascade
        assert cascade is not None
        small = Plan([cascade.small])
        with trace.span("cascade", small=cascade.small, check=cascade.check) as span:
            name, result = self.router.complete(small, forwarded)
            answer = _first_message(result.raw) or {}
            text = answer.get("content") if isinstance(answer.get("content"), str) else ""
            judge = cascade.judge if cascade.check == "judge" and cascade.judge else cascade.small
            score: float | None = None
            if text and not answer.get("tool_calls"):
                question = Conversation.of(forwarded["messages"]).question
                score, reply, prompt = score_by_model(
                    self.router.get_model(judge), question, str(text)
                )
                metered = meter(
                    self.settings.models[judge],
                    reply.usage,
                    [m.content for m in prompt],
                    reply.content,
                    self.settings.gateway.chars_per_token,
                )
                self._record(trace, use_case, caller, judge, metered)
            kept = score is not None and score >= cascade.threshold
            decision = CascadeDecision(cascade.check, score, cascade.threshold, kept)
            span.set(**decision.as_dict())
        trace.set(cascade=decision.as_dict())
        if kept:
            return name, result, small
        self._record(
            trace, use_case, caller, name, self._meter(name, result.usage, forwarded, str(text))
        )
        large = self.router.plan(settings, RouteContext(0), first=cascade.large)
        with trace.span("generate") as generate:
            name, result = self.router.complete(large, forwarded)
            generate.set(model=name, attempts=[a.as_dict() for a in large.attempts])
        return name, result, large

    def _summary(
        self, trace: ActiveTrace, use_case: str, name: str, plan: Plan, metered: Metered
    ) -> dict[str, Any]:
        """The ``leitstand`` field of an answer."""
        return {
            "trace_id": trace.id,
            "use_case": use_case,
            "model": name,
            "attempts": [a.as_dict() for a in plan.attempts],
            "cost": round(trace.attributes.get("cost") or 0.0, 8),
            "currency": self.settings.gateway.currency,
        }

    # -- metering -------------------------------------------------------------------

    def _meter(
        self, name: str, usage: Usage | None, body: dict[str, Any], completion: str
    ) -> Metered:
        texts = [_text(m.get("content")) for m in body.get("messages") or []]
        return meter(
            self.settings.models[name],
            usage,
            texts,
            completion,
            self.settings.gateway.chars_per_token,
        )

    def _record(
        self,
        trace: ActiveTrace,
        use_case: str,
        caller: Caller,
        name: str,
        metered: Metered,
        *,
        cached: bool = False,
    ) -> None:
        add_usage(
            trace,
            use_case=use_case,
            caller=caller,
            model=name,
            settings=self.settings.models[name],
            metered=metered,
            cached=cached,
        )


class _StreamedReply:
    """A streamed answer passing through: text is shown as the watch allows, tool calls are
    gathered whole, usage and the finish reason are kept for the end."""

    def __init__(
        self,
        use_case: str,
        watch: AnswerWatch | None,
        span: SpanRecord,
        check_tools: Callable[[list[dict[str, Any]]], list[ToolVerdict]] | None = None,
    ) -> None:
        self.use_case = use_case
        self.watch = watch
        self.span = span
        self.check_tools = check_tools
        self.verdicts: list[ToolVerdict] = []
        self.metered = Metered(0, 0, True, 0.0)
        self.started = time.perf_counter()
        self.pieces: list[str] = []
        self.tool_calls: dict[int, dict[str, Any]] = {}
        self.usage: Usage | None = None
        self.finish_reason: str | None = None
        self.last: dict[str, Any] = {}
        self._frame_key: tuple[str, int] | None = None
        self._frame: list[str] = []

    def take(self, chunk: dict[str, Any]) -> str | None:
        """The event to pass on for one chunk of the model's stream, if any."""
        self.last = chunk
        if chunk.get("usage"):
            self.usage = _usage(chunk["usage"])
        choices = chunk.get("choices") or []
        if not choices:
            return None  # the usage-only chunk: sent at the end when the client asked for it
        choice = choices[0]
        delta = choice.get("delta") or {}
        self.finish_reason = choice.get("finish_reason") or self.finish_reason
        if delta.get("tool_calls"):
            _gather(self.tool_calls, delta["tool_calls"])
        content = delta.get("content")
        if isinstance(content, str) and content:
            if not self.pieces:
                elapsed = (time.perf_counter() - self.started) * 1000
                self.span.set(first_token_ms=round(elapsed, 2))
            self.pieces.append(content)
            shown = self.watch.feed(content) if self.watch is not None else content
            return self._content_event(chunk, shown) if shown else None
        if not delta.get("tool_calls") and not choice.get("finish_reason"):
            return _sse({**chunk, "model": self.use_case})  # the role and other openings
        return None

    def _content_event(self, chunk: dict[str, Any], text: str) -> str:
        """``_sse(_content_chunk(chunk, use_case, text))``, from a frame kept while the
        chunks' id and time stay the same (they do for a whole answer): the text is all
        that is encoded per piece."""
        ident, created = chunk.get("id"), chunk.get("created")
        if not (isinstance(ident, str) and ident and type(created) is int and created):
            return _sse(_content_chunk(chunk, self.use_case, text))
        if self._frame_key != (ident, created):
            self._frame_key = (ident, created)
            # The text is the last value of a content chunk: its mark is the last one.
            event = _sse(_content_chunk(chunk, self.use_case, _MARK))
            self._frame = event.rsplit(json.dumps(_MARK), 1)
        before, after = self._frame
        return f"{before}{json.dumps(text, ensure_ascii=False)}{after}"

    def close(self) -> Iterator[str]:
        rest = self.watch.flush() if self.watch is not None else ""
        if rest:
            yield _sse(_content_chunk(self.last, self.use_case, rest))
        if self.tool_calls:
            calls = [self.tool_calls[index] for index in sorted(self.tool_calls)]
            if self.check_tools is not None:
                self.verdicts = self.check_tools(calls)
                kept = [c for c, v in zip(calls, self.verdicts, strict=True) if v.allowed]
                if len(kept) < len(calls):
                    if not kept:  # the answer ends as text that says why
                        self.finish_reason = "stop"
                        note = _tool_note(self.verdicts)
                        note = f"\n\n{note}" if self.pieces else note
                        self.pieces.append(note)
                        yield _sse(_content_chunk(self.last, self.use_case, note))
                    calls = [{**call, "index": i} for i, call in enumerate(kept)]
            if calls:
                yield _sse(_tool_chunk(self.last, self.use_case, calls))

    def finish(self) -> str:
        """The finish reason for the client."""
        return self.finish_reason or "stop"

    def text(self) -> str:
        text = "".join(self.pieces)
        return self.watch.final(text) if self.watch is not None else text


# -- pieces ---------------------------------------------------------------------------


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(
            str(part.get("text") or "")
            for part in content
            if isinstance(part, dict) and part.get("type") == "text"
        )
    return ""


def _replaced(
    messages: list[dict[str, Any]], conversation: Conversation, check: InputCheck
) -> list[dict[str, Any]]:
    """The messages with personal data pseudonymised or redacted as the policy says."""
    question, history = check.for_model(conversation.question, conversation.history)
    out = [dict(message) for message in messages]
    out[conversation.question_index]["content"] = question
    for index, message in zip(conversation.history_index, history, strict=True):
        out[index]["content"] = message.content
    return out


def _first_message(payload: dict[str, Any]) -> dict[str, Any] | None:
    choices = payload.get("choices")
    if isinstance(choices, list) and choices and isinstance(choices[0], dict):
        message = choices[0].get("message")
        return message if isinstance(message, dict) else None
    return None


def _usage(value: Any) -> Usage | None:
    if not isinstance(value, dict):
        return None
    prompt, completion = value.get("prompt_tokens"), value.get("completion_tokens")
    return Usage(
        prompt if isinstance(prompt, int) else 0, completion if isinstance(completion, int) else 0
    )


def _gather(calls: dict[int, dict[str, Any]], deltas: list[dict[str, Any]]) -> None:
    """Adds streamed pieces of tool calls up, by their index."""
    for delta in deltas:
        index = int(delta.get("index", 0))
        call = calls.setdefault(
            index, {"index": index, "id": None, "type": "function", "function": {}}
        )
        if delta.get("id"):
            call["id"] = delta["id"]
        function = delta.get("function") or {}
        if function.get("name"):
            call["function"]["name"] = call["function"].get("name", "") + function["name"]
        if function.get("arguments"):
            call["function"]["arguments"] = (
                call["function"].get("arguments", "") + function["arguments"]
            )


_MARK = "\x00text\x00"
"""Stands for the text in the frame of a content chunk."""


def _base(chunk: dict[str, Any], use_case: str) -> dict[str, Any]:
    return {
        "id": chunk.get("id") or "chatcmpl-leitstand",
        "object": "chat.completion.chunk",
        "created": chunk.get("created") or int(time.time()),
        "model": use_case,
    }


def _content_chunk(chunk: dict[str, Any], use_case: str, text: str) -> dict[str, Any]:
    return {
        **_base(chunk, use_case),
        "choices": [{"index": 0, "delta": {"content": text}, "finish_reason": None}],
    }


def _tool_chunk(
    chunk: dict[str, Any], use_case: str, calls: list[dict[str, Any]]
) -> dict[str, Any]:
    return {
        **_base(chunk, use_case),
        "choices": [{"index": 0, "delta": {"tool_calls": calls}, "finish_reason": None}],
    }


def _finish_chunk(chunk: dict[str, Any], use_case: str, reason: str) -> dict[str, Any]:
    return {
        **_base(chunk, use_case),
        "choices": [{"index": 0, "delta": {}, "finish_reason": reason}],
    }


def _usage_chunk(chunk: dict[str, Any], use_case: str, metered: Metered) -> dict[str, Any]:
    return {
        **_base(chunk, use_case),
        "choices": [],
        "usage": {
            "prompt_tokens": metered.prompt_tokens,
            "completion_tokens": metered.completion_tokens,
            "total_tokens": metered.tokens,
        },
    }


def _as_stream(payload: dict[str, Any], body: dict[str, Any]) -> Iterator[str]:
    """A whole answer sent as server-sent events."""
    choice = (payload.get("choices") or [{}])[0]
    message = choice.get("message") or {}
    base = {
        "id": payload.get("id") or "chatcmpl-leitstand",
        "object": "chat.completion.chunk",
        "created": payload.get("created") or int(time.time()),
        "model": payload.get("model"),
    }
    yield _sse({**base, "choices": [{"index": 0, "delta": {"role": "assistant"}}]})
    if message.get("content"):
        yield _sse(_content_chunk(base, str(base["model"]), message["content"]))
    if message.get("tool_calls"):
        calls = [{"index": i, **call} for i, call in enumerate(message["tool_calls"])]
        yield _sse(_tool_chunk(base, str(base["model"]), calls))
    closing = _finish_chunk(base, str(base["model"]), choice.get("finish_reason") or "stop")
    closing["leitstand"] = payload.get("leitstand")
    yield _sse(closing)
    if (body.get("stream_options") or {}).get("include_usage") and payload.get("usage"):
        yield _sse({**base, "choices": [], "usage": payload["usage"]})
    yield "data: [DONE]\n\n"


def _sse(data: dict[str, Any]) -> str:
    return f"data: {json.dumps(data, ensure_ascii=False)}\n\n"


def _error_event(exc: BaseException) -> str:
    from leitstand.server.errors import error_body, from_leitstand_error

    if isinstance(exc, LeitstandError):
        error = from_leitstand_error(exc)
        body = error_body(error.message, error.type, error.code)
    else:
        body = error_body(f"internal error: {type(exc).__name__}", "server_error", "internal_error")
    return f"data: {json.dumps(body, ensure_ascii=False)}\n\n"


def _plant_canary(forwarded: dict[str, Any], watch: AnswerWatch) -> None:
    """Puts the canary into the client's system prompt (the last system or developer message
    with text), so that an answer repeating the prompt is stopped. Without a system prompt
    there is nothing to leak and no canary is planted."""
    messages = [dict(message) for message in forwarded["messages"]]
    for message in reversed(messages):
        if message.get("role") in ("system", "developer") and isinstance(
            message.get("content"), str
        ):
            message["content"] += watch.system_note()
            forwarded["messages"] = messages
            return
    watch.canary = None


def _finish_reason(payload: dict[str, Any]) -> str | None:
    choices = payload.get("choices")
    if isinstance(choices, list) and choices and isinstance(choices[0], dict):
        reason = choices[0].get("finish_reason")
        return reason if isinstance(reason, str) else None
    return None


def _whole(chunk: dict[str, Any], use_case: str, text: str, metered: Metered) -> dict[str, Any]:
    """A streamed answer as the whole response the cache keeps."""
    return {
        "id": chunk.get("id") or "chatcmpl-leitstand",
        "object": "chat.completion",
        "created": chunk.get("created") or int(time.time()),
        "model": use_case,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": text},
                "finish_reason": "stop",
            }
        ],
        "usage": {
            "prompt_tokens": metered.prompt_tokens,
            "completion_tokens": metered.completion_tokens,
            "total_tokens": metered.tokens,
        },
    }


def _tool_note(verdicts: list[ToolVerdict]) -> str:
    """Why the model's tool calls were not passed on, for the client (and its user)."""
    lines = []
    for verdict in verdicts:
        if verdict.status == "held":
            lines.append(
                f"The call of tool {verdict.tool!r} waits for a person's approval "
                f"(approval {verdict.approval_id}); it was not made."
            )
        elif verdict.status == "rejected":
            lines.append(f"The call of tool {verdict.tool!r} was refused: {verdict.reason}")
    return "\n".join(lines)


def _trace_tools(trace: ActiveTrace, verdicts: list[ToolVerdict]) -> None:
    trace.set(tool_calls=[verdict.as_dict() for verdict in verdicts])
    if any(verdict.status == "held" for verdict in verdicts):
        trace.set(tool_approvals=[v.approval_id for v in verdicts if v.approval_id is not None])


def _escalate(trace: ActiveTrace, reasons: list[str]) -> None:
    earlier = trace.attributes.get("escalation") or []
    trace.set(escalated=True, escalation=[*earlier, *reasons])
