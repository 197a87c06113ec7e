"""Picking a collection's retrieval profile on a golden set: fusion, weights, refinements.

Every candidate profile is scored on the same golden set with the same index; the winner is
what ``retrieval.collections.<source>`` should say. Candidates are few and coarse on purpose
(a dev split is small; fine-grained tuning would fit its noise).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from leitstand.config.settings import RetrievalProfile
from leitstand.evals.retrieval import BeirSet, RetrievalReport, evaluate, rank_with

DENSE_WEIGHTS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7)
RRF_KS = (10, 60)


@dataclass
class Trial:
    profile: RetrievalProfile
    report: RetrievalReport

    def label(self) -> str:
        p = self.profile
        fusion = (
            f"weighted dense={p.dense_weight:g}" if p.fusion == "weighted" else f"rrf k={p.rrf_k}"
        )
        return f"{fusion}, expansion={p.expansion}, reranker={p.reranker}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "profile": self.profile.model_dump(),
            f"ndcg@{self.report.k}": round(self.report.ndcg, 4),
            f"recall@{self.report.k}": round(self.report.recall, 4),
            f"mrr@{self.report.k}": round(self.report.mrr, 4),
            "query_p50_ms": round(self.report.p50_ms, 3),
        }


def candidates(
    *, dense: bool, rerankers: tuple[str, ...], expansions: tuple[str, ...]
) -> Iterator[RetrievalProfile]:
    """The profiles worth comparing with what is available."""
    fusions: list[dict[str, Any]] = [{"fusion": "weighted", "dense_weight": 0.0}]
    if dense:
        fusions = [{"fusion": "weighted", "dense_weight": w} for w in (0.0, *DENSE_WEIGHTS)]
        fusions += [{"fusion": "rrf", "rrf_k": k, "dense_weight": 0.5} for k in RRF_KS]
    for fusion in fusions:
        for expansion in expansions:
            for reranker in rerankers:
                weight = fusion.get("dense_weight", 0.5)
                yield RetrievalProfile(
                    **{**fusion, "dense_weight_other": weight},
                    expansion=expansion,
                    reranker=reranker,
                )


def tune(
    dataset: BeirSet,
    search: Callable[[str, int, RetrievalProfile], list[str]],
    profiles: list[RetrievalProfile],
    *,
    k: int = 10,
    split: str = "dev",
    progress: Callable[[int, int], None] | None = None,
) -> list[Trial]:
    """Score every profile; best first (ties keep the simpler, earlier profile)."""
    trials = []
    for number, profile in enumerate(profiles, start=1):

        def run(query: str, limit: int, chosen: RetrievalProfile = profile) -> list[str]:
            return search(query, limit, chosen)

        trials.append(Trial(profile, evaluate(dataset, rank_with(run, k), k=k, split=split)))
        if progress is not None:
            progress(number, len(profiles))
    order = sorted(range(len(trials)), key=lambda i: (-round(trials[i].report.ndcg, 4), i))
    return [trials[i] for i in order]


def profile_yaml(source: str, profile: RetrievalProfile) -> str:
    """The lines for leitstand.yaml that make a profile the collection's."""
    fields = profile.model_dump()
    lines = ["retrieval:", "  collections:", f"    {source}:"]
    lines += [f"      {name}: {value}" for name, value in fields.items()]
    return "\n".join(lines) + "\n"
