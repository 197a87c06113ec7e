"""Gateway overhead: leitstand's chat mode against LiteLLM's proxy, in front of one model server.

Every server runs in its own process group on this machine, all at once:

- ``direct``: the upstream itself, ``python -m leitstand.testing.scripted_server`` (real
  HTTP and SSE; one process), answering every request with the same ~55-word German answer,
  streamed word by word as a model would;
- ``leitstand``: ``leitstand serve --workers N`` with a use case ``mode: chat`` in front of
  that upstream, default settings (guards on, tracing on);
- ``leitstand_lean``: the same with ``guard: {enabled: false}`` and tracing off: nothing on the
  request path but the gateway itself, which is what LiteLLM's proxy does by default (no
  guards, and without a database it writes no spend logs). This is the like-for-like peer;
- ``litellm``: LiteLLM's proxy (``litellm --config ... --num_workers N``; installed in its own
  virtualenv ``.venv-litellm``) with one ``openai/scripted-model`` deployment on the same
  upstream, callbacks, spend and error logs off, no master key, no database.

A load generator in a separate process (asyncio, one keep-alive HTTP/1.1 connection per
concurrent request, the request bytes built once) measures:

1. added latency: sequential requests (concurrency 1), one per target per round in a rotating
   order, JSON and streaming (time to last byte); ``added`` is a target's percentile minus the
   direct upstream's percentile of the same rounds;
2. throughput: requests/s at fixed concurrencies over a fixed duration after a warm-up, each
   target alone while the others idle, in alternating order over the rounds; errors counted,
   and the CPU time each server's process group spent per request.

    .venv/bin/python bench/gateway.py [--quick] [--workers 2] [--litellm PATH]

LiteLLM's proxy is a peer, not a dependency of leitstand; ``make bench`` installs it into
``.venv-litellm`` (or once by hand: ``make .venv-litellm/bin/litellm``; version 1.108.7 was
measured).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import json
import multiprocessing
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml

from _common import ROOT, free_port, parser, ratio, summary, write_result

MISSING_PEER = 3
"""Exit status when LiteLLM's proxy is not installed (``bench/run_all.py`` skips the run)."""
LITELLM = ROOT / ".venv-litellm" / "bin" / "litellm"
INSTALL_LITELLM = "make .venv-litellm/bin/litellm"
REPLY = (
    "Laut den Dokumenten werden für Retrieval-Augmented Generation Vektor-Datenbanken wie "
    "Pinecone, Weaviate, Qdrant und pgvector eingesetzt [1]. Ergänzend nennen die Quellen "
    "Frameworks wie LangChain und LlamaIndex sowie Werkzeuge für Monitoring und Tracing im "
    "Betrieb [2]. Für den produktiven Einsatz empfehlen sie Caching, versionierte Prompts und "
    "eine Evaluations-Suite mit Regressionstests, bevor eine Änderung live geht [1][3]."
)
MESSAGES = [
    {
        "role": "system",
        "content": "Du bist ein sachlicher Assistent für ein mittelständisches Unternehmen. "
        "Antworte knapp auf Deutsch und nenne deine Quellen.",
    },
    {
        "role": "user",
        "content": "Wir wollen unsere Handbücher und Richtlinien für Fragen der Belegschaft "
        "erschließen. Welche Vektor-Datenbanken und Werkzeuge kommen für Retrieval-Augmented "
        "Generation in Frage, und worauf sollten wir im Betrieb achten?",
    },
]
MODES = ("json", "stream")
TARGETS = ("direct", "leitstand", "leitstand_lean", "litellm")
REQUEST_TIMEOUT_S = 60.0
LIKE_FOR_LIKE = "leitstand_lean"
"""The leitstand target compared with LiteLLM for the acceptance (no guards on either side)."""


# -- processes ---------------------------------------------------------------------------


