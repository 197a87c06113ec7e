"""Run `leitstand serve` as a real subprocess for integration and browser tests."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType

import httpx


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class LeitstandProcess:
    """``leitstand serve`` in a child process with its own config; waits until /readyz is 200."""

    def __init__(
        self,
        config: Path,
        *,
        port: int | None = None,
        env: dict[str, str] | None = None,
        timeout_s: float = 30.0,
        args: tuple[str, ...] = (),
    ) -> None:
        self.config = config
        self.args = args
        """Further options of ``leitstand serve``, e.g. ``("--workers", "4")``."""
        self.port = port or free_port()
        self.env = {**os.environ, "LEITSTAND_CONFIG": str(config), **(env or {})}
        self.timeout_s = timeout_s
        self.process: subprocess.Popen[str] | None = None
        self.ready_after_s: float | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> LeitstandProcess:
        started = time.perf_counter()
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "leitstand",
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                *self.args,
            ],
            env=self.env,
            cwd=self.config.parent,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        deadline = started + self.timeout_s
        while time.perf_counter() < deadline:
            if self.process.poll() is not None:
                output = self.process.stdout.read() if self.process.stdout else ""
                raise RuntimeError(
                    f"leitstand serve exited with {self.process.returncode}:\n{output}"
                )
            try:
                if httpx.get(f"{self.url}/readyz", timeout=1.0).status_code == 200:
                    self.ready_after_s = time.perf_counter() - started
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"leitstand serve not ready within {self.timeout_s} s")

    def stop(self) -> str:
        if self.process is None:
            return ""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        output = self.process.stdout.read() if self.process.stdout else ""
        if self.process.stdout:
            self.process.stdout.close()
        self.process = None
        return output

    def __enter__(self) -> LeitstandProcess:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
