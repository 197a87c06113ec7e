"""What every lexical index backend provides, and the shapes search results take."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from sqlalchemy import Connection, Select, exists, select
from sqlalchemy.orm import Session

from leitstand.store.models import Document, DocumentTag, Source


@dataclass(frozen=True)
class SearchFilters:
    """Restrict a search to some sources, languages or tags (each: any of the listed values)."""

    sources: tuple[str, ...] = ()
    languages: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.sources or self.languages or self.tags)

    def apply(self, query: Select[Any], document_id_column: Any) -> Select[Any]:
        """Add the filter conditions to a query that exposes a document id column."""
        if not self:
            return query
        query = query.join(Document, Document.id == document_id_column)
        if self.sources:
            query = query.join(Source, Source.id == Document.source_id).where(
                Source.name.in_(self.sources)
            )
        if self.languages:
            query = query.where(Document.language.in_(self.languages))
        if self.tags:
            query = query.where(
                exists(
                    select(DocumentTag.document_id).where(
                        DocumentTag.document_id == Document.id, DocumentTag.tag.in_(self.tags)
                    )
                )
            )
        return query


@dataclass(frozen=True)
class ScoredChunk:
    chunk_id: int
    score: float


@dataclass
class LexicalWeights:
    """BM25 parameters and the weight of the title/heading field relative to the body."""

    k1: float = 1.2
    b: float = 0.75
    context_weight: float = 1.5


class LexicalIndex(ABC):
    """BM25 over the analysed chunk text, kept in step with the chunks table by the database."""

    dialect: ClassVar[str]

    @abstractmethod
    def search(
        self,
        session: Session | Connection,
        terms: Sequence[str],
        *,
        limit: int,
        filters: SearchFilters | None = None,
    ) -> list[ScoredChunk]:
        """The best ``limit`` chunks for the (already analysed) terms, best first.

        Scores are BM25 (higher is better); a chunk matches if it contains any term.
        """

    def close(self) -> None:  # noqa: B027 - optional hook; most indexes hold nothing
        """Stop background work and release memory."""
