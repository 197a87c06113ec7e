"""A py-spy profile of one SQLite ingestion, by stage (``bench/scale.py --profile-ingest``)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

STAGES = (
    # (stage, any of these function names in the stack), first match from the leaf wins.
    ("write: executemany into chunks (+ FTS5 / tsvector triggers)", ("_insert_chunks",)),
    ("write: documents, tags, commit", ("_flush", "_upsert_document")),
    ("parse: stemming", ("stemWords",)),
    ("parse: analysis (words, folding, stop words)", ("terms", "analyse", "words")),
    ("parse: language detection", ("detect",)),
    ("parse: chunking and sentences", ("chunk", "_pack", "sentence_spans")),
    ("parse: normalising blocks", ("assemble", "normalise_block")),
    ("parse: loading (txt/md)", ("load", "text_blocks", "decode_text")),
    ("parse: hashing", ("sha256", "hexdigest")),
    ("worker: pickling and waiting", ("worker", "_handle_results", "_handle_tasks", "get", "put")),
    ("main: scan and change detection", ("_walk", "_prepare_source", "_task")),
)


def profile_ingest(
    folder: Path, out: Path, cache: Path, opened: Any, ingest: Any
) -> dict[str, Any]:
    """py-spy samples (main process, writer thread, workers) of one SQLite ingest, by stage."""
    raw = out.with_suffix(".txt")
    with (
        tempfile.TemporaryDirectory(prefix="scale-profile-", dir=cache) as tmp,
        opened(Path(tmp), None) as ls,
    ):
        spy = subprocess.Popen(
            [
                str(Path(sys.executable).with_name("py-spy")),
                "record",
                "--pid",
                str(os.getpid()),
                "--subprocesses",
                "--threads",
                "--idle",
                "--rate",
                "100",
                "--format",
                "raw",
                "--output",
                str(raw),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(2)
        report = ingest(ls, folder)
        spy.send_signal(signal.SIGINT)
        spy.wait(timeout=120)
    samples: dict[str, Counter[str]] = {}
    for line in raw.read_text(encoding="utf-8").splitlines():
        stack, _, count = line.rpartition(" ")
        frames = stack.split(";")
        process = "main" if str(os.getpid()) in frames[0] else "workers"
        thread = next((f for f in frames[:3] if f.startswith("thread")), "")
        if process == "main":
            process = (
                "main: writer thread"
                if "leitstand-ingest-writer" in stack
                else "main: other threads"
            )
        names = [frame.split(" (")[0] for frame in frames]
        stage = "other"
        for label, functions in STAGES:
            if any(name in functions for name in names):
                stage = label
                break
        if stage == "other" and (
            names[-1] in ("wait", "select", "poll", "_recv", "recv_bytes", "acquire", "sleep")
        ):
            stage = "idle (waiting)"
        samples.setdefault(process, Counter())[stage] += int(count)
        del thread
    raw.unlink(missing_ok=True)
    return {
        "ingest": report,
        "samples_at_100_hz": {
            process: dict(counter.most_common()) for process, counter in samples.items()
        },
    }
