"""``leitstand embed``: embed the chunks that lack vectors, list the models, drop one."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from leitstand.cli._common import console, err_console, handle_errors, open_leitstand, print_json

if TYPE_CHECKING:
    from leitstand.embeddings.jobs import EmbedProgress, EmbedProgressCallback, EmbedReport
    from leitstand.embeddings.service import ModelStatus

app = typer.Typer(
    no_args_is_help=True,
    help="Embed chunks for dense retrieval, list the embedding models, drop one.",
)


def progress_bars(*, quiet: bool = False) -> Progress:
    """The progress display of ingestion and embedding, on stderr (``current``: a note)."""
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[current]}", style="dim"),
        TimeRemainingColumn(),
        console=err_console,
        transient=True,
        disable=quiet,
    )


def embedding_bars(progress: Progress) -> EmbedProgressCallback:
    """An embedding progress callback that shows one bar per model, from its first batch."""
    tasks: dict[str, TaskID] = {}

    def update(event: EmbedProgress) -> None:
        task = tasks.get(event.model)
        if task is None:
            task = progress.add_task(escape(f"embed {event.model}"), total=event.total, current="")
            tasks[event.model] = task
        note = f"{event.cached} from the cache" if event.cached else ""
        progress.update(task, total=event.total, completed=event.done, current=note)

    return update


@app.command("run")
@handle_errors
def run(
    as_json: Annotated[bool, typer.Option("--json", help="Print the reports as JSON.")] = False,
) -> None:
    """Embed every chunk that has no vector of the configured model yet.

    While the configured model is incomplete, the model that still serves gets the vectors
    it lacks too, so that searches miss nothing meanwhile.
    """
    with open_leitstand() as ls:
        progress = progress_bars(quiet=as_json)
        with progress:
            reports = ls.embed(progress=embedding_bars(progress))
    if as_json:
        print_json([report.summary() for report in reports])
        return
    for report in reports:
        _print_report(report)


def _print_report(report: EmbedReport) -> None:
    model = escape(report.model)
    if not report.pending:
        console.print(f"[bold]{model}[/]: every chunk has a vector", highlight=False)
        return
    console.print(
        f"[bold]{model}[/]: {report.embedded} embedded, {report.cached} from the cache "
        f"in {report.duration_s:.2f} s" + ("" if report.complete else " [yellow](incomplete)[/]"),
        highlight=False,
    )


@app.command("status")
@handle_errors
def status(
    as_json: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False,
) -> None:
    """The embedding models in the database: coverage, the configured one, the one serving."""
    with open_leitstand() as ls:
        models = ls.embedding_status()
        configured = ls.embeddings.embedder.name if ls.embeddings is not None else None
    if as_json:
        print_json(
            {
                "configured": configured,
                "serving": next((m.name for m in models if m.serving), None),
                "models": [_status_dict(model) for model in models],
            }
        )
        return
    if models:
        table = Table()
        table.add_column("model", no_wrap=True)  # a name to copy into `embed drop`
        for header in ("dims", "vectors / chunks", "complete", "configured", "serving"):
            table.add_column(header)
        for model in models:
            table.add_row(
                escape(model.name),
                str(model.dimensions),
                f"{model.vectors:,} / {model.chunks:,} ({model.coverage:.0%})",
                _yes(model.complete),
                _yes(model.configured),
                _yes(model.serving),
            )
        console.print(table)
    else:
        console.print("no embedding models in this database")
    for line in _notes(models, configured):
        console.print(line, highlight=False)


def _status_dict(model: ModelStatus) -> dict[str, Any]:
    return {
        "name": model.name,
        "dimensions": model.dimensions,
        "vectors": model.vectors,
        "chunks": model.chunks,
        "coverage": round(model.coverage, 4),
        "complete": model.complete,
        "configured": model.configured,
        "serving": model.serving,
        "created_at": model.created_at.isoformat(),
        "completed_at": model.completed_at.isoformat() if model.completed_at else None,
    }


def _yes(value: bool) -> str:
    return "[green]yes[/]" if value else "[dim]no[/]"


def _notes(models: list[ModelStatus], configured: str | None) -> list[str]:
    """What the table does not say: dense retrieval off, vectors still to make."""
    if configured is None:
        return ["[yellow]dense retrieval is off[/]: embeddings.provider resolves to none"]
    notes = []
    if not any(model.configured for model in models):
        notes.append(
            f"{escape(configured)} is configured but has no vectors yet: run `leitstand embed run`"
        )
    for model in models:
        missing = model.chunks - model.vectors
        if missing > 0 and (model.configured or model.serving):
            notes.append(
                f"{missing:,} chunk(s) have no vector of {escape(model.name)} yet: "
                "run `leitstand embed run`"
            )
    return notes


@app.command("drop")
@handle_errors
def drop(
    model: Annotated[str, typer.Argument(help="The model as `leitstand embed status` names it.")],
) -> None:
    """Delete one embedding model's vectors, cached vectors and index."""
    with open_leitstand() as ls:
        ls.drop_embeddings(model)
        configured = ls.embeddings is not None and ls.embeddings.embedder.name == model
    console.print(f"dropped the embedding model [bold]{escape(model)}[/]", highlight=False)
    if configured:
        console.print(
            "it is the configured model: `leitstand embed run` embeds every chunk again",
            highlight=False,
        )
