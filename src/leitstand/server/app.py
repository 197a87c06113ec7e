"""The FastAPI application: API routes, health checks, passages and the web page."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib import resources
from typing import Any

import anyio.to_thread
from fastapi import Depends, FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from sqlalchemy import text

from leitstand._version import __version__
from leitstand.core import Leitstand
from leitstand.govern.keys import KeyInfo
from leitstand.server import errors
from leitstand.server.auth import Authenticator
from leitstand.server.openai_api import build_router
from leitstand.text.language import warm_up

PASSAGE_CONTEXT_CHARS = 400


def create_app(ls: Leitstand, *, close_on_shutdown: bool = False) -> FastAPI:
    """The ASGI app serving ``ls``; closing the app closes ``ls`` only when told to (by
    default the caller owns it)."""

    def warm() -> None:
        warm_up(ls.settings.languages)
        ls.start_background()

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        # Requests run in worker threads, and a streamed answer holds one while it waits for
        # the model: the pool bounds the answers in flight per process (anyio's default: 40).
        anyio.to_thread.current_default_thread_limiter().total_tokens = ls.settings.server.threads
        threading.Thread(target=warm, name="leitstand-warm-up", daemon=True).start()
        yield
        ls.tracer.flush()
        if close_on_shutdown:
            ls.close()

    app = FastAPI(
        lifespan=lifespan,
        title="leitstand",
        version=__version__,
        description="OpenAI-compatible answers with sources from your documents.",
        docs_url="/docs",
        redoc_url=None,
    )
    app.state.leitstand = ls
    errors.install(app)
    if ls.settings.server.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=ls.settings.server.cors_origins,
            allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "Content-Type"],
        )
    authenticate = Authenticator(ls.keys)
    require_key = Depends(authenticate)
    app.include_router(build_router(ls, authenticate))

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", include_in_schema=False)
    def readyz() -> JSONResponse:
        try:
            with ls.db.read() as session:
                session.execute(text("SELECT 1"))
        except Exception as exc:
            body = {"status": "unavailable", "reason": f"database: {type(exc).__name__}"}
            return JSONResponse(body, 503)
        return JSONResponse({"status": "ready", "version": __version__})

    @app.get("/v1/passages/{chunk_id}")
    def passage(chunk_id: int, _key: KeyInfo | None = require_key) -> dict[str, Any]:
        """The exact passage a citation points at, with some surrounding text."""
        hit = ls.chunk(chunk_id)
        before, after = ls.retriever.surroundings(hit, PASSAGE_CONTEXT_CHARS)
        return {**hit.as_dict(), "location": hit.location(), "before": before, "after": after}

    web = resources.files("leitstand.server").joinpath("web")
    app.mount("/static", StaticFiles(directory=str(web)), name="static")

    @app.get("/", include_in_schema=False)
    def index() -> FileResponse:
        return FileResponse(str(web.joinpath("index.html")), media_type="text/html")

    return app


def app_from_environment() -> FastAPI:
    """The app of one worker process (``leitstand serve --workers N``): leitstand opened from
    ``$LEITSTAND_CONFIG`` (or ./leitstand.yaml), closed when the worker stops."""
    return create_app(Leitstand.open(), close_on_shutdown=True)
