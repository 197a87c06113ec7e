"""``leitstand approvals``: tool calls held for a person, and the decisions on them."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from leitstand.cli._common import console, handle_errors, open_leitstand, print_json
from leitstand.guard.tools import ApprovalInfo, ToolApprovals

app = typer.Typer(no_args_is_help=True, help="List held tool calls and approve or reject them.")

_COLOURS = {"pending": "yellow", "approved": "green", "rejected": "red"}


@app.command("list")
@handle_errors
def list_approvals(
    status: Annotated[
        str | None,
        typer.Option("--status", help="Only 'pending', 'approved' or 'rejected' calls."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False,
) -> None:
    """Held tool calls, oldest first."""
    with open_leitstand() as ls:
        rows = ToolApprovals(ls.db).list(status)
    if as_json:
        print_json([row.as_dict() for row in rows])
        return
    table = Table()
    table.add_column("id", no_wrap=True)
    table.add_column("held (UTC)", min_width=10)
    table.add_column("status", no_wrap=True)
    table.add_column("tool", no_wrap=True)
    table.add_column("arguments", max_width=24, no_wrap=True, overflow="ellipsis")
    table.add_column("use case / key")
    for row in rows:
        status = f"[{_COLOURS.get(row.status, 'white')}]{row.status}[/]"
        if row.decided_by:
            status += f" by {escape(row.decided_by)}"
        table.add_row(
            str(row.id),
            row.created_at.strftime("%Y-%m-%d %H:%M"),
            status,
            escape(row.tool),
            escape(row.arguments),
            escape(" / ".join(part for part in (row.use_case, row.key_name) if part)),
        )
    console.print(table)


@app.command("approve")
@handle_errors
def approve(
    approval_id: Annotated[int, typer.Argument(metavar="ID", help="The approval's id.")],
    by: Annotated[str, typer.Option("--by", help="Who decides.")],
) -> None:
    """Approve a held tool call."""
    _decide(approval_id, True, by)


@app.command("reject")
@handle_errors
def reject(
    approval_id: Annotated[int, typer.Argument(metavar="ID", help="The approval's id.")],
    by: Annotated[str, typer.Option("--by", help="Who decides.")],
) -> None:
    """Reject a held tool call."""
    _decide(approval_id, False, by)


def _decide(approval_id: int, approved: bool, by: str) -> None:
    with open_leitstand() as ls:
        row: ApprovalInfo = ToolApprovals(ls.db).decide(approval_id, approved, by)
    colour = _COLOURS[row.status]
    console.print(
        f"[{colour}]{row.status}[/] call of [bold]{escape(row.tool)}[/] "
        f"(approval {row.id}) by {escape(by)}"
    )
