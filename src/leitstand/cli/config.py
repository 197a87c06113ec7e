"""``leitstand init`` and ``leitstand config``: write, show and document the configuration."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from leitstand.cli._common import console, fail, handle_errors, state

CONFIG_FILE_NAME = "leitstand.yaml"

config_app = typer.Typer(no_args_is_help=True, help="Show, check and document the configuration.")


def register(app: typer.Typer) -> None:
    app.command("init")(init)


@handle_errors
def init(
    path: Annotated[Path, typer.Argument(help="Where to write the file.")] = Path(CONFIG_FILE_NAME),
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
) -> None:
    """Write leitstand.yaml with every setting and its default, commented."""
    from leitstand.config.reference import init_template

    if path.exists() and not force:
        raise fail(f"{path} already exists", hint="use --force to overwrite it")
    path.write_text(init_template(), encoding="utf-8")
    console.print(f"wrote [bold]{path}[/] — edit it, then run [bold]leitstand ingest ./docs[/]")


@config_app.command("docs")
def docs() -> None:
    """Print the configuration reference (docs/configuration.md) generated from the settings."""
    from leitstand.config.reference import reference_markdown

    typer.echo(reference_markdown(), nl=False)


@config_app.command("show")
@handle_errors
def show() -> None:
    """Print the effective configuration (file + environment + defaults); secrets as references."""
    import yaml

    from leitstand.config.loading import load_config

    loaded = load_config(state.config_path)
    data = loaded.settings.model_dump(mode="json", by_alias=True)
    console.print(f"# from {loaded.path or 'defaults (no leitstand.yaml found)'}", highlight=False)
    console.print(f"# database: {loaded.database_url}", highlight=False)
    typer.echo(yaml.safe_dump(data, sort_keys=False, allow_unicode=True))


@config_app.command("check")
@handle_errors
def check() -> None:
    """Validate the configuration and say so."""
    from leitstand.config.loading import load_config

    loaded = load_config(state.config_path)
    console.print(f"[green]ok[/] {loaded.path or 'defaults'}: database {loaded.database_url}")
