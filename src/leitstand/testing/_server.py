"""ScriptedChatServer: a real OpenAI-compatible HTTP server that answers from a script."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Self

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from leitstand.llm.base import Usage
from leitstand.testing import _openai_shapes as shapes

DefaultReply = Callable[[dict[str, Any]], str]
"""Answers a chat request (its JSON body) when the script is empty."""


@dataclass(frozen=True)
class ReceivedRequest:
    """One request as the server saw it."""

    method: str
    path: str
    headers: dict[str, str]
    """Header names in lower case."""
    body: Any
    """The parsed JSON body; None when there was none or it was not JSON."""
    query: dict[str, str] = field(default_factory=dict)
    """The URL's query parameters."""


@dataclass(frozen=True)
class _Reply:
    text: str
    usage: Usage | None = None
    delay_s: float = 0.0
    chunk_size: int | None = None
    finish_reason: str = "stop"
    tool_calls: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class _Error:
    status: int
    message: str
    retry_after: float | None


@dataclass(frozen=True)
class _BrokenStream:
    text_before_break: str


@dataclass(frozen=True)
class _Embeddings:
    vectors: list[list[float]] | None
    delay_s: float = 0.0


def echo_last_user_message(body: dict[str, Any]) -> str:
    """The default reply: ``"scripted answer: "`` and the last user message."""
    for message in reversed(body.get("messages") or []):
        if isinstance(message, dict) and message.get("role") == "user":
            return "scripted answer: " + shapes.message_text(message.get("content"))
    return "scripted answer: "


