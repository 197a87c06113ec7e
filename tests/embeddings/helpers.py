"""Helpers for the dense retrieval tests: settings that point leitstand at a scripted
embedding endpoint, ingestion of texts, what the endpoint was asked, row counts."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import bindparam, text

from leitstand.ingest.pipeline import IngestReport, TextRecord
from leitstand.testing import ScriptedChatServer


def dense_settings(
    server: ScriptedChatServer, model: str = "embed-a", mode: str = "dense", **extra: Any
) -> Any:
    """Overrides that turn dense retrieval on with ``server`` (by default dense results only,
    so that a search shows what the vectors find)."""
    return {
        "embeddings": {
            "provider": "openai",
            "base_url": server.url,
            "model": model,
            "batch_size": 8,
            **extra,
        },
        "retrieval": {"mode": mode},
    }


def add(ls: Any, texts: Mapping[str, str], *, source: str = "docs", **kwargs: Any) -> IngestReport:
    records = [TextRecord(path=path, text=body, title="Notiz") for path, body in texts.items()]
    report: IngestReport = ls.ingest_texts(records, source=source, **kwargs)
    assert not report.failed, report.failed
    return report


def embedded_texts(server: ScriptedChatServer, model: str | None = None) -> list[str]:
    """Every text the endpoint was asked to embed, in order (for ``model`` only if given)."""
    return [
        item
        for request in server.requests
        if request.path == "/v1/embeddings" and model in (None, request.body.get("model"))
        for item in request.body["input"]
    ]


def rows(ls: Any, sql: str, **params: Any) -> list[Any]:
    """The rows of a query; a list parameter fills ``IN :name``."""
    statement = text(sql).bindparams(
        *(
            bindparam(name, expanding=True)
            for name, value in params.items()
            if isinstance(value, list)
        )
    )
    with ls.db.read() as session:
        return list(session.execute(statement, params).all())


def count(ls: Any, sql: str, **params: Any) -> int:
    [row] = rows(ls, sql, **params)
    return int(row[0])


DOCS = {
    "tiere/katze.txt": "The cat sleeps on the warm windowsill all afternoon.",
    "tiere/hund.txt": "The dog fetches the red ball in the park.",
    "tiere/pferd.txt": "The horse gallops across the green meadow at dawn.",
    "technik/pumpe.txt": "The pump moves cooling water through the turbine housing.",
    "technik/ventil.txt": "A pressure valve protects the boiler from bursting.",
}
