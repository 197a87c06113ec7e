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
  candidate depth (``retrieval.candidates``, 100). The two alternate per query. On SQLite
  twice: ``lexical`` with the postings in memory (``retrieval.memory_index``, the default at
  these sizes; its build time and memory are reported) and ``lexical_fts5`` with FTS5 alone;
- **bm25s** as the peer a user would pick instead: bm25s (Snowball stemming, stop words) over
  the very chunk texts, in memory, query latency for the same queries (tokenising included);
- **hybrid** at up to 100k chunks (lexical + dense with all-MiniLM-L6-v2, the question's
  vector already computed), see ``_scale_dense.py``;
- **postings**: per query, the document frequency of each analysed term (from the index's
  own statistics), which is what an OR query has to walk.

    .venv/bin/python bench/scale.py                  # 10k and 100k chunks, both backends
    .venv/bin/python bench/scale.py --large          # ... and 1M (about an hour)
    .venv/bin/python bench/scale.py --quick          # 10k only, fewer queries
    .venv/bin/python bench/scale.py --plot           # only redraw docs/scale.png from the JSON
    .venv/bin/python bench/scale.py --profile-ingest # ... and a py-spy profile of one ingest
    .venv/bin/python bench/scale.py --no-hybrid      # skip embedding (the first run embeds
                                                     # every chunk: about half an hour at 100k)
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import text

from _common import RESULTS, ROOT, parser, postgres, postgres_url, summary, write_result
from _ingest_profile import profile_ingest
from _scale_dense import DOCUMENT_TOKENS, hybrid
from _scale_plot import plot
from corpus import CorpusSpec, Query, write_corpus
from leitstand import Leitstand
from leitstand.search.memory_index import MemoryLexicalIndex

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
LEXICAL_ONLY = {"embeddings": {"provider": "none"}, "retrieval": {"memory_index": "off"}}
HYBRID_MAX = 100_000


# -- one backend at one size -------------------------------------------------------------


@contextlib.contextmanager
def opened(data_dir: Path, url: str | None) -> Iterator[Leitstand]:
    """Lexical only, FTS5 only: what ingestion and the FTS5 measurement use."""
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


