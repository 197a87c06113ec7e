"""Scale: ingestion throughput and query latency from 10k to 1M chunks, SQLite and PostgreSQL.

Corpora come from ``bench/corpus.py`` (German and English, realistic word statistics, one chunk
per paragraph), written once as ``.txt`` and ``.md`` files and reused by later runs. For every
corpus size and backend:

- **ingestion**: ``ls.ingest(folder)`` into a fresh SQLite data dir or a fresh PostgreSQL
  database (pgserver), lexical only (``embeddings: none``), default workers; chunks per second,
  and where the time went (the ingest trace's scan / parse / write spans);
- **maintenance** after the bulk load, timed on its own: FTS5 ``optimize`` on SQLite (the
  queries are timed before and after it), ``VACUUM ANALYZE`` on PostgreSQL;
- **size** of the database and of its lexical index;
- **query latency**: real XQuAD questions and question-like queries drawn from the generated
  chunks (see ``CorpusSpec.queries``), after a warm-up with other queries. ``search`` is
  ``ls.search(q, k=10)`` as a user calls it (analysis, language detection, index, loading the
  passages); ``index`` is the lexical index alone with the analysed terms and the retriever's
  candidate depth (``retrieval.candidates``, 100). The two alternate per query;
- **hybrid** (lexical + dense, query embedding excluded) when dense retrieval is available
  (``ls.retriever.dense``); until then the result holds a marked placeholder;
- **postings**: per query, the document frequency of each analysed term (from the index's
  own statistics), which is what an OR query has to walk.

    .venv/bin/python bench/scale.py                  # 10k and 100k chunks, both backends
    .venv/bin/python bench/scale.py --large          # ... and 1M (about an hour)
    .venv/bin/python bench/scale.py --quick          # 10k only, fewer queries
    .venv/bin/python bench/scale.py --plot           # only redraw docs/scale.png from the JSON
    .venv/bin/python bench/scale.py --profile-ingest # ... and a py-spy profile of one ingest
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import text

from _common import RESULTS, ROOT, parser, postgres, postgres_url, summary, write_result
from corpus import CorpusSpec, Query, write_corpus
from leitstand import Leitstand

SIZES = (10_000, 100_000)
LARGE = 1_000_000
QUERIES = 800
WARM_UP = 100
K = 10
BUDGET = {
    "lexical_sqlite_100k_p50_ms": 5.0,
    "hybrid_100k_p50_ms": 20.0,
    "lexical_1m_p50_ms": 20.0,
    "ingest_chunks_per_s": 2000,
}
PLOT = ROOT / "docs" / "scale.png"
CACHE = Path(
    os.environ.get("LEITSTAND_SCALE_CACHE", Path(tempfile.gettempdir()) / "leitstand-scale")
)
LEXICAL_ONLY = {"embeddings": {"provider": "none"}}


# -- one backend at one size -------------------------------------------------------------


@contextlib.contextmanager
def opened(backend: str, data_dir: Path, server: Any, size: int) -> Iterator[Leitstand]:
    url = postgres_url(server, f"scale_{size}") if backend == "postgres" else None
    overrides: dict[str, Any] = {"data_dir": str(data_dir), **LEXICAL_ONLY}
    if url:
        overrides["database_url"] = url
    ls = Leitstand.open(None, **overrides)
    try:
        yield ls
    finally:
        ls.close()


def ingest(ls: Leitstand, folder: Path) -> dict[str, Any]:
    started = time.perf_counter()
    report = ls.ingest(folder, source="scale")
    seconds = time.perf_counter() - started
    if report.failed:
        raise RuntimeError(f"ingestion failed for {len(report.failed)} files: {report.failed[:3]}")
    ls.tracer.flush()
    spans = {span.name: span for span in ls.traces.get(report.trace_id or "").spans}
    parse = spans["parse"]
    return {
        "seconds": round(seconds, 2),
        "files": len(report.added),
        "chunks": report.chunks_written,
        "chunks_per_s": round(report.chunks_written / seconds, 1),
        "workers": parse.attributes.get("workers"),
        "scan_s": round(spans["scan"].duration_ms / 1000, 2),
        "parse_and_write_s": round(parse.duration_ms / 1000, 2),
        "write_s": round(float(parse.attributes.get("write_ms", 0)) / 1000, 2),
    }


def maintain(ls: Leitstand) -> dict[str, Any]:
    """What a bulk load should be followed by: FTS5 optimize, or VACUUM ANALYZE."""
    started = time.perf_counter()
    if ls.db.is_sqlite:
        name = "FTS5 optimize"
        with ls.db.write() as session:
            session.execute(text("INSERT INTO chunks_fts(chunks_fts) VALUES ('optimize')"))
        with ls.db.engine.connect() as connection:
            connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    else:
        name = "VACUUM ANALYZE"
        with ls.db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.exec_driver_sql("VACUUM ANALYZE")
    return {"what": name, "seconds": round(time.perf_counter() - started, 2)}


def sizes(ls: Leitstand) -> dict[str, float]:
    """Megabytes: the whole database, its chunks and documents, and the lexical index."""
    mb = 1024 * 1024
    with ls.db.engine.connect() as connection:
        if ls.db.is_sqlite:
            path = Path(str(ls.db.url.database))
            files = [path, path.with_name(path.name + "-wal")]
            total = sum(f.stat().st_size for f in files if f.exists())
            try:
                rows = connection.exec_driver_sql(
                    "SELECT name, sum(pgsize) FROM dbstat GROUP BY name"
                ).all()
            except Exception:  # dbstat is not compiled into every SQLite
                rows = []
            tables = {str(name): float(size) for name, size in rows}
            fts = sum(size for name, size in tables.items() if name.startswith("chunks_fts"))
            return {
                "database": round(total / mb, 1),
                "lexical_index": round(fts / mb, 1),
                "chunks_table": round(tables.get("chunks", 0) / mb, 1),
                "documents_table": round(tables.get("documents", 0) / mb, 1),
            }
        scalar = connection.exec_driver_sql
        total = scalar("SELECT pg_database_size(current_database())").scalar_one()
        index = scalar(
            "SELECT pg_relation_size('ix_chunks_lexical_body') "
            "+ pg_relation_size('ix_chunks_lexical_context')"
        ).scalar_one()
        terms = scalar("SELECT pg_total_relation_size('lexical_terms')").scalar_one()
        return {
            "database": round(total / mb, 1),
            "lexical_index": round((index + terms) / mb, 1),
            # Tables with their TOAST, without indexes (the GIN indexes count as lexical index).
            "chunks_table": round(scalar("SELECT pg_table_size('chunks')").scalar_one() / mb, 1),
            "documents_table": round(
                scalar("SELECT pg_table_size('documents')").scalar_one() / mb, 1
            ),
        }


def document_frequencies(ls: Leitstand, terms: set[str]) -> dict[str, int]:
    """How many chunks contain each term, from the index's own statistics."""
    with ls.db.engine.connect() as connection:
        if ls.db.is_sqlite:
            connection.exec_driver_sql(
                "CREATE VIRTUAL TABLE IF NOT EXISTS temp.scale_vocab "
                "USING fts5vocab(main, chunks_fts, row)"
            )
            query = "SELECT doc FROM temp.scale_vocab WHERE term = ?"
        else:
            query = "SELECT chunk_count FROM lexical_terms WHERE term = %s"
        found = {}
        for term in terms:
            row = connection.exec_driver_sql(query, (term,)).first()
            found[term] = int(row[0]) if row else 0
        return found


