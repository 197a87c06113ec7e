"""Dense retrieval for one leitstand: embedding runs, the serving model, erasure.

``Leitstand`` holds one :class:`EmbeddingService` when an embedder is configured. After an
ingestion it embeds the new chunks; the server runs :meth:`EmbeddingService.start_background`
so that a newly configured model is embedded while the last complete one keeps serving;
``leitstand embed`` runs the same passes in the foreground.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from leitstand.config.settings import EmbeddingSettings
from leitstand.embeddings import catalog
from leitstand.embeddings.base import Embedder, Vectors
from leitstand.embeddings.cache import drop_model as drop_cached
from leitstand.embeddings.jobs import EmbedProgressCallback, EmbedReport, embed_pending, register
from leitstand.embeddings.registry import embedder_from_stored, stored_settings
from leitstand.errors import LeitstandError
from leitstand.search.dense import ServingDense, vector_index_for
from leitstand.store.database import Database

if TYPE_CHECKING:
    from leitstand.ingest.pipeline import IngestReport

log = logging.getLogger(__name__)

BACKGROUND_INTERVAL_S = 30.0
"""How often the server's background pass looks for chunks without vectors."""


@dataclass(frozen=True)
class ModelStatus:
    """One embedding model in the database, for ``leitstand embed status``."""

    name: str
    dimensions: int
    vectors: int
    chunks: int
    complete: bool
    configured: bool
    serving: bool
    created_at: datetime
    completed_at: datetime | None

    @property
    def coverage(self) -> float:
        return self.vectors / self.chunks if self.chunks else 1.0


def model_status(db: Database, configured: str | None, serving: str | None) -> list[ModelStatus]:
    """Every recorded model with its coverage of the chunks."""
    with db.read() as session:
        connection = session.connection()
        chunks = catalog.chunk_count(connection)
        return [
            ModelStatus(
                name=record.name,
                dimensions=record.dimensions,
                vectors=catalog.vector_count(connection, record.name),
                chunks=chunks,
                complete=record.complete,
                configured=record.name == configured,
                serving=record.name == serving,
                created_at=record.created_at,
                completed_at=record.completed_at,
            )
            for record in catalog.list_models(connection)
        ]


def refresh_vector_files(db: Database, folder: Path) -> int:
    """Bring the HNSW files of an SQLite database up to date (none on PostgreSQL)."""
    if not db.is_sqlite:
        return 0
    from leitstand.search.vectors.usearch_index import purge_vector_files

    return purge_vector_files(db, folder)


