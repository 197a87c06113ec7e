"""Retrieval quality and query latency on XQuAD (de, en), leitstand side by side with BM25 peers.

Peers, all indexing ``title + " " + text`` of the same 240 paragraphs:

- ``leitstand-sqlite`` / ``leitstand-postgres``: leitstand with default settings (the title goes
  in as ``TextRecord.title``), on a SQLite file and on a PostgreSQL 16 from pgserver;
- ``bm25s-stem``: bm25s with Snowball stemming (PyStemmer) and the language's stop words
  (reproduces the datasets README: nDCG@10 0.936 de, 0.963 en);
- ``bm25s-plain``: bm25s with stop words, no stemming;
- ``rank_bm25``: rank_bm25's BM25Okapi over lowercased whitespace tokens (if installed).

Queries are interleaved: every query runs on every peer before the next query, in a rotating
order, so that load from other processes hits all peers alike.

    .venv/bin/python bench/retrieval.py [--quick]
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from _common import DATASETS, parser, postgres, postgres_url, ratio, summary, write_result
from leitstand import Leitstand, TextRecord
from leitstand.evals.retrieval import BeirSet, evaluate, load_beir, rank_with

K = 10
LANGUAGES = {"de": "german", "en": "english"}
REFERENCE = "bm25s-stem"
QUICK_QUERIES = 150

Rank = Callable[[str, int], list[str]]


def _texts(dataset: BeirSet) -> tuple[list[str], list[str]]:
    ids = list(dataset.corpus)
    return ids, [f"{dataset.corpus[i]['title']} {dataset.corpus[i]['text']}" for i in ids]


def leitstand_peer(dataset: BeirSet, tmp: Path, database_url: str | None) -> tuple[Rank, Any]:
    ls = Leitstand.open(None, data_dir=str(tmp), database_url=database_url)
    records = [
        TextRecord(path=doc_id, text=doc["text"], title=doc["title"] or None)
        for doc_id, doc in dataset.corpus.items()
    ]
    report = ls.ingest_texts(records, source=f"bench-{dataset.name}")
    if report.failed:
        raise RuntimeError(f"leitstand could not ingest: {report.failed[:3]}")

    def search(query: str, limit: int) -> list[str]:
        return [hit.path for hit in ls.search(query, k=limit).hits]

    return rank_with(search, K), ls


def bm25s_peer(dataset: BeirSet, language: str, *, stem: bool) -> Rank:
    import bm25s
    import Stemmer

    stemmer = Stemmer.Stemmer(LANGUAGES[language]) if stem else None
    ids, texts = _texts(dataset)
    tokens = bm25s.tokenize(texts, stopwords=language, stemmer=stemmer, show_progress=False)
    index = bm25s.BM25()
    index.index(tokens, show_progress=False)

    def rank(query: str, limit: int) -> list[str]:
        query_tokens = bm25s.tokenize(
            [query], stopwords=language, stemmer=stemmer, show_progress=False
        )
        if not query_tokens.vocab:
            return []
        docs, _ = index.retrieve(query_tokens, k=min(limit, len(ids)), show_progress=False)
        return [ids[d] for d in docs[0]]

    return rank


def rank_bm25_peer(dataset: BeirSet) -> Rank | None:
    try:
        from rank_bm25 import BM25Okapi
    except ImportError:
        return None
    ids, texts = _texts(dataset)
    index = BM25Okapi([text.lower().split() for text in texts])

    def rank(query: str, limit: int) -> list[str]:
        scores = index.get_scores(query.lower().split())
        order = sorted(range(len(ids)), key=lambda i: -scores[i])
        return [ids[i] for i in order[:limit]]

    return rank


def build_peers(
    dataset: BeirSet, language: str, tmp: Path, pg: Any
) -> tuple[dict[str, Rank], dict[str, float], list[Any]]:
    """Index the corpus once per peer; returns rank functions, indexing seconds, handles."""
    peers: dict[str, Rank] = {}
    index_s: dict[str, float] = {}
    handles: list[Any] = []
    builders: dict[str, Callable[[], Rank | None]] = {
        "leitstand-sqlite": lambda: _keep(leitstand_peer(dataset, tmp / "sqlite", None), handles),
        "bm25s-stem": lambda: bm25s_peer(dataset, language, stem=True),
        "bm25s-plain": lambda: bm25s_peer(dataset, language, stem=False),
        "rank_bm25": lambda: rank_bm25_peer(dataset),
    }
    if pg is not None:
        url = postgres_url(pg, f"bench_{language}")
        builders["leitstand-postgres"] = lambda: _keep(
            leitstand_peer(dataset, tmp / "postgres", url), handles
        )
    for name, build in builders.items():
        started = time.perf_counter()
        rank = build()
        if rank is not None:
            index_s[name] = time.perf_counter() - started
            peers[name] = rank
    return peers, index_s, handles


def _keep(built: tuple[Rank, Any], handles: list[Any]) -> Rank:
    handles.append(built[1])
    return built[0]


def run_queries(dataset: BeirSet, peers: dict[str, Rank]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Every query on every peer, rotating the order; returns rankings and timings."""
    names = list(peers)
    ranked: dict[str, dict[str, list[str]]] = {name: {} for name in names}
    timings: dict[str, list[float]] = {name: [] for name in names}
    queries = [dataset.queries[qid] for qid in dataset.qrels]
    for query in queries[:20]:  # warm-up: caches, lazy imports, prepared statements
        for name in names:
            peers[name](query, K)
    for number, query in enumerate(queries):
        shift = number % len(names)
        for name in names[shift:] + names[:shift]:
            started = time.perf_counter()
            result = peers[name](query, K)
            timings[name].append((time.perf_counter() - started) * 1000)
            ranked[name][query] = result
    return ranked, timings


