"""Lexical retrieval options, one at a time, on XQuAD (de, en), side by side with bm25s.

Each option of leitstand's lexical search is measured on its own and in the default
combination, in one run with the reference ``bm25s-stem`` (bm25s, Snowball stemming,
the language's stop words, ``title + " " + text``), on a SQLite file:

- ``plain``: no compound splitting, no expansion, no re-ranking (the analyser of pipeline 4);
- ``split``: German compound splitting (``search/compounds.py``);
- ``split+prf(d,t,w)``: plus pseudo-relevance feedback (RM3) with d feedback chunks,
  t expansion terms and weight w of the expanded query, for a small grid;
- ``split+proximity``: plus the term-proximity re-ranker (``search/rerank/proximity.py``);
- ``default``: what ``RetrievalSettings()`` turns on.

Also measured: ingestion time of the 240 paragraphs with and without compound splitting,
and the one-off load of the German lexicon. Queries are interleaved across the variants.
The defaults in ``config/settings.py`` cite this script's result,
``bench/results/lexical_ablation.json``.

    .venv/bin/python bench/lexical_ablation.py [--quick]
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from _common import DATASETS, parser, summary, write_result
from leitstand import Leitstand, TextRecord
from leitstand.config.settings import RetrievalProfile, RetrievalSettings
from leitstand.evals.retrieval import BeirSet, evaluate, load_beir, rank_with
from leitstand.search.analyser import Analyser
from leitstand.search.compounds import german_lexicon
from leitstand.search.expansion import Rm3Expander
from leitstand.search.rerank.proximity import ProximityReranker
from leitstand.search.retriever import Retriever
from retrieval import LANGUAGES, QUICK_QUERIES, K, bm25s_peer, run_queries

REFERENCE = "bm25s-stem"
PRF_GRID = [(3, 5, 0.3), (5, 10, 0.3), (5, 10, 0.5), (10, 10, 0.3), (5, 20, 0.3)]
PROXIMITY_WEIGHTS = [0.1, 0.2, 0.3, 0.5]
CONTEXT_WEIGHTS = [0.1]

Rank = Callable[[str, int], list[str]]


@dataclass
class Index:
    """One ingested copy of the corpus, analysed one way."""

    ls: Leitstand
    ingest_s: float


@dataclass
class Variant:
    name: str
    index: str
    settings: RetrievalSettings
    proximity: dict[str, float] | None = None
    """Arguments of the proximity re-ranker; None: the one ``Leitstand`` builds."""
    note: str = ""


def variants() -> list[Variant]:
    lexical = {"mode": "lexical"}
    off = RetrievalSettings(**lexical, expansion="none", reranker="none")
    found = [
        Variant("plain", "plain", off, note="no compound splitting"),
        Variant("split", "split", off, note="German compound splitting"),
    ]
    for docs, terms, weight in PRF_GRID:
        settings = RetrievalSettings(
            **lexical,
            expansion="prf",
            reranker="none",
            prf_documents=docs,
            prf_terms=terms,
            prf_weight=weight,
        )
        found.append(Variant(f"split+prf({docs},{terms},{weight})", "split", settings))
    proximity = RetrievalSettings(**lexical, expansion="none", reranker="proximity")
    for weight in PROXIMITY_WEIGHTS:
        found.append(
            Variant(f"split+proximity({weight})", "split", proximity, proximity={"weight": weight})
        )
    for context in CONTEXT_WEIGHTS:
        arguments = {"weight": 0.0, "context_weight": context}
        found.append(Variant(f"split+context({context})", "split", proximity, proximity=arguments))
    found.append(Variant("default", "split", RetrievalSettings(**lexical)))
    return found


def ingest(dataset: BeirSet, folder: Path, analyser: Analyser) -> Index:
    ls = Leitstand.open(None, data_dir=str(folder), embeddings={"provider": "none"})
    # The analyser under test, for ingestion (the ingestor is created on first use) and queries.
    ls.analyser = analyser
    ls.retriever.analyser = analyser
    records = [
        TextRecord(path=doc_id, text=doc["text"], title=doc["title"] or None)
        for doc_id, doc in dataset.corpus.items()
    ]
    started = time.perf_counter()
    report = ls.ingest_texts(records, source=f"ablation-{dataset.name}")
    seconds = time.perf_counter() - started
    if report.failed:
        raise RuntimeError(f"could not ingest: {report.failed[:3]}")
    return Index(ls, seconds)


def retriever_for(index: Index, variant: Variant) -> Retriever:
    """A retriever over the index with the variant's settings; ``default`` is the one that
    ``Leitstand`` builds (its expander and re-rankers), with lexical mode."""
    ls = index.ls
    if variant.name == "default":
        rerankers = ls.retriever.rerankers
    else:
        rerankers = {"proximity": ProximityReranker(ls.db, **(variant.proximity or {}))}
    return Retriever(
        ls.db,
        ls.retriever.index,
        ls.retriever.analyser,
        ls.detector,
        settings=variant.settings,
        expander=ls.retriever.expander or Rm3Expander(),
        rerankers=rerankers,
    )


def rank_for(retriever: Retriever) -> Rank:
    def search(query: str, limit: int) -> list[str]:
        return [hit.path for hit in retriever.search(query, k=limit).hits]

    return rank_with(search, K)


def analysis_cost(dataset: BeirSet, analyser: Analyser, language: str) -> float:
    """Milliseconds to analyse the whole corpus once (warm caches: the second pass)."""
    texts = [f"{doc['title']}\n{doc['text']}" for doc in dataset.corpus.values()]
    for text in texts:
        analyser.terms(text, language)
    started = time.perf_counter()
    for text in texts:
        analyser.terms(text, language)
    return (time.perf_counter() - started) * 1000


def measure(dataset: BeirSet, language: str, tmp: Path) -> dict[str, Any]:
    languages = ("de", "en")
    analysers = {
        "plain": Analyser(languages, decompounders={}),
        "split": Analyser(languages),
    }
    indexes = {name: ingest(dataset, tmp / name, a) for name, a in analysers.items()}
    peers: dict[str, Rank] = {REFERENCE: bm25s_peer(dataset, language, stem=True)}
    chosen = variants()
    for variant in chosen:
        peers[variant.name] = rank_for(retriever_for(indexes[variant.index], variant))
    try:
        ranked, timings = run_queries(dataset, peers)
    finally:
        for index in indexes.values():
            index.ls.close()
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
        }
    reference = per_query[REFERENCE]
    for name, row in rows.items():
        if name != REFERENCE:
            row["queries_better"] = sum(per_query[name][q] > reference[q] + 1e-9 for q in reference)
            row["queries_worse"] = sum(per_query[name][q] < reference[q] - 1e-9 for q in reference)
            row[f"delta_vs_{REFERENCE}"] = round(row[f"ndcg@{K}"] - rows[REFERENCE][f"ndcg@{K}"], 4)
    return {
        "queries": len(dataset.qrels),
        "documents": len(dataset.corpus),
        "ingest_s": {name: round(index.ingest_s, 3) for name, index in indexes.items()},
        "analysis_ms": {
            name: round(analysis_cost(dataset, a, language), 1) for name, a in analysers.items()
        },
        "variants": {v.name: {"note": v.note, "settings": _settings(v.settings)} for v in chosen},
        "peers": rows,
    }


def _settings(settings: RetrievalSettings) -> dict[str, Any]:
    profile = settings.profile()
    keys = ("prf_documents", "prf_terms", "prf_weight")
    return {
        "expansion": profile.expansion,
        "reranker": profile.reranker,
        **({key: getattr(settings, key) for key in keys} if profile.expansion == "prf" else {}),
    }


def lexicon_load_ms() -> float:
    german_lexicon.cache_clear()
    started = time.perf_counter()
    german_lexicon()
    return round((time.perf_counter() - started) * 1000, 1)


def main() -> None:
    args = parser(__doc__.splitlines()[0]).parse_args()
    datasets: dict[str, Any] = {}
    load_ms = lexicon_load_ms()
    with tempfile.TemporaryDirectory(prefix="lsbench-ablation-") as tmp:
        for language in LANGUAGES:
            dataset = load_beir(DATASETS / f"xquad-{language}", "dev")
            if args.quick:
                keep = list(dataset.qrels)[:QUICK_QUERIES]
                dataset.qrels = {qid: dataset.qrels[qid] for qid in keep}
            print(f"xquad-{language}: {len(dataset.qrels)} queries, {len(dataset.corpus)} docs")
            result = measure(dataset, language, Path(tmp) / language)
            datasets[f"xquad-{language}"] = result
            for name, row in result["peers"].items():
                print(
                    f"  {name:26} nDCG@10 {row['ndcg@10']:.4f}  recall@10 {row['recall@10']:.4f}"
                    f"  MRR@10 {row['mrr@10']:.4f}  p50 {row['query_ms']['p50']:.2f} ms"
                )
            print(f"  ingest s {result['ingest_s']}  analysis ms {result['analysis_ms']}")
    default = RetrievalProfile()
    write_result(
        "lexical_ablation",
        {
            "quick": args.quick,
            "split": "dev",
            "k": K,
            "reference": REFERENCE,
            "backend": "sqlite",
            "defaults": {"expansion": default.expansion, "reranker": default.reranker},
            "lexicon_load_ms": load_ms,
            "datasets": datasets,
        },
        args.out,
    )


if __name__ == "__main__":
    main()
