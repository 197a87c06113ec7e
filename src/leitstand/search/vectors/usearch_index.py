"""Nearest neighbours on SQLite: an HNSW graph (usearch) in a file next to the database.

The vectors in ``chunk_vectors`` are the truth; the file ``<data_dir>/vectors/<model>.hnsw``
is derived from them and carries a header saying how far it got: the model (name,
dimensions, when its row was created), the highest ``chunk_vectors`` rowid and the highest
``vector_deletions`` seq it includes, and a checksum.

Keeping up (:meth:`UsearchVectorIndex.sync`, at most once a second during searches, so a
server sees what a CLI ingestion wrote): two O(log n) lookups (the highest rowid, the
highest deletion seq) say whether anything changed. If so, deletions since the seq are
removed and rows above the rowid added; after any deletion the model's vector count is
compared with the graph's, which also catches an SQLite rowid that was reused. Missing,
corrupt or foreign files (another database, a re-created model) are rebuilt from the
database, as is a graph with many deleted slots. Files are written to a temporary name and
renamed, so a reader never sees half a file.

Erasure: usearch keeps a removed vector's bytes in its free slot, so after removals every
free slot is overwritten with zeros before the graph is searched or written; a deleted
chunk's vector never survives in the file (see :func:`purge_vector_files`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import threading
import time
import uuid
import zlib
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
from sqlalchemy import Connection, text

from leitstand.embeddings.base import Vectors
from leitstand.search._filtered import filtered_search
from leitstand.search.base import ScoredChunk, SearchFilters
from leitstand.search.vectors.base import VectorIndex
from leitstand.store.database import Database

if TYPE_CHECKING:
    from usearch.index import Index

log = logging.getLogger(__name__)

MAGIC = b"LEITSTAND-HNSW\n"
FORMAT = 1
SUFFIX = ".hnsw"
EXACT_BELOW = 20_000
"""Indexes with at most this many vectors are searched exactly rather than through HNSW."""
COMPACT_SHARE = 0.25
"""Rebuild when this share of the graph's slots are deleted ones."""
_SCRUB_KEY = np.uint64(1 << 63)  # keys of the zero vectors that overwrite free slots

_STATE = text(
    "SELECT (SELECT coalesce(max(seq), 0) FROM vector_deletions), "
    "(SELECT coalesce(max(rowid), 0) FROM chunk_vectors), "
    "(SELECT dimensions FROM embedding_models WHERE name = :model), "
    "(SELECT created_at FROM embedding_models WHERE name = :model)"
)
# "+model" keeps SQLite on the rowid range instead of the (model, chunk_id) index.
_ADDED = text(
    "SELECT rowid, chunk_id, vector FROM chunk_vectors WHERE +model = :model AND rowid > :rowid"
)
_DELETED = text(
    "SELECT DISTINCT chunk_id FROM vector_deletions WHERE model = :model AND seq > :seq"
)
_ALL = text("SELECT chunk_id, vector FROM chunk_vectors WHERE model = :model")
_IDS = text("SELECT chunk_id FROM chunk_vectors WHERE model = :model")
_COUNT = text("SELECT count(*) FROM chunk_vectors WHERE model = :model")


@dataclass(frozen=True)
class FileHeader:
    """What an index file contains, written before the usearch bytes."""

    model: str
    dimensions: int
    model_created: str
    last_rowid: int
    last_seq: int
    count: int
    crc32: int
    format: int = FORMAT


def file_name(model: str) -> str:
    """A file name for a model name (which may contain slashes, colons, anything)."""
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", model).strip("-.")[:80] or "model"
    return f"{slug}-{hashlib.sha256(model.encode()).hexdigest()[:10]}{SUFFIX}"


def read_header(path: Path) -> FileHeader | None:
    """The header of an index file, or None when it is not one (or cannot be read)."""
    try:
        with path.open("rb") as handle:
            if handle.read(len(MAGIC)) != MAGIC:
                return None
            size = int.from_bytes(handle.read(4), "little")
            data = json.loads(handle.read(size))
        header = FileHeader(**data)
    except (OSError, ValueError, TypeError):
        return None
    return header if header.format == FORMAT else None