class EmbeddingService:
    """The configured embedder, its embedding runs and the dense search that serves."""

    def __init__(
        self, db: Database, settings: EmbeddingSettings, embedder: Embedder, folder: Path
    ) -> None:
        self.db = db
        self.settings = settings
        self.embedder = embedder
        self.folder = folder
        self.dense = ServingDense(
            db,
            embedder,
            index_for=lambda name, dimensions: vector_index_for(db, name, dimensions, folder),
            embedder_for=lambda record: embedder_from_stored(record.settings or {}, settings),
            languages=settings.languages,
        )
        self.background_passes = 0
        """Completed background passes (tests wait for the first)."""
        self._stored = stored_settings(settings)
        self._run_lock = threading.Lock()
        self._stop = threading.Event()
        self._pass_done = threading.Condition()
        self._thread: threading.Thread | None = None

    def query_vector(self, text: str) -> Vectors:
        """The configured model's vector of a question, remembered with dense search's."""
        retriever = self.dense.retriever(self.embedder.name)
        if retriever is not None:
            return retriever.embed_query(text)
        return np.asarray(self.embedder.embed([text], "query")[0], dtype=np.float32)

    def embed(
        self,
        *,
        progress: EmbedProgressCallback | None = None,
        stop: threading.Event | None = None,
    ) -> list[EmbedReport]:
        """Embed every chunk without a vector: for the configured model and, while another
        model serves, for that one too (so it stays complete); then update the indexes."""
        with self._run_lock:
            register(self.db, self.embedder, self._stored)
            reports = [embed_pending(self.db, self.embedder, progress=progress, stop=stop)]
            self.dense.refresh()
            serving = self.dense.serving
            if serving is not None and serving != self.embedder.name:
                old = self.dense.retriever(serving)
                if old is not None:
                    reports.append(
                        embed_pending(self.db, old.embedder, progress=progress, stop=stop)
                    )
            if any(report.embedded or report.cached for report in reports):
                self.refresh_indexes()
            self.dense.refresh()
            return reports

    def refresh_indexes(self) -> None:
        """Write the loaded HNSW graphs and update the other files (SQLite only)."""
        if not self.db.is_sqlite:
            return
        from leitstand.search.vectors.usearch_index import UsearchVectorIndex

        for index in self.dense.indexes():
            if isinstance(index, UsearchVectorIndex):
                index.refresh()
        refresh_vector_files(self.db, self.folder)

    def warm(self) -> None:
        """Load the model and the serving index now rather than at the first question."""
        self.embedder.embed(["warm-up"], "query")
        serving = self.dense.serving
        found = self.dense.retriever(serving) if serving is not None else None
        if found is not None:
            found.index.search(found.embed_query("warm-up"), limit=1)

    def status(self) -> list[ModelStatus]:
        return model_status(self.db, self.embedder.name, self.dense.serving)

    def drop(self, name: str) -> None:
        """Delete a model's vectors, cache entries and index."""
        with self.db.write() as session:
            connection = session.connection()
            if catalog.get_model(connection, name) is None:
                raise LeitstandError(
                    f"no embedding model named {name!r}",
                    hint="`leitstand embed status` lists the models",
                )
            catalog.delete_model(connection, name)
            drop_cached(connection, name)
            if not self.db.is_sqlite:
                from leitstand.search.vectors.pgvector_index import drop_model_index

                drop_model_index(connection, name)
        self.dense.refresh()
        refresh_vector_files(self.db, self.folder)

    # -- in the background ---------------------------------------------------------------

    def start_background(self, interval_s: float = BACKGROUND_INTERVAL_S) -> threading.Thread:
        """Embed in a thread: at once, then every ``interval_s`` (chunks another process
        ingested without embedding them). Searches keep using the last complete model."""
        if self._thread is None or not self._thread.is_alive():
            self._stop.clear()
            self._thread = threading.Thread(
                target=self._background, args=(interval_s,), name="leitstand-embed", daemon=True
            )
            self._thread.start()
        return self._thread

    def wait_for_pass(self, passes: int = 1, timeout_s: float | None = None) -> bool:
        """Block until ``passes`` background passes are done (for tests and start-up)."""
        with self._pass_done:
            return self._pass_done.wait_for(lambda: self.background_passes >= passes, timeout_s)

    def _background(self, interval_s: float) -> None:
        try:
            self.warm()
        except Exception:  # the pass below reports the same problem
            log.debug("warming the embedding model failed", exc_info=True)
        while not self._stop.is_set():
            try:
                for report in self.embed(stop=self._stop):
                    if report.embedded or report.cached:
                        log.info("embedded %s", report.summary())
            except Exception as exc:
                log.warning("background embedding failed: %s", exc)
            with self._pass_done:
                self.background_passes += 1
                self._pass_done.notify_all()
            if self._stop.wait(interval_s):
                break

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=60)
            self._thread = None
        self.dense.close()
        self.embedder.close()


def open_embeddings(
    settings: EmbeddingSettings,
    db: Database,
    data_dir: Path,
    resolve_path: Callable[[Path], Path] = Path.resolve,
) -> EmbeddingService | None:
    """The embedding service the settings ask for, or None when dense retrieval is off.

    ``auto`` on a PostgreSQL without pgvector is off, with a log line; an explicit provider
    there fails when vectors are first written, saying how to install pgvector.
    """
    model = Path(settings.model).expanduser()
    if not model.is_absolute() and (resolved := resolve_path(model)).is_dir():
        settings = settings.model_copy(update={"model": str(resolved)})
    if settings.provider == "auto" and not db.is_sqlite:
        from leitstand.search.vectors.pgvector_index import pgvector_available

        with db.read() as session:
            if not pgvector_available(session.connection()):
                log.warning("dense retrieval is off: this PostgreSQL has no pgvector extension")
                return None
    from leitstand.embeddings.registry import embedder_from_settings

    embedder = embedder_from_settings(settings)
    if embedder is None:
        return None
    return EmbeddingService(db, settings, embedder, data_dir / "vectors")


def finish_ingest(
    db: Database,
    service: EmbeddingService | None,
    report: IngestReport,
    data_dir: Path,
    progress: EmbedProgressCallback | None = None,
) -> None:
    """After an ingestion run: embed the new chunks, forget cached vectors of texts that are
    gone, and bring the HNSW files up to date. A failing embedder leaves a warning in the
    report (the documents are in, lexical search works; `leitstand embed run` finishes)."""
    from leitstand.embeddings.cache import sweep_unused
    from leitstand.ingest.pipeline import FileProblem

    if service is not None:
        try:
            service.embed(progress=progress)
        except LeitstandError as exc:
            log.warning("embedding after ingestion failed: %s", exc)
            later = "`leitstand embed run` embeds them once the model answers"
            report.warnings.append(
                FileProblem(
                    "(embeddings)",
                    f"the new chunks were not embedded: {exc.message}",
                    f"{exc.hint}; {later}" if exc.hint else later,
                )
            )
    if report.updated or report.removed:
        with db.write() as session:
            sweep_unused(session.connection())
        if service is not None:
            service.refresh_indexes()
        else:
            refresh_vector_files(db, data_dir / "vectors")
