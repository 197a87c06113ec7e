"""Opening the database, migrating it, and the rules for reading and writing.

SQLite (the embedded default) runs in WAL mode, so readers never wait for the writer and
never see half a transaction. Writes within one process go through one lock and take
SQLite's write lock up front (``BEGIN IMMEDIATE``), so concurrent writers queue instead of
failing. PostgreSQL uses ordinary transactions.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, create_engine, event, inspect, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from leitstand.errors import ConfigError, StorageError

_BEGIN_OPTION = "leitstand_sqlite_begin"
_REVISION_FILE = re.compile(r"^(\d{4})_\w+\.py$")


@cache
def head_revision() -> str:
    """The newest migration, from the file names (``0002_postgres_lexical.py`` -> ``0002``).

    Migrations are named and append-only, and each one's revision id is its number; a test
    checks that this agrees with Alembic's own idea of the head.
    """
    versions = resources.files("leitstand.store").joinpath("migrations/versions")
    numbers = [
        match.group(1)
        for entry in versions.iterdir()
        if (match := _REVISION_FILE.match(entry.name))
    ]
    return max(numbers)


def _alembic_config(connection: Connection) -> Any:
    from alembic.config import Config as AlembicConfig

    config = AlembicConfig()
    location = resources.files("leitstand.store").joinpath("migrations")
    config.set_main_option("script_location", str(location))
    config.attributes["connection"] = connection
    return config


class Database:
    """One leitstand database (SQLite file or PostgreSQL), migrated to the newest schema."""

    def __init__(self, url: str, *, echo: bool = False) -> None:
        try:
            parsed = make_url(url)
        except ArgumentError as exc:
            raise ConfigError(
                f"database_url = {url!r} is not a database URL",
                hint="use sqlite:///path/to/leitstand.db or postgresql+psycopg://user@host/db",
            ) from exc
        self.url = parsed
        self.dialect = parsed.get_backend_name()
        if self.dialect not in ("sqlite", "postgresql"):
            raise ConfigError(
                f"database_url uses {self.dialect!r}; leitstand supports sqlite and postgresql"
            )
        if self.dialect == "postgresql" and parsed.drivername == "postgresql":
            parsed = parsed.set(drivername="postgresql+psycopg")
        self._write_lock = threading.RLock()
        self.engine = self._create_engine(parsed, echo)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._write_sessions = sessionmaker(
            self.engine.execution_options(**{_BEGIN_OPTION: "IMMEDIATE"}),
            expire_on_commit=False,
        )

    @property
    def is_sqlite(self) -> bool:
        return self.dialect == "sqlite"

    def _create_engine(self, url: Any, echo: bool) -> Engine:
        if self.dialect == "sqlite":
            database = url.database
            if not database or database == ":memory:":
                raise ConfigError(
                    "leitstand needs an SQLite file, not an in-memory database",
                    hint="use sqlite:///path/to/leitstand.db",
                )
            Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
            engine = create_engine(
                url,
                echo=echo,
                connect_args={"check_same_thread": False, "timeout": 60},
            )
            event.listen(engine, "connect", _sqlite_on_connect)
            event.listen(engine, "begin", _sqlite_on_begin)
            return engine
        try:
            return create_engine(url, echo=echo, pool_pre_ping=True, pool_size=10)
        except NoSuchModuleError as exc:  # pragma: no cover - depends on the install
            raise ConfigError(
                "PostgreSQL support is not installed",
                hint="pip install 'leitstand[postgres]'",
            ) from exc
        except ModuleNotFoundError as exc:
            raise ConfigError(
                f"PostgreSQL driver missing ({exc.name})",
                hint="pip install 'leitstand[postgres]'",
            ) from exc

    # -- schema -----------------------------------------------------------------------

    def migrate(self) -> list[str]:
        """Bring the schema to the newest migration; returns the revisions applied."""
        try:
            if self._stored_revision() == head_revision():
                return []  # the common case, answered without importing Alembic
            return self._upgrade()
        except OperationalError as exc:
            raise StorageError(
                f"cannot open the database {self.url.render_as_string(hide_password=True)}: "
                f"{exc.orig}",
                hint="check database_url in leitstand.yaml and that the server is running",
            ) from exc

    def _upgrade(self) -> list[str]:
        from alembic import command
        from alembic.runtime.migration import MigrationContext
        from alembic.script import ScriptDirectory

        with self.engine.connect() as plain:
            connection = plain.execution_options(**{_BEGIN_OPTION: "IMMEDIATE"})
            config = _alembic_config(connection)
            script = ScriptDirectory.from_config(config)
            before = MigrationContext.configure(connection).get_current_revision()
            command.upgrade(config, "head")
            connection.commit()
            applied = [
                rev.revision
                for rev in script.iterate_revisions("head", before or "base")
                if rev.revision != before
            ]
            return list(reversed(applied))

    def _stored_revision(self) -> str | None:
        with self.engine.connect() as connection:
            if not inspect(connection).has_table("alembic_version"):
                return None
            return connection.execute(text("SELECT version_num FROM alembic_version")).scalar()

    def current_revision(self) -> str | None:
        from alembic.runtime.migration import MigrationContext

        with self.engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()

    def table_names(self) -> list[str]:
        return inspect(self.engine).get_table_names()

    # -- sessions ----------------------------------------------------------------------

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A session for reading; sees one consistent snapshot of committed data."""
        session = self._sessions()
        try:
            with session.begin():
                yield session
        finally:
            session.close()

    @contextmanager
    def write(self) -> Iterator[Session]:
        """A write transaction: serialised within the process, committed on success."""
        with self._write_lock:
            session = self._write_sessions()
            try:
                with session.begin():
                    yield session
            finally:
                session.close()

    def dispose(self) -> None:
        self.engine.dispose()


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    # Let SQLAlchemy's "begin" event issue BEGIN itself (the pysqlite driver would not for DDL).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=60000")
        cursor.execute("PRAGMA temp_store=MEMORY")
        cursor.execute("PRAGMA cache_size=-65536")
    finally:
        cursor.close()


def _sqlite_on_begin(connection: Connection) -> None:
    mode = connection.get_execution_options().get(_BEGIN_OPTION, "DEFERRED")
    connection.exec_driver_sql(f"BEGIN {mode}")
