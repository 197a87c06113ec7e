"""MinHash signatures of analysed text, and an LSH index that finds near-duplicates.

A chunk's signature is a MinHash of the set of its analysed terms (``chunks.analysed``:
folded, stemmed, stop words removed), so "Die Pauschale beträgt 28 Euro" and "die pauschale
betragt 28 euro" are the same text. Each term (a shingle of :data:`SHINGLE_TERMS` terms; one,
see below) is hashed (a polynomial hash over its UTF-8 bytes, finalised with a multiply and
xor-shift), and :data:`PERMUTATIONS` universal hash functions ``a·x + b mod 2³²`` keep their
minimum. The share of equal positions in two signatures estimates the Jaccard similarity of
the two term sets (standard error ``√(J(1−J)/64)``: ±0.045 at J = 0.85).

Why single terms rather than word 3-grams: on the constructed boilerplate set of
``tests/text/boilerplate.py`` (paragraphs repeated with up to two words changed, plus
paragraphs that share a third of their sentences), single terms at the default threshold
0.85 found 98 % of the copies with no false match, 3-grams 62 % (an edit changes three
3-grams of a 50-term paragraph). Neither flags any pair of the 480 XQuAD paragraphs.

A signature is 64 little-endian uint32 values, 256 bytes, stored in ``chunks.signature``.
Texts with fewer than :data:`MIN_TERMS` terms get none: near-duplicate detection means
nothing for them, and their exact copies are found by ``chunks.text_hash``.

:func:`signatures` works on many texts in one vectorised pass (ingestion computes all
chunks of a file at once), so its cost per chunk is a small fraction of analysing the
chunk's text (``tests/text/test_minhash.py`` holds it there).

:class:`NearDuplicateIndex` is locality-sensitive hashing over 16 bands of 4 values: two
texts with J = 0.85 share a band with probability 1 − (1 − 0.85⁴)¹⁶ ≈ 0.9999, texts with
J = 0.3 with probability 0.12; candidates are then checked on the whole signature.

Changing any constant here changes stored signatures: bump ``PIPELINE_VERSION`` in
``leitstand.ingest.parse`` with it, so stored documents are redone.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import accumulate
from typing import Any

import numpy as np
import numpy.typing as npt

PERMUTATIONS = 64
SHINGLE_TERMS = 1
MIN_TERMS = 5
BANDS = 16
ROWS = PERMUTATIONS // BANDS
SIGNATURE_BYTES = PERMUTATIONS * 4
BUCKET_LIMIT = 8
"""Candidates taken per LSH bucket: a boilerplate paragraph copied a thousand times must not
make a thousand comparisons (and the first few are as good as all of them)."""
SLICE_BYTES = 1 << 16
"""Analysed text hashed in one pass: bounds the memory of a very long document."""

Signatures = npt.NDArray[np.uint32]
"""Signatures as a matrix: one row of :data:`PERMUTATIONS` values per text."""

_DTYPE = np.dtype("<u4")
_MASK64 = (1 << 64) - 1
_BASE = 0x100000001B3  # odd, so it has an inverse modulo 2**64
_SPACE, _NEWLINE = 32, 10


def _splitmix64(state: int) -> tuple[int, int]:
    state = (state + 0x9E3779B97F4A7C15) & _MASK64
    value = state
    value = ((value ^ (value >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    value = ((value ^ (value >> 27)) * 0x94D049BB133111EB) & _MASK64
    return state, value ^ (value >> 31)


def _constants(count: int, seed: int) -> list[int]:
    """Fixed pseudo-random constants, independent of numpy's generators and versions."""
    values = []
    state = seed
    for _ in range(count):
        state, value = _splitmix64(state)
        values.append(value)
    return values


_A = (np.array(_constants(PERMUTATIONS, 1), dtype=np.uint64) >> np.uint64(32)).astype(
    np.uint32
) | np.uint32(1)
_B = (np.array(_constants(PERMUTATIONS, 2), dtype=np.uint64) >> np.uint64(32)).astype(np.uint32)
_B_COLUMN = _B[:, None]
_BAND_SALT = np.array(_constants(BANDS, 3), dtype=np.uint64)
_POWERS: list[npt.NDArray[np.uint64]] = []
"""[powers, inverse powers] of the polynomial hash's base, grown on demand."""


