"""``leitstand eval``: measure retrieval on a golden set before a change ships."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape
from rich.progress import Progress
from rich.table import Table

from leitstand.cli._common import console, err_console, handle_errors, print_json, state

if TYPE_CHECKING:
    from leitstand.core import Leitstand
    from leitstand.evals.retrieval import BeirSet, RetrievalReport
    from leitstand.ingest.pipeline import IngestProgress

app = typer.Typer(no_args_is_help=True, help="Evaluate retrieval quality on golden sets.")


@contextmanager
def _indexed(
    dataset: BeirSet, database_url: str | None, *, quiet: bool
) -> Iterator[tuple[Leitstand, str, float]]:
    """The golden set's corpus indexed with the configured settings (a temporary SQLite
    database unless another is given), with the source name and the indexing time."""
    from leitstand.config.loading import load_config
    from leitstand.core import Leitstand
    from leitstand.ingest.pipeline import TextRecord

    with tempfile.TemporaryDirectory(prefix="leitstand-eval-") as tmp:
        url = database_url or f"sqlite:///{Path(tmp) / 'eval.db'}"
        config = load_config(
            state.config_path, overrides={"database_url": url, "data_dir": str(Path(tmp))}
        )
        with Leitstand(config) as ls:
            records = [
                TextRecord(path=doc_id, text=doc["text"], title=doc["title"] or None)
                for doc_id, doc in dataset.corpus.items()
            ]
            source = f"eval-{dataset.name}"
            started = time.perf_counter()
            with Progress(console=err_console, transient=True, disable=quiet) as progress:
                task = progress.add_task(f"index {dataset.name}", total=len(records))

                def update(event: IngestProgress) -> None:
                    progress.update(task, completed=event.done)

                ls.ingest_texts(records, source=source, progress=update)
            yield ls, source, time.perf_counter() - started


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
    from leitstand.evals.retrieval import evaluate, load_beir, rank_with

    dataset = load_beir(folder, split)
    with _indexed(dataset, database_url, quiet=as_json) as (ls, source, index_s):

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
        report.mode = ls.retriever.mode
    if as_json:
        print_json(report.as_dict(per_query=per_query))
        return
    table = Table(
        title=f"{dataset.name} ({split}, {report.queries} queries, {report.backend}, {report.mode})"
    )
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
        _print_per_query(report, dataset)


def _print_per_query(report: RetrievalReport, dataset: BeirSet) -> None:
    """Every question, worst first: nDCG, the relevant documents and what came first."""

    def label(doc_id: str) -> str:
        doc = dataset.corpus.get(doc_id) or {}
        title = str(doc.get("title") or doc.get("text") or "")[:40]
        return f"{doc_id} ({title})" if title else doc_id

    console.print(f"\n[bold]per question[/], worst first (nDCG@{report.k}):")
    for result in sorted(report.per_query, key=lambda r: r.ndcg):
        mark = "[green]✓[/]" if result.ndcg >= 0.99 else "[red]✗[/]"
        console.print(f"{mark} {result.ndcg:.2f}  {escape(result.query)}", highlight=False)
        if result.ndcg < 0.99:
            console.print(
                f"      relevant: {', '.join(label(d) for d in result.relevant)}\n"
                f"      found:    {', '.join(label(d) for d in result.ranked[:3]) or '(nothing)'}",
                highlight=False,
                markup=False,
            )


@app.command("tune")
@handle_errors
def tune(
    folder: Annotated[
        Path, typer.Argument(help="A BEIR folder: corpus.jsonl, queries.jsonl, qrels/.")
    ],
    source: Annotated[
        str, typer.Option("--source", "-s", help="The collection (source) to tune for.")
    ],
    split: Annotated[str, typer.Option("--split", help="qrels/<split>.tsv to use.")] = "dev",
    k: Annotated[int, typer.Option("--k", help="Cut-off for nDCG, recall and MRR.")] = 10,
    database_url: Annotated[
        str | None, typer.Option("--database-url", help="Index into this database instead.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print every trial as JSON.")] = False,
) -> None:
    """Pick fusion, weights, expansion and re-ranker for a collection on its golden set."""
    from leitstand.config.settings import RetrievalProfile
    from leitstand.evals.retrieval import load_beir
    from leitstand.evals.tune import candidates, profile_yaml
    from leitstand.evals.tune import tune as run_tune

    dataset = load_beir(folder, split)
    with _indexed(dataset, database_url, quiet=as_json) as (ls, indexed, _):
        rerankers = ("none", *sorted(ls.retriever.rerankers))
        expansions = ("none", "prf") if ls.retriever.expander is not None else ("none",)
        profiles = list(
            candidates(
                dense=ls.retriever.dense is not None,
                rerankers=rerankers,
                expansions=expansions,
            )
        )

        def search(query: str, limit: int, profile: RetrievalProfile) -> list[str]:
            hits = ls.search(query, k=limit, sources=[indexed], profile=profile).hits
            return [hit.path for hit in hits]

        with Progress(console=err_console, transient=True, disable=as_json) as progress:
            task = progress.add_task("trying profiles", total=len(profiles))
            trials = run_tune(
                dataset,
                search,
                profiles,
                k=k,
                split=split,
                progress=lambda done, _total: progress.update(task, completed=done),
            )
        default = ls.settings.retrieval.profile(source)
    if as_json:
        print_json(
            {
                "source": source,
                "default": default.model_dump(),
                "trials": [trial.as_dict() for trial in trials],
            }
        )
        return
    table = Table(title=f"{dataset.name} ({split}): {len(trials)} profiles")
    for column in ("rank", f"nDCG@{k}", f"recall@{k}", "profile"):
        table.add_column(column)
    for rank, trial in enumerate(trials[:10], start=1):
        marker = " (configured now)" if trial.profile == default else ""
        table.add_row(
            str(rank),
            f"{trial.report.ndcg:.4f}",
            f"{trial.report.recall:.4f}",
            trial.label() + marker,
        )
    console.print(table)
    console.print(f"add to leitstand.yaml to use the best profile for [bold]{source}[/]:")
    typer.echo(profile_yaml(source, trials[0].profile))
