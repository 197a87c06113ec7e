"""The re-ranker contract: a query and candidate passages in, the same passages reordered."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import TYPE_CHECKING

from leitstand.errors import LeitstandError
from leitstand.search.hits import Hit

if TYPE_CHECKING:
    from leitstand.llm.base import ChatModel


@dataclass(frozen=True)
class RerankQuery:
    text: str
    language: str
    terms: tuple[str, ...]
    """The query's analysed terms (as the lexical index saw them)."""
    model: ChatModel | None = None
    """The use case's chat model, for re-rankers that ask one; None for extractive use cases."""


class RerankError(LeitstandError):
    """A re-ranker could not rank this time (no model, a model error, an unusable reply).

    The retriever keeps the fused order and notes the reason in the trace.
    """


class Reranker(ABC):
    name: str

    @abstractmethod
    def rerank(self, query: RerankQuery, hits: list[Hit]) -> list[Hit]:
        """The hits, best first, with ``score`` set to the re-ranker's score."""
