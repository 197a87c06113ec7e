"""Retrieval quality on a BEIR-format golden set: nDCG, recall and MRR at k.

A BEIR folder holds ``corpus.jsonl`` (``_id``, ``title``, ``text``), ``queries.jsonl``
(``_id``, ``text``) and ``qrels/<split>.tsv`` (``query-id``, ``corpus-id``, ``score``).
Chunks are mapped back to their corpus document; a document counts at its best chunk's rank.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from leitstand.errors import LeitstandError


@dataclass
class BeirSet:
    name: str
    corpus: dict[str, dict[str, str]]
    queries: dict[str, str]
    qrels: dict[str, dict[str, int]]


def _jsonl(path: Path) -> Iterator[dict[str, Any]]:
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                yield json.loads(line)
            except json.JSONDecodeError as exc:
                raise LeitstandError(f"{path}:{number} is not valid JSON ({exc.msg})") from None


def load_beir(folder: str | Path, split: str = "dev") -> BeirSet:
    root = Path(folder)
    missing = [
        name
        for name in ("corpus.jsonl", "queries.jsonl", f"qrels/{split}.tsv")
        if not (root / name).is_file()
    ]
    if missing:
        raise LeitstandError(
            f"{root} is not a BEIR folder for split {split!r}: missing {', '.join(missing)}",
            hint="expected corpus.jsonl, queries.jsonl and qrels/<split>.tsv",
        )
    corpus = {
        str(row["_id"]): {"title": str(row.get("title") or ""), "text": str(row.get("text") or "")}
        for row in _jsonl(root / "corpus.jsonl")
    }
    queries = {str(row["_id"]): str(row["text"]) for row in _jsonl(root / "queries.jsonl")}
    qrels: dict[str, dict[str, int]] = {}
    with (root / f"qrels/{split}.tsv").open(encoding="utf-8") as handle:
        for line in handle:
            parts = line.rstrip("\n").split("\t")
            if len(parts) < 3 or parts[0] == "query-id":
                continue
            score = int(float(parts[2]))
            if score > 0:
                qrels.setdefault(parts[0], {})[parts[1]] = score
    qrels = {qid: rel for qid, rel in qrels.items() if qid in queries}
    return BeirSet(name=root.name, corpus=corpus, queries=queries, qrels=qrels)


def ndcg_at_k(ranked: list[str], relevant: dict[str, int], k: int) -> float:
    dcg = sum(
        (2 ** relevant.get(doc, 0) - 1) / math.log2(rank + 2) for rank, doc in enumerate(ranked[:k])
    )
    ideal = sorted(relevant.values(), reverse=True)[:k]
    idcg = sum((2**grade - 1) / math.log2(rank + 2) for rank, grade in enumerate(ideal))
    return dcg / idcg if idcg else 0.0


def recall_at_k(ranked: list[str], relevant: dict[str, int], k: int) -> float:
    return len(set(ranked[:k]) & set(relevant)) / len(relevant) if relevant else 0.0


def mrr_at_k(ranked: list[str], relevant: dict[str, int], k: int) -> float:
    for rank, doc in enumerate(ranked[:k], start=1):
        if doc in relevant:
            return 1.0 / rank
    return 0.0


@dataclass
class QueryResult:
    query_id: str
    query: str
    relevant: list[str]
    ranked: list[str]
    ndcg: float
    recall: float
    mrr: float


@dataclass
class RetrievalReport:
    dataset: str
    split: str
    k: int
    queries: int
    ndcg: float
    recall: float
    mrr: float
    p50_ms: float
    p99_ms: float
    index_s: float
    backend: str
    per_query: list[QueryResult] = field(default_factory=list)
    mode: str = ""
    """lexical, dense or hybrid: what answered (the configured retrieval, as resolved)."""

    def as_dict(self, per_query: bool = False) -> dict[str, Any]:
        data: dict[str, Any] = {
            "dataset": self.dataset,
            "split": self.split,
            "k": self.k,
            "queries": self.queries,
            f"ndcg@{self.k}": round(self.ndcg, 4),
            f"recall@{self.k}": round(self.recall, 4),
            f"mrr@{self.k}": round(self.mrr, 4),
            "query_p50_ms": round(self.p50_ms, 3),
            "query_p99_ms": round(self.p99_ms, 3),
            "index_s": round(self.index_s, 3),
            "backend": self.backend,
            "mode": self.mode,
        }
        if per_query:
            data["per_query"] = [
                {
                    "id": q.query_id,
                    "query": q.query,
                    "relevant": q.relevant,
                    "top": q.ranked,
                    "ndcg": round(q.ndcg, 4),
                }
                for q in self.per_query
            ]
        return data


def percentile(values: Sequence[float], share: float) -> float:
    """Nearest-rank percentile: the smallest value with at least ``share`` of all at or below."""
    if not values:
        return 0.0
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, math.ceil(share * len(ordered)) - 1))
    return ordered[index]


def evaluate(
    dataset: BeirSet,
    rank: Callable[[str, int], list[str]],
    *,
    k: int = 10,
    split: str = "dev",
    backend: str = "",
    index_s: float = 0.0,
) -> RetrievalReport:
    """Score a ranking function ``rank(query, k) -> [corpus ids]`` on the golden set."""
    results: list[QueryResult] = []
    timings: list[float] = []
    for query_id, relevant in dataset.qrels.items():
        query = dataset.queries[query_id]
        started = time.perf_counter()
        ranked = rank(query, k)
        timings.append((time.perf_counter() - started) * 1000)
        results.append(
            QueryResult(
                query_id=query_id,
                query=query,
                relevant=sorted(relevant),
                ranked=ranked[:k],
                ndcg=ndcg_at_k(ranked, relevant, k),
                recall=recall_at_k(ranked, relevant, k),
                mrr=mrr_at_k(ranked, relevant, k),
            )
        )
    count = len(results) or 1
    return RetrievalReport(
        dataset=dataset.name,
        split=split,
        k=k,
        queries=len(results),
        ndcg=sum(r.ndcg for r in results) / count,
        recall=sum(r.recall for r in results) / count,
        mrr=sum(r.mrr for r in results) / count,
        p50_ms=percentile(timings, 0.5),
        p99_ms=percentile(timings, 0.99),
        index_s=index_s,
        backend=backend,
        per_query=results,
    )


def rank_with(searcher: Callable[[str, int], list[str]], k: int) -> Callable[[str, int], list[str]]:
    """Rank corpus ids by their best chunk: fetch more chunks than k, keep first per id."""

    def rank(query: str, limit: int) -> list[str]:
        ranked: list[str] = []
        for doc_id in searcher(query, limit * 3):
            if doc_id not in ranked:
                ranked.append(doc_id)
        return ranked[:limit]

    return rank
