"""A client that leaves in the middle of a streamed chat-mode answer: `leitstand serve` cancels
the model's request at once and records the trace as cancelled."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn
from sqlalchemy import create_engine, text
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from _server import LeitstandProcess, free_port

pytestmark = pytest.mark.integration

PIECES = 200
PAUSE_S = 0.05
"""A slow model: its whole answer takes 10 s."""


class SlowModel:
    """An OpenAI-compatible endpoint that streams one word every PAUSE_S and notes whether its
    client hung up before the end."""

    def __init__(self) -> None:
        self.sent = 0
        self.hung_up = threading.Event()
        app = Starlette(routes=[Route("/v1/chat/completions", self.chat, methods=["POST"])])
        self.port = free_port()
        self.server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning")
        )
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    async def chat(self, request: Request) -> Response:
        await request.body()
        return StreamingResponse(self.events(), media_type="text/event-stream")

    async def events(self) -> AsyncIterator[str]:
        finished = False
        try:
            for number in range(PIECES):
                chunk = {
                    "id": "chatcmpl-slow",
                    "object": "chat.completion.chunk",
                    "created": 1,
                    "model": "slow-model",
                    "choices": [
                        {"index": 0, "delta": {"content": f"w{number} "}, "finish_reason": None}
                    ],
                }
                yield f"data: {json.dumps(chunk)}\n\n"
                self.sent += 1
                await asyncio.sleep(PAUSE_S)
            finished = True
            yield "data: [DONE]\n\n"
        finally:
            if not finished:
                self.hung_up.set()

    def __enter__(self) -> SlowModel:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started and time.monotonic() < deadline:
            time.sleep(0.02)
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@pytest.fixture
def slow() -> Iterator[SlowModel]:
    with SlowModel() as model:
        yield model


def trace_status(database: Path, trace_id: str, timeout_s: float = 10.0) -> str | None:
    """The status of a trace (written in the background, so waited for)."""
    engine = create_engine(f"sqlite:///{database}")
    deadline = time.monotonic() + timeout_s
    try:
        while True:
            with engine.connect() as connection:
                status = connection.execute(
                    text("SELECT status FROM traces WHERE id = :id"), {"id": trace_id}
                ).scalar()
            if status is not None or time.monotonic() > deadline:
                return status
            time.sleep(0.05)
    finally:
        engine.dispose()


def test_a_client_that_leaves_cancels_the_models_request(tmp_path: Path, slow: SlowModel) -> None:
    config = tmp_path / "leitstand.yaml"
    config.write_text(
        f"data_dir: {tmp_path / 'data'}\n"
        f"models:\n  slow:\n    base_url: {slow.url}\n    model: slow-model\n"
        "    max_retries: 0\n"
        "use_cases:\n  chat:\n    mode: chat\n    model: slow\n"
        "default_use_case: chat\n",
        encoding="utf-8",
    )
    body = {"model": "chat", "messages": [{"role": "user", "content": "Erzähl was."}]}
    with (
        LeitstandProcess(config) as server,
        httpx.Client(timeout=30) as client,
    ):
        with client.stream(
            "POST", f"{server.url}/v1/chat/completions", json=body | {"stream": True}
        ) as response:
            assert response.status_code == 200
            trace_id = response.headers["x-leitstand-trace-id"]
            pieces = 0
            for line in response.iter_lines():
                pieces += '"content"' in line
                if pieces == 3:
                    break  # the client leaves
        assert slow.hung_up.wait(5), f"the model's request went on ({slow.sent} pieces)"
        assert slow.sent < PIECES / 2
        assert trace_status(tmp_path / "data" / "leitstand.db", trace_id) == "cancelled"
