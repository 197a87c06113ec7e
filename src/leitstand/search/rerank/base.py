"""The re-ranker contract: a query and candidate passages in, the same passages reordered."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

from leitstand.search.hits import Hit


@dataclass(frozen=True)
class RerankQuery:
    text: str
    language: str
    terms: tuple[str, ...]
    """The query's analysed terms (as the lexical index saw them)."""


class Reranker(ABC):
    name: str

    @abstractmethod
    def rerank(self, query: RerankQuery, hits: list[Hit]) -> list[Hit]:
        """The hits, best first, with ``score`` set to the re-ranker's score."""
