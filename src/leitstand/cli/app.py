"""Top-level typer application; each command group lives in its own module."""

from __future__ import annotations

import typer

app = typer.Typer(no_args_is_help=True, help="leitstand: the control room for LLM applications.")
