"""The named migrations build the schema the models describe, on SQLite and on PostgreSQL."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from importlib import resources
from pathlib import Path

import pytest
from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text

from leitstand.search.analyser import Analyser
from leitstand.search.postgres_fts import PostgresLexicalIndex
from leitstand.store.database import Database
from leitstand.store.models import Base

pytestmark = pytest.mark.integration


def _head() -> str:
    config = AlembicConfig()
    config.set_main_option(
        "script_location", str(resources.files("leitstand.store").joinpath("migrations"))
    )
    head = ScriptDirectory.from_config(config).get_current_head()
    assert head is not None
    return head


def test_migrate_builds_a_fresh_database_and_then_does_nothing(database_url: str) -> None:
    db = Database(database_url)
    try:
        applied = db.migrate()
        assert applied[:2] == ["0001", "0002"]
        assert applied == sorted(applied)
        assert applied[-1] == _head()
        assert db.current_revision() == _head()
        tables = set(db.table_names())
        assert {"sources", "documents", "chunks", "traces", "spans", "api_keys"} <= tables
        if db.is_sqlite:
            assert "chunks_fts" in tables
            assert "lexical_terms" not in tables  # 0002 is for PostgreSQL only
        else:
            assert {"lexical_terms", "lexical_stats"} <= tables
        assert db.migrate() == []
        assert Database(database_url).migrate() == []  # a second process, later
    finally:
        db.dispose()


_MIGRATE = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from leitstand.store.database import Database

    url, ready, go = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
    db = Database(url)
    ready.touch()
    while not go.exists():
        time.sleep(0.005)
    db.migrate()
    print(db.current_revision())
    """
)


@pytest.mark.slow
def test_two_processes_migrating_a_fresh_database_at_once_both_succeed(
    database_url: str, tmp_path: Path
) -> None:
    go = tmp_path / "go"
    processes = []
    for number in range(2):
        ready = tmp_path / f"ready{number}"
        processes.append(
            (
                ready,
                subprocess.Popen(
                    [sys.executable, "-c", _MIGRATE, database_url, str(ready), str(go)],
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    text=True,
                ),
            )
        )
    deadline = time.monotonic() + 60
    while not all(ready.exists() for ready, _ in processes):
        assert time.monotonic() < deadline, "the migrating processes did not start"
        assert all(process.poll() is None for _, process in processes)
        time.sleep(0.01)
    go.touch()  # both start migrating now
    for _, process in processes:
        out, err = process.communicate(timeout=120)
        assert process.returncode == 0, err
        assert out.strip() == _head()
    db = Database(database_url)
    try:
        with db.read() as session:
            versions = session.execute(text("SELECT version_num FROM alembic_version")).all()
        assert [row[0] for row in versions] == [_head()]
        assert db.migrate() == []
    finally:
        db.dispose()


def test_the_models_agree_with_the_migrated_schema(database_url: str) -> None:
    db = Database(database_url)
    try:
        db.migrate()
        inspector = inspect(db.engine)
        problems = []
        for table in Base.metadata.sorted_tables:
            columns = {column["name"]: column for column in inspector.get_columns(table.name)}
            for column in table.columns:
                found = columns.get(column.name)
                if found is None:
                    problems.append(f"{table.name}.{column.name} is missing")
                elif bool(found["nullable"]) != bool(column.nullable):
                    problems.append(
                        f"{table.name}.{column.name}: model nullable={column.nullable}, "
                        f"database nullable={found['nullable']}"
                    )
        assert problems == []
    finally:
        db.dispose()


@pytest.mark.postgres
def test_0002_indexes_chunks_written_before_it(pg_url: str) -> None:
    # A database that has documents from before 0002 gets a complete lexical index.
    db = Database(pg_url)
    try:
        with db.engine.connect() as connection:
            config = AlembicConfig()
            config.set_main_option(
                "script_location", str(resources.files("leitstand.store").joinpath("migrations"))
            )
            config.attributes["connection"] = connection
            command.upgrade(config, "0001")
            connection.commit()
        assert db.current_revision() == "0001"
        analyser = Analyser(["de"])
        sample = "Die Pumpe fördert Wasser, die Pumpe läuft."
        body = analyser.analyse(sample, "de")
        with db.write() as session:  # a chunk as the 0001 schema held it
            session.execute(
                text(
                    "INSERT INTO sources (id, name, created_at, updated_at) "
                    "VALUES (1, 'alt', now(), now())"
                )
            )
            session.execute(
                text(
                    "INSERT INTO documents (id, source_id, path, uri, title, kind, content_hash,"
                    " pipeline_hash, size_bytes, mtime_ns, language, chunk_count, text, metadata,"
                    " created_at, updated_at) VALUES (1, 1, 'a.txt', 'a.txt', 'Alt', 'txt', 'h',"
                    " 'p', 1, 0, 'de', 1, :text, '{}', now(), now())"
                ),
                {"text": sample},
            )
            session.execute(
                text(
                    "INSERT INTO chunks (document_id, ordinal, text, analysed, analysed_context,"
                    " heading, start_char, end_char, language, term_count) VALUES (1, 0, :text,"
                    " :body, 'alt', '', 0, :end, 'de', :count)"
                ),
                {"text": sample, "body": body, "end": len(sample), "count": len(body.split())},
            )
        assert db.migrate()[0] == "0002"
        with db.read() as session:
            stats = session.execute(
                text("SELECT chunk_count, body_terms, context_terms FROM lexical_stats")
            ).one()
            rows = session.execute(text("SELECT term, chunk_count FROM lexical_terms")).all()
            terms: dict[str, int] = {term: count for term, count in rows}
            found = PostgresLexicalIndex().search(session, ["pump"], limit=5)
        assert tuple(stats) == (1, len(body.split()), 1)
        assert terms == dict.fromkeys({*body.split(), "alt"}, 1)
        assert len(found) == 1
        assert found[0].score > 0
    finally:
        db.dispose()