def _powers(length: int) -> tuple[npt.NDArray[np.uint64], npt.NDArray[np.uint64]]:
    if not _POWERS or len(_POWERS[0]) < length:
        size = max(length, SLICE_BYTES * 2)
        powers = np.empty(size, dtype=np.uint64)
        powers[0] = 1
        powers[1:] = _BASE
        inverse = np.empty(size, dtype=np.uint64)
        inverse[0] = 1
        inverse[1:] = pow(_BASE, -1, 1 << 64)
        _POWERS[:] = [np.cumprod(powers), np.cumprod(inverse)]
    return _POWERS[0], _POWERS[1]


def _mix(values: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint64]:
    """MurmurHash3's 64-bit finaliser, in place."""
    values ^= values >> np.uint64(33)
    values *= np.uint64(0xFF51AFD7ED558CCD)
    values ^= values >> np.uint64(33)
    values *= np.uint64(0xC4CEB9FE1A85EC53)
    values ^= values >> np.uint64(33)
    return values


def signatures(analysed: Sequence[str]) -> list[bytes | None]:
    """The signature of each analysed text (terms separated by single spaces), or None."""
    result: list[bytes | None] = [None] * len(analysed)
    wanted = [i for i, text in enumerate(analysed) if text.count(" ") + 1 >= MIN_TERMS]
    start = 0
    while start < len(wanted):
        end, size = start, 0
        while end < len(wanted) and (end == start or size < SLICE_BYTES):
            size += len(analysed[wanted[end]]) + 1
            end += 1
        chosen = wanted[start:end]
        for index, value in zip(
            chosen, _signature_slice([analysed[i] for i in chosen]), strict=True
        ):
            result[index] = value
        start = end
    return result


def signature(analysed: str) -> bytes | None:
    """The signature of one analysed text, or None when it has fewer than MIN_TERMS terms."""
    return signatures([analysed])[0]


def _signature_slice(texts: list[str]) -> list[bytes]:
    """Signatures of texts with at least MIN_TERMS terms each, in one vectorised pass."""
    data = np.frombuffer(("\n".join(texts) + "\n").encode("utf-8"), dtype=np.uint8)
    # Terms are runs of word characters: the only bytes up to 32 are the separators, a space
    # after a term inside a text and a newline after its last.
    ends = np.flatnonzero(data <= _SPACE)
    starts = np.empty_like(ends)
    starts[0] = 0
    starts[1:] = ends[:-1] + 1
    last = SHINGLE_TERMS - 1
    if last:  # shingle i covers terms i .. i + last, and only the last may end a text
        text_end = data[ends] == _NEWLINE
        inside = np.ones(len(ends) - last, dtype=np.bool_)
        for step in range(last):
            inside &= ~text_end[step : len(ends) - last + step]
        starts, ends = starts[: len(ends) - last][inside], ends[last:][inside]
    powers, inverse = _powers(len(data))
    prefix = np.zeros(len(data) + 1, dtype=np.uint64)
    np.cumsum(data * powers[: len(data)], out=prefix[1:])
    hashed = prefix[ends]
    hashed -= prefix[starts]
    hashed *= inverse[starts]  # the hash of data[start:end], wherever it stands
    hashed *= np.uint64(0xFF51AFD7ED558CCD)
    hashed ^= hashed >> np.uint64(29)
    permuted = np.multiply.outer(_A, (hashed >> np.uint64(32)).astype(np.uint32))
    permuted += _B_COLUMN
    per_text = [text.count(" ") + 1 - last for text in texts]
    firsts = np.fromiter(accumulate(per_text[:-1], initial=0), dtype=np.int64, count=len(texts))
    minima = np.minimum.reduceat(permuted, firsts, axis=1).T.astype(_DTYPE)
    return [row.tobytes() for row in minima]


