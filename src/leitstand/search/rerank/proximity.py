"""A re-ranker without a model: query terms close together, and in the title or heading.

BM25 scores each term on its own; a passage where the question's terms stand next to each
other ("Datenbank für Vektoren", or a compound and its parts) usually answers it better than
one where they are scattered. After Rasolofo & Savoy (2003, BM25TP): every pair of different
query terms within ``window`` positions adds ``1 / distance²`` to that pair's proximity, which
saturates as ``a / (a + 1)`` and counts with the smaller of the two terms' weights. A term's
weight is its inverse document frequency among the candidates, so rare terms matter more.
Optionally (``context_weight``) the weighted share of query terms in the chunk's title and
heading path counts too.

The final score mixes the min-max normalised retrieval score with the normalised proximity:
``(1 - weight) * retrieval + weight * proximity (+ context_weight * context)``.

The work is O(candidates x terms per chunk) with a dictionary lookup per term: the analysed
text of the candidates (the same terms the index holds) is loaded in one query, so nothing is
analysed again.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from sqlalchemy import bindparam, select

from leitstand.search.hits import Hit
from leitstand.search.rerank.base import Reranker, RerankQuery
from leitstand.store.database import Database
from leitstand.store.models import Chunk

_ANALYSED = select(Chunk.id, Chunk.analysed, Chunk.analysed_context).where(
    Chunk.id.in_(bindparam("ids", expanding=True))
)


class ProximityReranker(Reranker):
    """Re-ranks candidates by how close together the query terms stand in them."""

    name = "proximity"

    def __init__(
        self,
        db: Database,
        *,
        weight: float = 0.3,
        window: int = 8,
        context_weight: float = 0.0,
    ) -> None:
        if not 0 <= weight <= 1:
            raise ValueError(f"weight must be between 0 and 1, not {weight}")
        if window < 1:
            raise ValueError(f"window must be at least 1, not {window}")
        self.db = db
        self.weight = weight
        self.window = window
        self.context_weight = context_weight

    def rerank(self, query: RerankQuery, hits: list[Hit]) -> list[Hit]:
        terms = list(dict.fromkeys(query.terms))
        if len(hits) < 2 or not terms:
            return hits
        texts = self._analysed([hit.chunk_id for hit in hits])
        scores = self.score(terms, [texts.get(hit.chunk_id, ("", "")) for hit in hits])
        retrieval = _normalised([hit.score for hit in hits])
        combined = [
            (1 - self.weight) * base + self.weight * proximity + self.context_weight * context
            for base, (proximity, context) in zip(retrieval, scores, strict=True)
        ]
        order = sorted(range(len(hits)), key=lambda i: (-combined[i], i))
        return [hits[i].with_score(combined[i]) for i in order]

    def score(
        self, terms: Sequence[str], texts: Sequence[tuple[str, str]]
    ) -> list[tuple[float, float]]:
        """(proximity, context) of each (analysed text, analysed context), both 0..1."""
        index = {term: number for number, term in enumerate(terms)}
        matches = [_matches(text.split(), index) for text, _ in texts]
        contexts = [{index[t] for t in context.split() if t in index} for _, context in texts]
        weights = _weights(len(terms), matches, contexts)
        same = _overlapping(terms)
        proximity = _normalised_max([self._proximity(found, weights, same) for found in matches])
        total = sum(weights) or 1.0
        context = [sum(weights[number] for number in found) / total for found in contexts]
        return list(zip(proximity, context, strict=True))

    def _proximity(
        self, matches: list[tuple[int, int]], weights: list[float], same: set[tuple[int, int]]
    ) -> float:
        """BM25TP-style proximity of one chunk's query-term positions."""
        pairs: dict[tuple[int, int], float] = {}
        window = self.window
        for later in range(1, len(matches)):
            position, term = matches[later]
            earlier = later - 1
            while earlier >= 0 and position - matches[earlier][0] <= window:
                other = matches[earlier][1]
                key = (other, term) if other < term else (term, other)
                if other != term and key not in same:
                    distance = position - matches[earlier][0]
                    pairs[key] = pairs.get(key, 0.0) + 1.0 / (distance * distance)
                earlier -= 1
        return sum(
            min(weights[a], weights[b]) * value / (value + 1.0) for (a, b), value in pairs.items()
        )

    def _analysed(self, ids: list[int]) -> dict[int, tuple[str, str]]:
        with self.db.read() as session:
            rows = session.execute(_ANALYSED, {"ids": ids}).all()
        return {row[0]: (row[1] or "", row[2] or "") for row in rows}


def _matches(tokens: list[str], index: dict[str, int]) -> list[tuple[int, int]]:
    """(position, term number) of every query term in the chunk, in order."""
    return [
        (position, number)
        for position, token in enumerate(tokens)
        if (number := index.get(token)) is not None
    ]


def _overlapping(terms: Sequence[str]) -> set[tuple[int, int]]:
    """Pairs of query terms where one holds the other: a compound and its part
    ("vektordatenbank", "datenbank") stand next to each other by construction."""
    return {
        (a, b)
        for a in range(len(terms))
        for b in range(a + 1, len(terms))
        if terms[a] in terms[b] or terms[b] in terms[a]
    }


def _weights(
    count: int, matches: list[list[tuple[int, int]]], contexts: list[set[int]]
) -> list[float]:
    """Inverse document frequency of each query term among the candidates."""
    frequency = [0] * count
    for found, context in zip(matches, contexts, strict=True):
        for number in {number for _, number in found} | context:
            frequency[number] += 1
    candidates = len(matches)
    return [math.log(1 + candidates / df) if df else 0.0 for df in frequency]


def _normalised(values: Sequence[float]) -> list[float]:
    low, high = min(values), max(values)
    span = high - low
    return [(value - low) / span if span > 0 else 1.0 for value in values]


def _normalised_max(values: Sequence[float]) -> list[float]:
    high = max(values, default=0.0)
    return [value / high if high > 0 else 0.0 for value in values]
