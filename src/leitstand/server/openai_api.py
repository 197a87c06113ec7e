"""``/v1/chat/completions`` and ``/v1/models`` as OpenAI clients expect them.

``model`` names a use case (or a configured model, or ``extractive``). The answer's sources
come as footnotes in the text and, for programs, in an extra ``sources`` field; the trace id
is in ``leitstand.trace_id`` and in the ``X-Leitstand-Trace-Id`` header.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any, Literal

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from leitstand.core import Leitstand
from leitstand.errors import LeitstandError
from leitstand.govern.keys import KeyInfo
from leitstand.govern.usage import Caller
from leitstand.llm.base import ChatMessage, ChatOptions
from leitstand.llm.gateway import Outcome
from leitstand.rag.answer import Answer, SourceRef
from leitstand.server.errors import ApiError, error_body, from_leitstand_error
from leitstand.server.streaming import EventStreamResponse

TRACE_HEADER = "X-Leitstand-Trace-Id"
MODEL_HEADER = "X-Leitstand-Model"
"""The configured model that answered (after routing and fallbacks)."""
CACHE_HEADER = "X-Leitstand-Cache"
"""``exact`` or ``semantic`` when the answer came from the cache."""
WARNING_HEADER = "X-Leitstand-Budget-Warning"
"""Spent soft budgets of the caller (the request was served anyway)."""


def _notice_headers(warnings: list[str], cached: str | None) -> dict[str, str]:
    headers = {}
    if warnings:  # header values are Latin-1: anything else becomes "?"
        headers[WARNING_HEADER] = (
            " | ".join(warnings).encode("latin-1", "replace").decode("latin-1")
        )
    if cached:
        headers[CACHE_HEADER] = cached
    return headers


class ContentPart(BaseModel):
    model_config = ConfigDict(extra="allow")
    type: str
    text: str | None = None


class Message(BaseModel):
    model_config = ConfigDict(extra="allow")
    role: Literal["system", "user", "assistant", "tool", "developer"]
    content: str | list[ContentPart] | None = None

    def text(self) -> str:
        if self.content is None:
            return ""
        if isinstance(self.content, str):
            return self.content
        return "\n".join(part.text or "" for part in self.content if part.type == "text")


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="allow")
    include_usage: bool = False


class ChatCompletionRequest(BaseModel):
    """The fields leitstand uses; others that OpenAI clients send are accepted and ignored."""

    model_config = ConfigDict(extra="allow")

    model: str = Field(min_length=1)
    messages: list[Message] = Field(min_length=1)
    stream: bool = False
    stream_options: StreamOptions | None = None
    temperature: float | None = Field(None, ge=0, le=2)
    max_tokens: int | None = Field(None, ge=1)
    max_completion_tokens: int | None = Field(None, ge=1)
    top_p: float | None = Field(None, gt=0, le=1)
    stop: str | list[str] | None = None
    n: int = Field(1, ge=1)
    footnotes: bool = Field(
        True, description="leitstand extension: append the sources as footnotes to the text."
    )


def _options(request: ChatCompletionRequest) -> ChatOptions:
    stop = [request.stop] if isinstance(request.stop, str) else request.stop
    return ChatOptions(
        temperature=request.temperature,
        max_tokens=request.max_completion_tokens or request.max_tokens,
        top_p=request.top_p,
        stop=stop,
    )


def _split(request: ChatCompletionRequest) -> tuple[str, list[ChatMessage]]:
    if request.n != 1:
        raise ApiError(400, "n > 1 is not supported", param="n", code="unsupported_value")
    last = request.messages[-1]
    if last.role != "user" or not last.text().strip():
        raise ApiError(
            400,
            "the last message must be a non-empty user message (the question)",
            param="messages",
        )
    history = [
        ChatMessage("assistant" if m.role == "assistant" else "user", m.text())
        for m in request.messages[:-1]
        if m.role in ("user", "assistant") and m.text().strip()
    ]
    return last.text().strip(), history


def _groundedness(answer: Answer) -> dict[str, Any] | None:
    return answer.groundedness.as_dict() if answer.groundedness is not None else None


def _sources(sources: list[SourceRef]) -> list[dict[str, Any]]:
    return [source.as_dict() for source in sources]


def _usage(answer: Answer) -> dict[str, int]:
    usage = answer.usage
    prompt = usage.prompt_tokens if usage else 0
    completion = usage.completion_tokens if usage else 0
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


def _check_scope(key: KeyInfo | None, model: str) -> None:
    if key is not None and key.use_case and key.use_case != model:
        raise ApiError(
            403,
            f"this API key may only use the use case {key.use_case!r}",
            type_="permission_error",
            code="use_case_not_allowed",
            param="model",
        )


def build_router(ls: Leitstand, authenticate: Any) -> APIRouter:
    router = APIRouter(prefix="/v1")
    require_key = Depends(authenticate)

    @router.get("/models")
    def list_models(_key: KeyInfo | None = require_key) -> dict[str, Any]:
        created = int(time.time())
        data = []
        for name in ls.answers.names():
            use_case = ls.settings.use_cases.get(name)
            data.append(
                {
                    "id": name,
                    "object": "model",
                    "created": created,
                    "owned_by": "leitstand",
                    "kind": "use_case" if use_case else "model",
                    "description": use_case.description if use_case else "",
                }
            )
        return {"object": "list", "data": data}

    @router.post("/chat/completions", response_model=None)
    def chat_completions(
        body: ChatCompletionRequest, key: KeyInfo | None = require_key
    ) -> JSONResponse | EventStreamResponse:
        _check_scope(key, body.model)
        resolved = ls.answers.resolve(body.model)
        if resolved.settings.mode == "chat":
            return _chat_mode(ls, body, resolved, key)
        question, history = _split(body)
        options = _options(body)
        caller = Caller(key.name, key.team) if key is not None else Caller()
        if body.stream:
            include_usage = bool(body.stream_options and body.stream_options.include_usage)
            events = ls.ask_stream(
                question, use_case=body.model, history=history, options=options, caller=caller
            )
            first = next(events)  # retrieval ran; unknown use cases fail here with a status
            return EventStreamResponse(
                _sse(body.model, first, events, include_usage, body.footnotes),
                headers={
                    "Cache-Control": "no-cache",
                    "X-Accel-Buffering": "no",
                    TRACE_HEADER: first.trace_id or "",
                    **_notice_headers(first.warnings, first.cached),
                },
            )
        answer = ls.ask(
            question, use_case=body.model, history=history, options=options, caller=caller
        )
        content = answer.text_with_footnotes() if body.footnotes else answer.text
        payload = {
            "id": f"chatcmpl-{answer.trace_id}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": content},
                    "finish_reason": "stop",
                }
            ],
            "usage": _usage(answer),
            "sources": _sources(answer.sources),
            "leitstand": {
                "trace_id": answer.trace_id,
                "use_case": answer.use_case,
                "answered": answer.answered,
                "prompt_hash": answer.prompt_hash,
                "groundedness": _groundedness(answer),
                "cache": answer.cached,
                "warnings": answer.warnings,
            },
        }
        cached = answer.cached["kind"] if answer.cached else None
        return JSONResponse(
            payload,
            headers={
                TRACE_HEADER: answer.trace_id or "",
                **_notice_headers(answer.warnings, cached),
            },
        )

    return router


def _chat_mode(
    ls: Leitstand, body: ChatCompletionRequest, resolved: Any, key: KeyInfo | None
) -> JSONResponse | EventStreamResponse:
    """A chat-mode use case: the conversation goes to the routed model as it is."""
    if body.n != 1:
        raise ApiError(400, "n > 1 is not supported", param="n", code="unsupported_value")
    caller = Caller(key.name, key.team) if key is not None else Caller()
    raw = body.model_dump(exclude_unset=True)
    model = body.model if body.model in ls.settings.models else None
    if body.stream:
        events = ls.gateway.stream(raw, resolved.name, resolved.settings, caller, model=model)
        outcome = next(events)
        assert isinstance(outcome, Outcome)
        return EventStreamResponse(
            (event for event in events if isinstance(event, str)),
            headers={
                "Cache-Control": "no-cache",
                "X-Accel-Buffering": "no",
                TRACE_HEADER: outcome.trace_id,
                MODEL_HEADER: outcome.model,
                **_notice_headers(outcome.warnings, outcome.cached),
            },
        )
    payload, outcome = ls.gateway.complete(
        raw, resolved.name, resolved.settings, caller, model=model
    )
    return JSONResponse(
        payload,
        headers={
            TRACE_HEADER: outcome.trace_id,
            MODEL_HEADER: outcome.model,
            **_notice_headers(outcome.warnings, outcome.cached),
        },
    )


def _chunk(completion_id: str, model: str, delta: dict[str, Any], **extra: Any) -> str:
    body: dict[str, Any] = {
        "id": completion_id,
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {"index": 0, "delta": delta, "finish_reason": extra.pop("finish_reason", None)}
        ],
        **extra,
    }
    return f"data: {json.dumps(body, ensure_ascii=False)}\n\n"


def _sse(
    model: str, first: Any, events: Iterator[Any], include_usage: bool, footnotes: bool
) -> Iterator[str]:
    """Server-sent events; a failure after the first byte becomes an error event, not silence."""
    completion_id = f"chatcmpl-{first.trace_id}"
    answer: Answer | None = None
    try:
        sources = first.sources or []
        yield _chunk(
            completion_id, model, {"role": "assistant", "content": ""}, sources=_sources(sources)
        )
        for event in events:
            if event.kind == "delta" and event.text:
                yield _chunk(completion_id, model, {"content": event.text})
            elif event.kind == "done":
                answer = event.answer
        assert answer is not None
        notes = answer.footnotes() if footnotes else ""
        if notes:
            yield _chunk(completion_id, model, {"content": "\n\n" + notes})
        yield _chunk(
            completion_id,
            model,
            {},
            finish_reason="stop",
            sources=_sources(answer.sources),
            leitstand={
                "trace_id": answer.trace_id,
                "use_case": answer.use_case,
                "answered": answer.answered,
                "groundedness": _groundedness(answer),
                "cache": answer.cached,
                "warnings": answer.warnings,
            },
        )
        if include_usage:
            body = {
                "id": completion_id,
                "object": "chat.completion.chunk",
                "created": int(time.time()),
                "model": model,
                "choices": [],
                "usage": _usage(answer),
            }
            yield f"data: {json.dumps(body)}\n\n"
        yield "data: [DONE]\n\n"
    except LeitstandError as exc:
        error = from_leitstand_error(exc)
        yield f"data: {json.dumps(error_body(error.message, error.type, error.code))}\n\n"
    except Exception as exc:  # the client must learn that the answer is incomplete
        body = error_body(f"internal error: {type(exc).__name__}", "server_error", "internal_error")
        yield f"data: {json.dumps(body)}\n\n"