def as_matrix(blobs: Sequence[bytes]) -> Signatures:
    """Stored signatures (bytes) as one matrix, a row per signature."""
    if not blobs:
        return np.empty((0, PERMUTATIONS), dtype=np.uint32)
    matrix = np.frombuffer(b"".join(blobs), dtype=_DTYPE).reshape(len(blobs), PERMUTATIONS)
    return matrix.astype(np.uint32)


def is_signature(value: Any) -> bool:
    """Whether a stored value is a signature of the current shape."""
    return isinstance(value, bytes | bytearray | memoryview) and len(value) == SIGNATURE_BYTES


def similarity(left: bytes, right: bytes) -> float:
    """Estimated Jaccard similarity of the texts behind two signatures."""
    matrix = as_matrix([left, right])
    return float(np.count_nonzero(matrix[0] == matrix[1])) / PERMUTATIONS


def similarity_matrix(matrix: Signatures) -> npt.NDArray[np.float64]:
    """Estimated Jaccard similarity of every pair of rows (a square matrix)."""
    equal = matrix[:, None, :] == matrix[None, :, :]
    counts: npt.NDArray[np.int64] = np.count_nonzero(equal, axis=2)
    return counts / np.float64(PERMUTATIONS)


def _band_keys(matrix: Signatures) -> npt.NDArray[np.uint64]:
    """One key per band and row (shape rows × BANDS): equal keys, equal band."""
    bands = matrix.reshape(len(matrix), BANDS, ROWS).astype(np.uint64)
    keys = np.zeros((len(matrix), BANDS), dtype=np.uint64)
    for column in range(ROWS):
        keys ^= bands[:, :, column] << np.uint64(32 if column % 2 else 0)
        keys = _mix(keys + _BAND_SALT)
    return keys


@dataclass
class _Segment:
    ids: npt.NDArray[np.int64]
    groups: npt.NDArray[np.int64]
    matrix: Signatures
    keys: npt.NDArray[np.uint64]
    """Band keys, sorted."""
    rows: npt.NDArray[np.int64]
    """The row of each sorted key."""
    alive: npt.NDArray[np.bool_]


@dataclass(frozen=True)
class Match:
    """A text (by its row in a query) that nearly duplicates an indexed one."""

    row: int
    id: int
    similarity: float


