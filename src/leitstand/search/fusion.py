"""Fusion of ranked lists from several retrievers (lexical, dense, expansions).

``weighted``: each list's scores are min-max normalised to 0..1, then summed with weights;
a chunk missing from a list gets 0 there. ``rrf``: reciprocal rank fusion,
``sum(weight / (k + rank))`` with ranks from 1.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from leitstand.search.base import ScoredChunk


def weighted_fusion(
    lists: Mapping[str, Sequence[ScoredChunk]], weights: Mapping[str, float]
) -> list[ScoredChunk]:
    scores: dict[int, float] = {}
    for name, items in lists.items():
        weight = weights.get(name, 0.0)
        if not items or weight == 0:
            continue
        high = max(item.score for item in items)
        low = min(item.score for item in items)
        span = high - low
        for item in items:
            normalised = (item.score - low) / span if span > 0 else 1.0
            scores[item.chunk_id] = scores.get(item.chunk_id, 0.0) + weight * normalised
    return _ranked(scores)


def rrf_fusion(
    lists: Mapping[str, Sequence[ScoredChunk]], weights: Mapping[str, float], k: int = 60
) -> list[ScoredChunk]:
    scores: dict[int, float] = {}
    for name, items in lists.items():
        weight = weights.get(name, 0.0)
        for rank, item in enumerate(items, start=1):
            scores[item.chunk_id] = scores.get(item.chunk_id, 0.0) + weight / (k + rank)
    return _ranked(scores)


def _ranked(scores: dict[int, float]) -> list[ScoredChunk]:
    # Ties keep a stable order: by chunk id, so both backends agree.
    ordered = sorted(scores.items(), key=lambda item: (-item[1], item[0]))
    return [ScoredChunk(chunk_id, score) for chunk_id, score in ordered]
