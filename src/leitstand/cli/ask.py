"""``leitstand ask`` and ``leitstand search``."""

from __future__ import annotations

import sys
from typing import Annotated

import typer
from rich.markup import escape

from leitstand.cli._common import ONE_SHOT, console, handle_errors, open_leitstand, print_json


def register(app: typer.Typer) -> None:
    app.command("ask")(ask)
    app.command("search")(search)


@handle_errors
def ask(
    question: Annotated[str, typer.Argument(help="The question; '-' reads it from stdin.")],
    use_case: Annotated[
        str | None, typer.Option("--use-case", "-u", help="Use case or model name.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the answer as JSON.")] = False,
    stream: Annotated[
        bool, typer.Option("--stream/--no-stream", help="Print the answer as it is generated.")
    ] = True,
) -> None:
    """Answer a question from the indexed documents, with numbered sources."""
    if question == "-":
        question = sys.stdin.read().strip()
    if not question.strip():
        raise typer.BadParameter("the question is empty")
    with open_leitstand(**ONE_SHOT) as ls:
        if as_json or not stream:
            answer = ls.ask(question, use_case=use_case)
            if as_json:
                print_json(answer.as_dict())
                return
            console.print(escape(answer.text), highlight=False)
        else:
            streamed = None
            for event in ls.ask_stream(question, use_case=use_case):
                if event.kind == "delta":
                    sys.stdout.write(event.text)
                    sys.stdout.flush()
                elif event.kind == "done":
                    streamed = event.answer
            sys.stdout.write("\n")
            assert streamed is not None
            answer = streamed
        if answer.sources:
            console.print()
            console.print(escape(answer.footnotes()), style="dim", highlight=False)
        elif not ls.sources():
            console.print(
                "[yellow]nothing is indexed yet:[/] run `leitstand ingest ./docs` first",
                highlight=False,
            )
        console.print(f"[dim]trace {answer.trace_id}[/]", highlight=False)


@handle_errors
def search(
    query: Annotated[str, typer.Argument(help="What to look for.")],
    k: Annotated[int, typer.Option("-k", help="How many passages.")] = 5,
    source: Annotated[
        list[str] | None, typer.Option("--source", "-s", help="Only this source (repeatable).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the passages as JSON.")] = False,
) -> None:
    """Show the best passages for a query, without answering."""
    with open_leitstand(**ONE_SHOT) as ls:
        result = ls.search(query, k=k, sources=source or [])
    if as_json:
        print_json(
            {
                "query": query,
                "language": result.language,
                "terms": result.terms,
                "hits": [hit.as_dict() for hit in result.hits],
            }
        )
        return
    if not result.hits:
        console.print("no passages found")
    for rank, hit in enumerate(result.hits, start=1):
        console.print(
            f"[bold]{rank}.[/] {escape(hit.source)}/{escape(hit.path)}, {hit.location()} "
            f"[dim](score {hit.score:.2f})[/]",
            highlight=False,
        )
        preview = " ".join(hit.text.split())
        console.print(
            f"   {escape(preview[:300])}{'…' if len(preview) > 300 else ''}", highlight=False
        )
