"""Context assembly: from retrieved chunks to the passages an answer is built from.

Between retrieval and generation, for the extractive answerer and for chat models alike:

1. **Repeats out.** A candidate whose text repeats a better-ranked one is dropped: the same
   text, or MinHash signatures (``text/minhash.py``, stored at ingestion) with an estimated
   Jaccard similarity of at least ``assembly.near_duplicate_threshold``.
2. **MMR.** Maximal marginal relevance picks the candidates one by one, each time the one with
   the best ``λ·relevance − (1 − λ)·redundancy``: relevance is the retrieval (or re-ranker)
   score scaled to 0..1 over the candidates, redundancy the highest Jaccard similarity of its
   analysed terms to a passage already picked, estimated from the same MinHash signatures
   (no embedding model needed), λ is
   ``assembly.mmr_lambda``. Picking stops after ``limit`` chunks (``top_k``) or when the token
   budget (``use_cases.<name>.max_context_tokens`` or ``assembly.max_tokens``) is spent; a
   candidate that does not fit is passed over, and a first one that alone is over the budget
   is cut at the last sentence that fits.
3. **Neighbours merged.** Picked chunks of one document with adjacent ordinals become one
   passage (``assembly.merge_neighbours``). Its text is exactly ``document.text[start:end]``,
   its offsets and page range span all its chunks, and ``chunk_ids`` names them: every
   citation still points at an exact span of a stored document.

Tokens are estimated without a tokenizer (none can be downloaded at run time):
``max(characters / 4, words × w)`` with ``w`` = 1.3 for English, 2.0 for German (long
compounds and inflections split into several tokens) and 1.6 otherwise. The rule of thumb of
four characters per token holds for English with BPE tokenizers; German needs more tokens per
character, which the per-word floor adds. It has not been calibrated against a particular
model's tokenizer and is meant to err high: leave the model some headroom all the same.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from typing import Any, Literal

from sqlalchemy import Connection, bindparam, func, select

from leitstand.config.settings import AssemblySettings
from leitstand.search.hits import Hit
from leitstand.store.database import Database
from leitstand.store.models import Chunk, Document
from leitstand.text.sentences import sentence_spans

CHARS_PER_TOKEN = 4.0
TOKENS_PER_WORD = {"en": 1.3, "de": 2.0}
OTHER_TOKENS_PER_WORD = 1.6

DocumentText = Callable[[int, int, int], str]
"""``(document_id, start, end)`` → ``document.text[start:end]``."""


def estimate_tokens(text: str, language: str = "en") -> int:
    """Tokens a chat model will likely count for ``text`` (see the module docstring)."""
    if not text:
        return 0
    per_word = TOKENS_PER_WORD.get(language, OTHER_TOKENS_PER_WORD)
    words = text.count(" ") + text.count("\n") + 1  # stored text has single spaces
    return math.ceil(max(len(text) / CHARS_PER_TOKEN, words * per_word))


@dataclass(frozen=True)
class Passage(Hit):
    """A passage of the context: one chunk, or neighbouring chunks of one document merged.

    ``chunk_id`` is the first chunk's; ``chunk_ids`` lists all in document order. ``text`` is
    exactly ``document.text[start_char:end_char]``.
    """

    chunk_ids: tuple[int, ...] = ()
    tokens: int = 0
    analysed: str = ""
    """The stored index terms of its chunks (for the groundedness check; not shown)."""

    def as_dict(self) -> dict[str, Any]:
        return {**super().as_dict(), "chunk_ids": list(self.chunk_ids), "tokens": self.tokens}


@dataclass(frozen=True)
class ChunkFacts:
    """What assembly knows about a candidate chunk beyond its hit."""

    ordinal: int | None
    analysed: str
    """The chunk's analysed terms, space-separated, in document order (``chunks.analysed``)."""
    signature: bytes | None = None


@dataclass(frozen=True)
class Dropped:
    chunk_id: int
    reason: Literal["duplicate", "near-duplicate"]
    of: int
    """The better-ranked chunk it repeats."""
    similarity: float = 1.0


