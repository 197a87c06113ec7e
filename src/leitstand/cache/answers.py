"""Exact and semantic answer caches, scoped per use case, tenant, prompt version and model.

**Exact**: a request is found again by the SHA-256 of its normalised messages (Unicode NFC,
whitespace collapsed and trimmed; case is kept, since "US" and "us" or "Arm" and "arm" are
other questions) together with the use case, tenant, prompt hash and model.

**Semantic**: the last user question is compared by cosine with the questions cached in
its scope: the same use case, tenant, prompt hash and model, the same embedder, and the same
earlier messages. A single-turn request (one user message, optionally after a system
message) thus meets the cached single-turn questions with the identical system message; a
conversation meets only those whose earlier turns match exactly, and only its last question
is compared. A hit needs ``cosine >= semantic_threshold`` *and* the near-miss guard of
:mod:`leitstand.cache.facts` (same numbers, negations, names, dates; not one changed slot).
Candidates above the threshold are tried best first, up to ``max_candidates``.

The vectors of a scope are kept in memory (a float32 matrix, brute-force dot products:
about 0.1 ms per 1,000 entries), loaded from the database on the first lookup, topped up
with newer rows every ``refresh_s`` seconds (so other processes' entries appear within that
time) and compared with the database as a whole every ``resync_s``. The database stays the
truth: a candidate is read back and checked before it is served.

**Invalidation**: an entry is dead when it expired (``ttl_s``), when one of the chunks it was
answered from no longer exists (re-ingesting a changed document or deleting a source gives
its passages new ids), or when its prompt hash is not the use case's current one (the hash
is part of the scope, so such entries are never found; the first :meth:`AnswerCache.store`
of a process under a new prompt hash deletes them). Dead entries a lookup meets are deleted.
:meth:`AnswerCache.purge_chunks`, :meth:`AnswerCache.sweep` and :meth:`AnswerCache.clear`
delete on request.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
import unicodedata
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from leitstand.cache.facts import Facts, conflict, read_facts
from leitstand.config.settings import CacheSettings
from leitstand.embeddings.base import Embedder
from leitstand.store.database import Database
from leitstand.store.models import CacheEntry, Chunk

Message = tuple[str, str]
"""(role, text) of one chat message."""

_BATCH = 500
_VECTOR_MEMO = 1024
_HIT_FLUSH_S = 30.0


@dataclass(frozen=True)
class CacheHit:
    """A cached answer served for a request; trace ``kind`` and ``similarity``."""

    kind: Literal["exact", "semantic"]
    similarity: float
    """Cosine of the two questions; 1.0 for an exact hit."""
    response: dict[str, Any]
    entry_id: int
    question: str
    """The cached question the answer was given to."""
    created_at: datetime


def normalise(text: str) -> str:
    """Unicode NFC, whitespace runs collapsed to one space, trimmed; case is kept."""
    return " ".join(unicodedata.normalize("NFC", text).split())


def _digest(*parts: Any) -> str:
    payload = json.dumps(parts, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class _Request:
    """What of a request the cache keys on."""

    use_case: str
    tenant: str
    prompt_hash: str
    model: str
    context: tuple[Message, ...]
    """The normalised messages before the question."""
    question: str

    @classmethod
    def of(
        cls, use_case: str, tenant: str, prompt_hash: str, model: str, messages: Sequence[Message]
    ) -> _Request | None:
        """None when the request cannot be cached: no messages, or the last is no user's."""
        if not messages or messages[-1][0] != "user":
            return None
        normalised = tuple((role, normalise(text)) for role, text in messages)
        if not normalised[-1][1]:
            return None
        return cls(use_case, tenant, prompt_hash, model, normalised[:-1], normalised[-1][1])

    @property
    def key_hash(self) -> str:
        messages = [[role, text] for role, text in (*self.context, ("user", self.question))]
        return _digest("exact", self.use_case, self.tenant, self.prompt_hash, self.model, messages)

    def scope_hash(self, embedder: str) -> str:
        context = [[role, text] for role, text in self.context]
        return _digest(
            "semantic", self.use_case, self.tenant, self.prompt_hash, self.model, embedder, context
        )