class ScriptedChatServer:
    """An OpenAI-compatible server on 127.0.0.1 that answers chat requests from a script.

    Each chat request takes the next scripted step (:meth:`enqueue`, :meth:`enqueue_error`,
    :meth:`enqueue_broken_stream`); when none is left, ``default`` answers from the request
    body. Speaks ``/v1/chat/completions`` (JSON and SSE streaming), ``/v1/models`` and
    ``/v1/embeddings`` (deterministic hashed vectors; embedding requests take their own
    script: :meth:`enqueue_embeddings`, :meth:`enqueue_embeddings_error`). ``requests`` holds
    what it received.

    >>> with ScriptedChatServer() as server:  # doctest: +SKIP
    ...     server.enqueue("Hello!")
    ...     # point a client at server.url
    """

    def __init__(
        self,
        *,
        model: str = "scripted-model",
        default: DefaultReply | None = None,
        api_key: str | None = None,
        embedding_dim: int = 64,
        host: str = "127.0.0.1",
        port: int = 0,
        delay_s: float = 0.0,
    ) -> None:
        self.model = model
        self.delay_s = delay_s
        """Seconds before the first byte of every unscripted answer."""
        """The model listed by ``GET /v1/models``; chat requests may name any model."""
        self.default: DefaultReply = default or echo_last_user_message
        self.api_key = api_key
        """When set, requests must carry ``Authorization: Bearer <api_key>`` or get a 401."""
        self.embedding_dim = embedding_dim
        self.host = host
        self.port = port
        self._script: deque[_Reply | _Error | _BrokenStream] = deque()
        self._embedding_script: deque[_Embeddings | _Error] = deque()
        self._requests: list[ReceivedRequest] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._socket: socket.socket | None = None
        self.app = Starlette(
            routes=[
                Route("/v1/chat/completions", self._chat, methods=["POST"]),
                Route("/v1/models", self._models, methods=["GET"]),
                Route("/v1/embeddings", self._embeddings, methods=["POST"]),
                # Azure OpenAI's shape: /openai/deployments/<name>/chat/completions
                Route("/{prefix:path}/chat/completions", self._chat, methods=["POST"]),
            ]
        )

    # -- lifecycle --------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """The base URL clients use, e.g. ``http://127.0.0.1:54321/v1``."""
        if self._socket is None:
            raise RuntimeError("the server is not running; call start() or use it in a with block")
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self._socket.getsockname()[1]}/v1"

    def start(self) -> Self:
        """Serve in a background thread; returns once the server accepts connections."""
        if self._thread is not None:
            raise RuntimeError("the server is already running")
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        # IPPROTO_TCP (not 0) so that asyncio sets TCP_NODELAY on accepted connections;
        # without it every response waits for a delayed ACK (~40 ms).
        sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.port))
        sock.listen(128)
        config = uvicorn.Config(
            self.app,
            log_config=None,
            access_log=False,
            lifespan="off",
            ws="none",
            http="h11",
            loop="asyncio",
            timeout_graceful_shutdown=2,
        )
        server = uvicorn.Server(config)
        thread = threading.Thread(
            target=server.run,
            kwargs={"sockets": [sock]},
            name=f"ScriptedChatServer:{sock.getsockname()[1]}",
            daemon=True,
        )
        self._stopping.clear()
        thread.start()
        deadline = time.monotonic() + 10
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                server.should_exit = True
                sock.close()
                raise RuntimeError("the scripted chat server did not start")
            time.sleep(0.002)
        self._server, self._thread, self._socket = server, thread, sock
        return self

    def stop(self) -> None:
        """Stop serving and wait for the thread to end; pending delays are cut short."""
        if self._server is None or self._thread is None or self._socket is None:
            return
        self._stopping.set()
        self._server.should_exit = True
        self._thread.join(timeout=10)
        self._socket.close()
        self._server = self._thread = self._socket = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- script -----------------------------------------------------------------------------

    def enqueue(
        self,
        text: str,
        *,
        usage: Usage | None = None,
        delay_s: float = 0,
        chunk_size: int | None = None,
        finish_reason: str = "stop",
    ) -> None:
        """Queue the next chat reply.

        ``usage`` replaces the rough token estimate; ``delay_s`` waits before the first byte;
        ``chunk_size`` streams that many characters per chunk (default: one word per chunk);
        ``finish_reason`` e.g. ``content_filter`` for a provider that refuses.
        """
        self._push(_Reply(text, usage, delay_s, chunk_size, finish_reason))

    def enqueue_tool_calls(self, calls: Sequence[tuple[str, str]], text: str = "") -> None:
        """Queue a reply that calls tools: (name, arguments as a JSON string) each, with
        finish_reason ``tool_calls``; streamed, the arguments arrive in several pieces."""
        self._push(_Reply(text, finish_reason="tool_calls", tool_calls=tuple(calls)))

    def enqueue_error(
        self, status: int, message: str = "", retry_after: float | None = None
    ) -> None:
        """Queue an HTTP error in OpenAI's shape, with a ``Retry-After`` header if given."""
        self._push(_Error(status, message, retry_after))

    def enqueue_broken_stream(self, text_before_break: str) -> None:
        """Queue an answer that sends ``text_before_break`` and then closes the connection."""
        self._push(_BrokenStream(text_before_break))

    def enqueue_embeddings(
        self, vectors: Sequence[Sequence[float]] | None = None, *, delay_s: float = 0
    ) -> None:
        """Queue the next ``/v1/embeddings`` reply: ``vectors`` sent as they are, whatever
        the request asked (to test a client against a wrong count or size), or by default the
        usual hashed vectors; ``delay_s`` waits before answering (a slow endpoint)."""
        rows = None if vectors is None else [[float(value) for value in row] for row in vectors]
        with self._lock:
            self._embedding_script.append(_Embeddings(rows, delay_s))

    def enqueue_embeddings_error(
        self, status: int, message: str = "", retry_after: float | None = None
    ) -> None:
        """Queue an HTTP error as the next ``/v1/embeddings`` reply (see :meth:`enqueue_error`)."""
        with self._lock:
            self._embedding_script.append(_Error(status, message, retry_after))

    def reset(self) -> None:
        """Forget the unused script and the received requests (to share one server)."""
        with self._lock:
            self._script.clear()
            self._embedding_script.clear()
            self._requests.clear()

    @property
    def requests(self) -> list[ReceivedRequest]:
        """The requests received so far, oldest first (a copy)."""
        with self._lock:
            return list(self._requests)

    @property
    def pending(self) -> int:
        """Scripted steps not yet used (chat and embeddings)."""
        with self._lock:
            return len(self._script) + len(self._embedding_script)

    def _push(self, step: _Reply | _Error | _BrokenStream) -> None:
        with self._lock:
            self._script.append(step)

    def _pop(self) -> _Reply | _Error | _BrokenStream | None:
        with self._lock:
            return self._script.popleft() if self._script else None

    # -- endpoints --------------------------------------------------------------------------

    async def _chat(self, request: Request) -> Response:
        body = await self._receive(request)
        refused = self._refuse(request, body, required="messages")
        if refused is not None:
            return refused
        assert isinstance(body, dict)
        step = self._pop()
        if isinstance(step, _Error):
            return _error(step.status, step.message, step.retry_after)
        stream = body.get("stream") is True
        model = str(body.get("model") or self.model)
        if isinstance(step, _BrokenStream):
            return _broken_response(model, step.text_before_break, stream=stream)
        reply = step or _Reply(self.default(body), delay_s=self.delay_s)
        if reply.delay_s:
            await self._wait(request, reply.delay_s)
        usage = reply.usage or shapes.estimate_usage(body, reply.text)
        calls = list(reply.tool_calls)
        if not stream:
            return JSONResponse(
                shapes.completion_json(model, reply.text, usage, reply.finish_reason, calls)
            )
        stream_options = body.get("stream_options")
        include_usage = isinstance(stream_options, dict) and bool(
            stream_options.get("include_usage")
        )
        pieces = shapes.split_text(reply.text, reply.chunk_size)
        events = shapes.chunk_events(
            model,
            pieces,
            usage if include_usage else None,
            finish_reason=reply.finish_reason,
            tool_calls=calls,
        )
        return StreamingResponse(
            _aiter(events), media_type="text/event-stream", headers={"cache-control": "no-cache"}
        )

    async def _models(self, request: Request) -> Response:
        await self._receive(request)
        refused = self._refuse(request, {}, required=None)
        return refused or JSONResponse(shapes.models_json(self.model))

    async def _embeddings(self, request: Request) -> Response:
        body = await self._receive(request)
        refused = self._refuse(request, body, required="input")
        if refused is not None:
            return refused
        assert isinstance(body, dict)
        value = body["input"]
        if isinstance(value, str):
            texts = [value]
        elif isinstance(value, list) and value and all(isinstance(v, str) for v in value):
            texts = value
        elif isinstance(value, list) and value:
            texts = (
                [json.dumps(value)] if isinstance(value[0], int) else list(map(json.dumps, value))
            )
        else:
            return _error(400, "'input' must be a string or a non-empty list")
        with self._lock:
            step = self._embedding_script.popleft() if self._embedding_script else None
        if isinstance(step, _Error):
            return _error(step.status, step.message, step.retry_after)
        if step is not None and step.delay_s:
            await self._wait(request, step.delay_s)
        model = str(body.get("model") or self.model)
        if step is not None and step.vectors is not None:
            return JSONResponse(shapes.embeddings_json_of(model, texts, step.vectors))
        dimensions = body.get("dimensions")
        dimensions = dimensions if isinstance(dimensions, int) and dimensions > 0 else None
        return JSONResponse(
            shapes.embeddings_json(
                model,
                texts,
                dimensions or self.embedding_dim,
                str(body.get("encoding_format") or "float"),
            )
        )

    async def _receive(self, request: Request) -> Any:
        raw = await request.body()
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        received = ReceivedRequest(
            request.method,
            request.url.path,
            dict(request.headers),
            body,
            dict(request.query_params),
        )
        with self._lock:
            self._requests.append(received)
        return body

    def _refuse(self, request: Request, body: Any, *, required: str | None) -> Response | None:
        """An error response when the request lacks a valid key or a required field."""
        key = self.api_key
        if key is not None and request.headers.get("authorization") != f"Bearer {key}":
            return _error(401)
        if not isinstance(body, dict):
            return _error(400, "We could not parse the JSON body of your request.")
        if required is not None and not body.get(required):
            return _error(400, f"'{required}' is a required property")
        if required == "messages" and not isinstance(body.get("model"), str):
            return _error(400, "you must provide a model parameter")
        return None

    async def _wait(self, request: Request, seconds: float) -> None:
        """Sleep, but stop early when the client hangs up or the server stops."""
        deadline = time.monotonic() + seconds
        while not self._stopping.is_set() and (left := deadline - time.monotonic()) > 0:
            if await request.is_disconnected():
                return
            await asyncio.sleep(min(left, 0.02))