@dataclass
class Assembly:
    """The passages of a context, and what assembly did to get them."""

    passages: list[Passage]
    budget: int
    limit: int
    candidates: int = 0
    dropped: list[Dropped] = field(default_factory=list)
    merged: list[tuple[int, ...]] = field(default_factory=list)
    left_out: list[int] = field(default_factory=list)
    """Candidates MMR did not pick (the limit was reached or they did not fit the budget)."""
    trimmed: list[int] = field(default_factory=list)

    @property
    def tokens(self) -> int:
        return sum(passage.tokens for passage in self.passages)

    def trace_attributes(self) -> dict[str, Any]:
        return {
            "budget": self.budget,
            "tokens": self.tokens,
            "limit": self.limit,
            "candidates": self.candidates,
            "passages": [
                {
                    "chunks": list(p.chunk_ids),
                    "document": p.document_id,
                    "start": p.start_char,
                    "end": p.end_char,
                    "pages": [p.page_start, p.page_end] if p.page_start is not None else None,
                    "tokens": p.tokens,
                }
                for p in self.passages
            ],
            "merged": [list(group) for group in self.merged],
            "dropped": [
                {"chunk": d.chunk_id, "reason": d.reason, "of": d.of, "similarity": d.similarity}
                for d in self.dropped
            ],
            "left_out": self.left_out,
            "trimmed": self.trimmed,
        }


def assemble(
    hits: Sequence[Hit],
    facts: Mapping[int, ChunkFacts],
    document_text: DocumentText,
    *,
    budget: int,
    limit: int,
    mmr_lambda: float = 0.7,
    threshold: float = 0.85,
    merge_neighbours: bool = True,
) -> Assembly:
    """The passages for a context from ranked hits (best first); pure but for document_text."""
    assembly = Assembly(passages=[], budget=budget, limit=limit, candidates=len(hits))
    similar = _similarities(hits, facts)
    kept = _without_repeats(hits, similar, threshold, assembly.dropped)
    chosen = _mmr(hits, kept, similar, budget, limit, mmr_lambda, assembly)
    groups = _neighbour_groups(chosen, facts) if merge_neighbours else [[hit] for hit in chosen]
    for group in groups:
        if len(group) == 1:
            hit = group[0]
            assembly.passages.append(_passage(hit, hit.text, (hit.chunk_id,), facts))
            continue
        first = group[0]
        end = max(hit.end_char for hit in group)
        text = document_text(first.document_id, first.start_char, end)
        assembly.passages.append(
            replace(
                _passage(first, text, tuple(hit.chunk_id for hit in group), facts),
                end_char=end,
                score=max(hit.score for hit in group),
                page_start=min(
                    (h.page_start for h in group if h.page_start is not None), default=None
                ),
                page_end=max((h.page_end for h in group if h.page_end is not None), default=None),
            )
        )
        assembly.merged.append(tuple(hit.chunk_id for hit in group))
    # Merging adds the text between chunks (a heading, a blank line): keep within the budget.
    while len(assembly.passages) > 1 and assembly.tokens > budget:
        removed = assembly.passages.pop()
        assembly.left_out.extend(removed.chunk_ids)
    return assembly


def _passage(
    hit: Hit, text: str, chunk_ids: tuple[int, ...], facts: Mapping[int, ChunkFacts]
) -> Passage:
    values = {item.name: getattr(hit, item.name) for item in fields(Hit)}
    values["text"] = text
    analysed = " ".join(facts[c].analysed for c in chunk_ids if c in facts)
    return Passage(
        **values,
        chunk_ids=chunk_ids,
        tokens=estimate_tokens(text, hit.language),
        analysed=analysed,
    )


