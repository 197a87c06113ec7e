"""Duplicate chunks, marked while ingestion writes them: ``chunks.duplicate_of``.

A chunk that repeats an earlier chunk of the same source gets that chunk's id in
``duplicate_of``: exactly (same ``text_hash``) or nearly (MinHash signatures with an
estimated Jaccard similarity of at least :data:`INGEST_THRESHOLD`, the default of
``assembly.near_duplicate_threshold``). The earlier chunk is the original; a copy of a copy
points at the original. A batch's chunks are compared with each other and with the chunks
already stored in the source, which are loaded once per ingestion run, when its first batch
of chunks is written.

Duplicates stay indexed and citable; the mark tells readers (and the ingestion report) what
is repeated. Context assembly drops repeated passages on its own, by text hash and
signature, with the configured threshold. ``duplicate_of`` may point at a chunk that was
deleted since (its document changed or was removed): that means "no longer a duplicate".
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import Connection, bindparam, select

from leitstand.config.settings import AssemblySettings
from leitstand.store.models import Chunk, Document
from leitstand.text.minhash import NearDuplicateIndex, as_matrix, earlier_duplicates, is_signature

INGEST_THRESHOLD: float = AssemblySettings.model_fields["near_duplicate_threshold"].default

Links = dict[int, int]
"""Within a batch, before its rows have ids: row number → the earlier row it repeats."""


class DuplicateMarker:
    """Marks duplicates for one source during one ingestion run."""

    def __init__(self, source_id: int, threshold: float = INGEST_THRESHOLD) -> None:
        self.source_id = source_id
        self.index = NearDuplicateIndex(threshold)
        self._hashes: dict[str, tuple[int, int]] = {}
        """text hash → (original chunk id, its document id)"""
        self._loaded = False
        self.marked = 0

    def before_insert(
        self, connection: Connection, rows: list[dict[str, Any]], replaced: Iterable[int]
    ) -> Links:
        """Set ``duplicate_of`` on rows that repeat stored chunks; return links within the batch.

        ``replaced``: documents whose stored chunks this batch deleted.
        """
        if not self._loaded:
            self._load(connection)
        self._forget(set(replaced))
        links: Links = {}
        first_with_hash: dict[str, int] = {}
        near_rows: list[int] = []
        for row_number, row in enumerate(rows):
            digest = row.get("text_hash")
            stored = self._hashes.get(digest) if digest else None
            if stored is not None:
                row["duplicate_of"] = stored[0]
            elif digest and digest in first_with_hash:
                links[row_number] = first_with_hash[digest]
            else:
                if digest:
                    first_with_hash[digest] = row_number
                if is_signature(row.get("signature")):
                    near_rows.append(row_number)
        if near_rows:
            matrix = as_matrix([rows[n]["signature"] for n in near_rows])
            matched: set[int] = set()
            for match in self.index.nearest(matrix):
                rows[near_rows[match.row]]["duplicate_of"] = match.id
                matched.add(match.row)
            unmatched = [i for i in range(len(near_rows)) if i not in matched]
            within = earlier_duplicates(matrix[unmatched], self.index.threshold)
            for later, (earlier, _) in within.items():
                links[near_rows[unmatched[later]]] = near_rows[unmatched[earlier]]
        return links

    def after_insert(self, connection: Connection, rows: list[dict[str, Any]], links: Links) -> int:
        """Resolve the links to ids, store them, and index the batch's originals.

        Returns how many rows of the batch are duplicates.
        """
        if not rows:
            return 0
        documents = sorted({row["document_id"] for row in rows})
        found = connection.execute(_IDS, {"documents": documents}).all()
        ids = {(document_id, ordinal): chunk_id for chunk_id, document_id, ordinal in found}
        chunk_ids = [ids[(row["document_id"], row["ordinal"])] for row in rows]
        updates = []
        for row_number in sorted(links):
            earlier = links[row_number]
            original = rows[earlier].get("duplicate_of") or chunk_ids[earlier]
            rows[row_number]["duplicate_of"] = original
            updates.append((original, chunk_ids[row_number]))
        if updates:
            connection.exec_driver_sql(
                _UPDATE_SQLITE if _is_sqlite(connection) else _UPDATE, updates
            )
        originals = [n for n, row in enumerate(rows) if not row.get("duplicate_of")]
        for n in originals:
            digest = rows[n].get("text_hash")
            if digest:
                self._hashes.setdefault(digest, (chunk_ids[n], rows[n]["document_id"]))
        signed = [n for n in originals if is_signature(rows[n].get("signature"))]
        self.index.add(
            [chunk_ids[n] for n in signed],
            [rows[n]["document_id"] for n in signed],
            as_matrix([rows[n]["signature"] for n in signed]),
        )
        duplicates = len(rows) - len(originals)
        self.marked += duplicates
        return duplicates

    def _load(self, connection: Connection) -> None:
        """The stored chunks of the source: originals into the index, every text hash."""
        self._loaded = True
        found = connection.execute(_STORED, {"source_id": self.source_id}).all()
        ids, groups, blobs = [], [], []
        for chunk_id, document_id, signature, digest, duplicate_of in found:
            if digest:
                original = (duplicate_of or chunk_id, document_id)
                if duplicate_of is None or digest not in self._hashes:
                    self._hashes[digest] = original
            if duplicate_of is None and signature is not None and is_signature(signature):
                ids.append(chunk_id)
                groups.append(document_id)
                blobs.append(bytes(signature))
        self.index.add(ids, groups, as_matrix(blobs))

    def _forget(self, documents: set[int]) -> None:
        if not documents:
            return
        self.index.forget(documents)
        gone = [digest for digest, (_, document) in self._hashes.items() if document in documents]
        for digest in gone:
            del self._hashes[digest]


def _is_sqlite(connection: Connection) -> bool:
    return connection.dialect.name == "sqlite"


_STORED = (
    select(Chunk.id, Chunk.document_id, Chunk.signature, Chunk.text_hash, Chunk.duplicate_of)
    .join(Document, Document.id == Chunk.document_id)
    .where(Document.source_id == bindparam("source_id"))
    .order_by(Chunk.id)
)
_IDS = select(Chunk.id, Chunk.document_id, Chunk.ordinal).where(
    Chunk.document_id.in_(bindparam("documents", expanding=True))
)
_UPDATE_SQLITE = "UPDATE chunks SET duplicate_of = ? WHERE id = ?"
_UPDATE = "UPDATE chunks SET duplicate_of = %s WHERE id = %s"
