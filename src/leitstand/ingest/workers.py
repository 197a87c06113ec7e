"""Reading and parsing files, inline or in a pool of worker processes.

The work per file (read, hash, load, normalise, chunk, analyse) is pure and runs in worker
processes when there are enough files to make that pay; the parent process only writes.
A file that takes too long is abandoned: its worker is killed, the file is reported, and
the pool is restarted for the rest of the batch.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import queue
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import partial
from multiprocessing.pool import Pool
from pathlib import Path
from typing import Literal

from leitstand.errors import IngestFileError
from leitstand.ingest.loaders.registry import LoaderRegistry
from leitstand.ingest.parse import ParsedFile, ParseOptions, parse_file
from leitstand.search.analyser import Analyser
from leitstand.text.language import LanguageDetector

POOL_MIN_FILES = 24
"""Below this many files to parse, starting worker processes costs more than it saves."""
HARD_TIMEOUT_FACTOR = 2.0


@dataclass(frozen=True)
class ParseTask:
    path: str
    rel: str
    mtime_ns: int
    known_hash: str | None
    """The stored content hash when only the pipeline settings changed, else None."""
    check_hash: bool


@dataclass
class ParseOutcome:
    task: ParseTask
    status: Literal["parsed", "unchanged", "failed"]
    parsed: ParsedFile | None = None
    digest: str | None = None
    message: str = ""
    hint: str | None = None


class _Context:
    def __init__(self, options: ParseOptions) -> None:
        self.options = options
        self.analyser = Analyser(options.languages)
        self.detector = LanguageDetector(options.languages)
        self.loaders = LoaderRegistry()


_worker: dict[str, _Context] = {}
"""The context of a worker process, set by the pool's initializer."""


def _init_worker(options: ParseOptions) -> None:
    _worker["context"] = _Context(options)


def process(task: ParseTask, context: _Context | None = None) -> ParseOutcome:
    """Read, hash and (if the content changed) parse one file."""
    context = context or _worker["context"]
    try:
        data = Path(task.path).read_bytes()
    except OSError as exc:
        return ParseOutcome(task, "failed", message=f"cannot be read ({exc.strerror})")
    digest = hashlib.sha256(data).hexdigest()
    if task.check_hash and task.known_hash == digest:
        return ParseOutcome(task, "unchanged", digest=digest)
    return _parse(task, data, digest, context)


def _parse(task: ParseTask, data: bytes, digest: str, context: _Context) -> ParseOutcome:
    loader = context.loaders.for_path(task.path)
    if loader is None:
        return ParseOutcome(task, "failed", message="no loader for this file type")
    try:
        parsed = parse_file(
            data=data,
            path=task.rel,
            uri=Path(task.path).as_uri(),
            content_hash=digest,
            mtime_ns=task.mtime_ns,
            loader=loader,
            analyser=context.analyser,
            detector=context.detector,
            options=context.options,
        )
    except IngestFileError as exc:
        return ParseOutcome(task, "failed", digest=digest, message=exc.reason, hint=exc.hint)
    except MemoryError:
        return ParseOutcome(task, "failed", digest=digest, message="needs too much memory to parse")
    except Exception as exc:  # a loader bug must not stop the batch
        return ParseOutcome(
            task,
            "failed",
            digest=digest,
            message=f"could not be read ({type(exc).__name__}: {exc})",
        )
    return ParseOutcome(task, "parsed", parsed=parsed, digest=digest)


def _deliver(
    finished: queue.Queue[tuple[ParseTask, ParseOutcome | BaseException]],
    task: ParseTask,
    result: ParseOutcome | BaseException,
) -> None:
    finished.put((task, result))


class FileProcessor:
    """Runs :func:`process` over many tasks, in order of completion."""

    def __init__(self, options: ParseOptions, workers: int = 0) -> None:
        self.options = options
        self.workers = workers or min(os.cpu_count() or 1, 8)
        self._inline: _Context | None = None

    def run(self, tasks: list[ParseTask]) -> Iterator[ParseOutcome]:
        if self.workers <= 1 or len(tasks) < POOL_MIN_FILES:
            if self._inline is None:
                self._inline = _Context(self.options)
            for task in tasks:
                yield process(task, self._inline)
            return
        yield from self._pooled(tasks)

    def _pool(self) -> Pool:
        context = multiprocessing.get_context("forkserver")
        return context.Pool(self.workers, initializer=_init_worker, initargs=(self.options,))

    def _pooled(self, tasks: Iterable[ParseTask]) -> Iterator[ParseOutcome]:
        pending = list(tasks)
        pending.reverse()
        window = self.workers * 4
        hard_timeout = self.options.timeout_s * HARD_TIMEOUT_FACTOR + 5
        finished: queue.Queue[tuple[ParseTask, ParseOutcome | BaseException]] = queue.Queue()
        running: dict[ParseTask, float] = {}
        pool = self._pool()
        try:
            while pending or running:
                while pending and len(running) < window:
                    task = pending.pop()
                    running[task] = time.monotonic()
                    pool.apply_async(
                        process,
                        (task,),
                        callback=partial(_deliver, finished, task),
                        error_callback=partial(_deliver, finished, task),
                    )
                try:
                    task, result = finished.get(timeout=1.0)
                except queue.Empty:
                    pass
                else:
                    if running.pop(task, None) is not None:
                        yield (
                            result
                            if isinstance(result, ParseOutcome)
                            else ParseOutcome(
                                task, "failed", message=f"could not be parsed ({result})"
                            )
                        )
                    continue
                now = time.monotonic()
                stuck = [task for task, started in running.items() if now - started > hard_timeout]
                if stuck:
                    # Stop every worker; report the stuck files; the others go round again.
                    pool.terminate()
                    pool.join()
                    for task in running:
                        if task in stuck:
                            yield ParseOutcome(
                                task,
                                "failed",
                                message=f"parsing took longer than {hard_timeout:g} s; stopped",
                                hint="raise ingest.timeout_s in leitstand.yaml if the file is fine",
                            )
                        else:
                            pending.append(task)
                    running.clear()
                    finished = queue.Queue()
                    pool = self._pool()
        finally:
            pool.terminate()
            pool.join()
