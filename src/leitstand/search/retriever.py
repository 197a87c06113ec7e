"""The retriever: analyse the question, ask the lexical index, return cited passages."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, bindparam, func, select
from sqlalchemy.orm import Session

from leitstand.search.analyser import Analyser
from leitstand.search.base import LexicalIndex, ScoredChunk, SearchFilters
from leitstand.store.database import Database
from leitstand.store.models import Chunk, Document, Source
from leitstand.text.language import LanguageDetector
from leitstand.trace.recorder import ActiveTrace

LANGUAGE_CACHE_SECONDS = 10.0


@dataclass(frozen=True)
class Hit:
    """A retrieved chunk with everything a citation needs."""

    chunk_id: int
    document_id: int
    score: float
    text: str
    heading: str
    start_char: int
    end_char: int
    page_start: int | None
    page_end: int | None
    language: str
    title: str
    path: str
    uri: str
    source: str

    def location(self) -> str:
        """Where the passage is: "page 3", "pages 3–4" or "characters 120–980"."""
        if self.page_start is not None:
            if self.page_end is not None and self.page_end != self.page_start:
                return f"pages {self.page_start}–{self.page_end}"
            return f"page {self.page_start}"
        return f"characters {self.start_char}–{self.end_char}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "chunk_id": self.chunk_id,
            "document_id": self.document_id,
            "score": round(self.score, 4),
            "source": self.source,
            "path": self.path,
            "title": self.title,
            "uri": self.uri,
            "heading": self.heading,
            "page_start": self.page_start,
            "page_end": self.page_end,
            "start_char": self.start_char,
            "end_char": self.end_char,
            "language": self.language,
            "text": self.text,
        }


@dataclass
class SearchResult:
    query: str
    language: str
    terms: list[str]
    hits: list[Hit]


class Retriever:
    def __init__(
        self,
        db: Database,
        index: LexicalIndex,
        analyser: Analyser,
        detector: LanguageDetector,
    ) -> None:
        self.db = db
        self.index = index
        self.analyser = analyser
        self.detector = detector
        self._languages: tuple[str, ...] = ()
        self._languages_at = -1e9

    def indexed_languages(self) -> tuple[str, ...]:
        """Languages of the stored documents (cached for a few seconds)."""
        now = time.monotonic()
        if now - self._languages_at > LANGUAGE_CACHE_SECONDS:
            with self.db.read() as session:
                found = session.scalars(select(Document.language).distinct()).all()
            self._languages = tuple(sorted(code for code in found if code))
            self._languages_at = now
        return self._languages

    def analyse_query(self, query: str) -> tuple[str, list[str]]:
        """The query's language and its terms.

        A query is analysed in its own language and in every other language the documents
        are written in, so an English question finds "Researchern" in a German text.
        """
        language = self.detector.detect(query)
        others = [code for code in self.indexed_languages() if code != language]
        return language, self.analyser.query_terms(query, [language, *others])

    def search(
        self,
        query: str,
        *,
        k: int,
        filters: SearchFilters | None = None,
        trace: ActiveTrace | None = None,
    ) -> SearchResult:
        language, terms = self.analyse_query(query)
        with self.db.read() as session:
            connection = session.connection()  # Core statements: no ORM work per search
            scored = self.index.search(connection, terms, limit=k, filters=filters)
            hits = self._load(connection, scored)
        if trace is not None:
            trace.set(query_language=language)
        return SearchResult(query=query, language=language, terms=terms, hits=hits)

    def chunk(self, chunk_id: int) -> Hit | None:
        with self.db.read() as session:
            found = self._load(session, [ScoredChunk(chunk_id, 0.0)])
        return found[0] if found else None

    def surroundings(self, hit: Hit, chars: int) -> tuple[str, str]:
        """Up to ``chars`` characters of the document before and after a passage."""
        with self.db.read() as session:
            start = max(0, hit.start_char - chars)
            row = session.execute(
                select(
                    func.substr(Document.text, start + 1, hit.start_char - start),
                    func.substr(Document.text, hit.end_char + 1, chars),
                ).where(Document.id == hit.document_id)
            ).one_or_none()
        return (str(row[0] or ""), str(row[1] or "")) if row else ("", "")

    @staticmethod
    def _load(connection: Connection | Session, scored: list[ScoredChunk]) -> list[Hit]:
        if not scored:
            return []
        rows = connection.execute(_LOAD, {"ids": [item.chunk_id for item in scored]}).all()
        by_id = {row[0]: row for row in rows}
        hits = []
        for item in scored:
            row = by_id.get(item.chunk_id)
            if row is None:  # deleted between the index lookup and now
                continue
            hits.append(
                Hit(
                    chunk_id=item.chunk_id,
                    document_id=row[1],
                    score=item.score,
                    text=row[2],
                    heading=row[3],
                    start_char=row[4],
                    end_char=row[5],
                    page_start=row[6],
                    page_end=row[7],
                    language=row[8],
                    title=row[9],
                    path=row[10],
                    uri=row[11],
                    source=row[12],
                )
            )
        return hits


# Built once: the passages behind a list of chunk ids.
_LOAD = (
    select(
        Chunk.id,
        Chunk.document_id,
        Chunk.text,
        Chunk.heading,
        Chunk.start_char,
        Chunk.end_char,
        Chunk.page_start,
        Chunk.page_end,
        Chunk.language,
        Document.title,
        Document.path,
        Document.uri,
        Source.name,
    )
    .join(Document, Document.id == Chunk.document_id)
    .join(Source, Source.id == Document.source_id)
    .where(Chunk.id.in_(bindparam("ids", expanding=True)))
)
