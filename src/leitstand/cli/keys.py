"""``leitstand keys``: API keys for the server, stored only as hashes."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from leitstand.cli._common import console, handle_errors, open_leitstand, print_json

app = typer.Typer(no_args_is_help=True, help="Create, list and revoke API keys.")


@app.command("create")
@handle_errors
def create(
    name: Annotated[str, typer.Argument(help="A name for the key, e.g. crm-bot.")],
    use_case: Annotated[
        str | None, typer.Option("--use-case", help="Restrict the key to this use case.")
    ] = None,
    team: Annotated[str | None, typer.Option("--team", help="Team the key belongs to.")] = None,
    role: Annotated[str, typer.Option("--role", help="user or admin.")] = "user",
) -> None:
    """Create a key. It is shown once; only its hash is stored."""
    with open_leitstand() as ls:
        secret, info = ls.keys.create(name, use_case=use_case, team=team, role=role)
    console.print(f"created key [bold]{info.name}[/] ({info.role})")
    console.print("store it now — it cannot be shown again:")
    typer.echo(secret)


@app.command("list")
@handle_errors
def list_keys(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """All keys with their prefix, scope and state (never the secret)."""
    with open_leitstand() as ls:
        keys = ls.keys.list()
    if as_json:
        print_json(
            [
                {
                    "name": k.name,
                    "prefix": k.prefix,
                    "use_case": k.use_case,
                    "team": k.team,
                    "role": k.role,
                    "active": k.active,
                    "created_at": k.created_at.isoformat(),
                    "last_used_at": k.last_used_at.isoformat() if k.last_used_at else None,
                }
                for k in keys
            ]
        )
        return
    table = Table("name", "prefix", "role", "use case", "team", "state", "created", "last used")
    for k in keys:
        table.add_row(
            k.name,
            k.prefix + "…",
            k.role,
            k.use_case or "any",
            k.team or "",
            "[green]active[/]" if k.active else "[red]revoked[/]",
            k.created_at.strftime("%Y-%m-%d"),
            k.last_used_at.strftime("%Y-%m-%d %H:%M") if k.last_used_at else "",
        )
    console.print(table)


@app.command("revoke")
@handle_errors
def revoke(name: Annotated[str, typer.Argument(help="The key's name.")]) -> None:
    """Revoke a key; requests with it are refused within seconds."""
    with open_leitstand() as ls:
        ls.keys.revoke(name)
    console.print(f"revoked key [bold]{name}[/]")