def _new_index(dimensions: int) -> Index:
    from usearch.index import Index

    return Index(ndim=dimensions, metric="ip", dtype="f32")


def _matrix(blobs: list[bytes], dimensions: int) -> Vectors:
    data = np.frombuffer(b"".join(blobs), dtype="<f4")
    return data.reshape(len(blobs), dimensions).astype(np.float32, copy=False)


class UsearchVectorIndex(VectorIndex):
    """An HNSW file per model, kept in step with ``chunk_vectors`` (see the module doc)."""

    dialect: ClassVar[str] = "sqlite"

    def __init__(
        self,
        db: Database,
        model: str,
        dimensions: int,
        folder: Path,
        *,
        check_interval_s: float = 1.0,
    ) -> None:
        self.db = db
        self.model = model
        self.dimensions = dimensions
        self.path = Path(folder) / file_name(model)
        self.check_interval_s = check_interval_s
        self.rebuilds = 0
        """How often the graph was built from the database (for tests and logs)."""
        self._lock = threading.RLock()
        self._index: Index | None = None
        self._header: FileHeader | None = None
        self._seen: tuple[Any, ...] | None = None
        self._checked_at = -1e9
        self._rebuilding = False
        self._unsaved = False

    @property
    def size(self) -> int:
        return len(self._index) if self._index is not None else 0

    # -- searching ------------------------------------------------------------------------

    def search(
        self, query: Vectors, *, limit: int, filters: SearchFilters | None = None
    ) -> list[ScoredChunk]:
        vector = np.ascontiguousarray(np.asarray(query, dtype=np.float32).reshape(-1))
        if self._index is None and self._rebuilding:
            return []  # first build under way in another thread: lexical serves meanwhile
        with self._lock:
            if time.monotonic() - self._checked_at >= self.check_interval_s:
                self.sync()
            index = self._index
            if index is None or len(index) == 0 or limit <= 0:
                return []
            if not filters:
                return self._nearest(index, vector, limit)
            return filtered_search(
                self.db,
                limit=limit,
                filters=filters,
                size=len(index),
                nearest=lambda count: self._nearest(index, vector, count),
                exact=lambda ids: self._exact(index, vector, ids, limit),
            )

    @staticmethod
    def _nearest(index: Index, vector: Vectors, count: int) -> list[ScoredChunk]:
        # Small graphs are searched exhaustively: a few milliseconds at most, and the same
        # neighbours however the (randomised) graph was built.
        matches = index.search(vector, count, exact=len(index) <= EXACT_BELOW)
        return [
            ScoredChunk(int(key), 1.0 - float(distance))
            for key, distance in zip(matches.keys, matches.distances, strict=True)
        ]

    @staticmethod
    def _exact(index: Index, vector: Vectors, ids: list[int], limit: int) -> list[ScoredChunk]:
        if not ids:
            return []
        keys = np.asarray(ids, dtype=np.uint64)
        found: Any = index.get(keys)
        if isinstance(found, np.ndarray) and found.ndim == 1:
            found = (found,)
        rows = [
            (int(key), row) for key, row in zip(keys, found or (), strict=False) if row is not None
        ]
        if not rows:
            return []
        scores = np.vstack([row for _, row in rows]) @ vector
        order = np.argsort(-scores, kind="stable")[:limit]
        return [ScoredChunk(rows[i][0], float(scores[i])) for i in order]

    # -- keeping up -----------------------------------------------------------------------

    def sync(self, *, force: bool = False) -> None:
        """Bring the graph up to date with the database (load, rebuild or apply changes)."""
        with self._lock:
            self._checked_at = time.monotonic()
            with self.db.read() as session:
                connection = session.connection()
                state = tuple(connection.execute(_STATE, {"model": self.model}).one())
                if state == self._seen and self._index is not None and not force:
                    return
                max_seq, max_rowid, dimensions, created = state
                if dimensions is None:  # no such model (yet, or dropped)
                    self._index, self._header, self._seen = None, None, state
                    return
                created_key = str(created)
                if self._index is None:
                    self._load(created_key, int(max_seq), int(max_rowid))
                if self._index is None or self._header is None:
                    self._rebuild(connection, state)
                    return
                self._apply(connection, int(max_seq), int(max_rowid))
                self._seen = state

    def _load(self, created: str, max_seq: int, max_rowid: int) -> None:
        header = read_header(self.path)
        if header is None:
            if self.path.exists():
                log.warning("vector index %s is unreadable; rebuilding it", self.path)
            return
        if (
            header.model != self.model
            or header.dimensions != self.dimensions
            or header.model_created != created
            or header.last_seq > max_seq
            or header.last_rowid > max_rowid
        ):
            log.info("vector index %s belongs to other data; rebuilding it", self.path)
            return
        try:
            data = self.path.read_bytes()
            start = len(MAGIC) + 4 + int.from_bytes(data[len(MAGIC) : len(MAGIC) + 4], "little")
            payload = memoryview(data)[start:]
            if zlib.crc32(payload) != header.crc32:
                raise ValueError("checksum mismatch")
            from usearch.index import Index

            index = Index.restore(bytearray(payload))
            if index is None or len(index) != header.count or index.ndim != self.dimensions:
                raise ValueError("contents do not match the header")
        except (OSError, ValueError, RuntimeError) as exc:
            log.warning("vector index %s is damaged (%s); rebuilding it", self.path, exc)
            return
        self._index, self._header = index, header

    def _rebuild(self, connection: Connection, state: tuple[Any, ...]) -> None:
        """Build the graph from every vector of the model (in the caller's snapshot)."""
        max_seq, max_rowid, _, created = state
        self._rebuilding = True
        try:
            rows = connection.execute(_ALL, {"model": self.model}).all()
            index = _new_index(self.dimensions)
            if rows:
                keys = np.fromiter((row[0] for row in rows), dtype=np.uint64, count=len(rows))
                index.add(keys, _matrix([bytes(row[1]) for row in rows], self.dimensions))
        finally:
            self._rebuilding = False
        self._index = index
        self._header = FileHeader(self.model, self.dimensions, str(created), 0, 0, 0, 0)
        self._mark(int(max_seq), int(max_rowid))
        self._seen = state
        self.rebuilds += 1
        self._write()

    def _apply(self, connection: Connection, max_seq: int, max_rowid: int) -> None:
        """Apply the deletions and additions since the header's watermarks."""
        index, header = self._index, self._header
        assert index is not None
        assert header is not None
        removed = 0
        if max_seq > header.last_seq:
            gone = connection.execute(_DELETED, {"model": self.model, "seq": header.last_seq})
            removed += self._remove(index, [int(row[0]) for row in gone])
        if max_rowid > header.last_rowid:
            added = connection.execute(
                _ADDED, {"model": self.model, "rowid": header.last_rowid}
            ).all()
            removed += self._add(index, [(int(r[1]), bytes(r[2])) for r in added])
        if max_seq > header.last_seq:
            count = int(connection.execute(_COUNT, {"model": self.model}).scalar_one())
            if count != len(index):
                removed += self._reconcile(connection, index)
        self._mark(max_seq, max_rowid)
        if removed:
            slots = index.stats.nodes
            if slots > 1000 and (slots - len(index)) > COMPACT_SHARE * slots:
                self._rebuild(
                    connection, (max_seq, max_rowid, self.dimensions, header.model_created)
                )
                return
            self._scrub(index)

    def _remove(self, index: Index, ids: list[int]) -> int:
        if not ids:
            return 0
        keys = np.asarray(ids, dtype=np.uint64)
        present = keys[np.asarray(index.contains(keys), dtype=bool)]
        if len(present):
            index.remove(present)
            self._unsaved = True
        return len(present)

    def _add(self, index: Index, rows: list[tuple[int, bytes]]) -> int:
        if not rows:
            return 0
        replaced = self._remove(index, [chunk_id for chunk_id, _ in rows])
        keys = np.asarray([chunk_id for chunk_id, _ in rows], dtype=np.uint64)
        index.add(keys, _matrix([blob for _, blob in rows], self.dimensions))
        self._unsaved = True
        return replaced

    def _reconcile(self, connection: Connection, index: Index) -> int:
        """Make the graph hold exactly the model's vectors (after a rowid was reused)."""
        stored = {int(row[0]) for row in connection.execute(_IDS, {"model": self.model})}
        held = {int(key) for key in np.asarray(index.keys)}
        removed = self._remove(index, sorted(held - stored))
        missing = sorted(stored - held)
        if missing:
            rows = connection.execute(
                text(
                    "SELECT chunk_id, vector FROM chunk_vectors WHERE model = :model "
                    "AND chunk_id IN (SELECT value FROM json_each(:ids))"
                ),
                {"model": self.model, "ids": json.dumps(missing)},
            ).all()
            self._add(index, [(int(r[0]), bytes(r[1])) for r in rows])
        return removed

    def _scrub(self, index: Index) -> None:
        """Overwrite every free slot (a removed vector's bytes) with zeros."""
        free = int(index.stats.nodes) - len(index)
        if free <= 0:
            return
        keys = _SCRUB_KEY + np.arange(free, dtype=np.uint64)
        index.add(keys, np.zeros((free, self.dimensions), dtype=np.float32))
        index.remove(keys)

    def _mark(self, max_seq: int, max_rowid: int) -> None:
        assert self._header is not None
        assert self._index is not None
        self._header = FileHeader(
            **{
                **asdict(self._header),
                "last_seq": max_seq,
                "last_rowid": max_rowid,
                "count": len(self._index),
            }
        )

    # -- the file -------------------------------------------------------------------------

    def save(self) -> bool:
        """Write the file if the graph changed since it was loaded or written."""
        with self._lock:
            if not self._unsaved or self._index is None:
                return False
            self._write()
            return True

    def refresh(self) -> bool:
        """Catch up with the database now and write the file if anything changed (after an
        ingestion or deletion; searches never write)."""
        with self._lock:
            self.sync(force=True)
            return self.save()

    def _write(self) -> None:
        assert self._index is not None
        assert self._header is not None
        payload = self._index.save()
        assert payload is not None
        header = FileHeader(
            **{**asdict(self._header), "crc32": zlib.crc32(payload), "count": len(self._index)}
        )
        encoded = json.dumps(asdict(header)).encode()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_name(f".{self.path.name}.{os.getpid()}.{uuid.uuid4().hex}.tmp")
        try:
            with temporary.open("wb") as handle:
                handle.write(MAGIC + len(encoded).to_bytes(4, "little") + encoded)
                handle.write(payload)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temporary, self.path)
        finally:
            temporary.unlink(missing_ok=True)
        self._header = header
        self._unsaved = False

    def close(self) -> None:
        with self._lock:
            self._index = None
            self._seen = None


def purge_vector_files(db: Database, folder: Path) -> int:
    """Rewrite every index file in ``folder`` that still holds vectors the database deleted
    (and remove files of models that no longer exist); returns the files touched.

    Runs after a source is deleted or documents are replaced, in whichever process did it,
    whether or not that process uses dense retrieval itself.
    """
    touched = 0
    for path in sorted(Path(folder).glob(f"*{SUFFIX}")) if Path(folder).is_dir() else []:
        header = read_header(path)
        if header is None or file_name(header.model) != path.name:
            continue
        with db.read() as session:
            connection = session.connection()
            exists = connection.execute(
                text("SELECT 1 FROM embedding_models WHERE name = :model"), {"model": header.model}
            ).first()
            stale = connection.execute(
                _DELETED.bindparams(model=header.model, seq=header.last_seq)
            ).first()
        if exists is None:
            path.unlink(missing_ok=True)
            touched += 1
        elif stale is not None:
            index = UsearchVectorIndex(db, header.model, header.dimensions, Path(folder))
            index.refresh()
            index.close()
            touched += 1
    return touched
