"""The Python API: one object that opens the database and offers every capability.

>>> from leitstand import Leitstand
>>> ls = Leitstand.open("leitstand.yaml")      # doctest: +SKIP
>>> ls.ingest("docs/")                         # doctest: +SKIP
>>> print(ls.ask("Welche Vektor-Datenbanken werden genannt?").text)  # doctest: +SKIP

The CLI and the HTTP server are thin layers over this class.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, func, select

from leitstand.cache.answers import AnswerCache
from leitstand.config.loading import Config, load_config
from leitstand.config.settings import RetrievalProfile
from leitstand.errors import ConfigError, NotFoundError
from leitstand.govern.controls import RequestControls
from leitstand.govern.keys import KeyStore
from leitstand.govern.limits import Limiter
from leitstand.govern.usage import Caller
from leitstand.guard.tools import ToolApprovals
from leitstand.llm.base import ChatMessage, ChatOptions
from leitstand.llm.gateway import ChatGateway
from leitstand.llm.router import Router
from leitstand.rag.answer import Answer
from leitstand.rag.pipeline import AnswerService, StreamEvent
from leitstand.search.analyser import Analyser
from leitstand.search.base import LexicalWeights, SearchFilters
from leitstand.search.expansion import Rm3Expander
from leitstand.search.hits import Hit
from leitstand.search.indexes import lexical_index_for
from leitstand.search.rerank.base import Reranker
from leitstand.search.rerank.cross_encoder import cross_encoder_from_settings
from leitstand.search.rerank.llm import LlmReranker
from leitstand.search.rerank.proximity import ProximityReranker
from leitstand.search.retriever import Retriever, SearchResult
from leitstand.search.rewrite import LlmQueryRewriter
from leitstand.store.database import Database
from leitstand.store.models import Chunk, Document, Source
from leitstand.text.language import LanguageDetector
from leitstand.trace.recorder import Tracer
from leitstand.trace.store import TraceStore

if TYPE_CHECKING:
    import threading

    from leitstand.embeddings.jobs import EmbedProgressCallback, EmbedReport
    from leitstand.embeddings.service import EmbeddingService, ModelStatus
    from leitstand.ingest.pipeline import Ingestor, IngestReport, ProgressCallback, TextRecord


@dataclass(frozen=True)
class SourceInfo:
    name: str
    root: str | None
    documents: int
    chunks: int


class Leitstand:
    """A leitstand instance: configuration, database, index, answerer and traces."""

    def __init__(self, config: Config, *, migrate: bool = True) -> None:
        self.config = config
        self.settings = config.settings
        self.db = Database(config.database_url)
        if migrate:
            self.db.migrate()
        self.tracer = Tracer(
            self.db,
            enabled=self.settings.tracing.enabled,
            store_content=self.settings.tracing.store_content,
        )
        self.analyser = Analyser(self.settings.languages)
        self.detector = LanguageDetector(self.settings.languages)
        rerankers: dict[str, Reranker] = {"proximity": ProximityReranker(self.db)}
        if self.settings.models:  # the llm re-ranker asks the use case's chat model
            rerankers["llm"] = LlmReranker()
        cross_encoder = cross_encoder_from_settings(self.settings.retrieval, config.resolve_path)
        if cross_encoder is not None:
            rerankers[cross_encoder.name] = cross_encoder
        self.embeddings = self._open_embeddings()
        """Dense retrieval (None when ``embeddings.provider`` resolves to none)."""
        self.retriever = Retriever(
            self.db,
            lexical_index_for(
                self.db,
                LexicalWeights(context_weight=self.settings.retrieval.context_weight),
                memory=self.settings.retrieval.memory_index,
            ),
            self.analyser,
            self.detector,
            settings=self.settings.retrieval,
            dense=self.embeddings.dense if self.embeddings is not None else None,
            expander=Rm3Expander(),
            rerankers=rerankers,
            rewriter=LlmQueryRewriter(),
        )
        self.answers = AnswerService(
            config,
            self.db,
            self.retriever,
            self.analyser,
            self.tracer,
            embedder=self.embeddings.embedder if self.embeddings is not None else None,
        )
        for name in self.settings.use_cases:  # fail at start, not at a user's question
            guard = self.settings.guard_for(name)
            if guard.enabled and guard.injection_classifier is not None:
                try:
                    self.answers.guard(name)  # loads the classifier
                except ConfigError:
                    self.close()
                    raise
            cache = self.settings.use_cases[name].cache
            if cache.semantic_threshold is not None and self.embeddings is None:
                self.close()
                raise ConfigError(
                    f"use case {name!r}: cache.semantic_threshold needs an embedding model, "
                    "and none is configured",
                    hint="configure `embeddings` (a local model or an endpoint), or use "
                    "cache.exact only",
                )
            if guard.semantic_topics and self.embeddings is None:
                self.close()
                raise ConfigError(
                    f"use case {name!r}: guard.semantic_topics needs an embedding model, and "
                    "none is configured",
                    hint="configure `embeddings` (a local model or an endpoint), or name the "
                    "topics by their words in guard.banned_topics",
                )
        self.router = Router(self.settings.models, self.answers.models.get, self.settings.gateway)
        """Routing, fallbacks and circuit breakers, shared by both modes."""
        self.answers.router = self.router
        self.limiter = Limiter(self.db, self.settings.gateway)
        """Requests, tokens and money per key, team and use case, counted in the database."""
        embedder = self.embeddings.embedder if self.embeddings is not None else None
        self.cache = AnswerCache(
            self.db,
            embedder,
            query_vector=self.embeddings.query_vector if self.embeddings is not None else None,
        )
        """Exact and semantic answer caches (``use_cases.<name>.cache``)."""
        self.approvals = ToolApprovals(self.db)
        """Tool calls held for a person's decision (``use_cases.<name>.tools.approve``)."""
        controls = RequestControls(self.limiter, self.cache)
        self.answers.controls = controls
        self.gateway = ChatGateway(
            self.settings,
            self.tracer,
            self.router,
            self.answers.guard,
            self.detector.detect,
            controls=controls,
            approvals=self.approvals,
        )
        """Chat-mode use cases: the client's conversation through guards, limits, routing."""
        self.traces = TraceStore(self.db)
        self.keys = KeyStore(self.db)

    @classmethod
    def open(
        cls,
        config: str | os.PathLike[str] | Config | None = None,
        **overrides: Any,
    ) -> Leitstand:
        """Open with a config file (or ``./leitstand.yaml``, or the defaults) and overrides.

        ``Leitstand.open(database_url="postgresql+psycopg://…")`` overrides single settings.
        """
        if isinstance(config, Config):
            return cls(config)
        return cls(load_config(Path(config) if config else None, overrides=overrides))

    def _open_embeddings(self) -> EmbeddingService | None:
        from leitstand.embeddings.registry import resolve_provider

        if resolve_provider(self.settings.embeddings) == "none":
            return None  # the lexical-only path imports nothing of dense retrieval
        from leitstand.embeddings.service import open_embeddings

        return open_embeddings(
            self.settings.embeddings, self.db, self.config.data_dir, self.config.resolve_path
        )

    @cached_property
    def ingestor(self) -> Ingestor:
        from leitstand.ingest.pipeline import Ingestor

        return Ingestor(self.db, self.settings.ingest, self.analyser, self.detector, self.tracer)

    # -- documents -------------------------------------------------------------------

    def ingest(
        self,
        path: str | os.PathLike[str],
        *,
        source: str | None = None,
        prune: bool = False,
        tags: Iterable[str] = (),
        progress: ProgressCallback | None = None,
        embed_progress: EmbedProgressCallback | None = None,
    ) -> IngestReport:
        """Ingest a folder (recursively) or one file; unchanged files cost nothing.

        With dense retrieval on, the new chunks are embedded afterwards (``embed_progress``
        reports each batch)."""
        report = self.ingestor.ingest(
            path, source=source, prune=prune, tags=tags, progress=progress
        )
        self._finish_ingest(report, embed_progress)
        return report

    def ingest_texts(
        self,
        records: Iterable[TextRecord],
        *,
        source: str,
        prune: bool = False,
        tags: Iterable[str] = (),
        progress: ProgressCallback | None = None,
        embed_progress: EmbedProgressCallback | None = None,
    ) -> IngestReport:
        """Ingest texts that are not files; ``TextRecord.path`` identifies each one."""
        report = self.ingestor.ingest_texts(
            records, source=source, prune=prune, tags=tags, progress=progress
        )
        self._finish_ingest(report, embed_progress)
        return report

    def _finish_ingest(self, report: IngestReport, progress: EmbedProgressCallback | None) -> None:
        if self.embeddings is None and not (report.updated or report.removed):
            return
        from leitstand.embeddings.service import finish_ingest

        finish_ingest(self.db, self.embeddings, report, self.config.data_dir, progress)

    def sources(self) -> list[SourceInfo]:
        with self.db.read() as session:
            rows = session.execute(
                select(
                    Source.name,
                    Source.root,
                    func.count(func.distinct(Document.id)),
                    func.count(Chunk.id),
                )
                .outerjoin(Document, Document.source_id == Source.id)
                .outerjoin(Chunk, Chunk.document_id == Document.id)
                .group_by(Source.id, Source.name, Source.root)
                .order_by(Source.name)
            ).all()
        return [SourceInfo(r[0], r[1], int(r[2]), int(r[3])) for r in rows]

    def delete_source(self, name: str) -> None:
        """Remove a source with all its documents and chunks (and their index entries, their
        vectors and the cached vectors of texts no other chunk has)."""
        from leitstand.embeddings.cache import sweep_unused

        with self.db.write() as session:
            result = session.execute(delete(Source).where(Source.name == name))
            if not getattr(result, "rowcount", 0):
                raise NotFoundError(
                    f"no source named {name!r}", hint="`leitstand sources` lists the sources"
                )
            sweep_unused(session.connection())  # in the same transaction as the deletion
        self._refresh_vector_files()
        self.cache.sweep()  # answers given from the deleted passages

    def _refresh_vector_files(self) -> None:
        if self.embeddings is not None:
            self.embeddings.refresh_indexes()
        elif self.db.is_sqlite and (self.config.data_dir / "vectors").is_dir():
            from leitstand.embeddings.service import refresh_vector_files

            refresh_vector_files(self.db, self.config.data_dir / "vectors")

    # -- dense retrieval -------------------------------------------------------------

    def _require_embeddings(self) -> EmbeddingService:
        if self.embeddings is None:
            from leitstand.errors import ConfigError

            raise ConfigError(
                "dense retrieval is off: embeddings.provider resolves to none",
                hint="set embeddings.provider: local (pip install 'leitstand[local]') or "
                "openai with embeddings.base_url in leitstand.yaml",
            )
        return self.embeddings

    def embed(self, *, progress: EmbedProgressCallback | None = None) -> list[EmbedReport]:
        """Embed every chunk that has no vector of the configured model yet (and of the
        model that still serves while the configured one is incomplete)."""
        return self._require_embeddings().embed(progress=progress)

    def embedding_status(self) -> list[ModelStatus]:
        """The embedding models in the database, their coverage, which one serves."""
        if self.embeddings is not None:
            return self.embeddings.status()
        from leitstand.embeddings.service import model_status

        return model_status(self.db, None, None)

    def drop_embeddings(self, model: str) -> None:
        """Delete one embedding model's vectors, cached vectors and index."""
        self._require_embeddings().drop(model)

    def start_background_embedding(self) -> threading.Thread | None:
        """Embed pending chunks in a thread (the server calls this at start-up); dense search
        keeps using the last complete model meanwhile. None when dense retrieval is off."""
        return self.embeddings.start_background() if self.embeddings is not None else None

    # -- questions -------------------------------------------------------------------

    def search(
        self,
        query: str,
        *,
        k: int | None = None,
        sources: Sequence[str] = (),
        languages: Sequence[str] = (),
        tags: Sequence[str] = (),
        profile: RetrievalProfile | None = None,
    ) -> SearchResult:
        """The best passages for a query, without generating an answer.

        ``profile`` overrides how results are fused and refined (see ``eval tune``).
        """
        filters = SearchFilters(tuple(sources), tuple(languages), tuple(tags))
        return self.retriever.search(
            query, k=k or self.settings.retrieval.top_k, filters=filters, profile=profile
        )

    def ask(
        self,
        question: str,
        *,
        use_case: str | None = None,
        history: Sequence[ChatMessage] = (),
        options: ChatOptions | None = None,
        caller: Caller | None = None,
    ) -> Answer:
        """Answer a question from the documents, with numbered sources; ``caller`` (the API
        key's name and team) is what costs and limits are counted for."""
        return self.answers.ask(
            question, use_case=use_case, history=history, options=options, caller=caller
        )

    def ask_stream(
        self,
        question: str,
        *,
        use_case: str | None = None,
        history: Sequence[ChatMessage] = (),
        options: ChatOptions | None = None,
        caller: Caller | None = None,
    ) -> Iterator[StreamEvent]:
        """Answer piece by piece: a ``sources`` event, ``delta`` events, then ``done``."""
        return self.answers.stream(
            question, use_case=use_case, history=history, options=options, caller=caller
        )

    def chunk(self, chunk_id: int) -> Hit:
        """One passage by id, e.g. to show the exact text a citation points at."""
        hit = self.retriever.chunk(chunk_id)
        if hit is None:
            raise NotFoundError(f"no chunk with id {chunk_id}")
        return hit

    # -- lifecycle -------------------------------------------------------------------

    def start_background(self) -> None:
        """What a long-running process does at start (``leitstand serve`` does): embed pending
        chunks in a thread (see :meth:`start_background_embedding`) and, on SQLite, build the
        lexical postings in memory once the collection is large enough."""
        from leitstand.search.memory_index import MemoryLexicalIndex

        self.start_background_embedding()
        if isinstance(self.retriever.index, MemoryLexicalIndex):
            self.retriever.index.start()

    def close(self) -> None:
        self.retriever.index.close()
        if self.embeddings is not None:
            self.embeddings.close()
        self.tracer.close()
        self.answers.close()
        if hasattr(self, "cache"):
            self.cache.close()
        self.db.dispose()

    def __enter__(self) -> Leitstand:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
