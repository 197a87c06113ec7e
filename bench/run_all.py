"""Run every benchmark, then write ``docs/benchmarks.md`` from their JSON results.

.venv/bin/python bench/run_all.py            # what `make bench` runs
.venv/bin/python bench/run_all.py --quick    # smaller runs, for a first look
.venv/bin/python bench/run_all.py --render   # only rewrite the docs from bench/results/
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from _common import RESULTS, ROOT

SCRIPTS = ("retrieval", "request_latency", "ingest_throughput")
DOCS = ROOT / "docs" / "benchmarks.md"
HERE = Path(__file__).resolve().parent
NOTES = [
    "## Notes on method",
    "",
    "- Percentiles are nearest-rank over all measured requests or queries; warm-up requests "
    "are not counted.",
    "- The own-path budget is checked on what leitstand's code adds inside the server (the "
    "trace's duration minus its retrieve and generate spans). The client-side figure adds one "
    "HTTP round trip through uvicorn and FastAPI; the bare FastAPI row shows what that costs "
    "on this machine for any FastAPI service.",
    "- Query and request timings come from one process on a machine shared with other work; "
    "the peers of one run saw the same conditions, runs on different days did not.",
    "",
]


def run(names: list[str], quick: bool) -> None:
    for name in names:
        command = [sys.executable, str(HERE / f"{name}.py"), *(["--quick"] if quick else [])]
        print(f"$ {' '.join(command)}", flush=True)
        started = time.perf_counter()
        subprocess.run(command, check=True, cwd=ROOT)
        print(f"  {name} took {time.perf_counter() - started:.0f} s", flush=True)


def verdict(holds: bool) -> str:
    return "pass" if holds else "**FAIL**"


def table(header: list[str], rows: list[list[Any]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return [*lines, ""]


def budgets(results: dict[str, dict[str, Any]]) -> list[str]:
    rows: list[list[Any]] = []
    if "retrieval" in results:
        for dataset, data in results["retrieval"]["datasets"].items():
            reference = data["peers"]["bm25s-stem"]["ndcg@10"]
            for name, peer in data["peers"].items():
                if name.startswith("leitstand"):
                    rows.append(
                        [
                            f"retrieval quality, {dataset}, {name.removeprefix('leitstand-')}",
                            f"nDCG@10 ≥ bm25s-stem ({reference:.4f})",
                            f"{peer['ndcg@10']:.4f}",
                            verdict(peer["vs_bm25s-stem"]["holds"]),
                        ]
                    )
    if "request_latency" in results:
        data = results["request_latency"]
        own, budget = data["ms"]["leitstand_own"], data["budget"]
        inner = data["ms"]["own_in_process"]
        bare = data["ms"]["bare_fastapi_round_trip"]
        rows.append(
            [
                "own request path: leitstand's code (trace − retrieve − generate)",
                "p50 ≤ 1 ms, p99 ≤ 5 ms",
                f"p50 {inner['p50']:.2f} ms, p99 {inner['p99']:.2f} ms",
                verdict(budget["in_process_p50_holds"] and budget["in_process_p99_holds"]),
            ]
        )
        rows.append(
            [
                "… as the client sees it (+ one uvicorn/FastAPI round trip; a bare FastAPI "
                f"app: p50 {bare['p50']:.2f} ms)",
                "p50 ≤ 1 ms, p99 ≤ 5 ms",
                f"p50 {own['p50']:.2f} ms, p99 {own['p99']:.2f} ms",
                verdict(budget["p50_holds"] and budget["p99_holds"]),
            ]
        )
    if "ingest_throughput" in results:
        data = results["ingest_throughput"]
        budget, serve = data["budget"], data["serve"]["leitstand"]
        rate = data["throughput"]["leitstand"]["chunks_per_s_median"]
        rows += [
            [
                "ingestion, txt + md, lexical only, default workers",
                f"≥ {budget['chunks_per_s']:,} chunks/s",
                f"{rate:,.0f} chunks/s",
                verdict(budget["chunks_per_s_holds"]),
            ],
            [
                "`leitstand serve` ready (start → /readyz 200), median",
                f"≤ {budget['ready_s']} s",
                f"{serve['ready_s']['median']:.2f} s (max {serve['ready_s']['max']:.2f} s)",
                verdict(budget["ready_holds"]),
            ],
            [
                "`leitstand serve` idle RSS, median",
                f"≤ {budget['rss_mb']} MB",
                f"{serve['rss_idle_mb']['median']:.0f} MB",
                verdict(budget["rss_holds"]),
            ],
        ]
    return ["## Budgets", "", *table(["what", "budget", "measured", "verdict"], rows)]


def retrieval(data: dict[str, Any]) -> list[str]:
    lines = [
        "## Retrieval quality and query latency (`bench/retrieval.py`)",
        "",
        "XQuAD dev split (240 Wikipedia paragraphs, 612 questions per language), BEIR layout from "
        "`../shared/datasets`. Every peer indexes title + text of the same paragraphs; every "
        "query runs on every peer before the next query (rotating order). leitstand runs with "
        "default settings through the Python API (`ingest_texts`, `search`; chunks are mapped "
        "back to documents by `rank_with`). Index time includes leitstand's database writes.",
        "",
    ]
    header = ["peer", "nDCG@10", "recall@10", "MRR@10", "query p50 ms", "query p99 ms", "index s"]
    for dataset, result in data["datasets"].items():
        lines += [f"### {dataset} ({result['queries']} queries, {result['documents']} docs)", ""]
        rows = [
            [
                f"`{name}`",
                f"{peer['ndcg@10']:.4f}",
                f"{peer['recall@10']:.4f}",
                f"{peer['mrr@10']:.4f}",
                f"{peer['query_ms']['p50']:.2f}",
                f"{peer['query_ms']['p99']:.2f}",
                f"{peer['index_s']:.2f}",
            ]
            for name, peer in result["peers"].items()
        ]
        lines += table(header, rows)
        ratio_rows = [
            [
                f"`{name}` ÷ `bm25s-stem`",
                r["ndcg@10"],
                r["recall@10"],
                r["mrr@10"],
                r["query_p50"],
                r["query_p99"],
                r["index_s"],
                f"{r['queries_better']} / {r['queries_worse']}",
            ]
            for name, peer in result["peers"].items()
            if (r := peer.get("vs_bm25s-stem"))
        ]
        lines += table(
            ["ratio", "nDCG", "recall", "MRR", "p50", "p99", "index", "queries better / worse"],
            ratio_rows,
        )
    return lines


def latency(data: dict[str, Any]) -> list[str]:
    labels = {
        "direct_model_call": "direct call to the model server, leitstand's prompt, JSON",
        "direct_model_call_stream": "direct call to the model server, leitstand's prompt, SSE",
        "bare_fastapi_round_trip": "bare FastAPI app, same request and response",
        "healthz_round_trip": "leitstand `/healthz`",
        "leitstand_total": "leitstand `/v1/chat/completions`, total at the client",
        "retrieve_span": "… `retrieve` span",
        "generate_span": "… `generate` span (model client, SSE)",
        "prompt_span": "… `prompt` span (part of own path)",
        "leitstand_own": "**own path** = total − retrieve − generate",
        "own_in_process": "… inside leitstand: trace duration − retrieve − generate",
        "own_http_layer": "… HTTP layer: total − trace duration",
        "own_above_bare_fastapi": "own path − bare FastAPI round trip (paired per round)",
    }
    rows = [
        [label, f"{data['ms'][key]['p50']:.2f}", f"{data['ms'][key]['p99']:.2f}"]
        for key, label in labels.items()
        if key in data["ms"]
    ]
    sizes = data["bytes"]
    return [
        "## Request latency (`bench/request_latency.py`)",
        "",
        f"`leitstand serve` (child process, SQLite, the five seed articles, "
        f"{data['corpus']['chunks']} chunks) answers through an OpenAI-compatible scripted model "
        f"server (`leitstand.testing.ScriptedChatServer`, real HTTP) that replies with a fixed "
        f"{sizes['model_reply_words']}-word answer, streamed word by word. {data['requests']} "
        f"non-streaming requests after {data['warm_up']} warm-up rounds; every round sends one "
        "request of each kind below in a rotating order. Spans are read back from the trace "
        f"database after the run. Model request ≈ {sizes['model_request']:,} bytes, leitstand "
        f"response ≈ {sizes['leitstand_response']:,} bytes.",
        "",
        *table(["ms", "p50", "p99"], rows),
        f"Ratios: leitstand total ÷ direct model call (p50) = "
        f"{data['ratios']['leitstand_total_vs_direct_p50']}; generate span ÷ direct streaming "
        f"call (p50) = {data['ratios']['generate_span_vs_direct_stream_p50']}.",
        "",
    ]


def ingestion(data: dict[str, Any]) -> list[str]:
    corpus, rerun, ratios = data["corpus"], data["rerun_unchanged"], data["ratios"]
    rows = []
    for name, peer in data["throughput"].items():
        runs = peer["runs"]
        seconds = ", ".join(f"{run['seconds']:.2f}" for run in runs)
        writes = ", ".join(f"{run['write_s']:.2f}" for run in runs if "write_s" in run) or "–"
        rows.append(
            [
                f"`{name}`",
                f"{peer['chunks_per_s_median']:,.0f}",
                runs[0]["chunks"],
                seconds,
                writes,
            ]
        )
    serve_rows = [
        [
            f"`{name}`",
            f"{row['ready_s']['median']:.2f} / {row['ready_s']['max']:.2f}",
            f"{row['rss_ready_mb']['median']:.0f}",
            f"{row['rss_idle_mb']['median']:.0f}",
            f"{row['rss_after_50_requests_mb']['median']:.0f}"
            if "rss_after_50_requests_mb" in row
            else "–",
        ]
        for name, row in data["serve"].items()
    ]
    return [
        "## Ingestion and start-up (`bench/ingest_throughput.py`)",
        "",
        f"{corpus['files']:,} generated files ({corpus['bytes'] / 1e6:.1f} MB; half `.txt`, half "
        "`.md` with headings; 4–8 XQuAD paragraphs each, German and English) ingested into a "
        f"fresh SQLite data dir; {data['rounds']} round(s), the two leitstand variants swapping "
        "places. The `bm25s` peer tokenizes (stemming + stop words) and indexes the very chunk "
        "texts leitstand produced, in memory: analysis and indexing alone, without reading, "
        "parsing, chunking, language detection or a database.",
        "",
        *table(["peer", "chunks/s (median)", "chunks", "seconds per run", "write s"], rows),
        f"Ratios: leitstand ÷ bm25s = {ratios['leitstand_vs_bm25s']}; default workers ÷ one "
        f"worker = {ratios['leitstand_vs_1_worker']}. Re-run over the unchanged folder: "
        f"{rerun['seconds']:.2f} s for {rerun['unchanged']:,} files ({rerun['changed']} changed).",
        "",
        "`leitstand serve` over that database, alternating with a bare FastAPI app on uvicorn:",
        "",
        *table(
            [
                "process",
                "ready s (median / max)",
                "RSS at ready MB",
                "RSS idle (3 s) MB",
                "RSS after 50 requests MB",
            ],
            serve_rows,
        ),
        f"Ratios (median): ready ÷ bare FastAPI = {ratios['serve_ready_vs_bare_fastapi']}; "
        f"idle RSS ÷ bare FastAPI = {ratios['serve_rss_vs_bare_fastapi']}.",
        "",
    ]


def render(results: dict[str, dict[str, Any]]) -> str:
    machine = next(iter(results.values()))["machine"]
    quick = any(result.get("quick") for result in results.values())
    lines = [
        "# Benchmarks",
        "",
        "<!-- Generated by bench/run_all.py from bench/results/*.json; do not edit by hand. -->",
        "",
        "Every figure below comes from the scripts in `bench/`, run side by side with named "
        "peers in the same run. The machine is shared and absolute timings drift between runs; "
        "compare the ratios and the peers of the same run.",
        "",
        "Reproduce: `make bench` (runs `.venv/bin/python bench/run_all.py`), or one script alone, "
        "e.g. `.venv/bin/python bench/retrieval.py`; `--quick` gives a smaller run. Results go to "
        "`bench/results/*.json`; `bench/run_all.py --render` rewrites this page from them.",
        "",
        f"Machine: {machine['cores']} cores ({machine['cpu']}), {machine['memory_gb']} GB RAM, "
        f"Python {machine['python']}, {machine['platform']}. Runs: "
        + "; ".join(
            f"`{name}` {result['machine']['date']} (load average at start "
            f"{', '.join(str(x) for x in result['machine']['load_average_at_start'] or [])})"
            for name, result in results.items()
        )
        + (". **Quick run, not for publication.**" if quick else "."),
        "",
        *budgets(results),
    ]
    if "retrieval" in results:
        lines += retrieval(results["retrieval"])
    if "request_latency" in results:
        lines += latency(results["request_latency"])
    if "ingest_throughput" in results:
        lines += ingestion(results["ingest_throughput"])
    lines += NOTES
    return "\n".join(lines).rstrip() + "\n"


def main() -> None:
    args = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    args.add_argument("--quick", action="store_true", help="smaller runs")
    args.add_argument("--render", action="store_true", help="only write the docs from results")
    args.add_argument("--only", choices=SCRIPTS, action="append", help="run only these")
    options = args.parse_args()
    if not options.render:
        run(options.only or list(SCRIPTS), options.quick)
    results = {
        name: json.loads((RESULTS / f"{name}.json").read_text(encoding="utf-8"))
        for name in SCRIPTS
        if (RESULTS / f"{name}.json").is_file()
    }
    if not results:
        raise SystemExit(f"no results in {RESULTS}; run the benchmarks first")
    DOCS.write_text(render(results), encoding="utf-8")
    print(f"wrote {DOCS}")


if __name__ == "__main__":
    main()
