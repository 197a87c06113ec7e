"""The JSON shapes of the OpenAI API, as the scripted server writes them."""

from __future__ import annotations

import base64
import hashlib
import json
import math
import re
import struct
import time
import uuid
from collections.abc import Iterator
from typing import Any

from leitstand.llm.base import Usage

_ERROR_KINDS = {
    400: ("invalid_request_error", None, "The request is not valid."),
    401: ("invalid_request_error", "invalid_api_key", "Incorrect API key provided."),
    403: ("permission_error", None, "You are not allowed to use this model."),
    404: ("invalid_request_error", "model_not_found", "The model does not exist."),
    429: ("requests", "rate_limit_exceeded", "Rate limit reached. Please try again later."),
}
_WORD = re.compile(r"\w+", re.UNICODE)


def estimate_tokens(text: str) -> int:
    """A rough token count: about four characters per token."""
    return (len(text) + 3) // 4


def message_text(content: Any) -> str:
    """The text of a message's content, a string or a list of content parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(str(part.get("text", "")) for part in content if isinstance(part, dict))
    return ""


def estimate_usage(body: dict[str, Any], answer: str) -> Usage:
    messages = body.get("messages") or []
    prompt = sum(
        estimate_tokens(message_text(m.get("content"))) + 3 for m in messages if isinstance(m, dict)
    )
    return Usage(prompt_tokens=prompt, completion_tokens=estimate_tokens(answer))


def usage_json(usage: Usage) -> dict[str, int]:
    return {
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "total_tokens": usage.total_tokens,
    }


def error_json(status: int, message: str = "") -> dict[str, Any]:
    kind, code, default = _ERROR_KINDS.get(
        status, ("server_error" if status >= 500 else "invalid_request_error", None, "")
    )
    text = message or default or f"The server answered with status {status}."
    return {"error": {"message": text, "type": kind, "param": None, "code": code}}


def tool_call_json(index: int, name: str, arguments: str) -> dict[str, Any]:
    return {
        "id": f"call_{index}_{uuid.uuid4().hex[:8]}",
        "type": "function",
        "function": {"name": name, "arguments": arguments},
    }


def completion_json(
    model: str,
    text: str,
    usage: Usage,
    finish_reason: str = "stop",
    tool_calls: list[tuple[str, str]] | None = None,
) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": text or None, "refusal": None}
    if tool_calls:
        message["tool_calls"] = [tool_call_json(i, n, a) for i, (n, a) in enumerate(tool_calls)]
    else:
        message["content"] = text
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex[:24]}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "system_fingerprint": None,
        "choices": [
            {
                "index": 0,
                "message": message,
                "logprobs": None,
                "finish_reason": finish_reason,
            }
        ],
        "usage": usage_json(usage),
    }


def split_text(text: str, chunk_size: int | None) -> list[str]:
    """The pieces a streamed answer arrives in: words (with their spaces) or fixed sizes."""
    if chunk_size is None:
        return re.findall(r"\s+|\S+\s*", text)
    return [text[i : i + chunk_size] for i in range(0, len(text), chunk_size)]


def sse(data: dict[str, Any] | str) -> bytes:
    payload = data if isinstance(data, str) else json.dumps(data, ensure_ascii=False)
    return f"data: {payload}\n\n".encode()


def chunk_events(
    model: str,
    pieces: list[str],
    usage: Usage | None,
    *,
    finish: bool = True,
    finish_reason: str = "stop",
    tool_calls: list[tuple[str, str]] | None = None,
) -> Iterator[bytes]:
    """The SSE events of a streamed answer; ``usage`` is sent when the client asked for it."""
    head = {
        "id": f"chatcmpl-{uuid.uuid4().hex[:24]}",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
        "system_fingerprint": None,
    }
    extra: dict[str, Any] = {"usage": None} if usage is not None else {}

    def chunk(delta: dict[str, Any], finish_reason: str | None) -> bytes:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
        return sse({**head, "choices": [choice], **extra})

    yield chunk({"role": "assistant", "content": ""}, None)
    for piece in pieces:
        yield chunk({"content": piece}, None)
    for index, (name, arguments) in enumerate(tool_calls or []):
        call = tool_call_json(index, name, "")
        yield chunk({"tool_calls": [{"index": index, **call}]}, None)
        half = len(arguments) // 2
        for part in (arguments[:half], arguments[half:]):
            yield chunk({"tool_calls": [{"index": index, "function": {"arguments": part}}]}, None)
    if not finish:
        return
    yield chunk({}, finish_reason)
    if usage is not None:
        yield sse({**head, "choices": [], "usage": usage_json(usage)})
    yield sse("[DONE]")


def embedding_vector(text: str, dimensions: int) -> list[float]:
    """A deterministic unit vector from hashed words: texts sharing words point alike."""
    vector = [0.0] * dimensions
    for word in _WORD.findall(text.lower()) or [text]:
        digest = hashlib.blake2b(word.encode(), digest_size=8).digest()
        index = int.from_bytes(digest[:4], "little") % dimensions
        vector[index] += 1.0 if digest[4] & 1 else -1.0
    norm = math.sqrt(sum(v * v for v in vector))
    if norm == 0:
        vector[0], norm = 1.0, 1.0
    return [v / norm for v in vector]


def embeddings_json(
    model: str, texts: list[str], dimensions: int, encoding_format: str
) -> dict[str, Any]:
    data: list[dict[str, Any]] = []
    for index, text in enumerate(texts):
        vector = embedding_vector(text, dimensions)
        encoded: list[float] | str = vector
        if encoding_format == "base64":
            encoded = base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()
        data.append({"object": "embedding", "index": index, "embedding": encoded})
    return _embeddings_list(model, texts, data)


def embeddings_json_of(model: str, texts: list[str], vectors: list[list[float]]) -> dict[str, Any]:
    """An embeddings answer with exactly these vectors (as floats), whatever was asked."""
    data = [
        {"object": "embedding", "index": index, "embedding": vector}
        for index, vector in enumerate(vectors)
    ]
    return _embeddings_list(model, texts, data)


def _embeddings_list(model: str, texts: list[str], data: list[dict[str, Any]]) -> dict[str, Any]:
    tokens = sum(estimate_tokens(text) for text in texts)
    return {
        "object": "list",
        "data": data,
        "model": model,
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }


def models_json(model: str) -> dict[str, Any]:
    return {
        "object": "list",
        "data": [{"id": model, "object": "model", "created": 0, "owned_by": "leitstand-testing"}],
    }
