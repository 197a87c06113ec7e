"""Server-sent events as OpenAI-compatible APIs stream them.

:func:`iter_events` turns lines into events (``event:`` and ``data:`` fields, a blank line
ends an event, ``:`` starts a comment). :class:`ChunkReader` turns the ``data:`` payloads of
a chat completion stream into :class:`~leitstand.llm.base.ChatDelta` pieces and knows
whether the stream ended properly: with ``data: [DONE]`` or after a ``finish_reason``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from leitstand.llm.base import ChatDelta, Usage

DONE = "[DONE]"


@dataclass(frozen=True)
class ServerSentEvent:
    data: str
    event: str = "message"


def iter_events(lines: Iterable[str]) -> Iterator[ServerSentEvent]:
    """The events in a stream of lines (line endings already removed)."""
    data: list[str] = []
    event = ""
    for line in lines:
        if not line:
            if data:
                yield ServerSentEvent("\n".join(data), event or "message")
            data, event = [], ""
            continue
        if line.startswith(":"):
            continue
        field, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if field == "data":
            data.append(value)
        elif field == "event":
            event = value
    if data:
        yield ServerSentEvent("\n".join(data), event or "message")


class StreamError(Exception):
    """The stream carried an error object or something that is not a chat completion chunk."""

    def __init__(self, message: str, *, status_code: int | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code


def parse_usage(value: Any) -> Usage | None:
    """Usage from an OpenAI ``usage`` object, or None when there is none."""
    if not isinstance(value, dict):
        return None
    prompt, completion = value.get("prompt_tokens"), value.get("completion_tokens")
    return Usage(
        prompt_tokens=prompt if isinstance(prompt, int) else 0,
        completion_tokens=completion if isinstance(completion, int) else 0,
    )


class ChunkReader:
    """Reads ``chat.completion.chunk`` payloads and remembers how far the answer got."""

    def __init__(self) -> None:
        self.done = False
        self.finish_reason: str | None = None
        self.usage: Usage | None = None
        self.chars = 0
        self.chunk: dict[str, Any] = {}
        """The last chunk read, as the provider sent it."""
        self.tool_deltas = 0
        """Chunks that carried a piece of a tool call."""

    @property
    def passed_on(self) -> bool:
        """Whether part of the answer (text or a tool call) has been read."""
        return self.chars > 0 or self.tool_deltas > 0

    @property
    def complete(self) -> bool:
        """Whether the stream may end here without losing part of the answer."""
        return self.done or self.finish_reason is not None

    def feed(self, event: ServerSentEvent) -> ChatDelta | None:
        """The piece of answer in one event, if it carries text."""
        text = self.read(event)
        return ChatDelta(content=text) if text else None

    def read(self, event: ServerSentEvent) -> str:
        """Takes in one event (the chunk is then in :attr:`chunk`); the text it carries."""
        if event.data.strip() == DONE:
            self.done = True
            return ""
        try:
            chunk = json.loads(event.data)
        except json.JSONDecodeError as exc:
            raise StreamError(f"a streamed chunk is not JSON: {event.data[:200]!r}") from exc
        if not isinstance(chunk, dict):
            raise StreamError(f"a streamed chunk is not a JSON object: {event.data[:200]!r}")
        if "error" in chunk or event.event == "error":
            raise _stream_error(chunk)
        self.chunk = chunk
        self.usage = parse_usage(chunk.get("usage")) or self.usage
        text = ""
        for choice in chunk.get("choices") or []:
            if not isinstance(choice, dict) or choice.get("index", 0) != 0:
                continue
            delta = choice.get("delta") or {}
            content = delta.get("content") if isinstance(delta, dict) else None
            if isinstance(content, str):
                text += content
            if isinstance(delta, dict) and delta.get("tool_calls"):
                self.tool_deltas += 1
            if choice.get("finish_reason"):
                self.finish_reason = str(choice["finish_reason"])
        self.chars += len(text)
        return text

    def last(self) -> ChatDelta:
        """The closing piece: no text, the finish reason and the usage."""
        return ChatDelta(finish_reason=self.finish_reason or "stop", usage=self.usage)


def _stream_error(chunk: dict[str, Any]) -> StreamError:
    error = chunk.get("error")
    if isinstance(error, dict):
        message = str(error.get("message") or error.get("type") or "unknown error")
        code = error.get("code")
        return StreamError(message, status_code=code if isinstance(code, int) else None)
    return StreamError(str(error or chunk))
