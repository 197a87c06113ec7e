"""kill -9 in the middle of ingesting 1,000 files, then a re-run: a consistent index."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, text

from leitstand.store.models import Chunk, Document

pytestmark = [pytest.mark.integration, pytest.mark.slow]

FILES = 1000
PARAGRAPHS = 36
"""About four chunks a file: the 1,000 files go in several write batches (of 2,000 chunks), so
a kill after the first lands mid-way however fast the machine parses."""


def _corpus(folder: Path) -> None:
    folder.mkdir()
    for number in range(FILES):
        paragraphs = "\n\n".join(
            f"Absatz {p} von Dokument {number}: Die Baureihe HA-{number % 7} läuft mit "
            f"{p * 10 + number % 13} Umdrehungen; Kennwort token{number}x{p}."
            for p in range(PARAGRAPHS)
        )
        (folder / f"doc{number:04d}.md").write_text(f"# Dokument {number}\n\n{paragraphs}\n")


def _document_count(ls: Any) -> int:
    with ls.db.read() as session:
        return int(session.scalar(select(func.count()).select_from(Document)) or 0)


def _assert_consistent(ls: Any) -> None:
    with ls.db.read() as session:
        mismatched = session.execute(
            select(Document.path)
            .outerjoin(Chunk, Chunk.document_id == Document.id)
            .group_by(Document.id, Document.path, Document.chunk_count)
            .having(func.count(Chunk.id) != Document.chunk_count)
        ).all()
        assert mismatched == [], "every document has exactly its chunks"
        if ls.db.is_sqlite:
            assert session.execute(text("PRAGMA integrity_check")).scalar() == "ok"
    if ls.db.is_sqlite:
        with ls.db.write() as session:  # raises if the FTS index disagrees with the chunks
            session.execute(
                text("INSERT INTO chunks_fts(chunks_fts, rank) VALUES ('integrity-check', 1)")
            )


def test_kill_during_ingest_then_rerun_gives_every_file_once(
    tmp_path: Path, database_url: str, open_leitstand: Any
) -> None:
    docs = tmp_path / "docs"
    _corpus(docs)
    config = tmp_path / "leitstand.yaml"
    config.write_text(
        f"data_dir: {tmp_path / 'data'}\ndatabase_url: {database_url}\n", encoding="utf-8"
    )
    ls = open_leitstand(database_url)
    child = subprocess.Popen(
        [sys.executable, "-m", "leitstand", "ingest", str(docs)],
        env={**os.environ, "LEITSTAND_CONFIG": str(config)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 120
        while _document_count(ls) < 50 and time.monotonic() < deadline:
            assert child.poll() is None, "ingest finished before it could be killed"
            time.sleep(0.02)
    finally:
        os.killpg(child.pid, signal.SIGKILL)
        child.wait()
    partial = _document_count(ls)
    assert 0 < partial < FILES, "the kill happened mid-way"
    _assert_consistent(ls)

    report = ls.ingest(docs)
    assert report.failed == []
    assert len(report.added) + len(report.unchanged) == FILES
    _assert_consistent(ls)
    with ls.db.read() as session:
        paths = session.scalars(select(Document.path)).all()
    assert len(paths) == FILES == len(set(paths))
    last = ls.search(f"token{FILES - 1}x11", k=1).hits
    assert last and last[0].path == f"doc{FILES - 1:04d}.md"
