"""``leitstand traces``: what happened, stage by stage."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape
from rich.table import Table
from rich.tree import Tree

from leitstand.cli._common import console, handle_errors, open_leitstand, print_json

if TYPE_CHECKING:
    from leitstand.trace.store import SpanView, TraceView

app = typer.Typer(
    no_args_is_help=True, help="List and inspect traces of requests and ingestion runs."
)


@app.command("list")
@handle_errors
def list_traces(
    limit: Annotated[int, typer.Option("--limit", "-n", help="How many, newest first.")] = 20,
    kind: Annotated[
        str | None, typer.Option("--kind", help="Only 'request' or 'ingest' traces.")
    ] = None,
    status: Annotated[str | None, typer.Option("--status", help="Only this status.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False,
) -> None:
    """The newest traces."""
    with open_leitstand() as ls:
        rows = ls.traces.list(limit=limit, kind=kind, status=status)
    if as_json:
        print_json(
            [
                {
                    "id": r.id,
                    "kind": r.kind,
                    "name": r.name,
                    "started_at": r.started_at.isoformat(),
                    "duration_ms": round(r.duration_ms, 3),
                    "status": r.status,
                    "use_case": r.use_case,
                    "model": r.model,
                    "input": r.input,
                }
                for r in rows
            ]
        )
        return
    table = Table("id", "started (UTC)", "kind", "status", "ms", "use case / model", "input")
    for r in rows:
        colour = "green" if r.status == "ok" else "red" if r.status == "error" else "yellow"
        table.add_row(
            r.id[:12],
            r.started_at.strftime("%Y-%m-%d %H:%M:%S"),
            r.kind,
            f"[{colour}]{r.status}[/]",
            f"{r.duration_ms:,.1f}",
            f"{r.use_case or ''} {r.model or ''}".strip(),
            escape((r.input or r.name)[:60]),
        )
    console.print(table)


@app.command("show")
@handle_errors
def show(
    trace_id: Annotated[str, typer.Argument(help="Trace id or a unique prefix (≥ 6 characters).")],
    as_json: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False,
) -> None:
    """One trace with all its spans."""
    with open_leitstand() as ls:
        view = ls.traces.get(trace_id)
    if as_json:
        print_json(view.as_dict())
        return
    _print_trace(view)


@app.command("prune")
@handle_errors
def prune(
    older_than_days: Annotated[
        int | None,
        typer.Option("--older-than-days", help="Default: tracing.retention_days from the config."),
    ] = None,
) -> None:
    """Delete traces older than the retention period."""
    with open_leitstand() as ls:
        days = older_than_days or ls.settings.tracing.retention_days
        removed = ls.traces.prune(days)
    console.print(f"deleted {removed} trace(s) older than {days} days")


def _print_trace(view: TraceView) -> None:
    s = view.summary
    console.print(
        f"[bold]{s.name}[/] [dim]{s.id}[/]\n"
        f"{s.kind} · {s.status} · {s.duration_ms:,.1f} ms · {s.started_at.isoformat()}",
        highlight=False,
    )
    if s.use_case or s.model:
        console.print(f"use case {s.use_case} · model {s.model}", highlight=False)
    if view.prompt_hash:
        console.print(f"prompt {view.prompt_hash[:16]}", highlight=False)
    if s.input:
        console.print(f"[bold]input:[/] {escape(s.input)}", highlight=False)
    if view.output:
        console.print(f"[bold]output:[/] {escape(view.output)}", highlight=False)
    if view.error:
        console.print(f"[bold red]error:[/] {escape(view.error)}", highlight=False)
    if view.attributes:
        console.print(f"[dim]{escape(json.dumps(view.attributes, ensure_ascii=False))[:2000]}[/]")
    tree = Tree("spans")
    nodes: dict[int, Tree] = {}
    for span in view.spans:
        parent = nodes.get(span.parent_position, tree) if span.parent_position is not None else tree
        nodes[span.position] = parent.add(_span_label(span))
    console.print(tree)


def _span_label(span: SpanView) -> str:
    colour = "green" if span.status == "ok" else "red"
    attrs = json.dumps(span.attributes, ensure_ascii=False)
    if len(attrs) > 400:
        attrs = attrs[:400] + "…"
    error = f" [red]{escape(span.error)}[/]" if span.error else ""
    return (
        f"[bold]{span.name}[/] [{colour}]{span.status}[/] {span.duration_ms:,.2f} ms{error}"
        f"\n[dim]{escape(attrs)}[/]"
    )
