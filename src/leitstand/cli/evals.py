"""``leitstand eval``: measure retrieval on a golden set before a change ships."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.progress import Progress
from rich.table import Table

from leitstand.cli._common import console, err_console, handle_errors, print_json, state

if TYPE_CHECKING:
    from leitstand.ingest.pipeline import IngestProgress

app = typer.Typer(no_args_is_help=True, help="Evaluate retrieval quality on golden sets.")


@app.command("retrieval")
@handle_errors
def retrieval(
    folder: Annotated[
        Path, typer.Argument(help="A BEIR folder: corpus.jsonl, queries.jsonl, qrels/.")
    ],
    split: Annotated[str, typer.Option("--split", help="qrels/<split>.tsv to use.")] = "dev",
    k: Annotated[int, typer.Option("--k", help="Cut-off for nDCG, recall and MRR.")] = 10,
    database_url: Annotated[
        str | None,
        typer.Option(
            "--database-url",
            help="Index into this database (e.g. PostgreSQL); default: a temporary SQLite file.",
        ),
    ] = None,
    per_query: Annotated[
        bool, typer.Option("--per-query", help="Also list every query with its top hits.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """nDCG@k, recall@k and MRR@k of the configured retrieval on a BEIR-format golden set."""
    from leitstand.config.loading import load_config
    from leitstand.core import Leitstand
    from leitstand.evals.retrieval import evaluate, load_beir, rank_with
    from leitstand.ingest.pipeline import TextRecord

    dataset = load_beir(folder, split)
    with tempfile.TemporaryDirectory(prefix="leitstand-eval-") as tmp:
        url = database_url or f"sqlite:///{Path(tmp) / 'eval.db'}"
        config = load_config(state.config_path, overrides={"database_url": url})
        with Leitstand(config) as ls:
            records = [
                TextRecord(path=doc_id, text=doc["text"], title=doc["title"] or None)
                for doc_id, doc in dataset.corpus.items()
            ]
            started = time.perf_counter()
            with Progress(console=err_console, transient=True, disable=as_json) as progress:
                task = progress.add_task(f"index {dataset.name}", total=len(records))

                def update(event: IngestProgress) -> None:
                    progress.update(task, completed=event.done)

                ls.ingest_texts(records, source=f"eval-{dataset.name}", progress=update)
            index_s = time.perf_counter() - started
            source = f"eval-{dataset.name}"

            def search(query: str, limit: int) -> list[str]:
                return [hit.path for hit in ls.search(query, k=limit, sources=[source]).hits]

            report = evaluate(
                dataset,
                rank_with(search, k),
                k=k,
                split=split,
                backend=ls.db.dialect,
                index_s=index_s,
            )
    if as_json:
        print_json(report.as_dict(per_query=per_query))
        return
    table = Table(title=f"{dataset.name} ({split}, {report.queries} queries, {report.backend})")
    for column in (f"nDCG@{k}", f"recall@{k}", f"MRR@{k}", "query p50 ms", "index s"):
        table.add_column(column, justify="right")
    table.add_row(
        f"{report.ndcg:.4f}",
        f"{report.recall:.4f}",
        f"{report.mrr:.4f}",
        f"{report.p50_ms:.2f}",
        f"{report.index_s:.2f}",
    )
    console.print(table)
    if per_query:
        for result in sorted(report.per_query, key=lambda r: r.ndcg):
            mark = "[green]✓[/]" if result.ndcg >= 0.99 else "[red]✗[/]"
            console.print(
                f"{mark} {result.ndcg:.2f} {result.query}  relevant={','.join(result.relevant)} "
                f"top={','.join(result.ranked[:3])}",
                highlight=False,
            )
