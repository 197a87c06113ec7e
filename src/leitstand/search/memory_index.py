"""Lexical search from postings in memory, kept in step with the database (SQLite).

:class:`MemoryLexicalIndex` wraps the database's own lexical index (FTS5) and answers from an
:class:`~leitstand.search.impact.ImpactIndex` once that is built: the same BM25 scores, at a
fraction of the cost on large collections (``bench/scale.py``). Until then, and while it
catches up with more new chunks than it takes on during a search, FTS5 answers, so results
are never stale.

Keeping up: before every search it reads two numbers in the search's own snapshot, the
highest chunk id and the highest ``chunk_deletions.seq`` (both O(log n)). Chunk ids are never
reused and SQLite has one writer, so chunks above the last id it saw are exactly the new
ones, and log entries above the last seq exactly the deleted ones. Deleted chunks are masked
at once; up to :data:`INLINE_CHUNKS` new chunks become a new segment on the spot, more are
turned into one in a background thread. Many segments are merged; many deleted or new
chunks lead to a rebuild in the background. The postings always come from the chunks'
stored analysed text, so nothing here needs a file or a migration of its own.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Literal

import numpy as np
from sqlalchemy import Connection, text
from sqlalchemy.orm import Session

from leitstand.search._filtered import filtered_search
from leitstand.search.base import LexicalIndex, LexicalWeights, ScoredChunk, SearchFilters
from leitstand.search.impact import Bm25, ImpactIndex, Row, Segment, build_segment
from leitstand.store.database import Database

log = logging.getLogger(__name__)

AUTO_MIN_CHUNKS = 20_000
"""``memory_index: auto`` builds the postings once a collection has this many chunks."""
INLINE_CHUNKS = 2_000
"""New chunks turned into a segment during a search; more are built in the background."""
MAX_SEGMENTS = 8
"""More segments than this: the newer ones are merged into one."""
REBUILD_SHARE = 0.25
"""Rebuild when this share of the held chunks is deleted, or sits in newer segments."""

_STATE = text(
    "SELECT (SELECT coalesce(max(id), 0) FROM chunks), "
    "(SELECT coalesce(max(seq), 0) FROM chunk_deletions)"
)
_COUNT = text("SELECT count(*) FROM chunks")
_ROWS_SQL = "SELECT id, analysed, analysed_context FROM chunks WHERE id > ? AND id <= ? ORDER BY id"
_COUNT_ROWS = text("SELECT count(*) FROM chunks WHERE id > :after AND id <= :upto")
_DELETED = text("SELECT chunk_id FROM chunk_deletions WHERE seq > :after AND seq <= :upto")

State = tuple[int, int]
"""(highest chunk id, highest deletion seq) that the postings reflect."""
Job = Literal["build", "delta"]


class MemoryLexicalIndex(LexicalIndex):
    """FTS5 until the postings are in memory, then the postings (see the module doc)."""

    dialect = "sqlite"

    def __init__(
        self,
        db: Database,
        fallback: LexicalIndex,
        weights: LexicalWeights | None = None,
        *,
        mode: Literal["auto", "on"] = "auto",
        min_chunks: int = AUTO_MIN_CHUNKS,
        inline_chunks: int = INLINE_CHUNKS,
    ) -> None:
        self.db = db
        self.fallback = fallback
        self.weights = weights or LexicalWeights()
        self.mode = mode
        self.min_chunks = min_chunks
        self.inline_chunks = inline_chunks
        self.builds = 0
        """Full builds so far (for tests and logs)."""
        self.build_s = 0.0
        """How long the last full build took."""
        self._bm25 = Bm25(self.weights.k1, self.weights.b, self.weights.context_weight)
        self._impact: ImpactIndex | None = None
        self._state: State = (0, 0)
        self._lock = threading.RLock()
        self._worker: threading.Thread | None = None
        self._job: Job | None = None
        self._running: Job | None = None
        self._counted_at: State | None = None
        self._closed = False

    @property
    def ready(self) -> bool:
        """Whether postings are in memory (searches may still fall back while they catch up)."""
        return self._impact is not None

    def nbytes(self) -> int:
        impact = self._impact
        return impact.nbytes() if impact is not None else 0

    # -- searching ------------------------------------------------------------------------

    def search(
        self,
        session: Session | Connection,
        terms: Sequence[str],
        *,
        limit: int,
        filters: SearchFilters | None = None,
    ) -> list[ScoredChunk]:
        usable = [term for term in terms if term and '"' not in term]
        if not usable or limit <= 0:
            return []
        with self._lock:
            impact = self._current(session)
            if impact is not None:
                return self._search(impact, usable, limit, filters)
        return self.fallback.search(session, terms, limit=limit, filters=filters)

    def _search(
        self, impact: ImpactIndex, terms: list[str], limit: int, filters: SearchFilters | None
    ) -> list[ScoredChunk]:
        def best(count: int, allowed: list[int] | None = None) -> list[ScoredChunk]:
            ids = None if allowed is None else np.asarray(allowed, dtype=np.int64)
            found = impact.search(terms, limit=count, bm25=self._bm25, allowed=ids)
            pairs = zip(found.chunk_ids.tolist(), found.scores.tolist(), strict=True)
            return [ScoredChunk(chunk_id, score) for chunk_id, score in pairs]

        if not filters:
            return best(limit)
        return filtered_search(
            self.db,
            limit=limit,
            filters=filters,
            size=impact.chunks,
            nearest=best,
            exact=lambda ids: best(limit, ids),
        )

    # -- keeping up -----------------------------------------------------------------------

    def _current(self, session: Session | Connection) -> ImpactIndex | None:
        """The postings brought up to the caller's snapshot; None when FTS5 must answer."""
        if self._closed:
            return None
        state = _state(session)
        impact = self._impact
        if impact is None:
            if self.mode == "on":
                self._adopt(_build(session, state))
                return self._impact
            if self._enough(session, state):
                self._in_background("build")
            return None
        last_id, last_seq = self._state
        if state[1] > last_seq:
            gone = session.execute(_DELETED, {"after": last_seq, "upto": state[1]}).scalars()
            impact.delete(int(chunk_id) for chunk_id in gone)
            self._state = (last_id, state[1])
        if state[0] > last_id:
            new = _count(session, last_id, state[0])
            if new > self.inline_chunks:
                self._in_background("delta")
                return None
            if new:
                impact.add(_segment(session, last_id, state[0]))
            self._state = (state[0], self._state[1])
        self._tidy(impact)
        return impact

    def _enough(self, session: Session | Connection, state: State) -> bool:
        """Whether the collection has ``min_chunks``; counted again only after a change."""
        if state[0] < self.min_chunks:  # there cannot be more chunks than ids
            return False
        if state == self._counted_at:
            return False
        self._counted_at = state
        return int(session.execute(_COUNT).scalar_one()) >= self.min_chunks

    def _tidy(self, impact: ImpactIndex) -> None:
        """Merge newer segments now, or rebuild in the background when much is stale."""
        held = sum(segment.size for segment in impact.segments)
        newer = held - impact.segments[0].size
        if impact.dead_share() > REBUILD_SHARE or newer > REBUILD_SHARE * held:
            self._in_background("build")
        elif len(impact.segments) > MAX_SEGMENTS:
            impact.merge_newer()

    # -- in the background ----------------------------------------------------------------

    def _in_background(self, job: Job) -> None:
        """Run ``job`` in a thread; a full build also covers a delta. A job asked for while
        the same one runs is not queued again: the next search asks again if still behind."""
        if self._closed:
            return
        busy = self._worker is not None and self._worker.is_alive()
        if busy and self._running in (job, "build"):
            return
        if self._job != "build":
            self._job = job
        if busy:
            return
        self._worker = threading.Thread(
            target=self._work, name="leitstand-lexical-memory", daemon=True
        )
        self._worker.start()

    def _work(self) -> None:
        while not self._closed:
            with self._lock:
                job, self._job = self._job, None
                self._running = job
                last_id = self._state[0]
            if job is None:
                return
            try:
                with self.db.read() as session:
                    state = _state(session)
                    if job == "build":
                        built = _build(session, state, stop=self._stopped)
                    else:
                        segment = _segment(session, last_id, state[0], stop=self._stopped)
            except _StoppedError:
                return
            except Exception:
                log.exception("building the in-memory lexical index failed; FTS5 answers")
                return
            with self._lock:
                if self._closed:
                    return
                if job == "build":
                    self._adopt(built)
                elif self._impact is not None and self._state[0] == last_id:
                    if segment.size:
                        self._impact.add(segment)
                    # Deletions after the snapshot may hit the new segment: apply them again.
                    self._state = (state[0], min(self._state[1], state[1]))

    def _stopped(self) -> bool:
        return self._closed

    def _adopt(self, built: tuple[ImpactIndex, State, float]) -> None:
        impact, state, seconds = built
        self._impact, self._state = impact, state
        self.builds += 1
        self.build_s = seconds
        log.info(
            "lexical postings in memory: %d chunks, %.0f MB, built in %.1f s",
            impact.chunks,
            impact.nbytes() / 1e6,
            seconds,
        )

    def start(self) -> None:
        """Catch up now: build in the background if the collection is large enough (what a
        server does at start, so that its first questions need not wait for FTS5)."""
        with self.db.read() as session, self._lock:
            self._current(session)

    def wait(self, timeout_s: float | None = None) -> bool:
        """Build now if nothing is built (whatever the collection's size), and wait until
        searches are answered from memory with no background work left: for the server's
        start, benchmarks and tests. True when that is so within ``timeout_s``."""
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        while not self._closed:
            with self.db.read() as session, self._lock:
                current = self._current(session)
                if current is None and self._impact is None:
                    self._in_background("build")
                worker = self._worker
                busy = worker is not None and worker.is_alive()
                if current is not None and not busy and self._job is None:
                    return True
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                return False
            if worker is not None:
                worker.join(remaining)
        return False

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._impact = None
            worker = self._worker
        if worker is not None:
            worker.join(timeout=10)


