"""The retriever: analyse the question, search, fuse, refine, return cited passages."""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal, Protocol

from sqlalchemy import Connection, bindparam, func, select
from sqlalchemy.orm import Session

from leitstand.config.settings import RetrievalProfile, RetrievalSettings
from leitstand.search.analyser import Analyser
from leitstand.search.base import LexicalIndex, ScoredChunk, SearchFilters
from leitstand.search.fusion import rrf_fusion, weighted_fusion
from leitstand.search.hits import Hit
from leitstand.search.rerank.base import Reranker, RerankError, RerankQuery
from leitstand.search.rewrite import RewriteError
from leitstand.store.database import Database
from leitstand.store.models import Chunk, Document, Source
from leitstand.text.language import LanguageDetector
from leitstand.trace.recorder import ActiveTrace, SpanRecord

if TYPE_CHECKING:
    from leitstand.llm.base import ChatModel

LANGUAGE_CACHE_SECONDS = 10.0


@contextmanager
def _span(trace: ActiveTrace | None, name: str, **attributes: Any) -> Iterator[SpanRecord]:
    """A span of the request's trace, or a throw-away record when there is no trace."""
    if trace is None:
        yield SpanRecord(0, None, name, datetime.now(UTC), 0.0, attributes=attributes)
        return
    with trace.span(name, **attributes) as span:
        yield span


@dataclass
class SearchResult:
    query: str
    language: str
    terms: list[str]
    hits: list[Hit]
    mode: str = "lexical"


class DenseSearch(Protocol):
    """What the retriever needs from dense retrieval (see ``search/dense.py``)."""

    languages: tuple[str, ...]
    """Languages the embedding model handles well; empty means all."""

    def search(
        self, query: str, *, limit: int, filters: SearchFilters | None = None
    ) -> list[ScoredChunk]: ...


class QueryExpander(Protocol):
    """Pseudo-relevance feedback: more terms from the first results (``search/expansion.py``)."""

    def expand(
        self, terms: Sequence[str], language: str, feedback: Sequence[str], *, count: int
    ) -> list[str]: ...


class QueryRewriter(Protocol):
    """Multi-query and HyDE through a chat model (``search/rewrite.py``)."""

    def rewrite(
        self,
        kind: Literal["multi-query", "hyde"],
        question: str,
        language: str,
        model: ChatModel,
    ) -> list[str]:
        """Alternative queries or a hypothetical passage; raises RewriteError when it cannot."""
        ...


