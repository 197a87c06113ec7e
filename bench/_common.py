"""Helpers shared by the benchmark scripts: paths, statistics, results, servers, processes."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from leitstand.evals.retrieval import percentile

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
DATASETS = SHARED / "datasets"
SEEDS = SHARED / "seeds"
RESULTS = Path(__file__).resolve().parent / "results"


def parser(description: str) -> argparse.ArgumentParser:
    """The arguments every benchmark takes: ``--quick`` and ``--out``."""
    args = argparse.ArgumentParser(description=description)
    args.add_argument("--quick", action="store_true", help="a smaller run, for a first look")
    args.add_argument("--out", type=Path, help="where to write the JSON result")
    return args


def summary(values: Sequence[float], digits: int = 3) -> dict[str, float]:
    """p50, p90, p99, mean and max of a list of milliseconds."""
    if not values:
        return {"n": 0}
    return {
        "n": len(values),
        "p50": round(percentile(values, 0.50), digits),
        "p90": round(percentile(values, 0.90), digits),
        "p99": round(percentile(values, 0.99), digits),
        "mean": round(statistics.fmean(values), digits),
        "max": round(max(values), digits),
    }


def ratio(numerator: float, denominator: float, digits: int = 3) -> float | None:
    return round(numerator / denominator, digits) if denominator else None


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    model = platform.processor() or ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    memory_gb = None
    with contextlib.suppress(OSError, ValueError, IndexError):
        first = Path("/proc/meminfo").read_text().splitlines()[0]
        memory_gb = round(int(first.split()[1]) / 1024 / 1024, 1)
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    return {
        "cores": os.cpu_count(),
        "cpu": model,
        "memory_gb": memory_gb,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "load_average_at_start": [round(x, 2) for x in load] if load else None,
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
    }


def write_result(name: str, data: dict[str, Any], out: Path | None = None) -> Path:
    path = out or RESULTS / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {"benchmark": name, "machine": machine(), **data}
    path.write_text(json.dumps(payload, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {path}")
    return path


# -- PostgreSQL ------------------------------------------------------------------------


@contextlib.contextmanager
def postgres() -> Iterator[Any]:
    """A throw-away PostgreSQL 16 from ``pgserver``; None when pgserver is missing."""
    try:
        import pgserver
    except ImportError:
        yield None
        return
    # A short path: PostgreSQL's socket path must stay under ~100 characters.
    directory = Path("/tmp") / f"lsbench-pg-{uuid.uuid4().hex[:8]}"
    server = pgserver.get_server(str(directory), cleanup_mode="delete")
    try:
        yield server
    finally:
        server.cleanup()


def postgres_url(server: Any, prefix: str) -> str:
    """A fresh database on ``server`` as a SQLAlchemy URL."""
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    server.psql(f"CREATE DATABASE {name};")
    uri: str = server.get_uri(name)
    return uri.replace("postgresql://", "postgresql+psycopg://", 1)


# -- the scripted model server -----------------------------------------------------------


@contextlib.contextmanager
def scripted_model_server(reply: str | None = None) -> Iterator[Any]:
    """A started ScriptedChatServer; ``reply`` answers every request (default: an echo)."""
    from leitstand.testing import ScriptedChatServer

    server = ScriptedChatServer(default=(lambda _body: reply) if reply is not None else None)
    with server:
        yield server


# -- processes -------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def rss_mb(pid: int) -> float:
    """Resident memory of a process in MB (psutil when installed, else /proc)."""
    try:
        import psutil

        return round(psutil.Process(pid).memory_info().rss / 1024 / 1024, 1)
    except ImportError:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return round(int(line.split()[1]) / 1024, 1)
    raise RuntimeError(f"cannot read the memory of process {pid}")


class ServerProcess:
    """A child process serving HTTP; ``start()`` waits until ``ready_path`` answers 200."""

    def __init__(
        self,
        argv: list[str],
        *,
        port: int,
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
        ready_path: str = "/readyz",
        timeout_s: float = 60.0,
    ) -> None:
        self.argv = argv
        self.port = port
        self.env = {**os.environ, **(env or {})}
        self.cwd = cwd
        self.ready_path = ready_path
        self.timeout_s = timeout_s
        self.process: subprocess.Popen[bytes] | None = None
        self.ready_after_s = 0.0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def start(self) -> ServerProcess:
        started = time.perf_counter()
        self.process = subprocess.Popen(
            self.argv,
            env=self.env,
            cwd=self.cwd,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = started + self.timeout_s
        with httpx.Client(timeout=1.0) as client:
            while time.perf_counter() < deadline:
                if self.process.poll() is not None:
                    error = self.process.stderr.read().decode() if self.process.stderr else ""
                    raise RuntimeError(
                        f"{self.argv} exited with {self.process.returncode}:\n{error}"
                    )
                with contextlib.suppress(httpx.HTTPError):
                    if client.get(self.url + self.ready_path).status_code == 200:
                        self.ready_after_s = time.perf_counter() - started
                        return self
                time.sleep(0.01)
        self.stop()
        raise RuntimeError(f"{self.argv} not ready within {self.timeout_s} s")

    def stop(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process.stderr:
            self.process.stderr.close()
        self.process = None

    def __enter__(self) -> ServerProcess:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


BARE_APP = """import json
import os

from fastapi import FastAPI
from fastapi.responses import JSONResponse

app = FastAPI()
CANNED = json.loads(os.environ.get("BARE_RESPONSE") or "{}")


@app.get("/readyz")
def readyz() -> dict[str, str]:
    return {"status": "ready"}


@app.post("/v1/chat/completions")
def chat(body: dict) -> JSONResponse:
    return JSONResponse(CANNED)
"""


def bare_fastapi(folder: Path, response: dict[str, Any] | None = None) -> ServerProcess:
    """A bare FastAPI app on uvicorn, as leitstand serve runs it: the floor for any such service.

    ``POST /v1/chat/completions`` parses the JSON body and returns ``response`` unchanged.
    """
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "bare_app.py").write_text(BARE_APP, encoding="utf-8")
    port = free_port()
    argv = [sys.executable, "-m", "uvicorn", "--app-dir", str(folder), "bare_app:app"]
    argv += ["--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"]
    env = {"BARE_RESPONSE": json.dumps(response or {})}
    return ServerProcess(argv, port=port, env=env)


def leitstand_serve(config: Path, port: int | None = None) -> ServerProcess:
    """``leitstand serve`` with its own config file, as a user would start it."""
    port = port or free_port()
    argv = [sys.executable, "-m", "leitstand", "serve", "--host", "127.0.0.1", "--port", str(port)]
    return ServerProcess(argv, port=port, env={"LEITSTAND_CONFIG": str(config)}, cwd=config.parent)
