"""Deleting a source erases it from everything retrieval keeps, on SQLite and on PostgreSQL:
the lexical index (and on SQLite the postings in memory), ``chunk_vectors``, the HNSW file
(SQLite) or the pgvector rows and index (PostgreSQL), the embedding cache; and no in-memory
cache brings it back."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlalchemy import text

from embeddings.helpers import add, count, dense_settings, embedded_texts, rows
from leitstand.search.vectors.usearch_index import MAGIC, file_name, read_header
from leitstand.testing import ScriptedChatServer

pytestmark = pytest.mark.integration

SECRET = {
    "hr/kuendigung.txt": "Zebrafink Kündigung der Mitarbeiterin Alma Quast zum Monatsende.",
    "hr/gehalt.txt": "Zebrafink Gehaltsabrechnung Quast mit Bonus für das Quartal.",
    "hr/shared.txt": "Die Kantine öffnet um halb zwölf.",
}
KEEP = {
    "handbuch/kantine.txt": "Die Kantine öffnet um halb zwölf.",  # the same text as hr/shared
    "handbuch/reisen.txt": "Die Verpflegungspauschale beträgt 28 Euro pro Tag.",
    "handbuch/it.txt": "Passwörter haben mindestens vierzehn Zeichen.",
}
NEW = {
    "neu/lieferung.txt": "Lieferanten melden Verzögerungen beim Versand nach Übersee.",
    "neu/drucker.txt": "Der Drucker im dritten Stock braucht neuen Toner.",
}
QUERY = "Zebrafink Kündigung Quast"
MODEL = "openai/embed-a"


def hnsw_keys(path: Path) -> set[int]:
    """The chunk ids the HNSW file holds, read back from the file."""
    from usearch.index import Index

    data = path.read_bytes()
    start = len(MAGIC) + 4 + int.from_bytes(data[len(MAGIC) : len(MAGIC) + 4], "little")
    index = Index.restore(bytearray(data[start:]))
    assert index is not None
    return {int(key) for key in np.asarray(index.keys)}


def test_a_deleted_source_is_erased_everywhere(
    database_url: str, open_leitstand: Any, endpoint: ScriptedChatServer, tmp_path: Path
) -> None:
    ls = open_leitstand(database_url, **dense_settings(endpoint, mode="hybrid"))
    add(ls, KEEP, source="handbuch")
    add(ls, SECRET, source="hr")  # the last rows: SQLite hands out their rowids again
    # Another instance on the same data (a running server, as it were), which searched
    # before the deletion: its query vectors and its loaded index stay in memory.
    # On SQLite it answers lexical searches from postings in memory, another copy to erase.
    server_settings = dense_settings(endpoint, mode="hybrid")
    server_settings["retrieval"] = {**server_settings.get("retrieval", {}), "memory_index": "on"}
    server = open_leitstand(database_url, **server_settings)
    for instance in (ls, server):
        assert instance.search(QUERY).hits[0].source == "hr"
    if ls.db.is_sqlite:
        assert server.retriever.index.ready

    gone = rows(
        ls,
        "SELECT c.id, c.text_hash, v.vector FROM chunks c "
        "JOIN documents d ON d.id = c.document_id JOIN sources s ON s.id = d.source_id "
        "JOIN chunk_vectors v ON v.chunk_id = c.id WHERE s.name = 'hr' AND c.text <> :shared",
        shared=KEEP["handbuch/kantine.txt"],
    )
    ids = [int(row[0]) for row in gone]
    hashes = [str(row[1]) for row in gone]
    vectors = [bytes(row[2]) for row in gone]
    assert len(ids) == 2
    hnsw = tmp_path / "data" / "vectors" / file_name(MODEL)
    if ls.db.is_sqlite:
        assert set(ids) <= hnsw_keys(hnsw)
        assert all(vector in hnsw.read_bytes() for vector in vectors)

    ls.delete_source("hr")

    # The lexical index.
    terms = ls.retriever.analyse_query(QUERY)[1]
    with ls.db.read() as session:
        lexical = ls.retriever.index.search(session.connection(), terms, limit=100)
    assert not {hit.chunk_id for hit in lexical} & set(ids)
    if ls.db.is_sqlite:
        with ls.db.write() as session:  # FTS5 raises if its index disagrees with the chunks
            session.execute(text("INSERT INTO chunks_fts(chunks_fts) VALUES ('integrity-check')"))
    else:
        assert rows(ls, "SELECT term FROM lexical_terms WHERE term LIKE 'zebrafink%'") == []
        assert count(ls, "SELECT chunk_count FROM lexical_stats") == len(KEEP)

    # The vectors, and the index over them.
    assert count(ls, "SELECT count(*) FROM chunk_vectors WHERE chunk_id IN :ids", ids=ids) == 0
    assert count(ls, "SELECT count(*) FROM chunk_vectors") == len(KEEP)
    if ls.db.is_sqlite:
        header = read_header(hnsw)
        assert header is not None and header.count == len(KEEP)
        assert not hnsw_keys(hnsw) & set(ids)
        data = hnsw.read_bytes()
        assert not any(vector in data for vector in vectors)  # not even in a free slot
    else:
        assert count(ls, "SELECT count(*) FROM chunk_vectors WHERE embedding IS NOT NULL") == 3
        assert not list((tmp_path / "data").glob("**/*.hnsw"))  # pgvector, no files
    for vector in vectors:
        retriever = ls.embeddings.dense.retriever(MODEL)
        nearest = retriever.index.search(np.frombuffer(vector, "<f4"), limit=100)
        assert len(nearest) == len(KEEP)
        assert not {hit.chunk_id for hit in nearest} & set(ids)

    # The embedding cache: what only the deleted source had is gone; the shared text stays.
    cached = rows(ls, "SELECT text_hash FROM embedding_cache WHERE model = :m", m=MODEL)
    assert not {row[0] for row in cached} & set(hashes)
    assert len(cached) == len(KEEP)

    # No in-memory cache resurrects anything: the same query (its vector cached) in both
    # instances finds the kept documents only, and the query is not embedded again.
    endpoint.reset()
    for instance in (ls, server):
        hits = instance.search(QUERY).hits
        assert hits and {hit.source for hit in hits} == {"handbuch"}
        assert all("Quast" not in hit.text for hit in hits)
    assert embedded_texts(endpoint) == []
    if ls.db.is_sqlite:  # the postings in memory masked the deleted chunks
        postings = server.retriever.index._impact
        assert postings is not None and postings.chunks == len(KEEP)
        kantine = server.retriever.analyse_query("Kantine öffnet")[1]
        with server.db.read() as session:
            assert server.retriever.index.search(session, terms, limit=100) == []
            found = server.retriever.index.search(session, kantine, limit=100)
        assert len(found) == 1  # hr/shared.txt had the same text; only handbuch's is left

    # New documents after the deletion (on SQLite their vectors get the deleted vectors'
    # rowids): each index holds exactly the database's vectors. The server instance catches
    # up with the deletion at its next check (at most once a second).
    add(ls, NEW, source="neu")
    assert sorted(embedded_texts(endpoint)) == sorted(NEW.values())
    stored = {
        int(row[0]): np.frombuffer(bytes(row[1]), "<f4")
        for row in rows(ls, "SELECT chunk_id, vector FROM chunk_vectors")
    }
    assert len(stored) == len(KEEP) + len(NEW)
    if ls.db.is_sqlite:
        server.embeddings.dense.retriever(MODEL).index.sync(force=True)
    for instance in (ls, server):
        index = instance.embeddings.dense.retriever(MODEL).index
        for vector in vectors:
            query = np.frombuffer(vector, "<f4")
            found = index.search(query, limit=100)
            assert {hit.chunk_id for hit in found} == set(stored)
            for hit in found:
                assert hit.score == pytest.approx(float(stored[hit.chunk_id] @ query), abs=1e-4)
        assert {hit.source for hit in instance.search(QUERY).hits} <= {"handbuch", "neu"}

    # Ingesting the texts again costs embedding calls: nothing of them was kept.
    endpoint.reset()
    add(ls, SECRET, source="hr")
    assert sorted(embedded_texts(endpoint)) == sorted(
        text_ for path, text_ in SECRET.items() if path != "hr/shared.txt"
    )
