"""``leitstand guard``: run the guards over texts from the command line."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Literal

import typer
from rich.table import Table

from leitstand.cli._common import console, fail, handle_errors, state
from leitstand.config.loading import load_config
from leitstand.guard.engine import GuardEngine, Verdict

app = typer.Typer(no_args_is_help=True, help="Check texts for PII and prompt injection.")


def _records(path: Path | None) -> list[tuple[str, str]]:
    if path is None:
        text = sys.stdin.read()
        if not text.strip():
            raise fail(
                "no text on stdin",
                hint="pipe a text in (echo 'Hallo' | leitstand guard check) "
                "or give --input FILE.jsonl",
            )
        return [("stdin", text)]
    if not path.is_file():
        raise fail(f"{path} does not exist", hint="give a JSONL file with id and text per line")
    records = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise fail(
                f"{path}, line {number}: not JSON ({exc.msg})",
                hint='each line must be an object like {"id": "1", "text": "..."}',
            ) from None
        if not isinstance(row, dict) or not isinstance(row.get("text"), str):
            raise fail(
                f"{path}, line {number}: no text",
                hint='each line must be an object like {"id": "1", "text": "..."}',
            )
        records.append((str(row.get("id", number)), row["text"]))
    return records


@app.command("check")
@handle_errors
def check(
    input_path: Annotated[
        Path | None,
        typer.Option("--input", "-i", help="JSONL file with id and text per line (else stdin)."),
    ] = None,
    output: Annotated[
        Literal["table", "jsonl"], typer.Option("--format", help="table or jsonl.")
    ] = "table",
) -> None:
    """Scan texts for PII and prompt injection and print the action the policy takes
    (the guard section of leitstand.yaml)."""
    config = load_config(state.config_path)
    settings = config.settings.guard
    classifier = None
    if settings.injection_classifier is not None:
        from leitstand.guard.injection.classifier import TransformersClassifier

        classifier = TransformersClassifier(config.resolve_path(settings.injection_classifier))
    engine = GuardEngine.from_settings(settings, classifier=classifier)
    results: list[tuple[str, str, Verdict]] = [
        (key, text, engine.check(text)) for key, text in _records(input_path)
    ]
    if output == "jsonl":
        for key, _, verdict in results:
            typer.echo(json.dumps({"id": key, **verdict.as_dict()}, ensure_ascii=False))
        return
    table = Table("id", "action", "PII", "injection")
    for key, text, verdict in results:
        pii = ", ".join(f"{f.label} „{text[f.start : f.end]}“" for f in verdict.pii) or "–"
        injection = verdict.injection
        flag = f"{injection.score:.2f} " + (", ".join(injection.rules) or "")
        table.add_row(
            key, verdict.action, pii, flag if injection.flagged else f"{injection.score:.2f}"
        )
    console.print(table)