def postings(ls: Leitstand, analysed: list[list[str]], chunks: int) -> dict[str, Any]:
    frequencies = document_frequencies(ls, {t for terms in analysed for t in terms})
    per_query = [sum(frequencies[t] for t in terms) for terms in analysed]
    largest = [max((frequencies[t] for t in terms), default=0) for terms in analysed]
    common = Counter(t for terms in analysed for t in terms if frequencies[t] > chunks / 10)
    return {
        "terms_per_query": summary([float(len(t)) for t in analysed], 1),
        "postings_per_query": summary([float(p) for p in per_query], 0),
        "postings_per_query_share_of_chunks": summary([p / chunks for p in per_query], 3),
        "queries_with_a_term_in_over_10pct": sum(1 for x in largest if x > chunks / 10),
        "queries_with_a_term_in_over_half": sum(1 for x in largest if x > chunks / 2),
        "commonest_query_terms": {
            t: round(frequencies[t] / chunks, 3) for t, _ in common.most_common(12)
        },
    }, per_query


def time_queries(ls: Leitstand, queries: list[Query], warm_up: list[Query]) -> dict[str, Any]:
    """``search`` and ``index`` latency per query, alternating which goes first."""
    retriever = ls.retriever
    depth = retriever.settings.candidates
    for query in warm_up:
        ls.search(query.text, k=K)
    analysed = [retriever.analyse_query(q.text)[1] for q in queries]
    times: dict[str, list[float]] = {"search": [], "index": []}

    def index_once(terms: list[str]) -> float:
        with ls.db.read() as session:
            started = time.perf_counter()
            retriever.index.search(session.connection(), terms, limit=depth)
            return (time.perf_counter() - started) * 1000

    def search_once(query: str) -> float:
        started = time.perf_counter()
        ls.search(query, k=K)
        return (time.perf_counter() - started) * 1000

    for number, (query, terms) in enumerate(zip(queries, analysed, strict=True)):
        if number % 2:
            times["index"].append(index_once(terms))
            times["search"].append(search_once(query.text))
        else:
            times["search"].append(search_once(query.text))
            times["index"].append(index_once(terms))
    return {"times": times, "analysed": analysed}