def _group(pgid: int) -> list[int]:
    """The processes of a process group (Linux /proc; empty elsewhere)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError, ValueError, IndexError):
            stat = (entry / "stat").read_text()
            fields = stat[stat.rindex(")") + 2 :].split()
            if int(fields[2]) == pgid:  # state, ppid, pgrp, ...
                pids.append(int(entry.name))
    return pids


def _cpu_s(pids: list[int]) -> float:
    """User + system CPU seconds the processes have used so far."""
    total = 0.0
    tick = os.sysconf("SC_CLK_TCK")
    for pid in pids:
        with contextlib.suppress(OSError, ValueError, IndexError):
            stat = Path(f"/proc/{pid}/stat").read_text()
            fields = stat[stat.rindex(")") + 2 :].split()
            total += (int(fields[11]) + int(fields[12])) / tick  # utime, stime
    return total


def _rss_mb(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError, ValueError, IndexError):
            total += int(Path(f"/proc/{pid}/statm").read_text().split()[1])
    return round(total * os.sysconf("SC_PAGE_SIZE") / 1024 / 1024, 1)


@dataclass
class Server:
    """A server in its own process group; output to a log file; stopped with the whole group."""

    name: str
    argv: list[str]
    port: int
    ready_path: str
    log: Path
    env: dict[str, str] = field(default_factory=dict)
    cwd: Path | None = None
    timeout_s: float = 300.0
    process: subprocess.Popen[bytes] | None = None
    ready_s: float = 0.0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def pids(self) -> list[int]:
        return _group(self.process.pid) if self.process else []

    def start(self) -> None:
        started = time.perf_counter()
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(
                self.argv,
                env={**os.environ, **self.env},
                cwd=self.cwd,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = started + self.timeout_s
        with httpx.Client(timeout=2.0) as client:
            while time.perf_counter() < deadline:
                if self.process.poll() is not None:
                    raise RuntimeError(
                        f"{self.name} exited with {self.process.returncode}:\n{self.tail()}"
                    )
                with contextlib.suppress(httpx.HTTPError):
                    if client.get(self.url + self.ready_path).status_code == 200:
                        self.ready_s = round(time.perf_counter() - started, 2)
                        return
                time.sleep(0.1)
        raise RuntimeError(f"{self.name} not ready within {self.timeout_s:.0f} s:\n{self.tail()}")

    def settle(self, quiet_cpu_s: float = 0.05, window_s: float = 1.0, limit_s: float = 120.0):
        """Wait until the group idles (every worker started, start-up work done)."""
        deadline = time.monotonic() + limit_s
        quiet = 0
        while quiet < 2 and time.monotonic() < deadline:
            before = _cpu_s(self.pids())
            time.sleep(window_s)
            quiet = quiet + 1 if _cpu_s(self.pids()) - before < quiet_cpu_s else 0

    def tail(self, lines: int = 30) -> str:
        with contextlib.suppress(OSError):
            text = self.log.read_text(errors="replace").splitlines()
            return "\n".join(line.strip()[:300] for line in text[-lines:] if line.strip())
        return ""

    def stop(self) -> None:
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=20)
        deadline = time.monotonic() + 10
        while self.pids() and time.monotonic() < deadline:
            time.sleep(0.1)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=5)
        self.process = None


def upstream_server(folder: Path) -> Server:
    port = free_port()
    argv = [sys.executable, "-m", "leitstand.testing.scripted_server", "--reply", REPLY]
    argv += ["--port", str(port)]
    return Server("direct", argv, port, "/v1/models", folder / "upstream.log")


def leitstand_server(name: str, folder: Path, upstream: str, workers: int, lean: bool) -> Server:
    folder.mkdir(parents=True, exist_ok=True)
    settings: dict[str, Any] = {
        "data_dir": "data",
        "log_level": "warning",
        "embeddings": {"provider": "none"},
        "models": {"upstream": {"base_url": upstream, "model": "scripted-model", "max_retries": 0}},
        "use_cases": {"chat": {"mode": "chat", "model": "upstream"}},
        "default_use_case": "chat",
        "tracing": {"enabled": not lean},
    }
    if lean:
        settings["guard"] = {"enabled": False}
    config = folder / "leitstand.yaml"
    config.write_text(yaml.safe_dump(settings, sort_keys=False), encoding="utf-8")
    port = free_port()
    argv = [sys.executable, "-m", "leitstand", "serve", "--host", "127.0.0.1"]
    argv += ["--port", str(port), "--workers", str(workers)]
    env = {"LEITSTAND_CONFIG": str(config)}
    return Server(name, argv, port, "/readyz", folder / "serve.log", env=env, cwd=folder)


LITELLM_ENV = {
    # The model price map ships with the package; do not fetch it at start (no network here).
    "LITELLM_LOCAL_MODEL_COST_MAP": "True",
    "LITELLM_LOG": "ERROR",
    # Without a master key and a database, as leitstand runs on loopback without API keys.
    "LITELLM_DANGEROUSLY_PERMIT_WEAK_OR_UNSET_MASTER_KEY": "true",
    "PYTHONUNBUFFERED": "1",
}


def litellm_config(upstream: str) -> dict[str, Any]:
    return {
        "model_list": [
            {
                "model_name": "chat",
                "litellm_params": {
                    "model": "openai/scripted-model",
                    "api_base": upstream,
                    "api_key": "x",
                },
            }
        ],
        "litellm_settings": {
            "num_retries": 0,
            "request_timeout": 60,
            "callbacks": [],
            "success_callback": [],
            "failure_callback": [],
        },
        "general_settings": {"disable_spend_logs": True, "disable_error_logs": True},
    }


def litellm_server(binary: Path, folder: Path, upstream: str, workers: int) -> Server:
    folder.mkdir(parents=True, exist_ok=True)
    config = folder / "litellm.yaml"
    config.write_text(yaml.safe_dump(litellm_config(upstream), sort_keys=False), encoding="utf-8")
    port = free_port()
    argv = [str(binary), "--config", str(config), "--host", "127.0.0.1", "--port", str(port)]
    argv += ["--num_workers", str(workers)]
    # uvicorn kills a worker that has not answered its supervisor within 5 s; LiteLLM's import
    # takes longer than that on a busy 2-core machine, and the workers then restart forever.
    argv += ["--timeout_worker_healthcheck", "300"]
    return Server(
        "litellm", argv, port, "/health/readiness", folder / "litellm.log", LITELLM_ENV, folder
    )


def litellm_version(binary: Path) -> str:
    python = binary.parent / "python"
    code = "import importlib.metadata as m; print(m.version('litellm'))"
    result = subprocess.run(
        [str(python), "-c", code], check=False, capture_output=True, text=True, timeout=60
    )
    return result.stdout.strip() or "unknown"


# -- load generator (runs in its own process) ---------------------------------------------
#
# A minimal HTTP/1.1 client on asyncio streams: one keep-alive connection per concurrent
# worker, the request bytes built once. httpx's AsyncClient cost 5 ms (concurrency 16) to
# 18 ms (64) of CPU per request on this machine, more than the gateways under test; on two
# cores that CPU is taken from the servers, so the load generator has to be as cheap as can be.


def _body(model: str, stream: bool) -> dict[str, Any]:
    body: dict[str, Any] = {"model": model, "messages": MESSAGES}
    if stream:
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}
    return body


def _request_bytes(url: str, model: str, stream: bool) -> bytes:
    """A whole POST request to ``url`` (``http://host:port/path``)."""
    address, _, path = url.removeprefix("http://").partition("/")
    body = json.dumps(_body(model, stream)).encode()
    head = (
        f"POST /{path} HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/json\r\n"
        f"Accept: {'text/event-stream' if stream else 'application/json'}\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


class Connection:
    """One keep-alive connection; reopened after an error or ``Connection: close``."""

    def __init__(self, url: str) -> None:
        host, _, port = url.removeprefix("http://").partition("/")[0].partition(":")
        self.host, self.port = host, int(port or 80)
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            with contextlib.suppress(OSError):
                await self.writer.wait_closed()
        self.reader = self.writer = None

    async def send(self, request: bytes) -> tuple[int, float, bytes]:
        """(status, perf_counter at the first byte of the body, the body)."""
        try:
            async with asyncio.timeout(REQUEST_TIMEOUT_S):
                return await self._send(request)
        except BaseException:
            await self.close()
            raise

    async def _send(self, request: bytes) -> tuple[int, float, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        reader = self.reader
        self.writer.write(request)
        head = await reader.readuntil(b"\r\n\r\n")
        first = time.perf_counter()
        status = int(head[9:12])
        headers = head.lower()
        keep = b"\r\nconnection: close" not in headers
        if b"\r\ntransfer-encoding: chunked" in headers:
            parts = []
            while True:
                size = int((await reader.readline()).split(b";")[0], 16)
                if size == 0:
                    while await reader.readline() not in (b"\r\n", b""):
                        pass  # trailers
                    break
                if not parts:
                    first = time.perf_counter()
                parts.append((await reader.readexactly(size + 2))[:-2])
            body = b"".join(parts)
        elif (at := headers.find(b"\r\ncontent-length:")) >= 0:
            length = int(headers[at + 17 : headers.index(b"\r\n", at + 2)])
            body = await reader.readexactly(length)
        else:
            body, keep = await reader.read(), False
        if not keep:
            await self.close()
        return status, first, body


def _streamed_text(raw: bytes) -> str:
    """The answer put together from SSE chunks."""
    parts = []
    for line in raw.decode().splitlines():
        if line.startswith("data: ") and line != "data: [DONE]":
            for choice in json.loads(line[6:]).get("choices") or []:
                parts.append((choice.get("delta") or {}).get("content") or "")
    return "".join(parts)


def _answer_ok(status: int, raw: bytes, stream: bool, whole: bool = True) -> bool:
    """A 200 with the scripted answer; ``whole=False`` checks a stream's end only."""
    if status != 200:
        return False
    if stream and not whole:
        return raw.rstrip().endswith(b"data: [DONE]")
    try:
        text = (
            _streamed_text(raw) if stream else json.loads(raw)["choices"][0]["message"]["content"]
        )
    except (ValueError, KeyError, IndexError, TypeError):
        return False
    return bool(text.strip() == REPLY)


async def _latency(
    targets: dict[str, tuple[str, str]], requests: int, warm_up: int, stream: bool
) -> dict[str, Any]:
    names = list(targets)
    connections = {name: Connection(targets[name][0]) for name in names}
    payloads = {name: _request_bytes(*targets[name], stream) for name in names}
    first: dict[str, list[float]] = {name: [] for name in names}
    last: dict[str, list[float]] = {name: [] for name in names}
    wrong: Counter[str] = Counter()
    try:
        for number in range(warm_up + requests):
            shift = number % len(names)
            for name in names[shift:] + names[:shift]:
                started = time.perf_counter()
                status, first_byte, raw = await connections[name].send(payloads[name])
                done = time.perf_counter()
                if not _answer_ok(status, raw, stream):
                    wrong[name] += 1
                if number >= warm_up:
                    first[name].append((first_byte - started) * 1000)
                    last[name].append((done - started) * 1000)
    finally:
        for connection in connections.values():
            await connection.close()
    return {"first": first, "last": last, "wrong": dict(wrong)}


async def _throughput(
    url: str, model: str, concurrency: int, duration_s: float, warm_up_s: float, stream: bool
) -> dict[str, Any]:
    request = _request_bytes(url, model, stream)
    connections = [Connection(url) for _ in range(concurrency)]
    counted: list[float] = []
    errors: Counter[str] = Counter()
    completed = 0
    cpu_before = time.process_time()
    # One request on every connection first, so that connecting is not measured.
    await asyncio.gather(*(connection.send(request) for connection in connections))
    started = time.perf_counter()
    measure_from, stop_at = started + warm_up_s, started + warm_up_s + duration_s

    async def worker(connection: Connection) -> None:
        nonlocal completed
        while (begun := time.perf_counter()) < stop_at:
            try:
                status, _, raw = await connection.send(request)
            except (OSError, asyncio.IncompleteReadError, TimeoutError, ValueError) as error:
                errors[type(error).__name__] += 1
                await asyncio.sleep(0.01)  # a refused connection must not spin
                continue
            now = time.perf_counter()
            completed += 1
            if not _answer_ok(status, raw, stream, whole=False):
                errors[f"status {status}" if status != 200 else "wrong answer"] += 1
            elif measure_from <= now <= stop_at:
                counted.append((now - begun) * 1000)

    try:
        await asyncio.gather(*(worker(connection) for connection in connections))
    finally:
        for connection in connections:
            await connection.close()
    wall = time.perf_counter() - started
    return {
        "requests_per_s": round(len(counted) / duration_s, 1),
        "counted": len(counted),
        "completed": completed,
        "errors": sum(errors.values()),
        "error_kinds": dict(errors),
        "latency_ms": summary(counted, 2),
        "load_generator_cpu_share": round((time.process_time() - cpu_before) / wall, 3),
    }


def latency_job(*args: Any) -> dict[str, Any]:
    return asyncio.run(_latency(*args))


def throughput_job(*args: Any) -> dict[str, Any]:
    return asyncio.run(_throughput(*args))


# -- the run -------------------------------------------------------------------------------


def measure_latency(
    pool: concurrent.futures.Executor,
    servers: dict[str, Server],
    models: dict[str, str],
    requests: int,
    warm_up: int,
) -> dict[str, Any]:
    targets = {
        name: (f"{server.url}/v1/chat/completions", models[name])
        for name, server in servers.items()
    }
    result: dict[str, Any] = {"total_ms": {}, "added_ms": {}, "first_byte_ms": {}, "wrong": {}}
    for mode in MODES:
        print(f"latency, {mode}: {requests} rounds after {warm_up} warm-up", flush=True)
        raw = pool.submit(latency_job, targets, requests, warm_up, mode == "stream").result()
        totals = {name: summary(values) for name, values in raw["last"].items()}
        direct = totals["direct"]
        result["total_ms"][mode] = totals
        result["added_ms"][mode] = {
            name: {key: round(block[key] - direct[key], 3) for key in ("p50", "p90", "p99")}
            for name, block in totals.items()
            if name != "direct"
        }
        if mode == "stream":
            result["first_byte_ms"][mode] = {
                name: summary(values) for name, values in raw["first"].items()
            }
        result["wrong"][mode] = raw["wrong"]
        for name, block in totals.items():
            added = result["added_ms"][mode].get(name)
            extra = f"   added p50 {added['p50']:7.2f}  p99 {added['p99']:7.2f}" if added else ""
            print(f"  {name:15} p50 {block['p50']:7.2f}  p99 {block['p99']:7.2f} ms{extra}")
    return result


def measure_throughput(
    pool: concurrent.futures.Executor,
    servers: dict[str, Server],
    models: dict[str, str],
    concurrencies: list[int],
    duration_s: float,
    warm_up_s: float,
    rounds: int,
) -> dict[str, Any]:
    upstream = servers["direct"]
    result: dict[str, Any] = {}
    for mode in MODES:
        result[mode] = {}
        for concurrency in concurrencies:
            runs: dict[str, list[dict[str, Any]]] = {name: [] for name in servers}
            for number in range(rounds):
                order = list(servers) if number % 2 == 0 else list(reversed(servers))
                for name in order:
                    server = servers[name]
                    url = f"{server.url}/v1/chat/completions"
                    cpu_before = _cpu_s(server.pids()), _cpu_s(upstream.pids())
                    run = pool.submit(
                        throughput_job,
                        url,
                        models[name],
                        concurrency,
                        duration_s,
                        warm_up_s,
                        mode == "stream",
                    ).result()
                    own, up = (
                        _cpu_s(server.pids()) - cpu_before[0],
                        _cpu_s(upstream.pids()) - cpu_before[1],
                    )
                    done = max(run["completed"] + concurrency, 1)
                    run["server_cpu_ms_per_request"] = round(own / done * 1000, 3)
                    run["upstream_cpu_ms_per_request"] = round(up / done * 1000, 3)
                    runs[name].append(run)
                    print(
                        f"  {mode:6} c={concurrency:<3} {name:15} "
                        f"{run['requests_per_s']:8.1f} req/s  errors {run['errors']}",
                        flush=True,
                    )
            result[mode][str(concurrency)] = {
                name: {
                    "requests_per_s": round(
                        statistics.median(run["requests_per_s"] for run in peer), 1
                    ),
                    "errors": sum(run["errors"] for run in peer),
                    "server_cpu_ms_per_request": round(
                        statistics.median(run["server_cpu_ms_per_request"] for run in peer), 3
                    ),
                    "runs": peer,
                }
                for name, peer in runs.items()
            }
    return result


def compare(latency: dict[str, Any], throughput: dict[str, Any], ours: str) -> dict[str, Any]:
    """leitstand ÷ LiteLLM: added latency (lower is better) and requests/s (higher is better)."""
    ratios: dict[str, Any] = {}
    for mode in MODES:
        added = latency["added_ms"][mode]
        for key in ("p50", "p99"):
            ratios[f"added_{key}_{mode}"] = ratio(added[ours][key], added["litellm"][key], 3)
        for concurrency, peers in throughput[mode].items():
            ratios[f"requests_per_s_{mode}_c{concurrency}"] = ratio(
                peers[ours]["requests_per_s"], peers["litellm"]["requests_per_s"], 3
            )
    return ratios


def acceptance(latency: dict[str, Any], throughput: dict[str, Any]) -> dict[str, Any]:
    ours = LIKE_FOR_LIKE
    less_latency = all(
        latency["added_ms"][mode][ours][key] < latency["added_ms"][mode]["litellm"][key]
        for mode in MODES
        for key in ("p50", "p99")
    )
    more_rps = all(
        peers[ours]["requests_per_s"] > peers["litellm"]["requests_per_s"]
        for mode in MODES
        for peers in throughput[mode].values()
    )
    no_errors = all(
        peers[ours]["errors"] == 0 for mode in MODES for peers in throughput[mode].values()
    )
    return {
        "compared": ours,
        "less_added_latency_p50_p99": less_latency,
        "more_requests_per_s": more_rps,
        "leitstand_without_errors": no_errors,
    }


def main() -> None:
    args = parser(__doc__.splitlines()[0])
    args.add_argument("--workers", type=int, default=2, help="workers per gateway (default 2)")
    args.add_argument("--litellm", type=Path, default=LITELLM, help="LiteLLM's `litellm` command")
    args.add_argument("--requests", type=int, help="sequential rounds (default 300, quick 60)")
    args.add_argument("--duration", type=float, help="seconds per throughput run (10, quick 3)")
    args.add_argument(
        "--concurrency", type=int, nargs="+", default=[16, 64], help="(default 16 64)"
    )
    args.add_argument("--rounds", type=int, help="throughput runs per target (default 2, quick 1)")
    args.add_argument(
        "--targets",
        nargs="+",
        choices=TARGETS,
        default=list(TARGETS),
        help="a subset, to try the script (the result is written only with all of them)",
    )
    options = args.parse_args()
    targets = list(dict.fromkeys(["direct", *options.targets]))
    binary: Path = options.litellm
    if "litellm" in targets and not binary.is_file():
        print(
            f"LiteLLM's proxy is not installed at {binary}. Install it into its own virtualenv "
            f"(from {ROOT}):\n    {INSTALL_LITELLM}\nor pass --litellm PATH.",
            file=sys.stderr,
        )
        raise SystemExit(MISSING_PEER)
    requests = options.requests or (60 if options.quick else 300)
    warm_up = 10 if options.quick else 30
    duration_s = options.duration or (3.0 if options.quick else 10.0)
    warm_up_s = 1.0 if options.quick else 2.0
    rounds = options.rounds or (1 if options.quick else 2)
    models = {
        "direct": "scripted-model",
        "leitstand": "chat",
        "leitstand_lean": "chat",
        "litellm": "chat",
    }
    context = multiprocessing.get_context("spawn")
    with (
        tempfile.TemporaryDirectory(prefix="lsbench-gateway-") as tmp,
        concurrent.futures.ProcessPoolExecutor(1, mp_context=context) as pool,
    ):
        folder = Path(tmp)
        servers: dict[str, Server] = {}
        try:
            upstream = servers["direct"] = upstream_server(folder)
            upstream.start()
            model_url = f"{upstream.url}/v1"
            if "leitstand" in targets:
                servers["leitstand"] = leitstand_server(
                    "leitstand", folder / "leitstand", model_url, options.workers, lean=False
                )
            if "leitstand_lean" in targets:
                servers["leitstand_lean"] = leitstand_server(
                    "leitstand_lean", folder / "lean", model_url, options.workers, lean=True
                )
            if "litellm" in targets:
                servers["litellm"] = litellm_server(
                    binary, folder / "litellm", model_url, options.workers
                )
            for name, server in servers.items():
                if name != "direct":
                    server.start()
                print(f"{name} ready after {server.ready_s:.1f} s", flush=True)
            for server in servers.values():
                server.settle()
            idle_rss = {name: _rss_mb(server.pids()) for name, server in servers.items()}
            latency = measure_latency(pool, servers, models, requests, warm_up)
            print(f"throughput: {duration_s:g} s after {warm_up_s:g} s warm-up, {rounds} round(s)")
            throughput = measure_throughput(
                pool, servers, models, options.concurrency, duration_s, warm_up_s, rounds
            )
            rss = {name: _rss_mb(server.pids()) for name, server in servers.items()}
            load_at_end = [round(x, 2) for x in os.getloadavg()]
            processes = {name: len(server.pids()) for name, server in servers.items()}
        finally:
            for server in reversed(servers.values()):
                server.stop()
    result: dict[str, Any] = {
        "quick": options.quick,
        "workers": options.workers,
        "requests": requests,
        "warm_up": warm_up,
        "throughput_duration_s": duration_s,
        "throughput_warm_up_s": warm_up_s,
        "rounds": rounds,
        "concurrency": options.concurrency,
        "versions": {
            "litellm": litellm_version(binary) if "litellm" in targets else None,
        },
        "setup": {
            "reply_words": len(REPLY.split()),
            "request_bytes": len(json.dumps(_body("chat", False), ensure_ascii=False).encode()),
            "litellm_config": litellm_config("http://127.0.0.1:UP/v1"),
            "litellm_env": {k: v for k, v in LITELLM_ENV.items() if k != "PYTHONUNBUFFERED"},
            "like_for_like": LIKE_FOR_LIKE,
        },
        "servers": {
            name: {
                "ready_s": server.ready_s,
                "processes": processes[name],
                "rss_idle_mb": idle_rss[name],
                "rss_after_mb": rss[name],
            }
            for name, server in servers.items()
        },
        "load_average_at_end": load_at_end,
        "latency": latency,
        "throughput": throughput,
    }
    if set(TARGETS) <= set(servers):
        result["ratios"] = {
            "leitstand_lean_vs_litellm": compare(latency, throughput, "leitstand_lean"),
            "leitstand_vs_litellm": compare(latency, throughput, "leitstand"),
        }
        result["acceptance"] = acceptance(latency, throughput)
        print(json.dumps(result["ratios"], indent=2))
        print(json.dumps(result["acceptance"], indent=2))
        write_result("gateway", result, options.out)
    else:
        out = options.out or Path(tempfile.gettempdir()) / "gateway-partial.json"
        write_result("gateway", result, out)


if __name__ == "__main__":
    main()