def _error(status: int, message: str = "", retry_after: float | None = None) -> Response:
    headers = {"retry-after": f"{retry_after:g}"} if retry_after is not None else None
    return JSONResponse(shapes.error_json(status, message), status_code=status, headers=headers)


async def _aiter(items: Iterable[bytes]) -> AsyncIterator[bytes]:
    for item in items:
        yield item


class _BrokenResponse(Response):
    """Sends the start of a response, then ends without finishing it: the connection closes."""

    def __init__(self, parts: list[bytes], media_type: str, content_length: int | None) -> None:
        super().__init__(media_type=media_type)
        self.parts = parts
        self.content_length = content_length

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = [(b"content-type", str(self.media_type).encode())]
        if self.content_length is not None:
            headers.append((b"content-length", str(self.content_length).encode()))
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        for part in self.parts:
            await send({"type": "http.response.body", "body": part, "more_body": True})
        # No final message: uvicorn closes the connection and the client sees a broken answer.


def _broken_response(model: str, text: str, *, stream: bool) -> Response:
    if stream:
        parts = list(shapes.chunk_events(model, shapes.split_text(text, None), None, finish=False))
        return _BrokenResponse(parts, "text/event-stream", None)
    whole = shapes.completion_json(model, text + " … and the rest", Usage())
    data = json.dumps(whole, ensure_ascii=False).encode()
    cut = data.index(b'"content"') + len(b'"content": "') + len(text.encode())
    return _BrokenResponse([data[:cut]], "application/json", len(data))