def latency_block(
    timed: dict[str, Any], per_query_postings: list[int], chunks: int
) -> dict[str, Any]:
    times = timed["times"]
    block: dict[str, Any] = {name: summary(values) for name, values in times.items()}
    # Index latency by how much of the corpus the query's terms cover (postings / chunks).
    buckets = {"<1%": (0, 0.01), "1-10%": (0.01, 0.1), "10-50%": (0.1, 0.5), ">50%": (0.5, 1e9)}
    block["index_by_postings"] = {
        name: summary(
            [
                t
                for t, p in zip(times["index"], per_query_postings, strict=True)
                if low <= p / chunks < high
            ]
        )
        for name, (low, high) in buckets.items()
    }
    return block


def hybrid(ls: Leitstand, queries: list[Query]) -> dict[str, Any]:
    """Lexical + dense with the query embeddings computed beforehand, or a placeholder."""
    dense = ls.retriever.dense
    if dense is None:
        return {
            "status": "PLACEHOLDER: dense retrieval is not available in this build "
            "(ls.retriever.dense is None); hybrid latency not measured yet",
        }
    # Each query once untimed, so the embedding of the query is cached or at least warm;
    # then timed. The embedding itself is timed apart and subtracted where it is exposed.
    embed = getattr(dense, "embed_query", None)
    for query in queries[:WARM_UP]:
        ls.search(query.text, k=K)
    totals, embeddings = [], []
    for query in queries:
        ls.search(query.text, k=K)  # warms any query-embedding cache
        started = time.perf_counter()
        ls.search(query.text, k=K)
        totals.append((time.perf_counter() - started) * 1000)
        if embed is not None:
            started = time.perf_counter()
            embed(query.text)
            embeddings.append((time.perf_counter() - started) * 1000)
    return {
        "status": "measured",
        "search_repeat": summary(totals),
        "embed_query": summary(embeddings),
    }


def run_backend(
    backend: str, size: int, folder: Path, queries: list[Query], warm_up: list[Query], server: Any
) -> dict[str, Any]:
    with (
        tempfile.TemporaryDirectory(prefix=f"scale-{backend}-", dir=CACHE) as tmp,
        opened(backend, Path(tmp), server, size) as ls,
    ):
        print(f"  {backend}: ingesting {size:,} chunks", flush=True)
        result: dict[str, Any] = {"ingest": ingest(ls, folder)}
        print(f"    {result['ingest']}", flush=True)
        chunks = result["ingest"]["chunks"]
        postings_block, per_query = postings(
            ls, [ls.retriever.analyse_query(q.text)[1] for q in queries], chunks
        )
        result["postings"] = postings_block
        if backend == "sqlite":
            result["size_mb_as_ingested"] = sizes(ls)
            timed = time_queries(ls, queries, warm_up)
            result["lexical_as_ingested"] = latency_block(timed, per_query, chunks)
            print(f"    as ingested: {_brief(result['lexical_as_ingested'])}", flush=True)
        result["maintenance"] = maintain(ls)
        result["size_mb"] = sizes(ls)
        timed = time_queries(ls, queries, warm_up)
        result["lexical"] = latency_block(timed, per_query, chunks)
        print(f"    {result['maintenance']}: {_brief(result['lexical'])}", flush=True)
        result["hybrid"] = (
            hybrid(ls, queries) if size <= 100_000 else {"status": "not run above 100k"}
        )
        return result