class NearDuplicateIndex:
    """Signatures by id (and a group, e.g. the document), searchable for near-duplicates."""

    def __init__(self, threshold: float) -> None:
        self.threshold = threshold
        self._segments: list[_Segment] = []

    def __len__(self) -> int:
        return sum(int(segment.alive.sum()) for segment in self._segments)

    def add(self, ids: Sequence[int], groups: Sequence[int], matrix: Signatures) -> None:
        if not len(ids):
            return
        keys = _band_keys(matrix).ravel()
        order = np.argsort(keys, kind="stable")
        self._segments.append(
            _Segment(
                ids=np.asarray(ids, dtype=np.int64),
                groups=np.asarray(groups, dtype=np.int64),
                matrix=matrix,
                keys=keys[order],
                rows=(order // BANDS).astype(np.int64),
                alive=np.ones(len(ids), dtype=np.bool_),
            )
        )
        if len(self._segments) > 16:
            self._compact()

    def forget(self, groups: Iterable[int]) -> None:
        """Drop every signature of these groups (their texts were deleted)."""
        gone = np.fromiter(groups, dtype=np.int64)
        if len(gone):
            for segment in self._segments:
                segment.alive &= ~np.isin(segment.groups, gone)

    def nearest(self, matrix: Signatures) -> list[Match]:
        """For each query row, the most similar indexed signature at or above the threshold."""
        best: dict[int, Match] = {}
        query_keys = _band_keys(matrix).ravel()
        for segment in self._segments:
            rows, candidates = _bucket_pairs(segment.keys, query_keys)
            candidates = segment.rows[candidates]
            live = segment.alive[candidates]
            rows, candidates = rows[live], candidates[live]
            for row, candidate, score in _verified(
                matrix, segment.matrix, rows, candidates, self.threshold
            ):
                found = best.get(row)
                identifier = int(segment.ids[candidate])
                if (
                    found is None
                    or score > found.similarity
                    or (score == found.similarity and identifier < found.id)
                ):
                    best[row] = Match(row, identifier, score)
        return [best[row] for row in sorted(best)]

    def _compact(self) -> None:
        segments = self._segments
        self._segments = []
        ids = np.concatenate([s.ids[s.alive] for s in segments])
        groups = np.concatenate([s.groups[s.alive] for s in segments])
        matrix = np.concatenate([s.matrix[s.alive] for s in segments])
        self.add(ids.tolist(), groups.tolist(), matrix)


def earlier_duplicates(matrix: Signatures, threshold: float) -> dict[int, tuple[int, float]]:
    """Within one list of signatures: row → (earlier row it nearly duplicates, similarity).

    Each row is compared with the first few earlier rows that share a band with it; the
    most similar one at or above the threshold wins (the earliest on a tie).
    """
    if len(matrix) < 2:
        return {}
    keys = _band_keys(matrix).ravel()
    order = np.argsort(keys, kind="stable")
    sorted_keys = keys[order]
    sorted_rows = order // BANDS
    starts = np.flatnonzero(np.r_[True, sorted_keys[1:] != sorted_keys[:-1]])
    sizes = np.diff(np.r_[starts, len(sorted_keys)])
    position = np.arange(len(sorted_keys)) - np.repeat(starts, sizes)
    # Each key pairs with the first BUCKET_LIMIT keys of its bucket that come before it.
    pairs = np.minimum(position, BUCKET_LIMIT)
    total = int(pairs.sum())
    if total == 0:
        return {}
    later = np.repeat(np.arange(len(sorted_keys)), pairs)
    offset = np.arange(total) - np.repeat(np.cumsum(pairs) - pairs, pairs)
    earlier = np.repeat(np.repeat(starts, sizes), pairs) + offset
    rows, candidates = sorted_rows[later], sorted_rows[earlier]
    forward = candidates < rows
    best: dict[int, tuple[int, float]] = {}
    for row, candidate, score in _verified(
        matrix, matrix, rows[forward], candidates[forward], threshold
    ):
        found = best.get(row)
        if found is None or score > found[1] or (score == found[1] and candidate < found[0]):
            best[row] = (candidate, score)
    return best


def _bucket_pairs(
    sorted_keys: npt.NDArray[np.uint64], query_keys: npt.NDArray[np.uint64]
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """(query row, position in sorted_keys) for every shared band, BUCKET_LIMIT per bucket."""
    left = np.searchsorted(sorted_keys, query_keys, side="left")
    right = np.searchsorted(sorted_keys, query_keys, side="right")
    counts = np.minimum(right - left, BUCKET_LIMIT)
    total = int(counts.sum())
    if total == 0:
        empty = np.empty(0, dtype=np.int64)
        return empty, empty
    offset = np.arange(total) - np.repeat(np.cumsum(counts) - counts, counts)
    positions = np.repeat(left, counts) + offset
    rows = np.repeat(np.arange(len(query_keys)) // BANDS, counts)
    return rows.astype(np.int64), positions.astype(np.int64)


def _verified(
    queries: Signatures,
    indexed: Signatures,
    rows: npt.NDArray[np.int64],
    candidates: npt.NDArray[np.int64],
    threshold: float,
) -> list[tuple[int, int, float]]:
    """The candidate pairs whose whole signatures are similar enough."""
    if not len(rows):
        return []
    pairs = np.unique(np.stack([rows, candidates], axis=1), axis=0)
    rows, candidates = pairs[:, 0], pairs[:, 1]
    scores = np.count_nonzero(queries[rows] == indexed[candidates], axis=1) / PERMUTATIONS
    close = scores >= threshold
    return list(
        zip(rows[close].tolist(), candidates[close].tolist(), scores[close].tolist(), strict=True)
    )
