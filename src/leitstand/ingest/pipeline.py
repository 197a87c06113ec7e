"""The ingestion corridor: walk → compare → load → chunk → analyse → write, file by file.

Incremental: a file whose size and modification time match what is stored is not even read;
a file whose bytes hash to the stored content hash costs one read. Changed files replace
their chunks in the same transaction that updates the document, so a reader sees the old
version or the new one, never a mix. Files are written in batches; a crash (even kill -9)
loses at most the batch in flight, which the next run redoes.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import hashlib
import os
import queue
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from pathlib import Path
from typing import Any, cast

from sqlalchemy import Connection, Table, bindparam, delete, insert, select, update

from leitstand.config.settings import IngestSettings
from leitstand.errors import IngestFileError, LeitstandError, PiiRefusedError
from leitstand.guard.injection.scan import ChunkScanner
from leitstand.guard.pii import PiiDetector
from leitstand.ingest.duplicates import DuplicateMarker
from leitstand.ingest.loaders.registry import LoaderRegistry
from leitstand.ingest.loaders.text import TextLoader
from leitstand.ingest.parse import ParsedFile, ParseOptions, parse_file
from leitstand.ingest.workers import POOL_MIN_FILES, FileProcessor, ParseOutcome, ParseTask
from leitstand.search.analyser import Analyser
from leitstand.store.database import Database
from leitstand.store.models import Chunk, Document, DocumentTag, Source, utcnow
from leitstand.text.language import LanguageDetector
from leitstand.trace.recorder import ActiveTrace, Tracer

BATCH_CHUNKS = 2000
_DOCUMENTS = cast(Table, Document.__table__)
_CHUNKS = cast(Table, Chunk.__table__)
_TAGS = cast(Table, DocumentTag.__table__)
_HIGHEST_CHUNK = "SELECT coalesce(max(id), 0) FROM chunks"
_INDEX_NEW_CHUNKS = (
    "INSERT INTO chunks_fts(rowid, analysed, analysed_context) "
    "SELECT id, analysed, analysed_context FROM chunks WHERE id > ?"
)
_CHUNK_COLUMNS = tuple(column.name for column in _CHUNKS.columns if column.name != "id")
BATCH_SECONDS = 1.0


@dataclass
class FileProblem:
    path: str
    message: str
    hint: str | None = None

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" + (f" ({self.hint})" if self.hint else "")


@dataclass
class IngestProgress:
    """Reported after every file: how far the run is and what happened to the file."""

    total: int
    done: int
    path: str
    status: str


@dataclass
class QuarantinedChunk:
    """A chunk that was not indexed because it carries instructions to an AI."""

    path: str
    ordinal: int
    start_char: int
    end_char: int
    page: int | None
    score: float
    rules: list[str]
    excerpt: str

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class IngestReport:
    """What an ingestion run did, file by file."""

    source: str
    root: str
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    vanished: list[str] = field(default_factory=list)
    failed: list[FileProblem] = field(default_factory=list)
    warnings: list[FileProblem] = field(default_factory=list)
    quarantined: list[QuarantinedChunk] = field(default_factory=list)
    """Chunks kept out of the index: they carry instructions to an AI."""
    refused: list[FileProblem] = field(default_factory=list)
    """Documents not indexed: they carry personal data their collection refuses."""
    masked: Counter[str] = field(default_factory=Counter)
    """Personal data overwritten before indexing, per class (``ingest.pii``: mask)."""
    unsupported: Counter[str] = field(default_factory=Counter)
    chunks_written: int = 0
    duplicates: int = 0
    """Chunks written that repeat an earlier chunk of the source (``chunks.duplicate_of``)."""
    duration_s: float = 0.0
    trace_id: str | None = None

    @property
    def changed(self) -> int:
        return len(self.added) + len(self.updated) + len(self.removed)

    def summary(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "added": len(self.added),
            "updated": len(self.updated),
            "unchanged": len(self.unchanged),
            "removed": len(self.removed),
            "vanished": len(self.vanished),
            "failed": len(self.failed),
            "warnings": len(self.warnings),
            "quarantined": len(self.quarantined),
            "refused": len(self.refused),
            "masked": sum(self.masked.values()),
            "unsupported": sum(self.unsupported.values()),
            "chunks_written": self.chunks_written,
            "duplicates": self.duplicates,
            "duration_s": round(self.duration_s, 3),
        }


ProgressCallback = Callable[[IngestProgress], None]


@dataclass(frozen=True)
class TextRecord:
    """A text to ingest without a file: ``path`` names it within its source."""

    path: str
    text: str
    title: str | None = None
    uri: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class _Stored:
    id: int
    size: int
    mtime_ns: int
    content_hash: str
    pipeline_hash: str


@dataclass
class _Candidate:
    path: Path
    rel: str
    size: int
    mtime_ns: int


class _BatchWriter:
    """Collects parsed files and writes them in transactions of a few thousand chunks.

    Writing happens in a thread of its own, so the next files are parsed while a batch goes
    into the database (SQLite and PostgreSQL release the GIL while they work). At most two
    batches wait; ``close()`` writes the rest and re-raises a write error.
    """

    def __init__(
        self,
        ingestor: Ingestor,
        source_id: int,
        stored: dict[str, _Stored],
        tags: list[str],
        report: IngestReport,
        duplicates: DuplicateMarker,
    ) -> None:
        self.ingestor = ingestor
        self.source_id = source_id
        self.stored = stored
        self.tags = tags
        self.report = report
        self.duplicates = duplicates
        self.batch: list[ParsedFile] = []
        self.refused: list[str] = []
        """Stored documents whose new version was refused (removed after the run)."""
        self.touched: list[tuple[int, int]] = []
        self.chunks = 0
        self.last_write = time.monotonic()
        self.write_ms = 0.0
        self._queue: queue.Queue[tuple[list[ParsedFile], list[tuple[int, int]]] | None] = (
            queue.Queue(maxsize=2)
        )
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="leitstand-ingest-writer")
        self._thread.start()

    def add(self, outcome: ParseOutcome) -> str:
        rel = outcome.task.rel
        known = self.stored.get(rel)
        if outcome.status == "failed":
            self.report.failed.append(FileProblem(rel, outcome.message, outcome.hint))
            return "failed"
        if outcome.status == "refused":
            self.report.refused.append(FileProblem(rel, outcome.message, outcome.hint))
            if known is not None:
                self.refused.append(rel)
            return "refused"
        if outcome.status == "unchanged":
            assert known is not None
            self.touched.append((known.id, outcome.task.mtime_ns))
            self.report.unchanged.append(rel)
            status = "unchanged"
        else:
            assert outcome.parsed is not None
            self.report.warnings.extend(FileProblem(rel, w) for w in outcome.parsed.warnings)
            self.report.quarantined.extend(
                QuarantinedChunk(rel, **q) for q in outcome.parsed.quarantined
            )
            self.report.masked.update(outcome.parsed.masked)
            self.batch.append(outcome.parsed)
            self.chunks += len(outcome.parsed.chunks)
            (self.report.updated if known else self.report.added).append(rel)
            status = "updated" if known else "added"
        if self.chunks >= BATCH_CHUNKS or time.monotonic() - self.last_write > BATCH_SECONDS:
            self.flush()
        return status

    def flush(self) -> None:
        """Hand the collected files to the writer thread."""
        if self._error is not None:
            raise self._error
        if self.batch or self.touched:
            self._queue.put((self.batch, self.touched))
        self.batch, self.touched, self.chunks = [], [], 0
        self.last_write = time.monotonic()

    def close(self) -> None:
        """Write what is left and wait for the writer; raises its error, if it had one."""
        try:
            self.flush()
        finally:
            self._queue.put(None)
            self._thread.join()
        if self._error is not None:
            raise self._error

    def _run(self) -> None:
        while (item := self._queue.get()) is not None:
            if self._error is not None:
                continue  # drain; the error is raised in the parsing thread
            batch, touched = item
            try:
                self.write_ms += self.ingestor._flush(
                    self.source_id, batch, touched, self.tags, self.report, self.duplicates
                )
            except BaseException as exc:
                self._error = exc


class Ingestor:
    """Ingests folders or files into one source of the database."""

    def __init__(
        self,
        db: Database,
        settings: IngestSettings,
        analyser: Analyser,
        detector: LanguageDetector,
        tracer: Tracer,
        loaders: LoaderRegistry | None = None,
    ) -> None:
        self.db = db
        self.settings = settings
        self.analyser = analyser
        self.detector = detector
        self.tracer = tracer
        self.loaders = loaders or LoaderRegistry()
        self.options = ParseOptions(
            chunk_chars=settings.chunk_chars,
            overlap_sentences=settings.chunk_overlap_sentences,
            max_pages=settings.max_pages,
            timeout_s=settings.timeout_s,
            languages=analyser.languages,
            quarantine_injections=settings.quarantine_injections,
        )
        self._chunk_scanner: ChunkScanner | None = None
        self._pii_detector: PiiDetector | None = None

    def options_for(self, source: str) -> ParseOptions:
        """The parse options of one collection (its PII policy differs)."""
        policy = tuple(sorted(self.settings.pii_for(source).items()))
        return dataclasses.replace(self.options, pii=policy) if policy else self.options

    def _pii(self, options: ParseOptions) -> PiiDetector | None:
        """The PII detector of texts ingested in this process, when a policy needs one."""
        if not options.pii:
            return None
        if self._pii_detector is None:
            self._pii_detector = PiiDetector()
        return self._pii_detector

    def _scanner(self) -> ChunkScanner | None:
        """The chunk scanner of texts ingested in this process (files: in the workers)."""
        if not self.options.quarantine_injections:
            return None
        if self._chunk_scanner is None:
            self._chunk_scanner = ChunkScanner()
        return self._chunk_scanner

    # -- walking ---------------------------------------------------------------------

    def _excluded(self, rel: str) -> bool:
        return any(fnmatch.fnmatch(rel, pattern) for pattern in self.settings.exclude)

    def _walk(self, root: Path, report: IngestReport) -> list[_Candidate]:
        if root.is_file():
            files: Iterable[Path] = [root]
            base = root.parent
        else:
            base = root
            files = sorted(p for p in root.rglob("*") if p.is_file() or p.is_symlink())
        candidates = []
        for path in files:
            rel = path.relative_to(base).as_posix()
            if path is not root and self._excluded(rel):
                continue
            if self.loaders.for_path(path) is None:
                report.unsupported[path.suffix.lower() or "(no extension)"] += 1
                continue
            try:
                stat = path.stat()
            except OSError as exc:
                report.failed.append(FileProblem(rel, f"cannot be read ({exc.strerror})"))
                continue
            candidates.append(_Candidate(path, rel, stat.st_size, stat.st_mtime_ns))
        return candidates

    # -- the run -----------------------------------------------------------------------

    def ingest(
        self,
        path: str | os.PathLike[str],
        *,
        source: str | None = None,
        prune: bool = False,
        tags: Iterable[str] = (),
        progress: ProgressCallback | None = None,
    ) -> IngestReport:
        root = Path(path).expanduser().resolve()
        if not root.exists():
            raise LeitstandError(f"{path} does not exist", hint="give a folder or a file to ingest")
        name = source or (root.name if root.is_dir() else root.parent.name) or "default"
        report = IngestReport(source=name, root=str(root))
        started = time.perf_counter()
        trace = self.tracer.start("ingest", f"ingest {name}", root=str(root), prune=prune)
        report.trace_id = trace.id
        try:
            self._run(root, name, prune, list(tags), progress, report, trace)
        except BaseException as exc:
            trace.finish(error=exc)
            raise
        report.duration_s = time.perf_counter() - started
        trace.set(**report.summary(), failures=[str(p) for p in report.failed[:200]])
        trace.finish(status="ok" if not report.failed else "partial")
        return report

    def _run(
        self,
        root: Path,
        name: str,
        prune: bool,
        tags: list[str],
        progress: ProgressCallback | None,
        report: IngestReport,
        trace: ActiveTrace,
    ) -> None:
        with trace.span("scan") as span:
            candidates = self._walk(root, report)
            source_id, stored = self._prepare_source(name, root)
            span.set(files=len(candidates), stored=len(stored))
        seen = {candidate.rel for candidate in candidates}
        total = len(candidates)
        done = 0

        def advance(rel: str, status: str) -> None:
            nonlocal done
            done += 1
            if progress is not None:
                progress(IngestProgress(total=total, done=done, path=rel, status=status))

        options = self.options_for(name)
        tasks = []
        for candidate in candidates:
            task = self._task(candidate, stored, report, options)
            if task is None:
                advance(
                    candidate.rel, "unchanged" if candidate.rel in report.unchanged else "failed"
                )
            else:
                tasks.append(task)
        with trace.span("parse", files=len(tasks), workers=0) as span:
            processor = FileProcessor(options, self.settings.workers)
            duplicates = DuplicateMarker(source_id)
            writer = _BatchWriter(self, source_id, stored, tags, report, duplicates)
            try:
                for outcome in processor.run(tasks):
                    advance(outcome.task.rel, writer.add(outcome))
            finally:
                writer.close()
            if writer.refused:  # stored versions of refused documents go as well
                self._delete_documents(source_id, writer.refused)
                report.removed.extend(writer.refused)
            span.set(
                workers=processor.workers if len(tasks) >= POOL_MIN_FILES else 1,
                write_ms=round(writer.write_ms, 1),
            )
        vanished = [] if root.is_file() else sorted(set(stored) - seen)
        if prune and vanished:
            with trace.span("prune", documents=len(vanished)):
                self._delete_documents(source_id, vanished)
            report.removed.extend(vanished)
        else:
            report.vanished.extend(vanished)

    def _task(
        self,
        candidate: _Candidate,
        stored: dict[str, _Stored],
        report: IngestReport,
        options: ParseOptions,
    ) -> ParseTask | None:
        """The work a file needs, or None when it is unchanged or over a limit."""
        rel = candidate.rel
        known = stored.get(rel)
        loader = self.loaders.for_path(candidate.path)
        assert loader is not None
        current = known is not None and known.pipeline_hash == options.pipeline_hash(loader.name)
        if (
            known is not None
            and current
            and known.size == candidate.size
            and known.mtime_ns == candidate.mtime_ns
        ):
            report.unchanged.append(rel)
            return None
        max_bytes = int(self.settings.max_file_mb * 1024 * 1024)
        if candidate.size > max_bytes:
            report.failed.append(
                FileProblem(
                    rel,
                    f"is {candidate.size / 1048576:.1f} MB, over the limit of "
                    f"{self.settings.max_file_mb:g} MB",
                    "raise ingest.max_file_mb in leitstand.yaml or split the file",
                )
            )
            return None
        return ParseTask(
            path=str(candidate.path),
            rel=rel,
            mtime_ns=candidate.mtime_ns,
            known_hash=known.content_hash if known is not None else None,
            check_hash=current,
        )

    def ingest_texts(
        self,
        records: Iterable[TextRecord],
        *,
        source: str,
        prune: bool = False,
        tags: Iterable[str] = (),
        progress: ProgressCallback | None = None,
    ) -> IngestReport:
        """Ingest texts that do not live in files (a CRM export, a benchmark corpus).

        Each record's ``path`` identifies it within the source, as a file path would.
        """
        report = IngestReport(source=source, root="")
        started = time.perf_counter()
        trace = self.tracer.start("ingest", f"ingest {source}", prune=prune)
        report.trace_id = trace.id
        loader = TextLoader()
        options = self.options_for(source)
        refused: list[str] = []
        with trace.span("scan"):
            source_id, stored = self._prepare_source(source, None)
        batch: list[ParsedFile] = []
        seen: set[str] = set()
        items = list(records)
        duplicates = DuplicateMarker(source_id)
        with trace.span("parse", files=len(items)):
            for done, record in enumerate(items, start=1):
                seen.add(record.path)
                data = record.text.encode("utf-8")
                digest = hashlib.sha256(data).hexdigest()
                known = stored.get(record.path)
                status = "unchanged"
                if (
                    known is None
                    or known.content_hash != digest
                    or known.pipeline_hash != options.pipeline_hash(loader.name)
                ):
                    parsed, status = self._parse_text(record, data, digest, options, report)
                    if parsed is not None:
                        batch.append(parsed)
                        (report.updated if known else report.added).append(record.path)
                        status = "updated" if known else "added"
                    elif status == "refused" and known is not None:
                        refused.append(record.path)
                else:
                    report.unchanged.append(record.path)
                if sum(len(p.chunks) for p in batch) >= BATCH_CHUNKS:
                    self._flush(source_id, batch, [], list(tags), report, duplicates)
                    batch = []
                if progress is not None:
                    progress(IngestProgress(len(items), done, record.path, status))
            self._flush(source_id, batch, [], list(tags), report, duplicates)
        if refused:
            self._delete_documents(source_id, refused)
            report.removed.extend(refused)
        vanished = sorted(set(stored) - seen)
        if prune and vanished:
            self._delete_documents(source_id, vanished)
            report.removed.extend(vanished)
        else:
            report.vanished.extend(vanished)
        report.duration_s = time.perf_counter() - started
        trace.set(**report.summary())
        trace.finish(status="ok" if not report.failed else "partial")
        return report

    def _parse_text(
        self,
        record: TextRecord,
        data: bytes,
        digest: str,
        options: ParseOptions,
        report: IngestReport,
    ) -> tuple[ParsedFile | None, str]:
        """One text record parsed, or None and why not ("refused", "failed")."""
        try:
            parsed = parse_file(
                data=data,
                path=record.path,
                uri=record.uri or record.path,
                content_hash=digest,
                mtime_ns=0,
                loader=TextLoader(),
                analyser=self.analyser,
                detector=self.detector,
                options=options,
                scanner=self._scanner(),
                pii=self._pii(options),
            )
        except PiiRefusedError as exc:
            report.refused.append(FileProblem(record.path, exc.reason, exc.hint))
            return None, "refused"
        except IngestFileError as exc:
            report.failed.append(FileProblem(record.path, exc.reason, exc.hint))
            return None, "failed"
        report.quarantined.extend(QuarantinedChunk(record.path, **q) for q in parsed.quarantined)
        report.masked.update(parsed.masked)
        parsed.title = record.title or parsed.title
        parsed.metadata.update(record.metadata)
        if record.title:
            for chunk in parsed.chunks:
                chunk["analysed_context"] = self.analyser.analyse(
                    f"{record.title}\n{chunk['heading']}", parsed.language
                )
        return parsed, "parsed"

    # -- writing -----------------------------------------------------------------------

    def _prepare_source(self, name: str, root: Path | None) -> tuple[int, dict[str, _Stored]]:
        with self.db.write() as session:
            found = session.scalar(select(Source).where(Source.name == name))
            if found is None:
                found = Source(name=name, root=str(root) if root else None)
                session.add(found)
                session.flush()
            elif root is not None and found.root != str(root) and root.is_dir():
                found.root = str(root)
                found.updated_at = utcnow()
            rows = session.execute(
                select(
                    Document.path,
                    Document.id,
                    Document.size_bytes,
                    Document.mtime_ns,
                    Document.content_hash,
                    Document.pipeline_hash,
                ).where(Document.source_id == found.id)
            ).all()
            return found.id, {row[0]: _Stored(*row[1:]) for row in rows}

    def _flush(
        self,
        source_id: int,
        batch: list[ParsedFile],
        touched: list[tuple[int, int]],
        tags: list[str],
        report: IngestReport,
        duplicates: DuplicateMarker | None = None,
    ) -> float:
        """Write a batch of files in one transaction: documents, then all their chunks
        (marking those that repeat earlier chunks of the source, see ``duplicates.py``)."""
        if not batch and not touched:
            return 0.0
        started = time.perf_counter()
        with self.db.write() as session:
            connection = session.connection()
            for document_id, mtime_ns in touched:
                connection.execute(
                    update(_DOCUMENTS)
                    .where(_DOCUMENTS.c.id == document_id)
                    .values(mtime_ns=mtime_ns)
                )
            chunk_rows: list[dict[str, Any]] = []
            tag_rows: list[dict[str, Any]] = []
            documents: list[int] = []
            for parsed, document_id in zip(
                batch, self._upsert_documents(connection, source_id, batch), strict=True
            ):
                documents.append(document_id)
                chunk_rows.extend(parsed.chunk_rows(document_id))
                tag_rows.extend({"document_id": document_id, "tag": t} for t in sorted(set(tags)))
            if chunk_rows:
                if duplicates is None:
                    self._insert_chunks(connection, chunk_rows)
                else:
                    links = duplicates.before_insert(connection, chunk_rows, documents)
                    self._insert_chunks(connection, chunk_rows)
                    report.duplicates += duplicates.after_insert(connection, chunk_rows, links)
            if tag_rows:
                connection.execute(insert(_TAGS), tag_rows)
            report.chunks_written += len(chunk_rows)
        return (time.perf_counter() - started) * 1000

    def _insert_chunks(self, connection: Connection, rows: list[dict[str, Any]]) -> None:
        """The hot loop of ingestion: one executemany straight to the driver (chunk columns
        are plain numbers and strings, so SQLAlchemy's per-value processing is not needed).
        On SQLite the new chunks then go into FTS5 in one statement (migration 0006): ids
        are never reused, so they are exactly those above the highest id before."""
        columns = _CHUNK_COLUMNS
        marker = "?" if self.db.is_sqlite else "%s"
        # Column names come from our own table definition, never from input.
        statement = (
            f"INSERT INTO chunks ({', '.join(columns)}) "  # noqa: S608
            f"VALUES ({', '.join(marker for _ in columns)})"
        )
        values = [tuple(row.get(c) for c in columns) for row in rows]
        if not self.db.is_sqlite:
            connection.exec_driver_sql(statement, values)
            return
        before = connection.exec_driver_sql(_HIGHEST_CHUNK).scalar_one()
        connection.exec_driver_sql(statement, values)
        connection.exec_driver_sql(_INDEX_NEW_CHUNKS, (before,))

    def _upsert_documents(
        self, connection: Connection, source_id: int, batch: list[ParsedFile]
    ) -> list[int]:
        """Insert or update the batch's document rows (one statement for all, when their
        paths differ); an update also drops the document's old chunks and tags."""
        if not batch:
            return []
        now = utcnow()
        params = [self._document_row(source_id, parsed, now) for parsed in batch]
        # An upsert, decided inside the write transaction: another process may have written
        # the same file meanwhile. created_at is only set by an insert, which tells the two apart.
        if len({parsed.path for parsed in batch}) == len(batch):
            found = {row[2]: row for row in connection.execute(self._upsert, params)}
            rows = [found[parsed.path] for parsed in batch]
        else:  # the same path twice (texts given twice): one at a time, the last one wins
            rows = [connection.execute(self._upsert, row).one() for row in params]
        ids = [int(row[0]) for row in rows]
        replaced = sorted({int(row[0]) for row in rows if row[1] != now})
        for start in range(0, len(replaced), 500):
            chosen = replaced[start : start + 500]
            connection.execute(delete(_CHUNKS).where(_CHUNKS.c.document_id.in_(chosen)))
            connection.execute(delete(_TAGS).where(_TAGS.c.document_id.in_(chosen)))
        return ids

    @staticmethod
    def _document_row(source_id: int, parsed: ParsedFile, now: datetime) -> dict[str, Any]:
        return {
            "source_id": source_id,
            "path": parsed.path,
            "created_at": now,
            "uri": parsed.uri,
            "title": parsed.title,
            "kind": parsed.kind,
            "content_hash": parsed.content_hash,
            "pipeline_hash": parsed.pipeline_hash,
            "size_bytes": parsed.size_bytes,
            "mtime_ns": parsed.mtime_ns,
            "language": parsed.language,
            "page_count": parsed.page_count,
            "chunk_count": len(parsed.chunks),
            "text": parsed.text,
            "metadata": parsed.metadata,
            "updated_at": now,
        }

    @cached_property
    def _upsert(self) -> Any:
        """INSERT … ON CONFLICT (source_id, path) DO UPDATE … RETURNING id, created_at, path,
        built once."""
        dialect_insert: Any
        if self.db.is_sqlite:
            from sqlalchemy.dialects.sqlite import insert as dialect_insert
        else:
            from sqlalchemy.dialects.postgresql import insert as dialect_insert
        documents = _DOCUMENTS
        columns = [c.name for c in documents.columns if c.name != "id"]
        statement = dialect_insert(documents).values({name: bindparam(name) for name in columns})
        updated = [name for name in columns if name not in ("source_id", "path", "created_at")]
        return statement.on_conflict_do_update(
            index_elements=[documents.c.source_id, documents.c.path],
            set_={name: statement.excluded[name] for name in updated},
        ).returning(documents.c.id, documents.c.created_at, documents.c.path)

    def _delete_documents(self, source_id: int, paths: list[str]) -> None:
        with self.db.write() as session:
            for start in range(0, len(paths), 500):
                session.execute(
                    delete(Document).where(
                        Document.source_id == source_id,
                        Document.path.in_(paths[start : start + 500]),
                    )
                )
