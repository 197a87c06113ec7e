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
import sys
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from multiprocessing.pool import Pool
from pathlib import Path
from typing import Literal

from leitstand.errors import IngestFileError, PiiRefusedError
from leitstand.guard.injection.scan import ChunkScanner
from leitstand.guard.pii import PiiDetector
from leitstand.ingest.loaders.registry import LoaderRegistry
from leitstand.ingest.parse import ParsedFile, ParseOptions, parse_file
from leitstand.search.analyser import Analyser
from leitstand.text.language import LanguageDetector

POOL_MIN_FILES = 24
"""Below this many files to parse, starting worker processes costs more than it saves."""
GROUP_FILES = 8
"""Files per round trip to a worker: fewer, larger messages cost the parent less."""
POOL_START_TIMEOUT_S = 120.0
"""How long worker processes may take to start (import leitstand) before ingestion fails."""
HARD_TIMEOUT_FACTOR = 2.0
HARD_TIMEOUT_GRACE_S = 5.0
"""A file is abandoned after ``timeout_s * HARD_TIMEOUT_FACTOR + HARD_TIMEOUT_GRACE_S``: its
loader ignored the cooperative deadline (or hangs inside a library)."""


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
    status: Literal["parsed", "unchanged", "failed", "refused"]
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
        self.scanner = ChunkScanner() if options.quarantine_injections else None
        self.pii = PiiDetector() if options.pii else None


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
            scanner=context.scanner,
            pii=context.pii,
        )
    except PiiRefusedError as exc:
        return ParseOutcome(task, "refused", digest=digest, message=exc.reason, hint=exc.hint)
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


class FileProcessor:
    """Runs :func:`process` over many tasks, in order of completion."""

    def __init__(self, options: ParseOptions, workers: int = 0) -> None:
        self.options = options
        # Automatic: one per core (measured with bench/ingest_throughput.py: on two cores
        # two workers plus the writing parent beat parsing inline by about 1.2 times).
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
        """A pool whose workers have started (imported, initialised): only then do the
        groups' clocks start, so a slow start on a busy machine stops no file."""
        context = multiprocessing.get_context("forkserver")
        # The fork server imports the parsing code once; each worker forks from it ready.
        context.set_forkserver_preload([__name__])
        with _main_script_hidden():
            pool = context.Pool(self.workers, initializer=_init_worker, initargs=(self.options,))
        started = [pool.apply_async(_started) for _ in range(self.workers)]
        try:
            for result in started:
                result.get(timeout=POOL_START_TIMEOUT_S)
        except BaseException:
            pool.terminate()
            raise
        return pool

    def _pooled(self, tasks: Iterable[ParseTask]) -> Iterator[ParseOutcome]:
        """Files go to the workers in groups (fewer round trips); a stuck group is broken up."""
        pending = list(_groups(list(tasks), GROUP_FILES))
        pending.reverse()
        window = self.workers * 3
        hard_timeout = self.options.timeout_s * HARD_TIMEOUT_FACTOR + HARD_TIMEOUT_GRACE_S
        finished: queue.Queue[_Delivery] = queue.Queue()
        # Groups in flight, in the order the pool starts them, with the time each one started:
        # the first ``workers`` are being parsed, the rest wait (no clock runs for them yet).
        running: dict[tuple[ParseTask, ...], float | None] = {}
        pool = self._pool()
        try:
            while pending or running:
                while pending and len(running) < window:
                    group = pending.pop()
                    running[group] = None
                    pool.apply_async(
                        process_group,
                        (group,),
                        callback=partial(_deliver, finished, group),
                        error_callback=partial(_deliver, finished, group),
                    )
                _start_clocks(running, self.workers)
                try:
                    group, result = finished.get(timeout=1.0)
                except queue.Empty:
                    pass
                else:
                    if group in running:  # else: from a pool that was stopped
                        del running[group]
                        if isinstance(result, BaseException):
                            message = f"could not be parsed ({result})"
                            yield from (ParseOutcome(t, "failed", message=message) for t in group)
                        else:
                            yield from result
                    continue
                now = time.monotonic()
                stuck = [
                    g
                    for g, started in running.items()
                    if started is not None and now - started > hard_timeout
                ]
                if stuck:
                    # Stop every worker and start again without the stuck work.
                    pool.terminate()
                    pool.join()
                    failed, again = _after_timeout(running, stuck, hard_timeout)
                    yield from failed
                    pending.extend(again)
                    running.clear()
                    finished = queue.Queue()
                    pool = self._pool()
        finally:
            pool.terminate()
            pool.join()


_Delivery = tuple[tuple[ParseTask, ...], list[ParseOutcome] | BaseException]


@contextmanager
def _main_script_hidden() -> Iterator[None]:
    """Start workers without re-running the main script in each of them.

    multiprocessing runs ``__main__`` again in every new worker (as ``__mp_main__``) so that
    functions defined there can be unpickled; the fork server never preloads it (CPython
    passes it no main path). The workers only run this module's functions, and re-running a
    script that imports the CLI, the server or a benchmark cost each worker about a second of
    CPU, measured on two cores against a 2,000-file ingest that takes four or five.
    """
    main = sys.modules.get("__main__")
    path = getattr(main, "__file__", None)
    if main is None or path is None or getattr(main, "__spec__", None) is not None:
        yield  # started with -m: multiprocessing does not re-run a package's __main__
        return
    del main.__file__
    try:
        yield
    finally:
        main.__file__ = path


def _start_clocks(running: dict[tuple[ParseTask, ...], float | None], workers: int) -> None:
    """The pool starts groups in the order they were given: the first ``workers`` groups in
    flight are being parsed, and their time starts now if it has not started yet."""
    now = time.monotonic()
    for group in list(running)[:workers]:
        if running[group] is None:
            running[group] = now


def _after_timeout(
    running: dict[tuple[ParseTask, ...], float | None],
    stuck: list[tuple[ParseTask, ...]],
    hard_timeout: float,
) -> tuple[list[ParseOutcome], list[tuple[ParseTask, ...]]]:
    """A stuck single file fails; a stuck group goes round again file by file, so only the
    culprit fails; groups that were merely running are redone as they were."""
    failed: list[ParseOutcome] = []
    again: list[tuple[ParseTask, ...]] = []
    for group in running:
        if group in stuck and len(group) == 1:
            failed.append(
                ParseOutcome(
                    group[0],
                    "failed",
                    message=f"parsing took longer than {hard_timeout:g} s; stopped",
                    hint="raise ingest.timeout_s in leitstand.yaml if the file is fine",
                )
            )
        elif group in stuck:
            again.extend((task,) for task in group)
        else:
            again.append(group)
    return failed, again


def _groups(tasks: list[ParseTask], size: int) -> Iterator[tuple[ParseTask, ...]]:
    for start in range(0, len(tasks), size):
        yield tuple(tasks[start : start + size])


def _started() -> bool:
    """A task that takes a moment, so that each worker of a new pool answers one."""
    time.sleep(0.05)
    return True


def process_group(group: tuple[ParseTask, ...]) -> list[ParseOutcome]:
    return [process(task) for task in group]


def _deliver(
    finished: queue.Queue[_Delivery],
    group: tuple[ParseTask, ...],
    result: list[ParseOutcome] | BaseException,
) -> None:
    finished.put((group, result))
