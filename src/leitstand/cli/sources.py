"""``leitstand sources``: what is indexed, and removing a source entirely."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from leitstand.cli._common import console, handle_errors, open_leitstand, print_json


def register(app: typer.Typer) -> None:
    app.command("sources")(sources)


@handle_errors
def sources(
    delete: Annotated[
        str | None,
        typer.Option("--delete", help="Remove this source with all its documents and chunks."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """List the indexed sources (or delete one)."""
    with open_leitstand() as ls:
        if delete:
            ls.delete_source(delete)
            console.print(f"deleted source [bold]{escape(delete)}[/]")
            return
        rows = ls.sources()
    if as_json:
        print_json([row.__dict__ for row in rows])
        return
    table = Table("source", "documents", "chunks", "root")
    for row in rows:
        table.add_row(row.name, str(row.documents), str(row.chunks), row.root or "")
    console.print(table)