@dataclass
class _Scope:
    """The semantic entries of one scope in memory: ids, unit vectors, lazily read facts."""

    dimensions: int
    ids: list[int] = field(default_factory=list)
    questions: list[str] = field(default_factory=list)
    facts: list[Facts | None] = field(default_factory=list)
    matrix: npt.NDArray[np.float32] = field(init=False)
    known: set[int] = field(default_factory=set)
    size: int = 0
    max_id: int = 0
    checked_at: float = float("-inf")
    synced_at: float = float("-inf")

    def __post_init__(self) -> None:
        self.matrix = np.zeros((64, self.dimensions), dtype=np.float32)

    def add(self, entry_id: int, vector: npt.NDArray[np.float32], question: str) -> None:
        if self.size == len(self.matrix):
            grown = np.zeros((2 * len(self.matrix), self.dimensions), dtype=np.float32)
            grown[: self.size] = self.matrix[: self.size]
            self.matrix = grown
        self.matrix[self.size] = vector
        self.ids.append(entry_id)
        self.questions.append(question)
        self.facts.append(None)
        self.known.add(entry_id)
        self.size += 1
        self.max_id = max(self.max_id, entry_id)

    def drop(self, entry_id: int) -> None:
        """Forget an entry; its row is zeroed (cosine 0), compacted when half are gone."""
        if entry_id not in self.known:
            return
        self.known.discard(entry_id)
        for row, known in enumerate(self.ids):
            if known == entry_id:
                self.matrix[row] = 0.0
                self.ids[row] = -1
        dropped = self.ids.count(-1)
        if dropped * 2 > self.size:
            keep = [row for row, known in enumerate(self.ids) if known != -1]
            self.matrix[: len(keep)] = self.matrix[keep]
            self.matrix[len(keep) : self.size] = 0.0
            self.ids = [self.ids[row] for row in keep]
            self.questions = [self.questions[row] for row in keep]
            self.facts = [self.facts[row] for row in keep]
            self.size = len(keep)

    def candidates(
        self, vector: npt.NDArray[np.float32], threshold: float, limit: int
    ) -> list[tuple[int, float]]:
        """(row, cosine) of the best ``limit`` rows at or above the threshold, best first."""
        if not self.size:
            return []
        similarities = self.matrix[: self.size] @ vector
        rows = np.flatnonzero(similarities >= threshold)
        if len(rows) > limit:
            rows = rows[np.argpartition(-similarities[rows], limit - 1)[:limit]]
        ordered = rows[np.argsort(-similarities[rows], kind="stable")]
        return [(int(row), float(similarities[row])) for row in ordered]

    def facts_of(self, row: int) -> Facts:
        found = self.facts[row]
        if found is None:
            found = self.facts[row] = read_facts(self.questions[row])
        return found


