"""``leitstand serve``: the OpenAI-compatible API and the web page."""

from __future__ import annotations

import ipaddress
import os
from typing import Annotated

import typer

from leitstand.cli._common import console, fail, handle_errors, open_leitstand
from leitstand.config.loading import CONFIG_ENV


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@handle_errors
def serve(
    host: Annotated[str | None, typer.Option("--host", help="Default: server.host.")] = None,
    port: Annotated[int | None, typer.Option("--port", "-p", help="Default: server.port.")] = None,
    workers: Annotated[
        int,
        typer.Option(
            "--workers",
            "-w",
            min=1,
            help="Worker processes; limits, budgets and caches are shared through the database.",
        ),
    ] = 1,
) -> None:
    """Serve /v1/chat/completions, /v1/models, /healthz, /readyz and the web page at /."""
    import uvicorn

    from leitstand.server.app import create_app

    ls = open_leitstand()
    settings = ls.settings.server
    host = host or settings.host
    port = port or settings.port
    keys_active = ls.keys.any_active()
    if not keys_active and not _is_loopback(host):
        ls.close()
        raise fail(
            f"refusing to listen on {host} without API keys",
            hint="create one with `leitstand keys create NAME`, or listen on 127.0.0.1",
        )
    if not keys_active:
        console.print(
            "[yellow]no API keys exist: listening on loopback only, without authentication[/] "
            "(create one with `leitstand keys create NAME`)",
            highlight=False,
        )
    console.print(f"leitstand serving on http://{host}:{port}  (web page at /, API at /v1)")
    if workers > 1:
        # Each worker opens its own instance from the same configuration.
        config = ls.config.path
        ls.close()
        if config is not None:
            os.environ[CONFIG_ENV] = str(config.resolve())
        console.print(f"{workers} worker processes")
        uvicorn.run(
            "leitstand.server.app:app_from_environment",
            factory=True,
            workers=workers,
            host=host,
            port=port,
            log_level=ls.settings.log_level,
            access_log=ls.settings.log_level == "debug",
        )
        return
    app = create_app(ls)
    uvicorn.run(
        app,
        host=host,
        port=port,
        log_level=ls.settings.log_level,
        access_log=ls.settings.log_level == "debug",
    )