def _similarities(hits: Sequence[Hit], facts: Mapping[int, ChunkFacts]) -> list[list[float]]:
    """Estimated Jaccard similarity of the hits' term sets, from their MinHash signatures
    (computed here for chunks stored without one); exact for texts too short to have one."""
    from leitstand.text.minhash import as_matrix, is_signature, signatures, similarity_matrix

    count = len(hits)
    blobs: list[bytes | None] = []
    for hit in hits:
        found = facts.get(hit.chunk_id)
        stored = found.signature if found is not None else None
        blobs.append(stored if stored is not None and is_signature(stored) else None)
    missing = [i for i, blob in enumerate(blobs) if blob is None]
    if missing:  # stored before signatures existed, or deleted meanwhile
        computed = signatures([_analysed(hits[i], facts) for i in missing])
        for i, blob in zip(missing, computed, strict=True):
            blobs[i] = blob
    similar = [[0.0] * count for _ in range(count)]
    signed = [i for i, blob in enumerate(blobs) if blob is not None]
    if signed:
        matrix = similarity_matrix(as_matrix([blobs[i] or b"" for i in signed])).tolist()
        for row, i in enumerate(signed):
            for column, j in enumerate(signed):
                similar[i][j] = matrix[row][column]
    for i in (i for i, blob in enumerate(blobs) if blob is None):
        terms = frozenset(_analysed(hits[i], facts).split())
        for j in range(count):
            other = frozenset(_analysed(hits[j], facts).split())
            similar[i][j] = similar[j][i] = _jaccard(terms, other)
    return similar


def _analysed(hit: Hit, facts: Mapping[int, ChunkFacts]) -> str:
    found = facts.get(hit.chunk_id)
    return found.analysed if found is not None else " ".join(hit.text.lower().split())


def _jaccard(left: frozenset[str], right: frozenset[str]) -> float:
    if not left or not right:
        return 0.0
    shared = len(left & right)
    return shared / (len(left) + len(right) - shared)


def _without_repeats(
    hits: Sequence[Hit], similar: list[list[float]], threshold: float, dropped: list[Dropped]
) -> list[int]:
    """Positions of the hits that repeat no better-ranked hit, exactly or nearly."""
    kept: list[int] = []
    by_text: dict[str, int] = {}
    for i, hit in enumerate(hits):
        digest = hashlib.sha256(hit.text.encode("utf-8")).hexdigest()
        if digest in by_text:
            dropped.append(Dropped(hit.chunk_id, "duplicate", by_text[digest]))
            continue
        near = next((j for j in kept if similar[i][j] >= threshold), None)
        if near is not None:
            score = round(similar[i][near], 3)
            dropped.append(Dropped(hit.chunk_id, "near-duplicate", hits[near].chunk_id, score))
            continue
        by_text[digest] = hit.chunk_id
        kept.append(i)
    return kept


def _mmr(
    hits: Sequence[Hit],
    kept: list[int],
    similar: list[list[float]],
    budget: int,
    limit: int,
    mmr_lambda: float,
    assembly: Assembly,
) -> list[Hit]:
    """Hits picked by maximal marginal relevance within the budget, in the order picked."""
    if not kept:
        return []
    scores = [hits[i].score for i in kept]
    high, low = max(scores), min(scores)
    relevance = {
        i: (hits[i].score - low) / (high - low) if high > low else 1.0 - rank / len(kept)
        for rank, i in enumerate(kept)
    }
    tokens = {i: estimate_tokens(hits[i].text, hits[i].language) for i in kept}
    redundancy = dict.fromkeys(kept, 0.0)
    remaining = list(kept)
    chosen: list[Hit] = []
    spent = 0
    passed_over: list[int] = []
    while remaining and len(chosen) < limit:
        pick = max(
            remaining, key=lambda i: mmr_lambda * relevance[i] - (1 - mmr_lambda) * redundancy[i]
        )
        remaining.remove(pick)
        if spent + tokens[pick] > budget:
            cut = None if chosen else _trimmed(hits[pick], budget)
            if cut is None:
                passed_over.append(pick)
                continue
            assembly.trimmed.append(cut.chunk_id)  # the best one alone is over the budget
            chosen.append(cut)
            spent += estimate_tokens(cut.text, cut.language)
        else:
            chosen.append(hits[pick])
            spent += tokens[pick]
        for i in remaining:
            redundancy[i] = max(redundancy[i], similar[i][pick])
    assembly.left_out.extend(hits[i].chunk_id for i in sorted([*passed_over, *remaining]))
    return chosen


