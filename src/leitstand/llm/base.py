"""The chat model contract: messages in, an answer (or a stream of pieces) out.

One required method, :meth:`ChatModel.complete`. Capabilities are class attributes; the
optional :meth:`ChatModel.stream` raises ``NotImplementedError`` naming the class when a
model cannot stream. Options are a nested pydantic model with ``extra="forbid"``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

Role = Literal["system", "user", "assistant", "tool"]


@dataclass(frozen=True)
class ChatMessage:
    role: Role
    content: str

    def as_dict(self) -> dict[str, str]:
        return {"role": self.role, "content": self.content}


@dataclass(frozen=True)
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


@dataclass
class ChatResult:
    content: str
    model: str
    usage: Usage | None = None
    finish_reason: str | None = None
    raw: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ChatDelta:
    """One piece of a streamed answer; the last piece carries ``finish_reason`` and usage."""

    content: str = ""
    finish_reason: str | None = None
    usage: Usage | None = None


class ChatOptions(BaseModel):
    """Per-request options every chat model understands."""

    model_config = ConfigDict(extra="forbid")

    temperature: float | None = Field(None, ge=0, le=2)
    max_tokens: int | None = Field(None, ge=1)
    top_p: float | None = Field(None, gt=0, le=1)
    stop: list[str] | None = None


class ChatModel(ABC):
    """A chat model, usually reached over HTTP."""

    can_stream: ClassVar[bool] = False
    supports_tools: ClassVar[bool] = False
    Options: ClassVar[type[ChatOptions]] = ChatOptions

    name: str
    """The name this model has in leitstand.yaml (``models.<name>``)."""
    model_id: str
    """The model name the provider expects."""

    @abstractmethod
    def complete(
        self, messages: Sequence[ChatMessage], options: ChatOptions | None = None
    ) -> ChatResult:
        """Generate a whole answer."""

    def stream(
        self, messages: Sequence[ChatMessage], options: ChatOptions | None = None
    ) -> Iterator[ChatDelta]:
        """Generate an answer piece by piece."""
        raise NotImplementedError(f"{type(self).__name__} cannot stream")

    def forward(self, body: dict[str, Any], *, retries: int | None = None) -> ChatResult:
        """Send an OpenAI chat request body as the client wrote it (``model`` is replaced by
        this model's id); the result's ``raw`` is the provider's whole JSON answer.

        ``retries`` overrides the configured retries (a router with a fallback waiting
        retries less)."""
        raise NotImplementedError(f"{type(self).__name__} cannot forward requests")

    def forward_stream(
        self, body: dict[str, Any], *, retries: int | None = None
    ) -> Iterator[dict[str, Any]]:
        """Stream an OpenAI chat request body: the provider's ``chat.completion.chunk``
        objects as they come. A stream that breaks raises :class:`ModelError`;
        ``ModelError.partial`` says whether chunks with content were already yielded."""
        raise NotImplementedError(f"{type(self).__name__} cannot forward requests")

    def close(self) -> None:  # noqa: B027 - optional hook; most models hold nothing to release
        """Release connections."""
