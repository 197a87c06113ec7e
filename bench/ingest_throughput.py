"""Ingestion throughput (plain text and markdown, lexical only) and ``leitstand serve`` start-up.

A corpus of files is generated from the XQuAD paragraphs (German and English, 4-8 paragraphs
per file, half ``.txt``, half ``.md`` with headings, seeded so every run sees the same files).
Peers, in rounds with a rotating order:

- ``leitstand``: ``ls.ingest(folder)`` into a fresh SQLite data dir, default workers;
- ``leitstand-1-worker``: the same with ``ingest={"workers": 1}``;
- ``bm25s``: tokenizing (Snowball stemming + stop words per chunk language) and indexing the
  very chunk texts leitstand produced, in memory: the analysis and indexing work alone, with no
  file reading, parsing, chunking, language detection or database.

Then the unchanged folder is ingested again (the incremental path), and ``leitstand serve`` is
started several times over the ingested database, alternating with a bare FastAPI app on uvicorn
(the floor for any FastAPI service): time from process start to ``/readyz`` 200 and RSS.

    .venv/bin/python bench/ingest_throughput.py [--quick] [--files N]
"""

from __future__ import annotations

import json
import random
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import yaml
from sqlalchemy import select

from _common import (
    DATASETS,
    bare_fastapi,
    leitstand_serve,
    parser,
    ratio,
    rss_mb,
    write_result,
)
from leitstand import Leitstand
from leitstand.store.models import Chunk

BUDGET_CHUNKS_PER_S = 2000
BUDGET_READY_S = 2.0
BUDGET_RSS_MB = 200
STEMMERS = {"de": "german", "en": "english"}
LEXICAL_ONLY: dict[str, Any] = {"embeddings": {"provider": "none"}}
"""The budget is for lexical ingestion and a server with no local model."""


def generate_corpus(folder: Path, files: int, seed: int = 7) -> dict[str, Any]:
    """``files`` documents from XQuAD paragraphs, half .txt, half .md, in sub-folders."""
    rng = random.Random(seed)
    paragraphs: dict[str, list[tuple[str, str]]] = {}
    for language in STEMMERS:
        rows = (DATASETS / f"xquad-{language}" / "corpus.jsonl").read_text("utf-8").splitlines()
        paragraphs[language] = [
            (row["title"], row["text"]) for row in (json.loads(line) for line in rows if line)
        ]
    total_bytes = 0
    for number in range(files):
        language = "de" if number % 2 == 0 else "en"
        picked = rng.sample(paragraphs[language], rng.randint(4, 8))
        title = picked[0][0]
        if number % 4 < 2:
            name, text = f"doc-{number:05d}.txt", "\n\n".join([title, *(p for _, p in picked)])
        else:
            parts = [f"# {title}"]
            for index, (topic, paragraph) in enumerate(picked):
                if index % 2 == 0:
                    parts.append(f"## {topic} ({index // 2 + 1})")
                parts.append(paragraph)
            name, text = f"doc-{number:05d}.md", "\n\n".join(parts)
        path = folder / f"part-{number % 20:02d}" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text + "\n", encoding="utf-8")
        total_bytes += len(text.encode("utf-8")) + 1
    return {"files": files, "bytes": total_bytes, "seed": seed}


def ingest_once(folder: Path, data_dir: Path, workers: int | None) -> dict[str, Any]:
    overrides: dict[str, Any] = {"data_dir": str(data_dir), **LEXICAL_ONLY}
    if workers is not None:
        overrides["ingest"] = {"workers": workers}
    with Leitstand.open(None, **overrides) as ls:
        started = time.perf_counter()
        report = ls.ingest(folder, source="bench")
        seconds = time.perf_counter() - started
        ls.tracer.flush()
        spans = {span.name: span for span in ls.traces.get(report.trace_id or "").spans}
    if report.failed:
        raise RuntimeError(f"ingestion failed for {len(report.failed)} files: {report.failed[:3]}")
    parse = spans["parse"]
    return {
        "seconds": round(seconds, 3),
        "chunks": report.chunks_written,
        "files": len(report.added),
        "chunks_per_s": round(report.chunks_written / seconds, 1),
        "workers": parse.attributes.get("workers"),
        "scan_s": round(spans["scan"].duration_ms / 1000, 3),
        "parse_and_write_s": round(parse.duration_ms / 1000, 3),
        "write_s": round(float(parse.attributes.get("write_ms", 0)) / 1000, 3),
    }


