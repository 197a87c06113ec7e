"""The ``leitstand`` command: a thin layer over :class:`leitstand.Leitstand`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from leitstand._version import __version__
from leitstand.cli import (
    approvals,
    ask,
    config,
    costs,
    embed,
    evals,
    guard,
    ingest,
    keys,
    models,
    serve,
    sources,
    traces,
)
from leitstand.cli._common import state

app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode="rich",
    help="leitstand: the control room for LLM applications — cited answers from your "
    "documents, traced and governed.",
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"leitstand {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    config_path: Annotated[
        Path | None,
        typer.Option(
            "--config",
            "-c",
            envvar="LEITSTAND_CONFIG",
            help="Configuration file (default: ./leitstand.yaml if present).",
        ),
    ] = None,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version.")
    ] = False,
) -> None:
    state.config_path = config_path


config.register(app)
ingest.register(app)
ask.register(app)
serve.register(app)
sources.register(app)
models.register(app)
costs.register(app)
app.add_typer(traces.app, name="traces")
app.add_typer(keys.app, name="keys")
app.add_typer(embed.app, name="embed")
app.add_typer(evals.app, name="eval")
app.add_typer(guard.app, name="guard")
app.add_typer(approvals.app, name="approvals")
app.add_typer(config.config_app, name="config")
