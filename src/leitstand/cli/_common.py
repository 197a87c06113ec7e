"""What every command needs: the config path, opening leitstand, printing errors."""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from leitstand.errors import ConfigError, LeitstandError

if TYPE_CHECKING:
    from leitstand.core import Leitstand

console = Console()
err_console = Console(stderr=True)

P = ParamSpec("P")
R = TypeVar("R")


class State:
    config_path: Path | None = None


state = State()


ONE_SHOT: dict[str, Any] = {"retrieval": {"memory_index": "off"}}
"""Overrides for commands that ask one question and exit: building lexical postings in
memory would cost more than the one search it could speed up."""


def open_leitstand(**overrides: Any) -> Leitstand:
    from leitstand.core import Leitstand

    return Leitstand.open(state.config_path, **overrides)


def fail(message: str, hint: str | None = None, code: int = 1) -> typer.Exit:
    """Print an error (and how to fix it) as plain text: square brackets in it, such as
    ``tools[0]`` or ``[PERSON]``, are shown, not read as markup."""
    err_console.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    if hint:
        err_console.print(f"[yellow]hint:[/] {escape(hint)}", highlight=False, soft_wrap=True)
    return typer.Exit(code)


def handle_errors(function: Callable[P, R]) -> Callable[P, R]:
    """Turn leitstand's own errors into a message and an exit code instead of a traceback."""

    @functools.wraps(function)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return function(*args, **kwargs)
        except ConfigError as exc:
            raise fail(exc.message, exc.hint, code=2) from None
        except LeitstandError as exc:
            raise fail(exc.message, exc.hint) from None
        except KeyboardInterrupt:
            raise fail("interrupted", code=130) from None

    return wrapper


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2, default=str) + "\n")