class AnswerCache:
    """Cached answers of one leitstand database, looked up before a model is asked.

    ``embedder`` is needed for the semantic cache only (without one, a use case's
    ``semantic_threshold`` is ignored). ``clock`` gives seconds since the epoch.
    """

    def __init__(
        self,
        db: Database,
        embedder: Embedder | None,
        *,
        clock: Callable[[], float] = time.time,
        refresh_s: float = 1.0,
        resync_s: float = 60.0,
        max_candidates: int = 5,
        query_vector: Callable[[str], npt.NDArray[np.float32]] | None = None,
    ) -> None:
        self.db = db
        self.embedder = embedder
        self.query_vector = query_vector
        """The embedder's vector of a question, when someone else remembers them too (dense
        retrieval asks for the same question right after the lookup: one embedding then
        serves both)."""
        self.clock = clock
        self.refresh_s = refresh_s
        self.resync_s = resync_s
        self.max_candidates = max_candidates
        self._lock = threading.RLock()
        self._scopes: dict[str, _Scope] = {}
        self._vectors: OrderedDict[str, npt.NDArray[np.float32]] = OrderedDict()
        self._pending_hits: dict[int, int] = {}
        self._flushed_at = clock()
        self._swept_prompts: set[tuple[str, str]] = set()

    # -- lookup --------------------------------------------------------------------------

    def lookup(
        self,
        *,
        use_case: str,
        tenant: str,
        prompt_hash: str,
        model: str,
        messages: Sequence[Message],
        settings: CacheSettings,
    ) -> CacheHit | None:
        """The cached answer for a request, exact first, then semantic; None on a miss."""
        request = _Request.of(use_case, tenant, prompt_hash, model, messages)
        if request is None:
            return None
        hit = None
        if settings.exact:
            hit = self._exact(request)
        if hit is None and self._semantic_on(settings):
            assert settings.semantic_threshold is not None
            hit = self._semantic(request, settings.semantic_threshold)
        if hit is not None:
            self._count_hit(hit.entry_id)
        return hit

    def _semantic_on(self, settings: CacheSettings) -> bool:
        return settings.semantic_threshold is not None and self.embedder is not None

    def _exact(self, request: _Request) -> CacheHit | None:
        now = self.clock()
        dead: list[int] = []
        hit = None
        with self.db.read() as session:
            rows = session.scalars(
                select(CacheEntry)
                .where(CacheEntry.key_hash == request.key_hash)
                .order_by(CacheEntry.id.desc())
            ).all()
            for row in rows:
                if self._alive(session, row, now):
                    hit = _hit("exact", 1.0, row)
                    break
                dead.append(row.id)
        self._delete(dead)
        return hit

    def _semantic(self, request: _Request, threshold: float) -> CacheHit | None:
        assert self.embedder is not None
        scope_hash = request.scope_hash(self.embedder.name)
        vector = self._vector(request.question)
        facts = read_facts(request.question)
        now = self.clock()
        with self._lock:
            scope = self._scope(scope_hash, now)
            found = scope.candidates(vector, threshold, self.max_candidates)
            candidates = [
                (scope.ids[row], scope.questions[row], similarity)
                for row, similarity in found
                if scope.ids[row] != -1 and conflict(facts, scope.facts_of(row)) is None
            ]
        dead: list[int] = []
        stale: list[int] = []
        hit = None
        if candidates:
            with self.db.read() as session:
                for entry_id, question, similarity in candidates:
                    row = session.get(CacheEntry, entry_id)
                    if row is None or row.scope_hash != scope_hash or row.question != question:
                        stale.append(entry_id)  # deleted, or its id taken by another entry
                    elif self._alive(session, row, now):
                        hit = _hit("semantic", similarity, row)
                        break
                    else:
                        dead.append(entry_id)
        self._forget(stale, scope_hash)
        self._delete(dead, scope_hash)
        return hit

    def _alive(self, session: Session, row: CacheEntry, now: float) -> bool:
        if row.expires_at is not None and row.expires_at.timestamp() <= now:
            return False
        wanted = {int(chunk) for chunk in row.chunk_ids or []}
        if not wanted:
            return True
        present = session.scalar(
            select(func.count()).select_from(Chunk).where(Chunk.id.in_(sorted(wanted)))
        )
        return present == len(wanted)

    def _scope(self, scope_hash: str, now: float) -> _Scope:
        """The scope's entries in memory, brought up to date when due (under the lock).

        Every ``refresh_s`` the rows newer than the newest known are read; every
        ``resync_s`` the ids are compared as a whole, which also finds rows that other
        processes deleted, or committed out of id order (PostgreSQL sequences)."""
        assert self.embedder is not None
        scope = self._scopes.get(scope_hash)
        if scope is None:
            scope = self._scopes[scope_hash] = _Scope(self.embedder.dimensions)
        if now - scope.synced_at >= self.resync_s:
            self._resync(scope, scope_hash)
            scope.synced_at = scope.checked_at = now
        elif now - scope.checked_at >= self.refresh_s:
            self._load(scope, CacheEntry.scope_hash == scope_hash, CacheEntry.id > scope.max_id)
            scope.checked_at = now
        return scope

    def _resync(self, scope: _Scope, scope_hash: str) -> None:
        if not scope.size:
            self._load(scope, CacheEntry.scope_hash == scope_hash)
            return
        with self.db.read() as session:
            stored = set(
                session.scalars(
                    select(CacheEntry.id).where(
                        CacheEntry.scope_hash == scope_hash, CacheEntry.kind == "semantic"
                    )
                )
            )
        known = set(scope.ids) - {-1}
        for gone in known - stored:
            scope.drop(gone)
        missing = sorted(stored - known)
        for start in range(0, len(missing), _BATCH):
            self._load(scope, CacheEntry.id.in_(missing[start : start + _BATCH]))

    def _load(self, scope: _Scope, *conditions: Any) -> None:
        with self.db.read() as session:
            rows = session.execute(
                select(CacheEntry.id, CacheEntry.vector, CacheEntry.question)
                .where(CacheEntry.kind == "semantic", *conditions)
                .order_by(CacheEntry.id)
            ).all()
        for entry_id, blob, question in rows:
            vector = np.frombuffer(blob or b"", dtype="<f4")
            if vector.shape == (scope.dimensions,) and entry_id not in scope.known:
                scope.add(entry_id, vector, question)

    def _vector(self, question: str) -> npt.NDArray[np.float32]:
        """The question's unit vector, remembered for the store that follows a miss."""
        assert self.embedder is not None
        if self.query_vector is not None:
            return np.asarray(self.query_vector(question), dtype=np.float32)
        with self._lock:
            known = self._vectors.get(question)
            if known is not None:
                self._vectors.move_to_end(question)
                return known
        vector = np.asarray(self.embedder.embed([question], "query")[0], dtype=np.float32)
        with self._lock:
            self._vectors[question] = vector
            while len(self._vectors) > _VECTOR_MEMO:
                self._vectors.popitem(last=False)
        return vector

    # -- store ---------------------------------------------------------------------------

    def store(
        self,
        *,
        use_case: str,
        tenant: str,
        prompt_hash: str,
        model: str,
        messages: Sequence[Message],
        settings: CacheSettings,
        response: dict[str, Any],
        chunk_ids: Iterable[int] = (),
    ) -> int | None:
        """Cache an answer; its id, or None when the use case caches nothing or the request
        cannot be cached. ``chunk_ids`` are the passages the answer was given from."""
        request = _Request.of(use_case, tenant, prompt_hash, model, messages)
        semantic = self._semantic_on(settings)
        if request is None or not (settings.exact or semantic):
            return None
        vector = self._vector(request.question) if semantic else None
        scope_hash = request.scope_hash(self.embedder.name if semantic and self.embedder else "")
        now = self.clock()
        with self.db.write() as session:
            self._sweep_prompt(session, use_case, prompt_hash)
            replaced = list(
                session.scalars(
                    select(CacheEntry.id).where(CacheEntry.key_hash == request.key_hash)
                )
            )
            if replaced:
                session.execute(delete(CacheEntry).where(CacheEntry.id.in_(replaced)))
            entry = CacheEntry(
                kind="semantic" if vector is not None else "exact",
                key_hash=request.key_hash,
                scope_hash=scope_hash,
                use_case=use_case,
                tenant=tenant,
                prompt_hash=prompt_hash,
                model=model,
                question=request.question,
                vector=vector.astype("<f4").tobytes() if vector is not None else None,
                response=response,
                chunk_ids=sorted({int(chunk) for chunk in chunk_ids}),
                created_at=datetime.fromtimestamp(now, UTC),
                expires_at=datetime.fromtimestamp(now + settings.ttl_s, UTC),
                hits=0,
            )
            session.add(entry)
            session.flush()
            entry_id = entry.id
            self._write_hits(session)
        with self._lock:
            scope = self._scopes.get(scope_hash)
            if scope is not None:
                for old in replaced:
                    scope.drop(old)
                if vector is not None:
                    scope.add(entry_id, vector, request.question)
        return entry_id

    def _sweep_prompt(self, session: Session, use_case: str, prompt_hash: str) -> None:
        """Once per process and prompt version: delete the use case's entries of others."""
        if (use_case, prompt_hash) in self._swept_prompts:
            return
        session.execute(
            delete(CacheEntry).where(
                CacheEntry.use_case == use_case, CacheEntry.prompt_hash != prompt_hash
            )
        )
        self._swept_prompts.add((use_case, prompt_hash))

    # -- hits ----------------------------------------------------------------------------

    def _count_hit(self, entry_id: int) -> None:
        """Hits are counted in memory and written with the next store, or every 30 s."""
        with self._lock:
            self._pending_hits[entry_id] = self._pending_hits.get(entry_id, 0) + 1
            due = self.clock() - self._flushed_at >= _HIT_FLUSH_S
        if due:
            self.flush()

    def flush(self) -> None:
        """Write the counted hits to ``cache_entries.hits``."""
        with self._lock:
            if not self._pending_hits:
                self._flushed_at = self.clock()
                return
        with self.db.write() as session:
            self._write_hits(session)

    def _write_hits(self, session: Session) -> None:
        with self._lock:
            pending, self._pending_hits = self._pending_hits, {}
            self._flushed_at = self.clock()
        for entry_id, count in pending.items():
            session.execute(
                update(CacheEntry)
                .where(CacheEntry.id == entry_id)
                .values(hits=CacheEntry.hits + count)
            )

    # -- deleting ------------------------------------------------------------------------

    def _delete(self, ids: Sequence[int], scope_hash: str | None = None) -> None:
        if not ids:
            return
        with self.db.write() as session:
            session.execute(delete(CacheEntry).where(CacheEntry.id.in_(list(ids))))
        self._forget(ids, scope_hash)

    def _forget(self, ids: Iterable[int], scope_hash: str | None = None) -> None:
        with self._lock:
            scopes = (
                [self._scopes[scope_hash]]
                if scope_hash in self._scopes
                else list(self._scopes.values())
            )
            for entry_id in ids:
                for scope in scopes:
                    scope.drop(entry_id)

    def purge_chunks(self, chunk_ids: Iterable[int]) -> int:
        """Delete the entries answered from any of these chunks; how many."""
        wanted = {int(chunk) for chunk in chunk_ids}
        if not wanted:
            return 0
        with self.db.write() as session:
            rows = session.execute(select(CacheEntry.id, CacheEntry.chunk_ids)).all()
            doomed = [entry_id for entry_id, chunks in rows if wanted & set(chunks or [])]
            for start in range(0, len(doomed), _BATCH):
                batch = doomed[start : start + _BATCH]
                session.execute(delete(CacheEntry).where(CacheEntry.id.in_(batch)))
        self._forget(doomed)
        return len(doomed)

    def sweep(self) -> int:
        """Delete expired entries and those whose chunks are gone; how many."""
        now = self.clock()
        with self.db.write() as session:
            rows = session.execute(
                select(CacheEntry.id, CacheEntry.chunk_ids, CacheEntry.expires_at)
            ).all()
            cited = sorted({int(chunk) for _, chunks, _ in rows for chunk in chunks or []})
            present: set[int] = set()
            for start in range(0, len(cited), _BATCH):
                batch = cited[start : start + _BATCH]
                present.update(session.scalars(select(Chunk.id).where(Chunk.id.in_(batch))))
            doomed = [
                entry_id
                for entry_id, chunks, expires_at in rows
                if _epoch(expires_at) <= now or not set(chunks or []) <= present
            ]
            for start in range(0, len(doomed), _BATCH):
                batch = doomed[start : start + _BATCH]
                session.execute(delete(CacheEntry).where(CacheEntry.id.in_(batch)))
        self._forget(doomed)
        return len(doomed)

    def clear(self, use_case: str | None = None, tenant: str | None = None) -> int:
        """Delete every entry, or those of one use case and/or tenant; how many."""
        statement = delete(CacheEntry)
        if use_case is not None:
            statement = statement.where(CacheEntry.use_case == use_case)
        if tenant is not None:
            statement = statement.where(CacheEntry.tenant == tenant)
        with self.db.write() as session:
            deleted = int(getattr(session.execute(statement), "rowcount", 0) or 0)
        with self._lock:
            self._scopes.clear()
        return deleted

    def close(self) -> None:
        """Write the counted hits."""
        self.flush()


def _hit(kind: Literal["exact", "semantic"], similarity: float, row: CacheEntry) -> CacheHit:
    return CacheHit(
        kind=kind,
        similarity=round(similarity, 4),
        response=dict(row.response),
        entry_id=row.id,
        question=row.question,
        created_at=row.created_at,
    )


def _epoch(moment: datetime | None) -> float:
    return moment.timestamp() if moment is not None else float("inf")
