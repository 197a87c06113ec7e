"""Hybrid retrieval at scale for ``bench/scale.py``: real all-MiniLM-L6-v2 vectors for every
chunk, then lexical + dense searches with the question's vector already computed.

Embedding 100,000 chunks on two CPU cores takes a while: at the model's own limit of 256
tokens about 18 chunks a second, an hour and a half. The chunks are therefore embedded from
their first ``DOCUMENT_TOKENS`` = 128 tokens (about 45 a second); they are still
all-MiniLM-L6-v2 vectors of the chunk's text, and what a search costs depends on the number
and size of the vectors, not on how much text went into each. Questions are far shorter than
128 tokens and are embedded whole. The vectors are kept between runs
in ``<cache>/vectors-<size>-s<seed>-128t.npz`` (text hash -> float32 vector, exactly what
leitstand's own embedding cache holds). A run puts them into the database's embedding cache
and lets ``ls.embed()`` take them from there, which is the path a re-ingestion takes too;
chunks without a cached vector are embedded by the model.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from sqlalchemy import text

from _common import summary
from corpus import Query
from leitstand import Leitstand
from leitstand.embeddings.cache import store_vectors
from leitstand.embeddings.jobs import EmbedProgress
from leitstand.embeddings.local import _load
from leitstand.search.memory_index import MemoryLexicalIndex

K = 10
WARM_UP = 50
DOCUMENT_TOKENS = 128
"""Tokens of each chunk that go into its vector (the model's limit is 256)."""


def _load_vectors(ls: Leitstand, path: Path) -> int:
    """Put the kept vectors into the database's embedding cache; how many."""
    if not path.is_file() or ls.embeddings is None:
        return 0
    data = np.load(path)
    hashes, vectors = data["hashes"], np.ascontiguousarray(data["vectors"], dtype="<f4")
    name = ls.embeddings.embedder.name
    with ls.db.write() as session:
        connection = session.connection()
        for start in range(0, len(hashes), 5000):
            store_vectors(
                connection,
                name,
                {
                    str(h): vectors[start + i].tobytes()
                    for i, h in enumerate(hashes[start : start + 5000])
                },
            )
    return len(hashes)


def _save_vectors(ls: Leitstand, path: Path) -> None:
    assert ls.embeddings is not None
    with ls.db.read() as session:
        rows = session.execute(
            text("SELECT text_hash, vector FROM embedding_cache WHERE model = :model"),
            {"model": ls.embeddings.embedder.name},
        ).all()
    hashes = np.array([str(row[0]) for row in rows])
    vectors = np.vstack([np.frombuffer(bytes(row[1]), dtype="<f4") for row in rows])
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp.npz")
    np.savez(temporary, hashes=hashes, vectors=vectors)
    temporary.replace(path)


def hybrid(
    data_dir: Path, database_url: str | None, queries: list[Query], vectors: Path
) -> dict[str, Any]:
    """Embed every chunk (from the kept vectors where possible), then time hybrid searches."""
    overrides: dict[str, Any] = {
        "data_dir": str(data_dir),
        "embeddings": {"provider": "local"},
        "retrieval": {"memory_index": "on"},
    }
    if database_url:
        overrides["database_url"] = database_url
    with Leitstand.open(None, **overrides) as ls:
        if ls.embeddings is None:
            return {"status": "not run: no local embedding model installed"}
        model = _load(ls.embeddings.embedder.folder)  # type: ignore[attr-defined]
        model.max_seq_length = DOCUMENT_TOKENS
        loaded = _load_vectors(ls, vectors)
        started = time.perf_counter()
        with Progress(
            TextColumn("    embedding"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
        ) as bar:
            task = bar.add_task("embed", total=None)

            def update(event: EmbedProgress) -> None:
                bar.update(task, total=event.total, completed=event.done)

            reports = ls.embed(progress=update)
        embed_s = time.perf_counter() - started
        embedded = sum(report.embedded for report in reports)
        if embedded:
            _save_vectors(ls, vectors)
        if isinstance(ls.retriever.index, MemoryLexicalIndex):
            ls.retriever.index.wait()
        started = time.perf_counter()
        ls.search(queries[0].text, k=K)  # the first dense search loads or builds the HNSW graph
        index_s = time.perf_counter() - started
        for query in queries[-WARM_UP:]:
            ls.search(query.text, k=K)
        totals, embedding = [], []
        embedder = ls.embeddings.embedder
        for query in queries:
            started = time.perf_counter()
            embedder.embed([query.text], "query")
            embedding.append((time.perf_counter() - started) * 1000)
            ls.search(query.text, k=K)  # computes and caches the question's vector
            started = time.perf_counter()
            result = ls.search(query.text, k=K)
            totals.append((time.perf_counter() - started) * 1000)
        return {
            "status": "measured",
            "mode": result.mode,
            "model": embedder.name,
            "document_tokens": DOCUMENT_TOKENS,
            "vectors_from_cache": loaded,
            "vectors_embedded": embedded,
            "embed_s": round(embed_s, 1),
            "first_dense_search_s": round(index_s, 2),
            "search_with_cached_query_vector": summary(totals),
            "embed_query": summary(embedding),
        }