def warm_up(tmp: Path) -> None:
    """Imports, stemmers and the language model in this process, before anything is timed."""
    folder = tmp / "warm-up"
    generate_corpus(folder / "corpus", 4)
    ingest_once(folder / "corpus", folder / "data", 1)


def chunk_texts(data_dir: Path) -> list[tuple[str, str]]:
    with (
        Leitstand.open(None, data_dir=str(data_dir), **LEXICAL_ONLY) as ls,
        ls.db.read() as session,
    ):
        return [(row[0], row[1]) for row in session.execute(select(Chunk.text, Chunk.language))]


def bm25s_once(chunks: list[tuple[str, str]]) -> dict[str, Any]:
    import bm25s
    import Stemmer

    started = time.perf_counter()
    tokens: list[list[str]] = []
    for language, stemmer_name in STEMMERS.items():
        texts = [text for text, lang in chunks if lang == language]
        stemmer = Stemmer.Stemmer(stemmer_name)
        tokenized = bm25s.tokenize(
            texts, stopwords=language, stemmer=stemmer, return_ids=False, show_progress=False
        )
        tokens.extend(tokenized)
    bm25s.BM25().index(tokens, show_progress=False)
    seconds = time.perf_counter() - started
    return {
        "seconds": round(seconds, 3),
        "chunks": len(tokens),
        "chunks_per_s": round(len(tokens) / seconds, 1),
    }


def throughput(folder: Path, tmp: Path, rounds: int) -> tuple[dict[str, Any], Path]:
    """Rounds of (leitstand, bm25s, leitstand-1-worker), the leitstand pair swapping places."""
    runs: dict[str, list[dict[str, Any]]] = {"leitstand": [], "leitstand-1-worker": [], "bm25s": []}
    chunks: list[tuple[str, str]] = []
    for number in range(rounds):
        order = ["leitstand", "bm25s", "leitstand-1-worker"]
        for name in order if number % 2 == 0 else order[::-1]:
            data_dir = tmp / f"ingest-{number}-{name}"
            if name == "bm25s":
                runs[name].append(bm25s_once(chunks))
            else:
                runs[name].append(ingest_once(folder, data_dir, 1 if "1-worker" in name else None))
                chunks = chunks or chunk_texts(data_dir)
            print(f"  {name:20} {runs[name][-1]}")
    result = {}
    for name, measured in runs.items():
        rates = [run["chunks_per_s"] for run in measured]
        result[name] = {"chunks_per_s_median": round(statistics.median(rates), 1), "runs": measured}
    return result, tmp / "ingest-0-leitstand"


def rerun(folder: Path, data_dir: Path) -> dict[str, Any]:
    with Leitstand.open(None, data_dir=str(data_dir), **LEXICAL_ONLY) as ls:
        started = time.perf_counter()
        report = ls.ingest(folder, source="bench")
        seconds = time.perf_counter() - started
    return {
        "seconds": round(seconds, 3),
        "unchanged": len(report.unchanged),
        "changed": report.changed,
        "files_per_s": round(len(report.unchanged) / seconds, 1),
    }


