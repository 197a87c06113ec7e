"""Server-sent events from the corridor's blocking generators, at little cost per event.

Starlette's ``StreamingResponse`` iterates a plain iterator with one trip into the thread pool
per item: a worker thread is woken for every token of every streamed answer, and the event loop
again for its result. :class:`EventStreamResponse` drains the iterator in one worker thread
instead and hands its events to the event loop as they come; the events that are ready when the
loop gets to them leave in one write. Nothing waits for more: each event is passed on as soon
as it is there.

A client that hangs up stops the stream: the worker thread closes the generator when its next
event comes (only the thread that runs a generator can close it), and the corridor cancels the
model's request and finishes the trace as cancelled. (Left to ``StreamingResponse``, the
abandoned generator was closed only when the garbage collector got to it; until then the
model's request stayed open and the trace unfinished.)
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator, Mapping

import anyio
import anyio.to_thread
from starlette.requests import ClientDisconnect
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

MAX_PENDING = 1024
"""Events the worker thread may read ahead of a slow client before it waits."""


class _Pipe:
    """Events from the worker thread to the event loop, taken in batches."""

    def __init__(self, loop: asyncio.AbstractEventLoop, limit: int = MAX_PENDING) -> None:
        self._loop = loop
        self._limit = limit
        self._lock = threading.Lock()
        self._events: list[str] = []
        self._waiter: asyncio.Future[None] | None = None
        self._ended = False
        self._error: BaseException | None = None
        self._room = threading.Event()
        self._room.set()
        self.stopped = False

    # -- the worker thread

    def drain(self, events: Iterator[str]) -> None:
        """Reads ``events`` to the end, or until :meth:`stop`; then closes the generator."""
        error: BaseException | None = None
        try:
            for event in events:
                self._put(event)
                if self.stopped:
                    break
        except BaseException as exc:  # raised in the event loop, where the response is
            error = exc
        try:
            close = getattr(events, "close", None)
            if self.stopped and close is not None:
                close()  # here, in the thread that ran it: a generator cannot be closed elsewhere
        finally:
            self._end(error)

    def _put(self, event: str) -> None:
        with self._lock:
            self._events.append(event)
            waiter, self._waiter = self._waiter, None
            full = len(self._events) >= self._limit
            if full:
                self._room.clear()
        if waiter is not None:
            self._loop.call_soon_threadsafe(_wake, waiter)
        if full:
            self._room.wait()

    def _end(self, error: BaseException | None) -> None:
        with self._lock:
            self._ended = True
            self._error = error
            waiter, self._waiter = self._waiter, None
        if waiter is not None:
            self._loop.call_soon_threadsafe(_wake, waiter)

    # -- the event loop

    async def take(self) -> list[str]:
        """The events that are ready, at least one; empty at the end of the stream."""
        while True:
            with self._lock:
                if self._events:
                    events, self._events = self._events, []
                    if not self._room.is_set():
                        self._room.set()
                    return events
                if self._ended:
                    if self._error is not None:
                        raise self._error
                    return []
                waiter = self._waiter = self._loop.create_future()
            await waiter

    def stop(self) -> None:
        """No more events are wanted (the client left, or sending failed)."""
        self.stopped = True
        self._room.set()


def _wake(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


class EventStreamResponse(Response):
    """``text/event-stream`` from a blocking iterator of ``data:`` blocks."""

    media_type = "text/event-stream"

    def __init__(self, events: Iterator[str], headers: Mapping[str, str] | None = None) -> None:
        self.events = events
        self.status_code = 200
        self.background = None
        self.init_headers(headers)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        spec = scope.get("asgi", {}).get("spec_version", "2.0")
        reports_disconnect = tuple(map(int, spec.split("."))) >= (2, 4)
        try:
            await self._stream(receive, send, watch=not reports_disconnect)
        except OSError as exc:  # ASGI 2.4: sending to a client that left
            if reports_disconnect:
                raise ClientDisconnect() from exc
            raise

    async def _stream(self, receive: Receive, send: Send, *, watch: bool) -> None:
        pipe = _Pipe(asyncio.get_running_loop())
        try:
            async with anyio.create_task_group() as group:
                # A cancelled group waits for the thread; it ends once it has closed the events.
                group.start_soon(anyio.to_thread.run_sync, pipe.drain, self.events)
                if watch:  # ASGI before 2.4: a client that left shows up in receive()
                    group.start_soon(_watch_disconnect, receive, pipe, group.cancel_scope)
                try:
                    await self._send_events(send, pipe)
                finally:
                    pipe.stop()
                    group.cancel_scope.cancel()
        except BaseExceptionGroup as errors:
            if len(errors.exceptions) != 1:
                raise
            error = errors.exceptions[0]
            context = error.__context__
            try:
                raise error  # the one failure itself, as a plain StreamingResponse raises it
            finally:
                error.__context__ = context

    async def _send_events(self, send: Send, pipe: _Pipe) -> None:
        await send(
            {"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers}
        )
        while events := await pipe.take():
            body = "".join(events).encode(self.charset)
            await send({"type": "http.response.body", "body": body, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})


async def _watch_disconnect(receive: Receive, pipe: _Pipe, scope: anyio.CancelScope) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass
    pipe.stop()
    scope.cancel()