def _trimmed(hit: Hit, budget: int) -> Hit | None:
    """The hit cut after its last sentence that fits the budget (or at a space)."""
    text = hit.text
    cut = 0
    for _, end in sentence_spans(text):
        if estimate_tokens(text[:end], hit.language) > budget:
            break
        cut = end
    if cut == 0:  # not even the first sentence fits: cut at a space
        cut = min(len(text), int(budget * CHARS_PER_TOKEN))
        while cut > 0 and estimate_tokens(text[:cut], hit.language) > budget:
            cut = int(cut * 0.9)
        space = text.rfind(" ", 0, cut)
        cut = space if space > 0 else cut
        cut = len(text[:cut].rstrip())
    if cut == 0:
        return None
    return replace(hit, text=text[:cut], end_char=hit.start_char + cut)


def _neighbour_groups(hits: list[Hit], facts: Mapping[int, ChunkFacts]) -> list[list[Hit]]:
    """Picked hits grouped into runs of adjacent chunks of one document, in the order picked."""
    position = {hit.chunk_id: index for index, hit in enumerate(hits)}
    by_document: dict[int, list[tuple[int, Hit]]] = {}
    for hit in hits:
        found = facts.get(hit.chunk_id)
        if found is not None and found.ordinal is not None:
            by_document.setdefault(hit.document_id, []).append((found.ordinal, hit))
    group_of: dict[int, list[Hit]] = {}
    for members in by_document.values():
        members.sort(key=lambda item: item[0])
        run: list[Hit] = []
        previous: int | None = None
        for ordinal, hit in members:
            if previous is None or ordinal != previous + 1:
                run = []
            run.append(hit)
            group_of[hit.chunk_id] = run
            previous = ordinal
    groups: list[list[Hit]] = []
    seen: set[int] = set()
    for hit in sorted(hits, key=lambda h: position[h.chunk_id]):
        group = group_of.get(hit.chunk_id, [hit])
        if id(group) in seen:
            continue
        seen.add(id(group))
        groups.append(group)
    return groups


class ContextAssembler:
    """Assembly against the database: chunk facts and merged texts come from there."""

    def __init__(self, db: Database, settings: AssemblySettings | None = None) -> None:
        self.db = db
        self.settings = settings or AssemblySettings()

    def assemble(self, hits: Sequence[Hit], *, limit: int, budget: int | None = None) -> Assembly:
        budget = budget or self.settings.max_tokens
        if not hits:
            return Assembly(passages=[], budget=budget, limit=limit)
        with self.db.read() as session:
            connection = session.connection()
            rows = connection.execute(_FACTS, {"ids": [hit.chunk_id for hit in hits]}).all()
            facts = {
                row[0]: ChunkFacts(
                    ordinal=row[1],
                    analysed=row[2] or "",
                    signature=bytes(row[3]) if row[3] is not None else None,
                )
                for row in rows
            }
            return assemble(
                hits,
                facts,
                lambda document, start, end: _slice(connection, document, start, end),
                budget=budget,
                limit=limit,
                mmr_lambda=self.settings.mmr_lambda,
                threshold=self.settings.near_duplicate_threshold,
                merge_neighbours=self.settings.merge_neighbours,
            )


def _slice(connection: Connection, document_id: int, start: int, end: int) -> str:
    found = connection.execute(
        _SLICE, {"document": document_id, "first": start + 1, "length": end - start}
    ).scalar_one()
    return str(found)


# Built once: what assembly needs to know about candidate chunks.
_FACTS = select(Chunk.id, Chunk.ordinal, Chunk.analysed, Chunk.signature).where(
    Chunk.id.in_(bindparam("ids", expanding=True))
)
# Built once: an exact span of a document's text (SQL substr counts from 1).
_SLICE = select(func.substr(Document.text, bindparam("first"), bindparam("length"))).where(
    Document.id == bindparam("document")
)
