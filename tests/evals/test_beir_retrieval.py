"""Retrieval quality on XQuAD (dev split), on both backends, against the bm25s figures."""

from __future__ import annotations

import pytest

from conftest import DATASETS
from leitstand.evals.retrieval import evaluate, load_beir, ndcg_at_k, rank_with
from leitstand.ingest.pipeline import TextRecord

# nDCG@10 of bm25s with Snowball stemming, from ../shared/datasets/README.md.
BM25S_FIGURES = {"xquad-de": 0.936, "xquad-en": 0.963}


@pytest.mark.unit
def test_ndcg_of_a_perfect_and_a_late_ranking() -> None:
    assert ndcg_at_k(["a", "b"], {"a": 1}, 10) == 1.0
    assert ndcg_at_k(["x", "a"], {"a": 1}, 10) == pytest.approx(1 / 1.5849625, rel=1e-6)
    assert ndcg_at_k(["x"], {"a": 1}, 10) == 0.0


@pytest.mark.integration
@pytest.mark.slow
@pytest.mark.parametrize("dataset", sorted(BM25S_FIGURES))
def test_leitstand_reaches_the_bm25s_figure(
    dataset: str, database_url: str, open_leitstand: object
) -> None:
    data = load_beir(DATASETS / dataset, "dev")
    ls = open_leitstand(database_url)  # type: ignore[operator]
    ls.ingest_texts(
        [TextRecord(path=i, text=d["text"], title=d["title"]) for i, d in data.corpus.items()],
        source=dataset,
    )

    def search(query: str, limit: int) -> list[str]:
        return [hit.path for hit in ls.search(query, k=limit).hits]

    report = evaluate(data, rank_with(search, 10), k=10)
    assert report.queries == 612
    assert report.ndcg >= BM25S_FIGURES[dataset], f"nDCG@10 {report.ndcg:.4f}"
