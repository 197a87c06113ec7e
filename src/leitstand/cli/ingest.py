"""``leitstand ingest``: folders and files in, with a progress bar and a per-file report."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape
from rich.table import Table

from leitstand.cli._common import console, handle_errors, open_leitstand, print_json
from leitstand.cli.embed import embedding_bars, progress_bars

if TYPE_CHECKING:
    from leitstand.core import Leitstand
    from leitstand.ingest.pipeline import IngestProgress, IngestReport


def register(app: typer.Typer) -> None:
    app.command("ingest")(ingest)


@handle_errors
def ingest(
    paths: Annotated[list[Path], typer.Argument(help="Folders (searched recursively) or files.")],
    source: Annotated[
        str | None, typer.Option("--source", "-s", help="Source name (default: the folder name).")
    ] = None,
    prune: Annotated[
        bool, typer.Option("--prune", help="Remove documents whose files no longer exist.")
    ] = False,
    tag: Annotated[
        list[str] | None, typer.Option("--tag", "-t", help="Tag the documents (repeatable).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Index documents (txt, md, html, pdf, docx, csv, eml). Unchanged files cost nothing."""
    reports: list[IngestReport] = []
    with open_leitstand() as ls:
        for path in paths:
            reports.append(_ingest_one(ls, path, source, prune, tag or [], quiet=as_json))
    if as_json:
        print_json([_report_dict(report) for report in reports])
    else:
        for report in reports:
            _print_report(report)
    if any(report.failed for report in reports):
        raise typer.Exit(
            1 if all(not (r.added or r.updated or r.unchanged) for r in reports) else 0
        )


def _ingest_one(
    ls: Leitstand, path: Path, source: str | None, prune: bool, tags: list[str], *, quiet: bool
) -> IngestReport:
    progress = progress_bars(quiet=quiet)
    with progress:
        task = progress.add_task(escape(f"ingest {path}"), total=None, current="")

        def update(event: IngestProgress) -> None:
            progress.update(task, total=event.total, completed=event.done, current=event.path[-50:])

        return ls.ingest(
            path,
            source=source,
            prune=prune,
            tags=tags,
            progress=update,
            # With dense retrieval on, a second bar for embedding the new chunks.
            embed_progress=embedding_bars(progress) if ls.embeddings is not None else None,
        )


def _report_dict(report: IngestReport) -> dict[str, object]:
    return {
        **report.summary(),
        "trace_id": report.trace_id,
        "failed_files": [
            {"path": p.path, "message": p.message, "hint": p.hint} for p in report.failed
        ],
        "warnings_files": [
            {"path": p.path, "message": p.message, "hint": p.hint} for p in report.warnings
        ],
        "vanished_files": report.vanished,
        "quarantined_chunks": [q.as_dict() for q in report.quarantined],
        "refused_files": [
            {"path": p.path, "message": p.message, "hint": p.hint} for p in report.refused
        ],
        "masked_pii": dict(report.masked),
    }


def _print_report(report: IngestReport) -> None:
    table = Table(show_header=False, box=None, pad_edge=False)
    summary = report.summary()
    for key in ("added", "updated", "unchanged", "removed", "failed", "chunks_written"):
        table.add_row(key.replace("_", " "), str(summary[key]))
    rate = report.chunks_written / report.duration_s if report.duration_s else 0
    console.print(
        f"[bold]{report.source}[/] ({report.root or 'texts'}) in {report.duration_s:.2f} s"
        + (f", {rate:,.0f} chunks/s" if report.chunks_written else ""),
        highlight=False,
    )
    console.print(table)
    for problem in report.failed:
        console.print(f"[red]✗[/] {problem.path}: {problem.message}", highlight=False)
        if problem.hint:
            console.print(f"    [yellow]hint:[/] {problem.hint}", highlight=False)
    for problem in report.warnings:
        console.print(f"[yellow]![/] {problem.path}: {problem.message}", highlight=False)
        if problem.hint:
            console.print(f"    [yellow]hint:[/] {problem.hint}", highlight=False)
    for chunk in report.quarantined:
        page = f", page {chunk.page}" if chunk.page else ""
        console.print(
            f"[red]⚠[/] {chunk.path}, chunk {chunk.ordinal + 1}{page}: quarantined, not indexed — "
            f"it carries instructions to an AI ({', '.join(chunk.rules) or 'known attack'}): "
            f"„{chunk.excerpt[:80]}…“",
            highlight=False,
        )
    for problem in report.refused:
        console.print(f"[red]⛔[/] {problem.path}: {problem.message}", highlight=False)
    if report.refused:
        console.print(
            "    [yellow]hint:[/] remove the data from the document, or change ingest.pii "
            "for this collection",
            highlight=False,
        )
    if report.masked:
        masked = ", ".join(f"{label} ×{n}" for label, n in report.masked.most_common())
        console.print(f"personal data masked before indexing: {masked}", highlight=False)
    if report.unsupported:
        kinds = ", ".join(f"{ext} ×{n}" for ext, n in report.unsupported.most_common())
        console.print(f"[dim]skipped unsupported file types: {kinds}[/]", highlight=False)
    if report.vanished:
        console.print(
            f"[yellow]{len(report.vanished)} indexed file(s) no longer exist[/]; "
            "run again with --prune to remove them",
            highlight=False,
        )
    console.print(f"[dim]trace {report.trace_id}[/]", highlight=False)
