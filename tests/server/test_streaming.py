"""EventStreamResponse: a blocking generator's events go out as soon as they are there, the
ones that are ready together; a failure is raised; a client that leaves closes the generator.

The response runs under a minimal ASGI server here (a ``receive`` and a ``send``), so that a
test can see every write and decide when the client leaves.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import anyio
import pytest
from starlette.requests import ClientDisconnect

from leitstand.server.streaming import EventStreamResponse

pytestmark = pytest.mark.unit

WAIT_S = 5.0


class Client:
    """Receives the response's messages; ``leave`` makes ``receive`` report a disconnect."""

    def __init__(self, spec_version: str = "2.3") -> None:
        self.scope = {"type": "http", "asgi": {"spec_version": spec_version}}
        self.messages: list[dict[str, Any]] = []
        self.left = threading.Event()

    @property
    def bodies(self) -> list[bytes]:
        return [m["body"] for m in self.messages if m["type"] == "http.response.body"]

    async def receive(self) -> dict[str, Any]:
        while not self.left.is_set():
            await anyio.sleep(0.01)
        return {"type": "http.disconnect"}

    async def send(self, message: dict[str, Any]) -> None:
        self.messages.append(message)

    def run(self, response: EventStreamResponse) -> None:
        async def main() -> None:
            with anyio.fail_after(WAIT_S * 2):
                await response(self.scope, self.receive, self.send)

        anyio.run(main)


def test_the_first_event_goes_out_before_the_next_is_made_and_ready_ones_go_together() -> None:
    first_sent = threading.Event()
    made = threading.Event()
    waited: list[bool] = []

    def events() -> Iterator[str]:
        yield "data: a\n\n"
        waited.append(first_sent.wait(WAIT_S))  # nothing is held back for more
        yield "data: b\n\n"
        yield "data: c\n\n"
        yield "data: d\n\n"
        made.set()

    class Slow(Client):
        async def send(self, message: dict[str, Any]) -> None:
            await super().send(message)
            if message.get("body") == b"data: a\n\n":
                first_sent.set()
                while not made.is_set():  # the client reads slowly: b, c and d pile up
                    await anyio.sleep(0.01)

    client = Slow()
    client.run(EventStreamResponse(events(), headers={"X-Test": "1"}))

    assert waited == [True]
    assert client.bodies == [b"data: a\n\n", b"data: b\n\ndata: c\n\ndata: d\n\n", b""]
    start = client.messages[0]
    assert start["type"] == "http.response.start"
    assert start["status"] == 200
    headers = dict(start["headers"])
    assert headers[b"content-type"] == b"text/event-stream; charset=utf-8"
    assert headers[b"x-test"] == b"1"


def test_a_failing_generator_fails_the_response_after_what_it_sent() -> None:
    def events() -> Iterator[str]:
        yield "data: a\n\n"
        raise ValueError("broken")

    client = Client()
    with pytest.raises(ValueError, match="broken"):
        client.run(EventStreamResponse(events()))
    assert client.bodies[0] == b"data: a\n\n"
    assert not any(m.get("more_body") is False for m in client.messages)


def endless(closed: threading.Event, in_thread: list[str]) -> Iterator[str]:
    try:
        while True:
            yield "data: x\n\n"
            time.sleep(0.01)
    finally:
        in_thread.append(threading.current_thread().name)
        closed.set()


def test_a_client_that_leaves_closes_the_generator() -> None:
    closed = threading.Event()
    in_thread: list[str] = []

    class Leaving(Client):
        async def send(self, message: dict[str, Any]) -> None:
            await super().send(message)
            if len(self.bodies) == 3:
                self.left.set()

    client = Leaving("2.3")
    client.run(EventStreamResponse(endless(closed, in_thread)))

    assert closed.is_set()  # closed before the response returned
    assert in_thread and in_thread[0] != threading.current_thread().name
    assert not any(m.get("more_body") is False for m in client.messages)


def test_a_failed_write_to_a_client_that_left_closes_the_generator() -> None:
    """ASGI 2.4 servers report a client that left by failing the write."""
    closed = threading.Event()

    class Gone(Client):
        async def send(self, message: dict[str, Any]) -> None:
            await super().send(message)
            if len(self.bodies) == 2:
                raise OSError("connection reset")

    client = Gone("2.4")
    with pytest.raises(ClientDisconnect):
        client.run(EventStreamResponse(endless(closed, [])))
    assert closed.is_set()
