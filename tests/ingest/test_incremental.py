"""Incremental ingestion on both backends: unchanged files cost nothing, changes replace."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from conftest import write_files
from leitstand.store.models import Chunk, Document

pytestmark = pytest.mark.integration

FILES = {
    "reisen.md": "# Reisekosten\n\nDie Verpflegungspauschale beträgt 28 Euro pro Tag.\n",
    "it/passwort.txt": "Passwörter haben mindestens 14 Zeichen.\n",
    "faq.txt": "Der Fehlercode E42 meldet Übertemperatur.\n",
}


def _snapshot(ls: Any) -> dict[str, tuple[Any, ...]]:
    with ls.db.read() as session:
        rows = session.execute(
            select(Document.path, Document.id, Document.updated_at, Document.content_hash)
        ).all()
        chunks = session.execute(select(Chunk.document_id, Chunk.id)).all()
    by_doc: dict[int, list[int]] = {}
    for document_id, chunk_id in chunks:
        by_doc.setdefault(document_id, []).append(chunk_id)
    return {row[0]: (row[1], row[2], row[3], sorted(by_doc.get(row[1], []))) for row in rows}


def test_rerun_on_unchanged_files_does_no_work(
    tmp_path: Path, database_url: str, open_leitstand: Any
) -> None:
    docs = write_files(tmp_path / "docs", FILES)
    ls = open_leitstand(database_url)
    first = ls.ingest(docs)
    assert sorted(first.added) == sorted(FILES)
    before = _snapshot(ls)

    second = ls.ingest(docs)
    assert second.added == second.updated == second.failed == []
    assert sorted(second.unchanged) == sorted(FILES)
    assert second.chunks_written == 0
    assert _snapshot(ls) == before

    # A touched file (new mtime, same bytes) is read once but its chunks stay.
    os.utime(docs / "faq.txt", ns=(1_700_000_000_000_000_000, 1_700_000_000_000_000_000))
    third = ls.ingest(docs)
    assert third.chunks_written == 0
    assert _snapshot(ls) == before


def test_a_changed_file_replaces_its_chunks_and_nothing_else(
    tmp_path: Path, database_url: str, open_leitstand: Any
) -> None:
    docs = write_files(tmp_path / "docs", FILES)
    ls = open_leitstand(database_url)
    ls.ingest(docs)
    before = _snapshot(ls)
    (docs / "reisen.md").write_text(
        "# Reisekosten\n\nHotelkosten werden bis 120 Euro pro Nacht erstattet.\n", encoding="utf-8"
    )
    report = ls.ingest(docs)
    assert report.updated == ["reisen.md"]
    after = _snapshot(ls)
    assert after["reisen.md"][0] == before["reisen.md"][0], "the document keeps its id"
    assert after["reisen.md"][3] != before["reisen.md"][3], "its chunks are new"
    for path in ("it/passwort.txt", "faq.txt"):
        assert after[path] == before[path]
    assert not ls.search("Verpflegungspauschale").hits
    assert ls.search("Hotelkosten Nacht").hits[0].path == "reisen.md"


def test_vanished_files_are_reported_and_pruned_on_request(
    tmp_path: Path, database_url: str, open_leitstand: Any
) -> None:
    docs = write_files(tmp_path / "docs", FILES)
    ls = open_leitstand(database_url)
    ls.ingest(docs)
    (docs / "faq.txt").unlink()
    report = ls.ingest(docs)
    assert report.vanished == ["faq.txt"]
    assert ls.search("Fehlercode E42").hits, "without --prune nothing is removed"
    report = ls.ingest(docs, prune=True)
    assert report.removed == ["faq.txt"]
    assert not ls.search("Fehlercode E42").hits
    assert {s.name: s.documents for s in ls.sources()} == {"docs": 2}


def test_changed_chunking_settings_redo_the_documents(
    tmp_path: Path, open_leitstand: Any, sqlite_url: str
) -> None:
    docs = write_files(tmp_path / "docs", FILES)
    open_leitstand(sqlite_url).ingest(docs)
    again = open_leitstand(sqlite_url, ingest={"chunk_chars": 800}).ingest(docs)
    assert sorted(again.updated) == sorted(FILES)


def test_tags_and_sources_filter_search(
    tmp_path: Path, database_url: str, open_leitstand: Any
) -> None:
    hr = write_files(tmp_path / "hr", {"urlaub.md": "Urlaub wird im Portal beantragt."})
    it = write_files(tmp_path / "it", {"urlaub.md": "Urlaub der IT-Bereitschaft wird getauscht."})
    ls = open_leitstand(database_url)
    ls.ingest(hr, tags=["personal"])
    ls.ingest(it)
    assert {h.source for h in ls.search("Urlaub").hits} == {"hr", "it"}
    assert {h.source for h in ls.search("Urlaub", sources=["it"]).hits} == {"it"}
    assert {h.source for h in ls.search("Urlaub", tags=["personal"]).hits} == {"hr"}
    ls.delete_source("hr")
    assert {h.source for h in ls.search("Urlaub").hits} == {"it"}


def test_ingesting_a_single_file_and_a_missing_path(
    tmp_path: Path, open_leitstand: Any, sqlite_url: str
) -> None:
    docs = write_files(tmp_path / "docs", FILES)
    ls = open_leitstand(sqlite_url)
    report = ls.ingest(docs / "faq.txt")
    assert report.added == ["faq.txt"]
    assert report.source == "docs"
    from leitstand.errors import LeitstandError

    with pytest.raises(LeitstandError, match="does not exist"):
        ls.ingest(tmp_path / "missing")
