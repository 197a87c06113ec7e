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

from leitstand.config.loading import Config, load_config
from leitstand.config.settings import RetrievalProfile
from leitstand.errors import NotFoundError
from leitstand.govern.keys import KeyStore
from leitstand.llm.base import ChatMessage, ChatOptions
from leitstand.rag.answer import Answer
from leitstand.rag.pipeline import AnswerService, StreamEvent
from leitstand.search.analyser import Analyser
from leitstand.search.base import LexicalWeights, SearchFilters
from leitstand.search.hits import Hit
from leitstand.search.indexes import lexical_index_for
from leitstand.search.retriever import Retriever, SearchResult
from leitstand.store.database import Database
from leitstand.store.models import Chunk, Document, Source
from leitstand.text.language import LanguageDetector
from leitstand.trace.recorder import Tracer
from leitstand.trace.store import TraceStore

if TYPE_CHECKING:
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
        self.retriever = Retriever(
            self.db,
            lexical_index_for(
                self.db, LexicalWeights(context_weight=self.settings.retrieval.context_weight)
            ),
            self.analyser,
            self.detector,
        )
        self.answers = AnswerService(config, self.db, self.retriever, self.analyser, self.tracer)
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
    ) -> IngestReport:
        """Ingest a folder (recursively) or one file; unchanged files cost nothing."""
        return self.ingestor.ingest(path, source=source, prune=prune, tags=tags, progress=progress)

    def ingest_texts(
        self,
        records: Iterable[TextRecord],
        *,
        source: str,
        prune: bool = False,
        tags: Iterable[str] = (),
        progress: ProgressCallback | None = None,
    ) -> IngestReport:
        """Ingest texts that are not files; ``TextRecord.path`` identifies each one."""
        return self.ingestor.ingest_texts(
            records, source=source, prune=prune, tags=tags, progress=progress
        )

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
        """Remove a source with all its documents and chunks (and their index entries)."""
        with self.db.write() as session:
            result = session.execute(delete(Source).where(Source.name == name))
            if not getattr(result, "rowcount", 0):
                raise NotFoundError(
                    f"no source named {name!r}", hint="`leitstand sources` lists the sources"
                )

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
    ) -> Answer:
        """Answer a question from the documents, with numbered sources."""
        return self.answers.ask(question, use_case=use_case, history=history, options=options)

    def ask_stream(
        self,
        question: str,
        *,
        use_case: str | None = None,
        history: Sequence[ChatMessage] = (),
        options: ChatOptions | None = None,
    ) -> Iterator[StreamEvent]:
        """Answer piece by piece: a ``sources`` event, ``delta`` events, then ``done``."""
        return self.answers.stream(question, use_case=use_case, history=history, options=options)

    def chunk(self, chunk_id: int) -> Hit:
        """One passage by id, e.g. to show the exact text a citation points at."""
        hit = self.retriever.chunk(chunk_id)
        if hit is None:
            raise NotFoundError(f"no chunk with id {chunk_id}")
        return hit

    # -- lifecycle -------------------------------------------------------------------

    def close(self) -> None:
        self.tracer.close()
        self.answers.close()
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
