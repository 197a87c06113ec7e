"""Duplicate chunks are marked at ingestion (``chunks.duplicate_of``), on both backends."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from conftest import write_files
from leitstand.ingest import pipeline
from leitstand.ingest.pipeline import TextRecord
from leitstand.store.models import Chunk, Document
from leitstand.text.minhash import SIGNATURE_BYTES
from text.boilerplate import FAMILIES, FILLER

pytestmark = pytest.mark.integration

DISCLAIMER, PRIVACY, TRAVEL = FAMILIES[0], FAMILIES[1], FAMILIES[2]


def _chunks(ls: Any) -> dict[str, list[tuple[int, str, int | None, bytes | None]]]:
    """path → [(chunk id, text, duplicate_of, signature)] in document order."""
    with ls.db.read() as session:
        rows = session.execute(
            select(Document.path, Chunk.id, Chunk.text, Chunk.duplicate_of, Chunk.signature)
            .join(Document, Document.id == Chunk.document_id)
            .order_by(Document.path, Chunk.ordinal)
        ).all()
    found: dict[str, list[tuple[int, str, int | None, bytes | None]]] = {}
    for path, chunk_id, text, duplicate_of, signature in rows:
        found.setdefault(path, []).append((chunk_id, text, duplicate_of, signature))
    return found


def _letter(body: str, footer: str) -> str:
    """Chunks never cross a heading: the body and the footer are a chunk each."""
    return f"# Schreiben\n\n{body}\n\n## Hinweis\n\n{footer}\n"


def test_copies_point_at_the_original_exact_and_near(
    database_url: str, open_leitstand: Any
) -> None:
    ls = open_leitstand(database_url)
    edited = DISCLAIMER.replace("Hamburg HRB 123456", "Hamburg HRB 654321")
    report = ls.ingest_texts(
        [
            TextRecord("a.txt", DISCLAIMER),
            TextRecord("b.txt", DISCLAIMER),  # an exact copy
            TextRecord("c.txt", edited),  # one number changed
            TextRecord("d.txt", PRIVACY),  # something else
            TextRecord("e.txt", "Kontakt: Empfang"),  # too short for a signature
            TextRecord("f.txt", "Kontakt: Empfang"),  # its exact copy
        ],
        source="mail",
    )
    chunks = _chunks(ls)
    original = chunks["a.txt"][0][0]
    assert chunks["a.txt"][0][2] is None
    assert chunks["b.txt"][0][2] == original
    assert chunks["c.txt"][0][2] == original
    assert chunks["d.txt"][0][2] is None
    assert chunks["e.txt"][0][2] is None
    assert chunks["f.txt"][0][2] == chunks["e.txt"][0][0]
    assert report.duplicates == 3 and report.summary()["duplicates"] == 3
    assert len(chunks["a.txt"][0][3] or b"") == SIGNATURE_BYTES
    assert chunks["e.txt"][0][3] is None  # fewer terms than a signature needs


def test_copies_are_found_across_batches_and_runs(
    tmp_path: Path, database_url: str, open_leitstand: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pipeline, "BATCH_CHUNKS", 2)  # a batch every two chunks
    ls = open_leitstand(database_url)
    docs = write_files(
        tmp_path / "docs",
        {
            "1.md": _letter(TRAVEL, DISCLAIMER),
            "2.md": _letter(PRIVACY, FILLER[1]),
            "3.md": _letter(FAMILIES[3], DISCLAIMER.replace("Anna", "Marie")),
        },
    )
    first = ls.ingest(docs, source="letters")
    chunks = _chunks(ls)
    disclaimer = chunks["1.md"][-1][0]
    assert len(chunks["1.md"]) == 2, "body and footer are separate chunks"
    assert chunks["3.md"][-1][2] == disclaimer
    assert first.duplicates == 1

    # A later run: the new file's copies point at the stored originals.
    write_files(docs, {"4.md": _letter(FAMILIES[4], DISCLAIMER + " Stand: 2025.")})
    second = ls.ingest(docs, source="letters")
    assert second.added == ["4.md"] and second.duplicates == 1
    assert _chunks(ls)["4.md"][-1][2] == disclaimer


def test_a_replaced_original_is_never_pointed_at(
    tmp_path: Path, database_url: str, open_leitstand: Any
) -> None:
    ls = open_leitstand(database_url)
    docs = write_files(tmp_path / "docs", {"a.md": _letter(TRAVEL, DISCLAIMER)})
    ls.ingest(docs, source="letters")
    old_ids = {chunk[0] for chunk in _chunks(ls)["a.md"]}
    # a.md changes (its chunks are replaced); b.md, new, repeats a.md's footer.
    write_files(
        docs,
        {"a.md": _letter(FAMILIES[3], DISCLAIMER), "b.md": _letter(PRIVACY, DISCLAIMER)},
    )
    ls.ingest(docs, source="letters")
    chunks = _chunks(ls)
    existing = {chunk[0] for rows in chunks.values() for chunk in rows}
    pointers = [chunk[2] for rows in chunks.values() for chunk in rows if chunk[2] is not None]
    assert pointers, "b.md's footer repeats a.md's"
    assert all(pointer in existing and pointer not in old_ids for pointer in pointers)


def test_other_sources_are_not_compared(database_url: str, open_leitstand: Any) -> None:
    ls = open_leitstand(database_url)
    ls.ingest_texts([TextRecord("a.txt", DISCLAIMER)], source="one")
    report = ls.ingest_texts([TextRecord("a.txt", DISCLAIMER)], source="two")
    assert report.duplicates == 0
    assert all(chunk[2] is None for rows in _chunks(ls).values() for chunk in rows)