def startup(data_dir: Path, tmp: Path, repeats: int) -> dict[str, Any]:
    """``leitstand serve`` and a bare FastAPI app, started alternately: ready time and RSS."""
    config = tmp / "serve" / "leitstand.yaml"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(
        yaml.safe_dump({"data_dir": str(data_dir), "log_level": "warning", **LEXICAL_ONLY})
    )
    measured: dict[str, list[dict[str, float]]] = {"leitstand": [], "bare-fastapi": []}
    for number in range(repeats):
        order = ["leitstand", "bare-fastapi"] if number % 2 == 0 else ["bare-fastapi", "leitstand"]
        for name in order:
            process = leitstand_serve(config) if name == "leitstand" else bare_fastapi(tmp / "bare")
            with process:
                row = {
                    "ready_s": round(process.ready_after_s, 3),
                    "rss_ready_mb": rss_mb(process.pid),
                }
                time.sleep(3.0)  # background warm-up (language detection) finishes
                row["rss_idle_mb"] = rss_mb(process.pid)
                if name == "leitstand":
                    with httpx.Client(timeout=30) as client:
                        for question in ("Wer war Kant?", "What is the Rhine?") * 25:
                            payload = {
                                "model": "default",
                                "messages": [{"role": "user", "content": question}],
                            }
                            client.post(f"{process.url}/v1/chat/completions", json=payload)
                    row["rss_after_50_requests_mb"] = rss_mb(process.pid)
            measured[name].append(row)
            print(f"  {name:14} {row}")
    result: dict[str, Any] = {}
    for name, rows in measured.items():
        result[name] = {
            key: {
                "median": statistics.median(r[key] for r in rows),
                "max": max(r[key] for r in rows),
            }
            for key in rows[0]
        }
        result[name]["runs"] = rows
    return result


def main() -> None:
    args = parser(__doc__.splitlines()[0])
    args.add_argument("--files", type=int, help="files in the corpus (default 2000, quick 400)")
    options = args.parse_args()
    files = options.files or (400 if options.quick else 2000)
    rounds = 1 if options.quick else 2
    with tempfile.TemporaryDirectory(prefix="lsbench-ingest-") as name:
        tmp = Path(name)
        corpus = generate_corpus(tmp / "corpus", files)
        print(f"corpus: {corpus}")
        warm_up(tmp)
        peers, data_dir = throughput(tmp / "corpus", tmp, rounds)
        again = rerun(tmp / "corpus", data_dir)
        print(f"  re-run (unchanged) {again}")
        serve = startup(data_dir, tmp, 2 if options.quick else 5)
    leitstand = peers["leitstand"]["chunks_per_s_median"]
    ready = serve["leitstand"]["ready_s"]["median"]
    rss = serve["leitstand"]["rss_idle_mb"]["median"]
    write_result(
        "ingest_throughput",
        {
            "quick": options.quick,
            "corpus": corpus,
            "rounds": rounds,
            "throughput": peers,
            "ratios": {
                "leitstand_vs_bm25s": ratio(leitstand, peers["bm25s"]["chunks_per_s_median"], 3),
                "leitstand_vs_1_worker": ratio(
                    leitstand, peers["leitstand-1-worker"]["chunks_per_s_median"], 2
                ),
                "serve_ready_vs_bare_fastapi": ratio(
                    ready, serve["bare-fastapi"]["ready_s"]["median"], 2
                ),
                "serve_rss_vs_bare_fastapi": ratio(
                    rss, serve["bare-fastapi"]["rss_idle_mb"]["median"], 2
                ),
            },
            "rerun_unchanged": again,
            "serve": serve,
            "budget": {
                "chunks_per_s": BUDGET_CHUNKS_PER_S,
                "ready_s": BUDGET_READY_S,
                "rss_mb": BUDGET_RSS_MB,
                "chunks_per_s_holds": leitstand >= BUDGET_CHUNKS_PER_S,
                "ready_holds": ready <= BUDGET_READY_S,
                "rss_holds": rss <= BUDGET_RSS_MB,
            },
        },
        options.out,
    )


if __name__ == "__main__":
    main()
