"""Query expansion by pseudo-relevance feedback: RM3 over the first results' analysed text.

The relevance model (Lavrenko & Croft 2001; RM3: Abdul-Jaleel et al. 2004) takes the top
chunks of the first lexical search as relevant and weighs every term ``w`` they contain by

    P(w | R)  ∝  Σ_d  P(w | d) · P(Q | d)

where ``P(w | d)`` is the term's share of chunk ``d`` and ``P(Q | d)`` is the query likelihood
of ``d`` (Dirichlet-smoothed against the feedback chunks, so a chunk that lacks one query term
still counts). The heaviest terms that are not in the query become the expansion; the
retriever runs the expanded query and interpolates it with the original one
(``retrieval.prf_weight``), which is RM3's mixing of the original query with the model.

The chunks' terms are already analysed (folded, stop words removed, stemmed), so the
expansion terms are index terms and need no further analysis.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence


class Rm3Expander:
    """Expansion terms from the feedback chunks (implements ``retriever.QueryExpander``).

    ``mu`` is the Dirichlet prior of the query likelihood; ``min_chars`` keeps very short
    terms (initials, unit symbols) out of the expansion, and numbers stay out unless
    ``numbers`` is set.
    """

    def __init__(self, *, mu: float = 100.0, min_chars: int = 3, numbers: bool = False) -> None:
        self.mu = mu
        self.min_chars = min_chars
        self.numbers = numbers

    def expand(
        self, terms: Sequence[str], language: str, feedback: Sequence[str], *, count: int
    ) -> list[str]:
        documents = [text.split() for text in feedback if text]
        query = set(terms)
        if not documents or not query or count <= 0:
            return []
        collection: Counter[str] = Counter()
        for document in documents:
            collection.update(document)
        total = sum(collection.values())
        present = [term for term in query if term in collection]
        if not present:
            return []
        counts = [Counter(document) for document in documents]
        likelihoods = [
            sum(
                math.log((found[term] + self.mu * collection[term] / total) / (len(doc) + self.mu))
                for term in present
            )
            for found, doc in zip(counts, documents, strict=True)
        ]
        top = max(likelihoods)
        weights = [math.exp(value - top) for value in likelihoods]
        model: dict[str, float] = {}
        for found, doc, weight in zip(counts, documents, weights, strict=True):
            share = weight / len(doc)
            for term, number in found.items():
                model[term] = model.get(term, 0.0) + number * share
        ranked = sorted(
            (item for item in model.items() if self._candidate(item[0], query)),
            key=lambda item: (-item[1], item[0]),
        )
        return [term for term, _ in ranked[:count]]

    def _candidate(self, term: str, query: set[str]) -> bool:
        if term in query or len(term) < self.min_chars:
            return False
        return self.numbers or not term.isdigit()