def _state(session: Session | Connection) -> State:
    row = session.execute(_STATE).one()
    return int(row[0]), int(row[1])


def _count(session: Session | Connection, after: int, upto: int) -> int:
    return int(session.execute(_COUNT_ROWS, {"after": after, "upto": upto}).scalar_one())


class _StoppedError(Exception):
    """The index was closed while it was being built."""


def _segment(
    session: Session | Connection,
    after: int,
    upto: int,
    *,
    stop: Callable[[], bool] | None = None,
) -> Segment:
    connection = session.connection() if isinstance(session, Session) else session
    # Straight from the driver's cursor, a batch at a time: no row objects kept around.
    result = connection.exec_driver_sql(_ROWS_SQL, (after, upto))

    def read() -> Iterator[Row]:
        while batch := result.fetchmany(5_000):
            if stop is not None and stop():
                raise _StoppedError
            yield from batch

    return build_segment(read())


def _build(
    session: Session | Connection, state: State, *, stop: Callable[[], bool] | None = None
) -> tuple[ImpactIndex, State, float]:
    """The postings of every chunk in the session's snapshot (which ``state`` describes)."""
    started = time.perf_counter()
    impact = ImpactIndex()
    impact.add(_segment(session, 0, state[0], stop=stop))
    _give_back_memory()
    return impact, state, time.perf_counter() - started


def _give_back_memory() -> None:
    """Return the build's scratch memory to the system (glibc keeps freed memory otherwise;
    elsewhere this does nothing)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)