def _brief(block: dict[str, Any]) -> str:
    return ", ".join(
        f"{n} p50 {block[n]['p50']:.2f} p99 {block[n]['p99']:.2f} ms" for n in ("search", "index")
    )


# -- the ingest profile ------------------------------------------------------------------

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


def profile_ingest(folder: Path, out: Path) -> dict[str, Any]:
    """py-spy samples (main process, writer thread, workers) of one SQLite ingest, by stage."""
    raw = out.with_suffix(".txt")
    with (
        tempfile.TemporaryDirectory(prefix="scale-profile-", dir=CACHE) as tmp,
        opened("sqlite", Path(tmp), None, 0) as ls,
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


# -- the plot ----------------------------------------------------------------------------


def plot(result: dict[str, Any], path: Path = PLOT) -> Path:
    """Query latency (p50 and p99, search and index) against corpus size, both backends."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = result["runs"]
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.6), sharey=True)
    styles = {"sqlite": ("#1f77b4", "SQLite FTS5"), "postgres": ("#d62728", "PostgreSQL")}
    for axis, measure, title in (
        (axes[0], "search", "ls.search(q, k=10): what a caller waits for"),
        (axes[1], "index", "lexical index alone (100 candidates)"),
    ):
        for backend, (colour, label) in styles.items():
            points = sorted(
                (int(size), data[backend]["lexical"][measure])
                for size, data in runs.items()
                if backend in data
            )
            if not points:
                continue
            xs = [size for size, _ in points]
            axis.plot(xs, [p["p50"] for _, p in points], "o-", color=colour, label=f"{label} p50")
            axis.plot(
                xs,
                [p["p99"] for _, p in points],
                "s--",
                color=colour,
                alpha=0.6,
                label=f"{label} p99",
            )
        axis.axhline(BUDGET["lexical_sqlite_100k_p50_ms"], color="grey", lw=0.8, ls=":")
        axis.axhline(BUDGET["lexical_1m_p50_ms"], color="grey", lw=0.8, ls=":")
        axis.text(
            1.02,
            BUDGET["lexical_sqlite_100k_p50_ms"],
            "5 ms: p50 budget at 100k (SQLite)",
            transform=axis.get_yaxis_transform(),
            fontsize=7,
            color="grey",
            va="bottom",
            ha="right",
        )
        axis.text(
            1.02,
            BUDGET["lexical_1m_p50_ms"],
            "20 ms: p50 budget at 1M",
            transform=axis.get_yaxis_transform(),
            fontsize=7,
            color="grey",
            va="bottom",
            ha="right",
        )
        axis.set_xscale("log")
        axis.set_yscale("log")
        axis.set_xlabel("corpus size (chunks)")
        axis.set_title(title, fontsize=10)
        axis.grid(True, which="both", alpha=0.3)
        sizes_seen = sorted({int(s) for s in runs})
        axis.set_xticks(
            sizes_seen,
            [f"{s // 1000:,}k" if s < 1_000_000 else f"{s // 1_000_000}M" for s in sizes_seen],
        )
        axis.minorticks_off()
    axes[0].set_ylabel("query latency (ms, log scale)")
    axes[1].legend(fontsize=8, loc="upper left")
    fig.suptitle(
        "leitstand lexical query latency against corpus size (German + English synthetic corpus)",
        fontsize=11,
    )
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    print(f"wrote {path}")
    return path


# -- main ----------------------------------------------------------------------------------


def budgets(runs: dict[str, dict[str, Any]]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    small, large = runs.get("100000", {}), runs.get(str(LARGE), {})
    if "sqlite" in small:
        p50 = small["sqlite"]["lexical"]["search"]["p50"]
        found["lexical_sqlite_100k"] = {
            "p50_ms": p50,
            "holds": p50 <= BUDGET["lexical_sqlite_100k_p50_ms"],
        }
        hybrid_block = small["sqlite"].get("hybrid", {})
        if hybrid_block.get("status") == "measured":
            p50 = hybrid_block["search_repeat"]["p50"]
            found["hybrid_sqlite_100k"] = {
                "p50_ms": p50,
                "holds": p50 <= BUDGET["hybrid_100k_p50_ms"],
            }
        else:
            found["hybrid_sqlite_100k"] = {"p50_ms": None, "holds": None}
        rate = small["sqlite"]["ingest"]["chunks_per_s"]
        found["ingest_sqlite_100k"] = {
            "chunks_per_s": rate,
            "holds": rate >= BUDGET["ingest_chunks_per_s"],
        }
    for backend in ("sqlite", "postgres"):
        if backend in large:
            p50 = large[backend]["lexical"]["search"]["p50"]
            found[f"lexical_{backend}_1m"] = {
                "p50_ms": p50,
                "holds": p50 <= BUDGET["lexical_1m_p50_ms"],
            }
    return found


def main() -> None:
    args = parser(__doc__.splitlines()[0])
    args.add_argument("--large", action="store_true", help=f"also {LARGE:,} chunks (slow)")
    args.add_argument("--sizes", help="comma-separated chunk counts, instead of the defaults")
    args.add_argument("--backends", default="sqlite,postgres")
    args.add_argument("--queries", type=int, default=QUERIES)
    args.add_argument("--seed", type=int, default=13)
    args.add_argument("--plot", action="store_true", help="only redraw the plot from the JSON")
    args.add_argument("--profile-ingest", action="store_true", help="py-spy profile at 100k")
    args.add_argument("--merge", action="store_true", help="keep other sizes of the last result")
    options = args.parse_args()
    out = options.out or RESULTS / "scale.json"
    if options.plot:
        plot(json.loads(out.read_text(encoding="utf-8")))
        return
    if options.sizes:
        chosen = [int(s) for s in options.sizes.split(",")]
    elif options.quick:
        chosen = [10_000]
    else:
        chosen = [*SIZES, *([LARGE] if options.large else [])]
    count = 200 if options.quick else options.queries
    backends = options.backends.split(",")
    CACHE.mkdir(parents=True, exist_ok=True)
    previous = (
        json.loads(out.read_text(encoding="utf-8")) if options.merge and out.is_file() else {}
    )
    runs: dict[str, Any] = dict(previous.get("runs", {}))
    corpora: dict[str, Any] = dict(previous.get("corpora", {}))
    profile = previous.get("ingest_profile")
    with postgres() if "postgres" in backends else contextlib.nullcontext() as server:
        for size in chosen:
            spec = CorpusSpec(size, options.seed)
            folder = CACHE / f"corpus-{size}-s{options.seed}"
            print(f"corpus of {size:,} chunks in {folder}", flush=True)
            manifest = write_corpus(folder, spec)
            corpora[str(size)] = manifest
            queries = spec.queries(count)
            warm_up = spec.queries(WARM_UP, seed=options.seed + 1)
            runs[str(size)] = {
                "queries": dict(Counter(q.kind for q in queries)),
                **{
                    b: run_backend(b, size, folder, queries, warm_up, server)
                    for b in backends
                    if b != "postgres" or server is not None
                },
            }
            if options.profile_ingest and size == 100_000:
                profile = profile_ingest(folder, CACHE / "ingest-profile")
    result = {
        "quick": options.quick,
        "k": K,
        "budget": BUDGET,
        "corpora": corpora,
        "runs": runs,
        "budgets": budgets(runs),
        **({"ingest_profile": profile} if profile else {}),
    }
    write_result("scale", result, out)
    with contextlib.suppress(ImportError):
        plot(json.loads(out.read_text(encoding="utf-8")))


if __name__ == "__main__":
    main()