class Retriever:
    """Question in, passages out: lexical and (when configured) dense retrieval, fused,
    optionally expanded and re-ranked, as ``retrieval`` in leitstand.yaml says."""

    def __init__(
        self,
        db: Database,
        index: LexicalIndex,
        analyser: Analyser,
        detector: LanguageDetector,
        *,
        settings: RetrievalSettings | None = None,
        dense: DenseSearch | None = None,
        expander: QueryExpander | None = None,
        rerankers: Mapping[str, Reranker] | None = None,
        rewriter: QueryRewriter | None = None,
    ) -> None:
        self.db = db
        self.index = index
        self.analyser = analyser
        self.detector = detector
        self.settings = settings or RetrievalSettings()
        self.dense = dense
        self.expander = expander
        self.rerankers = dict(rerankers or {})
        self.rewriter = rewriter
        self._languages: tuple[str, ...] = ()
        self._languages_at = -1e9

    @property
    def mode(self) -> str:
        """The retrieval mode in effect: ``auto`` resolved by what is available."""
        wanted = self.settings.mode
        if wanted == "auto":
            return "hybrid" if self.dense is not None else "lexical"
        if wanted in ("dense", "hybrid") and self.dense is None:
            return "lexical"
        return wanted

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
        return language, self._terms(query, language)

    def _terms(self, text: str, language: str) -> list[str]:
        others = [code for code in self.indexed_languages() if code != language]
        return self.analyser.query_terms(text, [language, *others])

    def search(
        self,
        query: str,
        *,
        k: int,
        filters: SearchFilters | None = None,
        trace: ActiveTrace | None = None,
        profile: RetrievalProfile | None = None,
        model: ChatModel | None = None,
    ) -> SearchResult:
        """The best ``k`` passages; ``model`` is the use case's chat model, used by
        multi-query, HyDE and the llm re-ranker (without one they are skipped, with a note)."""
        language, terms = self.analyse_query(query)
        if profile is None:
            single = filters.sources[0] if filters and len(filters.sources) == 1 else None
            profile = self.settings.profile(single)
        mode = self.mode
        depth = max(k, self.settings.rerank_depth if profile.reranker != "none" else k)
        candidates = max(self.settings.candidates, depth)
        rewrites = self._rewrites(query, language, profile, model, trace)  # before the read
        with self.db.read() as session:
            connection = session.connection()  # Core statements: no ORM work per search
            fused = self._search_one(
                connection, query, terms, language, candidates, filters, profile, trace
            )
            if rewrites:
                ranked = {"question": fused}
                for number, rewrite in enumerate(rewrites, start=1):
                    ranked[f"rewrite {number}"] = self._search_one(
                        connection,
                        rewrite,
                        self._terms(rewrite, language),
                        language,
                        candidates,
                        filters,
                        profile,
                        trace,
                    )
                fused = rrf_fusion(ranked, dict.fromkeys(ranked, 1.0), profile.rrf_k)
            hits = self._load(connection, fused[:depth])
        reranker = self.rerankers.get(profile.reranker) if profile.reranker != "none" else None
        if reranker is not None and hits:
            with _span(trace, "rerank", reranker=reranker.name) as span:
                try:
                    hits = reranker.rerank(RerankQuery(query, language, tuple(terms), model), hits)
                except RerankError as exc:
                    span.set(fallback=f"fused order kept: {exc.message}")
        return SearchResult(query=query, language=language, terms=terms, hits=hits[:k], mode=mode)

    def _search_one(
        self,
        connection: Connection,
        query: str,
        terms: list[str],
        language: str,
        candidates: int,
        filters: SearchFilters | None,
        profile: RetrievalProfile,
        trace: ActiveTrace | None,
    ) -> list[ScoredChunk]:
        """Lexical and dense lists for one query, fused."""
        lists: dict[str, list[ScoredChunk]] = {}
        mode = self.mode
        if mode in ("lexical", "hybrid"):
            with _span(trace, "lexical") as span:
                lists["lexical"] = self._lexical(
                    connection, terms, language, candidates, filters, profile
                )
                span.set(terms=terms, found=len(lists["lexical"]))
        if mode in ("dense", "hybrid") and self.dense is not None:
            with _span(trace, "dense") as span:
                lists["dense"] = self.dense.search(query, limit=candidates, filters=filters)
                span.set(found=len(lists["dense"]))
        return self._fuse(lists, profile, language)

    def _rewrites(
        self,
        query: str,
        language: str,
        profile: RetrievalProfile,
        model: ChatModel | None,
        trace: ActiveTrace | None,
    ) -> list[str]:
        """Multi-query or HyDE texts from the chat model, when the profile asks for them."""
        kind = profile.expansion
        if kind not in ("multi-query", "hyde"):
            return []
        with _span(trace, "rewrite", kind=kind) as span:
            if model is None or self.rewriter is None:
                span.set(
                    skipped="no chat model: the use case answers extractively, so the "
                    "question is searched as it is"
                    if model is None
                    else "no query rewriter configured"
                )
                return []
            try:
                rewrites = self.rewriter.rewrite(kind, query, language, model)
            except RewriteError as exc:
                span.set(skipped=f"the question is searched as it is: {exc.message}")
                return []
            span.set(queries=rewrites)
            return rewrites

    def _lexical(
        self,
        connection: Connection,
        terms: list[str],
        language: str,
        limit: int,
        filters: SearchFilters | None,
        profile: RetrievalProfile,
    ) -> list[ScoredChunk]:
        first = self.index.search(connection, terms, limit=limit, filters=filters)
        if profile.expansion != "prf" or self.expander is None or not first:
            return first
        feedback = (
            connection.execute(
                _ANALYSED, {"ids": [item.chunk_id for item in first[: self.settings.prf_documents]]}
            )
            .scalars()
            .all()
        )
        expanded = self.expander.expand(terms, language, feedback, count=self.settings.prf_terms)
        if not expanded:
            return first
        second = self.index.search(connection, [*terms, *expanded], limit=limit, filters=filters)
        weight = self.settings.prf_weight
        return weighted_fusion({"q": first, "prf": second}, {"q": 1 - weight, "prf": weight})

    def _fuse(
        self, lists: dict[str, list[ScoredChunk]], profile: RetrievalProfile, language: str
    ) -> list[ScoredChunk]:
        present = {name: items for name, items in lists.items() if items}
        if len(present) <= 1:
            return next(iter(present.values()), [])
        covered = self.dense is None or not self.dense.languages or language in self.dense.languages
        dense = profile.dense_weight if covered else profile.dense_weight_other
        weights = {"lexical": 1 - dense, "dense": dense}
        if profile.fusion == "rrf":
            return rrf_fusion(present, weights, profile.rrf_k)
        return weighted_fusion(present, weights)

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


# Built once: the analysed text of chunks (feedback for query expansion).
_ANALYSED = select(Chunk.analysed).where(Chunk.id.in_(bindparam("ids", expanding=True)))

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