def measure(dataset: BeirSet, language: str, tmp: Path, pg: Any) -> dict[str, Any]:
    peers, index_s, handles = build_peers(dataset, language, tmp, pg)
    try:
        ranked, timings = run_queries(dataset, peers)
    finally:
        for handle in handles:
            handle.close()
    rows: dict[str, dict[str, Any]] = {}
    per_query: dict[str, dict[str, float]] = {}
    for name in peers:
        cached = ranked[name]
        report = evaluate(dataset, lambda query, k, cached=cached: cached[query], k=K)
        per_query[name] = {r.query_id: r.ndcg for r in report.per_query}
        rows[name] = {
            f"ndcg@{K}": round(report.ndcg, 4),
            f"recall@{K}": round(report.recall, 4),
            f"mrr@{K}": round(report.mrr, 4),
            "query_ms": summary(timings[name]),
            "index_s": round(index_s[name], 3),
        }
    reference = rows[REFERENCE]
    for name, row in rows.items():
        if not name.startswith("leitstand"):
            continue
        wins = sum(per_query[name][q] > per_query[REFERENCE][q] + 1e-9 for q in per_query[name])
        losses = sum(per_query[name][q] < per_query[REFERENCE][q] - 1e-9 for q in per_query[name])
        row[f"vs_{REFERENCE}"] = {
            f"ndcg@{K}": ratio(row[f"ndcg@{K}"], reference[f"ndcg@{K}"], 4),
            f"recall@{K}": ratio(row[f"recall@{K}"], reference[f"recall@{K}"], 4),
            f"mrr@{K}": ratio(row[f"mrr@{K}"], reference[f"mrr@{K}"], 4),
            "query_p50": ratio(row["query_ms"]["p50"], reference["query_ms"]["p50"], 2),
            "query_p99": ratio(row["query_ms"]["p99"], reference["query_ms"]["p99"], 2),
            "index_s": ratio(row["index_s"], reference["index_s"], 2),
            "queries_better": wins,
            "queries_worse": losses,
            "holds": row[f"ndcg@{K}"] >= reference[f"ndcg@{K}"],
        }
    return {
        "queries": len(dataset.qrels),
        "documents": len(dataset.corpus),
        "peers": rows,
    }


def warm_up(tmp: Path) -> None:
    """Imports and lazily loaded models (language detection) before anything is timed."""
    import bm25s  # noqa: F401
    import Stemmer  # noqa: F401

    with Leitstand.open(None, data_dir=str(tmp / "warm-up")) as ls:
        ls.ingest_texts([TextRecord("warm-up", "Ein kurzer Text. A short text.")], source="w")
        ls.search("kurzer Text")


def main() -> None:
    args = parser(__doc__.splitlines()[0]).parse_args()
    datasets: dict[str, Any] = {}
    with postgres() as pg, tempfile.TemporaryDirectory(prefix="lsbench-retrieval-") as tmp:
        warm_up(Path(tmp))
        for language in LANGUAGES:
            dataset = load_beir(DATASETS / f"xquad-{language}", "dev")
            if args.quick:
                keep = list(dataset.qrels)[:QUICK_QUERIES]
                dataset.qrels = {qid: dataset.qrels[qid] for qid in keep}
            print(f"xquad-{language}: {len(dataset.qrels)} queries, {len(dataset.corpus)} docs")
            result = measure(dataset, language, Path(tmp) / language, pg)
            datasets[f"xquad-{language}"] = result
            for name, row in result["peers"].items():
                print(
                    f"  {name:20} nDCG@10 {row['ndcg@10']:.4f}  recall@10 {row['recall@10']:.4f}"
                    f"  MRR@10 {row['mrr@10']:.4f}  p50 {row['query_ms']['p50']:.2f} ms"
                    f"  p99 {row['query_ms']['p99']:.2f} ms  index {row['index_s']:.2f} s"
                )
    holds = all(
        row[f"vs_{REFERENCE}"]["holds"]
        for result in datasets.values()
        for name, row in result["peers"].items()
        if name.startswith("leitstand")
    )
    write_result(
        "retrieval",
        {
            "quick": args.quick,
            "split": "dev",
            "k": K,
            "reference": REFERENCE,
            "acceptance": {
                "rule": f"leitstand nDCG@{K} >= {REFERENCE} on every dataset and backend",
                "holds": holds,
            },
            "datasets": datasets,
        },
        args.out,
    )


if __name__ == "__main__":
    main()