def memory_lexical(
    data_dir: Path, url: str | None, queries: list[Query], warm_up: list[Query]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The default at these sizes: the postings in memory. Their build, then the latency."""
    overrides: dict[str, Any] = {
        "data_dir": str(data_dir),
        "embeddings": {"provider": "none"},
        "retrieval": {"memory_index": "on"},
    }
    if url:
        overrides["database_url"] = url
    with Leitstand.open(None, **overrides) as ls:
        index = ls.retriever.index
        assert isinstance(index, MemoryLexicalIndex)
        started = time.perf_counter()
        index.wait()
        built = {
            "build_s": round(time.perf_counter() - started, 2),
            "memory_mb": round(index.nbytes() / 1e6, 1),
        }
        return built, time_queries(ls, queries, warm_up)


def bm25s_peer(ls: Leitstand, queries: list[Query]) -> dict[str, Any]:
    """bm25s over the chunk texts, in memory: index time, memory, and query latency."""
    import bm25s
    import Stemmer

    with ls.db.read() as session:
        rows = session.execute(text("SELECT language, text FROM chunks ORDER BY id")).all()
    stemmers = {"de": Stemmer.Stemmer("german"), "en": Stemmer.Stemmer("english")}
    started = time.perf_counter()
    # One index over both languages, as leitstand has one; each chunk stemmed in its language.
    tokens: list[list[str]] = []
    for code, stemmer in stemmers.items():
        texts = [row[1] for row in rows if row[0] == code]
        tokenized = bm25s.tokenize(
            texts, stopwords=code, stemmer=stemmer, show_progress=False, return_ids=False
        )
        tokens += tokenized
    index = bm25s.BM25()
    index.index(tokens, show_progress=False)
    index_s = time.perf_counter() - started
    times = []
    for query in queries:
        started = time.perf_counter()
        code = query.language if query.language in stemmers else "en"
        query_tokens = bm25s.tokenize(
            [query.text],
            stopwords=code,
            stemmer=stemmers[code],
            show_progress=False,
            return_ids=False,
        )
        if query_tokens[0]:
            index.retrieve(query_tokens, k=K, show_progress=False)
        times.append((time.perf_counter() - started) * 1000)
    return {"index_s": round(index_s, 1), "lexical": {"search": summary(times)}}


def run_backend(
    backend: str,
    size: int,
    folder: Path,
    queries: list[Query],
    warm_up: list[Query],
    server: Any,
    *,
    with_hybrid: bool,
    seed: int,
) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix=f"scale-{backend}-", dir=CACHE) as tmp:
        url = postgres_url(server, f"scale_{size}") if backend == "postgres" else None
        with opened(Path(tmp), url) as ls:
            print(f"  {backend}: ingesting {size:,} chunks", flush=True)
            result: dict[str, Any] = {"ingest": ingest(ls, folder)}
            print(f"    {result['ingest']}", flush=True)
            chunks = result["ingest"]["chunks"]
            postings_block, per_query = postings(
                ls, [ls.retriever.analyse_query(q.text)[1] for q in queries], chunks
            )
            result["postings"] = postings_block
            result["maintenance"] = maintain(ls)
            result["size_mb"] = sizes(ls)
            timed = time_queries(ls, queries, warm_up)
            name = "lexical_fts5" if backend == "sqlite" else "lexical"
            result[name] = latency_block(timed, per_query, chunks)
            print(f"    {result['maintenance']}; {name}: {_brief(result[name])}", flush=True)
            if backend == "sqlite" and size >= 100_000:
                result["bm25s"] = bm25s_peer(ls, queries)
                print(f"    bm25s: {result['bm25s']}", flush=True)
        if backend == "sqlite":
            built, timed = memory_lexical(Path(tmp), url, queries, warm_up)
            result["memory_index"] = built
            result["lexical"] = latency_block(timed, per_query, chunks)
            print(f"    {built}; lexical: {_brief(result['lexical'])}", flush=True)
        if with_hybrid and size <= HYBRID_MAX:
            vectors = CACHE / f"vectors-{size}-s{seed}-{DOCUMENT_TOKENS}t.npz"
            result["hybrid"] = hybrid(Path(tmp), url, queries, vectors)
            print(f"    hybrid: {result['hybrid']}", flush=True)
        return result


def _brief(block: dict[str, Any]) -> str:
    return ", ".join(
        f"{n} p50 {block[n]['p50']:.2f} p99 {block[n]['p99']:.2f} ms" for n in ("search", "index")
    )


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
            p50 = hybrid_block["search_with_cached_query_vector"]["p50"]
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
    if "postgres" in small and small["postgres"].get("hybrid", {}).get("status") == "measured":
        p50 = small["postgres"]["hybrid"]["search_with_cached_query_vector"]["p50"]
        found["hybrid_postgres_100k"] = {
            "p50_ms": p50,
            "holds": p50 <= BUDGET["hybrid_100k_p50_ms"],
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
    args.add_argument(
        "--merge",
        action="store_true",
        help="keep what this run does not measure (sizes, backends, hybrid) from the last result",
    )
    args.add_argument("--no-hybrid", action="store_true", help="skip dense retrieval")
    options = args.parse_args()
    out = options.out or RESULTS / "scale.json"
    if options.plot:
        plot(json.loads(out.read_text(encoding="utf-8")), PLOT, BUDGET)
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
            # With --merge, what this run does not measure (another backend, hybrid search
            # under --no-hybrid) stays from the last run; the rest is replaced.
            kept = runs.get(str(size), {})
            runs[str(size)] = {**kept, "queries": dict(Counter(q.kind for q in queries))}
            for b in backends:
                if b == "postgres" and server is None:
                    continue
                measured = run_backend(
                    b,
                    size,
                    folder,
                    queries,
                    warm_up,
                    server,
                    with_hybrid=not options.no_hybrid,
                    seed=options.seed,
                )
                runs[str(size)][b] = {**kept.get(b, {}), **measured}
            if options.profile_ingest and size == 100_000:
                profile = profile_ingest(folder, CACHE / "ingest-profile", CACHE, opened, ingest)
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
        plot(json.loads(out.read_text(encoding="utf-8")), PLOT, BUDGET)


if __name__ == "__main__":
    main()
