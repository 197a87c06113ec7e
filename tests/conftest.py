"""Fixtures shared by the whole suite.

Every test runs with the network blocked except loopback, with the user's configuration and
API keys out of reach, and in its own working directory. ``database_url`` gives each test a
fresh database on SQLite and (marked ``postgres``) on a real PostgreSQL 16 from ``pgserver``.
"""

from __future__ import annotations

import ipaddress
import os
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

# The shared datasets and seed articles live next to the checkout (../shared), as in CI;
# LEITSTAND_SHARED_DIR points elsewhere, e.g. for a clone in another folder.
SHARED = Path(
    os.environ.get("LEITSTAND_SHARED_DIR") or Path(__file__).resolve().parents[2] / "shared"
)
DATASETS = SHARED / "datasets"
SEEDS = SHARED / "seeds"

_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex
_real_getaddrinfo = socket.getaddrinfo
_LOCAL_NAMES = {"localhost", "localhost.localdomain", "testserver"}


class NetworkBlockedError(RuntimeError):
    pass


def _is_local(address: Any) -> bool:
    if isinstance(address, (str, bytes)):  # AF_UNIX path
        return True
    host = address[0] if isinstance(address, tuple) and address else address
    if isinstance(host, str) and host in _LOCAL_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _guarded_connect(self: socket.socket, address: Any) -> None:
    if not _is_local(address):
        raise NetworkBlockedError(f"tests may not connect to {address!r} (network is blocked)")
    _real_connect(self, address)


def _guarded_connect_ex(self: socket.socket, address: Any) -> int:
    if not _is_local(address):
        raise NetworkBlockedError(f"tests may not connect to {address!r} (network is blocked)")
    return _real_connect_ex(self, address)


def _guarded_getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
    name = host.decode() if isinstance(host, bytes) else host
    if name is not None and not _is_local((name,)) and name not in _LOCAL_NAMES:
        raise NetworkBlockedError(f"tests may not resolve {name!r} (network is blocked)")
    return _real_getaddrinfo(host, *args, **kwargs)


_SECRET_ENV_MARKERS = ("API_KEY", "TOKEN", "SECRET", "PASSWORD")
LEXICAL_ONLY_ENV = "LEITSTAND_EMBEDDINGS__PROVIDER"


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No network but loopback, no user config, no API keys, a private working directory."""
    monkeypatch.setattr(socket.socket, "connect", _guarded_connect)
    monkeypatch.setattr(socket.socket, "connect_ex", _guarded_connect_ex)
    monkeypatch.setattr(socket, "getaddrinfo", _guarded_getaddrinfo)
    for name in list(os.environ):
        if name.startswith("LEITSTAND_") or any(m in name for m in _SECRET_ENV_MARKERS):
            monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "home" / ".config"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    # The test environment has the [local] extra and a model, so ``embeddings.provider: auto``
    # would turn dense retrieval on everywhere. Tests are lexical unless they ask for dense
    # retrieval (the ``dense_by_default`` fixture, or an explicit provider in overrides).
    monkeypatch.setenv(LEXICAL_ONLY_ENV, "none")
    monkeypatch.setenv("NO_PROXY", "*")
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)


@pytest.fixture
def dense_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    """Leave ``embeddings.provider`` at its real default (``auto``: the installed local model)."""
    monkeypatch.delenv(LEXICAL_ONLY_ENV, raising=False)


@pytest.fixture(scope="session")
def pg_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A real PostgreSQL 16 with pgvector, started once per test session."""
    pgserver = pytest.importorskip("pgserver")
    # A short path: PostgreSQL's socket path must stay under ~100 characters.
    directory = Path("/tmp") / f"leitstand-pg-{uuid.uuid4().hex[:8]}"
    server = pgserver.get_server(str(directory), cleanup_mode="delete")
    try:
        yield server
    finally:
        server.cleanup()


def _pg_url(server: Any, database: str) -> str:
    uri: str = server.get_uri(database)
    return uri.replace("postgresql://", "postgresql+psycopg://", 1)


@pytest.fixture
def pg_url(pg_server: Any) -> str:
    """A fresh, empty PostgreSQL database for one test."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    pg_server.psql(f"CREATE DATABASE {name};")
    return _pg_url(pg_server, name)


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'data' / 'leitstand.db'}"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each test using this runs twice: on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'data' / 'leitstand.db'}"
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture
def open_leitstand(tmp_path: Path) -> Iterator[Any]:
    """Open leitstand instances with their data in tmp_path; all are closed afterwards."""
    from leitstand import Leitstand

    opened: list[Any] = []

    def factory(database_url: str | None = None, **overrides: Any) -> Any:
        settings = {"data_dir": str(tmp_path / "data"), **overrides}
        if database_url:
            settings["database_url"] = database_url
        instance = Leitstand.open(None, **settings)
        opened.append(instance)
        return instance

    yield factory
    for instance in opened:
        instance.close()


def write_files(folder: Path, files: dict[str, str | bytes]) -> Path:
    """Create files (text as UTF-8) below folder; returns folder."""
    for name, content in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
    return folder
