"""BM25 term-at-a-time in numpy: FTS5's ``bm25()`` scores at nanoseconds per posting.

FTS5 scores every chunk that contains any query term, a few microseconds each (it reads the
chunk's column sizes and positions), and counts each term's chunks anew for its idf. At
100,000 chunks a question whose terms occur in a tenth of them costs tens of milliseconds.
This index holds the same postings in arrays: per term the chunks that contain it and how
often, in the body and in the title/heading context, and per chunk its length. A query
gathers its terms' postings, counts the live ones for the idf, computes every share with
FTS5's formula (see ``postgres_fts.py``) in one vectorised pass and sums them per chunk::

    score = sum over query terms t of  idf(t) * f * (k1 + 1) / (f + k1 * (1 - b + b * D / avgD))

The postings of a set of chunks form a :class:`Segment`, built once from the chunks' stored
analysed text (the database stays the only truth). Chunks written later become further
segments, deleted chunks are masked, and the statistics (chunks, average length, each term's
chunk count) are taken over live chunks only, so the scores are those of a fresh index. A
term is found by a 64-bit hash of its text in a sorted array, not in a dictionary of
millions of strings. Memory: about 6 bytes per (chunk, distinct term) pair.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

import numpy as np
import numpy.typing as npt

MAX_BODY = 65_535
MAX_CONTEXT = 255
"""Occurrences of a term in a chunk's body and in its title/heading are counted up to these
(uint16 and uint8; a heading that repeats a word 256 times is not a heading)."""

DENSE_SHARE = 16
"""Sum scores in an array over the whole segment when the postings are at least 1/16 of its
chunks; below, sort the postings instead."""

BUILD_BATCH = 5_000
"""Chunks whose tokens are numbered and counted in one vectorised pass."""

Ids = npt.NDArray[np.int64]
Floats = npt.NDArray[np.float64]
Row = tuple[int, str | None, str | None]
"""(chunk id, analysed body, analysed context) as stored in ``chunks``."""


_BASE = 0x100000001B3  # odd, so it has an inverse modulo 2**64
_INVERSE = pow(_BASE, -1, 1 << 64)
_MIX = (0xFF51AFD7ED558CCD, 0xC4CEB9FE1A85EC53)
SLICE_BYTES = 1 << 20
"""Analysed text hashed in one vectorised pass (bounds the memory of a batch)."""
_powers: list[npt.NDArray[np.uint64]] = []


def _powers_for(length: int) -> tuple[npt.NDArray[np.uint64], npt.NDArray[np.uint64]]:
    """Powers of the base and of its inverse modulo 2**64, at least ``length`` of each."""
    if not _powers or len(_powers[0]) < length:
        size = max(length, 1 << 16)
        powers = np.full(size, _BASE, dtype=np.uint64)
        powers[0] = 1
        inverse = np.full(size, _INVERSE, dtype=np.uint64)
        inverse[0] = 1
        _powers[:] = [np.cumprod(powers), np.cumprod(inverse)]
    return _powers[0], _powers[1]


def token_hashes(texts: Sequence[str]) -> tuple[npt.NDArray[np.uint64], Ids]:
    """The 64-bit hash of every space-separated token of every text (a polynomial hash of its
    UTF-8 bytes, mixed), and the number of the text it stands in; the same in every process."""
    hashes: list[npt.NDArray[np.uint64]] = []
    owners: list[Ids] = []
    start = 0
    while start < len(texts):
        end, size = start, 0
        while end < len(texts) and (end == start or size + len(texts[end]) < SLICE_BYTES):
            size += len(texts[end]) + 1
            end += 1
        found, owner = _slice_hashes(texts[start:end])
        hashes.append(found)
        owners.append(owner + start)
        start = end
    if not hashes:
        return np.zeros(0, dtype=np.uint64), np.zeros(0, dtype=np.int64)
    return np.concatenate(hashes), np.concatenate(owners)


def _slice_hashes(texts: Sequence[str]) -> tuple[npt.NDArray[np.uint64], Ids]:
    data = np.frombuffer(("\n".join(texts) + "\n").encode("utf-8"), dtype=np.uint8)
    gap = data <= 32  # terms are word characters: every byte up to 32 separates
    inside = ~gap
    previous = np.concatenate(([False], inside[:-1]))
    following = np.concatenate((inside[1:], [False]))
    starts = np.flatnonzero(inside & ~previous)
    ends = np.flatnonzero(inside & ~following) + 1
    powers, inverse = _powers_for(len(data) + 1)
    prefix = np.zeros(len(data) + 1, dtype=np.uint64)
    np.cumsum(data * powers[: len(data)], out=prefix[1:])
    hashed = (prefix[ends] - prefix[starts]) * inverse[starts]
    hashed ^= hashed >> np.uint64(33)
    hashed *= np.uint64(_MIX[0])
    hashed ^= hashed >> np.uint64(33)
    hashed *= np.uint64(_MIX[1])
    hashed ^= hashed >> np.uint64(33)
    owner = np.searchsorted(np.flatnonzero(data == 10), starts)
    return hashed, owner.astype(np.int64)


def term_hash(term: str) -> int:
    """The hash :func:`token_hashes` gives one analysed term."""
    found, _ = token_hashes([term])
    return int(found[0]) if len(found) else 0


@dataclass(frozen=True)
class Postings:
    """Per term (by ``hashes[i]``, ascending) the chunks ``docs[indptr[i]:indptr[i + 1]]``
    (local numbers, ascending) and how often the term occurs in each, in the body and in the
    context (title and heading path)."""

    hashes: npt.NDArray[np.uint64]
    indptr: Ids
    docs: npt.NDArray[np.int32]
    body: npt.NDArray[np.uint16]
    context: npt.NDArray[np.uint8]

    def nbytes(self) -> int:
        return sum(a.nbytes for a in (self.hashes, self.indptr, self.docs, self.body, self.context))

    def find(self, hashes: npt.NDArray[np.uint64]) -> list[tuple[int, int]]:
        """For each query hash, the range of its postings (empty when absent)."""
        if not len(self.hashes):
            return [(0, 0)] * len(hashes)
        found = np.minimum(np.searchsorted(self.hashes, hashes), len(self.hashes) - 1)
        present = self.hashes[found] == hashes
        starts, ends = self.indptr[found], self.indptr[found + 1]
        return [
            (int(start), int(end)) if hit else (0, 0)
            for start, end, hit in zip(
                starts.tolist(), ends.tolist(), present.tolist(), strict=True
            )
        ]


@dataclass(frozen=True)
class Segment:
    """The postings of a set of chunks, read-only. ``chunk_ids`` are ascending; a chunk's
    position in them is its local number. ``lengths`` are its analysed terms, body and
    context together (FTS5's document length)."""

    chunk_ids: Ids
    lengths: npt.NDArray[np.float32]
    postings: Postings

    @property
    def size(self) -> int:
        return len(self.chunk_ids)

    def nbytes(self) -> int:
        return self.chunk_ids.nbytes + self.lengths.nbytes + self.postings.nbytes()

    def local(self, chunk_ids: Ids) -> Ids:
        """The local numbers of those of ``chunk_ids`` that are in this segment."""
        if not self.size or not len(chunk_ids):
            return np.zeros(0, dtype=np.int64)
        position = np.minimum(np.searchsorted(self.chunk_ids, chunk_ids), self.size - 1)
        found: Ids = position[self.chunk_ids[position] == chunk_ids]
        return found


def build_segment(rows: Iterable[Row]) -> Segment:
    """A segment from ``(chunk id, analysed body, analysed context)`` rows in id order.

    Vectorised per batch of chunks: every token is hashed at once (:func:`token_hashes`),
    and (term, chunk) pairs are counted by sorting; the batches' postings are then merged.
    """
    ids: list[Ids] = []
    lengths: list[Ids] = []
    parts: list[Postings] = []
    done = 0
    batch: list[Row] = []

    def flush() -> None:
        nonlocal done
        ids.append(np.fromiter((row[0] for row in batch), dtype=np.int64, count=len(batch)))
        body, body_docs = token_hashes([row[1] or "" for row in batch])
        context, context_docs = token_hashes([row[2] or "" for row in batch])
        lengths.append(
            np.bincount(body_docs, minlength=len(batch))
            + np.bincount(context_docs, minlength=len(batch))
        )
        parts.append(_count_pairs(body, body_docs + done, context, context_docs + done))
        done += len(batch)
        batch.clear()

    for row in rows:
        batch.append(row)
        if len(batch) >= BUILD_BATCH:
            flush()
    if batch or not ids:
        flush()
    return Segment(
        chunk_ids=np.concatenate(ids),
        lengths=np.concatenate(lengths).astype(np.float32),
        postings=parts[0] if len(parts) == 1 else _concatenate(parts),
    )


def _count_pairs(
    body: npt.NDArray[np.uint64], body_docs: Ids, context: npt.NDArray[np.uint64], context_docs: Ids
) -> Postings:
    """Postings from every token's (hash, doc): distinct pairs, counted per field."""
    hashes = np.concatenate([body, context])
    docs = np.concatenate([body_docs, context_docs]).astype(np.int32)
    in_context = np.zeros(len(hashes), dtype=np.uint8)
    in_context[len(body) :] = 1
    order = np.lexsort((docs, hashes))
    hashes, docs, in_context = hashes[order], docs[order], in_context[order]
    del order
    new_pair = np.ones(len(hashes), dtype=np.bool_)
    if len(hashes):
        new_pair[1:] = (hashes[1:] != hashes[:-1]) | (docs[1:] != docs[:-1])
    first = np.flatnonzero(new_pair)
    size = np.diff(np.append(first, len(hashes)))
    context_counts = (
        np.add.reduceat(in_context, first, dtype=np.int64) if len(first) else np.zeros(0, int)
    )
    pair_hashes = hashes[first]
    new_term = np.ones(len(first), dtype=np.bool_)
    new_term[1:] = pair_hashes[1:] != pair_hashes[:-1]
    term_first = np.flatnonzero(new_term)
    return Postings(
        hashes=pair_hashes[term_first],
        indptr=np.append(term_first, len(first)).astype(np.int64),
        docs=docs[first],
        body=np.minimum(size - context_counts, MAX_BODY).astype(np.uint16),
        context=np.minimum(context_counts, MAX_CONTEXT).astype(np.uint8),
    )


def _concatenate(parts: Sequence[Postings]) -> Postings:
    """Postings of consecutive sets of chunks (docs ascending from part to part) as one.

    Every term's postings are the parts' postings of it in part order, so each part's
    postings are scattered to their places: memory for the result and one part at a time.
    """
    used, inverse = np.unique(np.concatenate([p.hashes for p in parts]), return_inverse=True)
    places = np.cumsum([0, *(len(p.hashes) for p in parts)])
    numbers = [inverse[places[i] : places[i + 1]] for i in range(len(parts))]
    totals = np.zeros(len(used), dtype=np.int64)
    for part, terms in zip(parts, numbers, strict=True):
        totals[terms] += np.diff(part.indptr)  # a part holds each term once
    indptr = np.zeros(len(used) + 1, dtype=np.int64)
    np.cumsum(totals, out=indptr[1:])
    size = int(indptr[-1])
    docs = np.empty(size, dtype=np.int32)
    body = np.empty(size, dtype=np.uint16)
    context = np.empty(size, dtype=np.uint8)
    cursor = indptr[:-1].copy()
    for part, terms in zip(parts, numbers, strict=True):
        counts = np.diff(part.indptr)
        target = np.repeat(cursor[terms] - part.indptr[:-1], counts)
        target += np.arange(len(part.docs), dtype=np.int64)
        docs[target] = part.docs
        body[target] = part.body
        context[target] = part.context
        cursor[terms] += counts
    return Postings(hashes=used, indptr=indptr, docs=docs, body=body, context=context)


def merge_segments(segments: Sequence[Segment], live: Sequence[npt.NDArray[np.bool_]]) -> Segment:
    """One segment with the live chunks of several, which must hold ascending, disjoint
    ranges of chunk ids (an index's segments do: each one holds chunks written later)."""
    kept = [np.flatnonzero(mask) for mask in live]
    renumber = []
    offset = 0
    for segment, keep in zip(segments, kept, strict=True):
        new = np.full(segment.size, -1, dtype=np.int64)
        new[keep] = np.arange(offset, offset + len(keep))
        renumber.append(new)
        offset += len(keep)
    chunk_ids = np.concatenate([s.chunk_ids[k] for s, k in zip(segments, kept, strict=True)])
    if len(chunk_ids) > 1 and not bool(np.all(chunk_ids[1:] > chunk_ids[:-1])):
        raise ValueError("segments to merge must hold ascending, disjoint chunk ids")
    return Segment(
        chunk_ids=chunk_ids,
        lengths=np.concatenate([s.lengths[k] for s, k in zip(segments, kept, strict=True)]),
        postings=_merge_postings([s.postings for s in segments], renumber),
    )


def _merge_postings(parts: Sequence[Postings], renumber: Sequence[Ids]) -> Postings:
    """The parts' postings of live chunks, renumbered, as one."""
    kept = []
    for part, new in zip(parts, renumber, strict=True):
        docs = new[part.docs]
        alive = docs >= 0
        if alive.all():
            kept.append(replace(part, docs=docs.astype(np.int32)))
            continue
        counts = np.bincount(
            np.repeat(np.arange(len(part.hashes)), np.diff(part.indptr))[alive],
            minlength=len(part.hashes),
        )
        indptr = np.zeros(len(part.hashes) + 1, dtype=np.int64)
        np.cumsum(counts, out=indptr[1:])
        present = counts > 0
        kept.append(
            Postings(
                hashes=part.hashes[present],
                indptr=np.append(indptr[:-1][present], indptr[-1]),
                docs=docs[alive].astype(np.int32),
                body=part.body[alive],
                context=part.context[alive],
            )
        )
    return _concatenate(kept)


@dataclass(frozen=True)
class Scored:
    chunk_ids: Ids
    scores: Floats


_EMPTY = Scored(np.zeros(0, dtype=np.int64), np.zeros(0))


@dataclass(frozen=True)
class Bm25:
    """FTS5's bm25() parameters: k1 and b (fixed by SQLite at 1.2 and 0.75) and the weight
    of the context field."""

    k1: float = 1.2
    b: float = 0.75
    context_weight: float = 1.0


class ImpactIndex:
    """Segments with their live chunks and the corpus statistics; answers BM25 queries.

    Not thread-safe by itself: the caller serialises changes and searches.
    """

    def __init__(self) -> None:
        self.segments: list[Segment] = []
        self.live: list[npt.NDArray[np.bool_]] = []
        self.chunks = 0
        self.total_length = 0.0

    def nbytes(self) -> int:
        return sum(s.nbytes() + m.nbytes for s, m in zip(self.segments, self.live, strict=True))

    def add(self, segment: Segment) -> None:
        self.segments.append(segment)
        self.live.append(np.ones(segment.size, dtype=np.bool_))
        self.chunks += segment.size
        self.total_length += float(segment.lengths.sum(dtype=np.float64))

    def delete(self, chunk_ids: Iterable[int]) -> int:
        """Mask deleted chunks; returns how many were live here."""
        wanted = np.unique(np.fromiter(chunk_ids, dtype=np.int64))
        removed = 0
        for segment, live in zip(self.segments, self.live, strict=True):
            hit = segment.local(wanted)
            hit = hit[live[hit]]
            if len(hit):
                live[hit] = False
                removed += len(hit)
                self.chunks -= len(hit)
                self.total_length -= float(segment.lengths[hit].sum(dtype=np.float64))
        return removed

    def dead_share(self) -> float:
        held = sum(segment.size for segment in self.segments)
        return 1.0 - self.chunks / held if held else 0.0

    def merge_newer(self) -> None:
        """Merge every segment after the first into one, without their deleted chunks."""
        if len(self.segments) <= 2:
            return
        merged = merge_segments(self.segments[1:], self.live[1:])
        self.segments[1:] = [merged]
        self.live[1:] = [np.ones(merged.size, dtype=np.bool_)]

    def search(
        self,
        terms: Sequence[str],
        *,
        limit: int,
        bm25: Bm25 | None = None,
        allowed: Ids | None = None,
    ) -> Scored:
        """The best ``limit`` live chunks containing any of the terms (among ``allowed``
        chunk ids when given), best first with ties by chunk id, scored like FTS5's
        ``bm25(chunks_fts, 1.0, context_weight)``; a term given twice counts twice."""
        if not terms or limit <= 0 or self.chunks <= 0:
            return _EMPTY
        bm25 = bm25 or Bm25()
        distinct = list(dict.fromkeys(terms))
        times = np.asarray([terms.count(term) for term in distinct], dtype=np.float64)
        hashes, _ = token_hashes(distinct)
        gathered = [self._gather(i, hashes, bm25.context_weight) for i in range(len(self.segments))]
        found = np.zeros(len(distinct))
        for per_term in gathered:
            found += [len(docs) for docs, _ in per_term]
        chunks = float(self.chunks)
        idf = np.log((chunks - found + 0.5) / (found + 0.5))
        weights = np.where(idf > 0, idf, 1e-6) * times
        average = self.total_length / chunks
        best = []
        for segment, per_term in zip(self.segments, gathered, strict=True):
            mask = None
            if allowed is not None:
                mask = np.zeros(segment.size, dtype=np.bool_)
                mask[segment.local(allowed)] = True
            scored = _score(segment, per_term, weights, bm25, average, limit, mask)
            if scored is not None:
                best.append(scored)
        if not best:
            return _EMPTY
        return _top(
            np.concatenate([s.chunk_ids for s in best]),
            np.concatenate([s.scores for s in best]),
            limit,
        )

    def _gather(
        self, number: int, hashes: npt.NDArray[np.uint64], context_weight: float
    ) -> list[tuple[npt.NDArray[np.int32], Floats]]:
        """Per query term: the live chunks of segment ``number`` with it, and its weighted
        count in each (body + context_weight * context)."""
        segment, live = self.segments[number], self.live[number]
        postings = segment.postings
        found = []
        for start, end in postings.find(hashes):
            docs = postings.docs[start:end]
            frequency = postings.body[start:end].astype(np.float64)
            context = postings.context[start:end]
            if context.any():
                frequency += context_weight * context
            keep = live[docs]
            if not keep.all():
                docs, frequency = docs[keep], frequency[keep]
            found.append((docs, frequency))
        return found


def _score(
    segment: Segment,
    per_term: list[tuple[npt.NDArray[np.int32], Floats]],
    weights: Floats,
    bm25: Bm25,
    average: float,
    limit: int,
    mask: npt.NDArray[np.bool_] | None,
) -> Scored | None:
    k1, b = bm25.k1, bm25.b
    all_docs, all_shares = [], []
    for (found, counted), weight in zip(per_term, weights.tolist(), strict=True):
        docs, frequency = found, counted
        if mask is not None and len(docs):
            keep = mask[docs]
            docs, frequency = docs[keep], frequency[keep]
        if not len(docs):
            continue
        norm = k1 * (1.0 - b + b * (segment.lengths[docs].astype(np.float64) / average))
        denominator = frequency + norm
        # A term only in the context counts nothing at context_weight 0; with k1 = 0, 0 / 0.
        share = np.divide(
            weight * (k1 + 1.0) * frequency,
            denominator,
            out=np.zeros(len(docs)),
            where=denominator > 0,
        )
        all_docs.append(docs)
        all_shares.append(share)
    if not all_docs:
        return None
    docs = np.concatenate(all_docs)
    shares = np.concatenate(all_shares)
    if len(docs) * DENSE_SHARE >= segment.size:
        # Many postings: sum into an array over the whole segment.
        totals = np.asarray(
            np.bincount(docs, weights=shares, minlength=segment.size), dtype=np.float64
        )
        touched = np.zeros(segment.size, dtype=np.bool_)
        touched[docs] = True
        local = np.flatnonzero(touched)
        return _top(segment.chunk_ids[local], totals[local], limit)
    local, inverse = np.unique(docs, return_inverse=True)
    summed = np.asarray(np.bincount(inverse, weights=shares, minlength=len(local)), np.float64)
    return _top(segment.chunk_ids[local], summed, limit)


def _top(chunk_ids: Ids, scores: Floats, limit: int) -> Scored:
    if len(scores) > limit:
        # Everything scoring at least the limit-th best, then the exact order.
        threshold = np.partition(scores, len(scores) - limit)[len(scores) - limit]
        keep = scores >= threshold
        chunk_ids, scores = chunk_ids[keep], scores[keep]
    order = np.lexsort((chunk_ids, -scores))[:limit]
    return Scored(chunk_ids[order], scores[order])
