"""Rendering ``docs/benchmarks.md`` from the JSON results of the scripts in ``bench/``."""

from __future__ import annotations

from collections import Counter
from typing import Any

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


RULES = {
    "default_sqlite": "default configuration, SQLite",
    "default_postgres": "default configuration, PostgreSQL",
    "lexical_sqlite": "lexical only, SQLite",
    "lexical_postgres": "lexical only, PostgreSQL",
    "hybrid_not_below_inputs": "hybrid not below its inputs",
}


def verdict(holds: bool | None) -> str:
    if holds is None:
        return "not measured"
    return "pass" if holds else "**FAIL**"


def ms(block: dict[str, Any] | None, key: str = "p50") -> str:
    return f"{block[key]:.2f}" if block and key in block else "–"


def table(header: list[str], rows: list[list[Any]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return [*lines, ""]


def budgets(results: dict[str, dict[str, Any]]) -> list[str]:
    rows: list[list[Any]] = []
    if "retrieval" in results:
        for dataset, data in results["retrieval"]["datasets"].items():
            for name, rule in data["acceptance"].items():
                rows.append(
                    [
                        f"retrieval, {dataset}: {RULES.get(name, name)}",
                        f"nDCG@10 ≥ {rule['needed']:.4f} ({rule['rule']})",
                        f"{rule['measured']:.4f}",
                        verdict(rule["holds"]),
                    ]
                )
    if "scale" in results:
        rows += scale_budgets(results["scale"])
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
    rows += guard_budgets(results)
    rows += gateway_budgets(results)
    rows += cascade_budgets(results)
    rows += cache_budgets(results)
    return ["## Budgets", "", *table(["what", "budget", "measured", "verdict"], rows)]


def guard_budgets(results: dict[str, dict[str, Any]]) -> list[list[Any]]:
    rows: list[list[Any]] = []
    if "pii" in results:
        data = results["pii"]
        for name, block in data["sets"].items():
            ours, theirs = block["leitstand"]["micro"]["f1"], block["presidio"]["micro"]["f1"]
            rows.append(
                [
                    f"PII, {PII_SETS.get(name, name)}: micro-F1 above Presidio's",
                    f"> {theirs:.3f}",
                    f"{ours:.3f}",
                    verdict(data["acceptance"][name]["micro_f1_above_presidio"]),
                ]
            )
        rows.append(
            [
                "PII detection throughput vs Presidio",
                "≥ 10×",
                f"{data['ratios']['throughput_leitstand_vs_presidio']}×",
                verdict(data["acceptance"]["throughput_at_least_10x"]),
            ]
        )
    if "injection" in results:
        data = results["injection"]
        benign, scan = data["benign_de_business"], data["input_scan"]["ms_per_1000_chars"]
        rows += [
            [
                f"injection: false alarms on {benign['n']} benign German business texts",
                "< 3 %",
                f"{benign['false_positive_rate']:.1%}",
                verdict(data["acceptance"]["benign_false_positive_rate_below_3pct"]),
            ],
            [
                "input scan (PII + injection) per 1,000 characters",
                "p50 ≤ 1 ms",
                f"p50 {scan['p50']:.2f} ms, p99 {scan['p99']:.2f} ms",
                verdict(data["acceptance"]["input_scan_p50_at_most_1ms_per_1000_chars"]),
            ],
        ]
    return rows


PII_SETS = {
    "en": "English (Presidio's synthetic set)",
    "de": "German names (GermEval 2014 dev)",
}


def pii(data: dict[str, Any]) -> list[str]:
    lines = [
        "## PII detection (`bench/pii.py`)",
        "",
        "Token-level precision, recall and F1 per class (as presidio-research scores), side by "
        "side with Presidio in the same run; exact-span F1 in the last column. Presidio ran as "
        "configured here: "
        + data["presidio_configuration"]["nlp_engine"]
        + ", "
        + data["presidio_configuration"]["package"]
        + ", its German recognizers enabled.",
        "",
    ]
    for name, block in data["sets"].items():
        rows = []
        for label, ours in block["leitstand"]["per_class"].items():
            theirs = block["presidio"]["per_class"][label]
            rows.append(
                [
                    label,
                    ours["support_tokens"],
                    f"{ours['precision']:.3f} / {ours['recall']:.3f} / **{ours['f1']:.3f}**",
                    f"{theirs['precision']:.3f} / {theirs['recall']:.3f} / {theirs['f1']:.3f}",
                    f"{ours['exact_span_f1']:.3f} / {theirs['exact_span_f1']:.3f}",
                ]
            )
        ours, theirs = block["leitstand"]["micro"], block["presidio"]["micro"]
        rows.append(
            [
                "**micro**",
                "",
                f"{ours['precision']:.3f} / {ours['recall']:.3f} / **{ours['f1']:.3f}**",
                f"{theirs['precision']:.3f} / {theirs['recall']:.3f} / {theirs['f1']:.3f}",
                f"{block['leitstand']['exact_span_micro_f1']:.3f} / "
                f"{block['presidio']['exact_span_micro_f1']:.3f}",
            ]
        )
        lines += [f"**{PII_SETS.get(name, name)}**, {block['samples']:,} texts", ""]
        lines += table(
            ["class", "gold tokens", "leitstand P / R / F1", "Presidio P / R / F1",
             "exact-span F1 (ours / Presidio)"],
            rows,
        )  # fmt: skip
    speed = data["throughput"]
    lines += table(
        ["throughput (both sets, every text once)", "characters/s", "µs per 1,000 characters"],
        [
            [tool, f"{block['chars_per_s']:,}", f"{block['us_per_1000_chars']:,.0f}"]
            for tool, block in speed.items()
        ],
    )
    return lines


def injection(data: dict[str, Any]) -> list[str]:
    lines = [
        "## Prompt injection (`bench/injection.py`)",
        "",
        "deepset/prompt-injections (all 662 texts, split by leitstand's language detector), "
        "and the handwritten benign German business texts of `bench/data/`. No peer: the "
        "detectors a user would pick instead (LLM Guard, Rebuff, Vigil) need a model download "
        "or a hosted API.",
        "",
    ]
    rows = []
    for name, block in data["deepset"].items():
        c = block["confusion"]
        rows.append(
            [
                f"deepset, {name}",
                block["n"],
                f"{block['balanced_accuracy']:.3f}",
                f"{block['recall']:.3f}",
                f"{block['false_positive_rate']:.3f}",
                f"{c['tp']} / {c['fn']} / {c['fp']} / {c['tn']}",
            ]
        )
    benign = data["benign_de_business"]
    c = benign["confusion"]
    rows.append(
        [
            "benign German business texts",
            benign["n"],
            "–",
            "–",
            f"{benign['false_positive_rate']:.3f}",
            f"– / – / {c['fp']} / {c['tn']}",
        ]
    )
    lines += table(
        ["set", "texts", "balanced accuracy", "recall", "false-positive rate",
         "TP / FN / FP / TN"],
        rows,
    )  # fmt: skip
    scan = data["input_scan"]
    lines += table(
        ["input scan per 1,000 characters", "p50 ms", "p99 ms"],
        [
            [label, ms(scan[key]), ms(scan[key], "p99")]
            for label, key in (
                ("PII + injection", "ms_per_1000_chars"),
                ("PII", "pii_ms_per_1000_chars"),
                ("injection", "injection_ms_per_1000_chars"),
            )
        ],
    )
    return lines


def retrieval(data: dict[str, Any]) -> list[str]:
    lines = [
        "## Retrieval quality (`bench/retrieval.py`)",
        "",
        "XQuAD dev split (240 Wikipedia paragraphs, 612 questions per language), BEIR layout from "
        "`../shared/datasets`. Every peer indexes title + text of the same paragraphs; every "
        "query runs on every peer before the next query (rotating order). `leitstand-sqlite` and "
        "`leitstand-postgres` run the **default configuration with no LLM configured**; with the "
        "`[local]` extra and the packaged all-MiniLM-L6-v2 installed, that is hybrid retrieval "
        "(column *mode*). The `-lexical` rows are the same defaults with "
        "`embeddings.provider: none`, what a core install does. `minilm-brute` is "
        "sentence-transformers with the same model, exact cosine over all paragraphs. Query "
        "times of hybrid and MiniLM include embedding the question on the CPU. Index time "
        "includes leitstand's database writes (and embedding, for hybrid).",
        "",
    ]
    header = [
        "peer",
        "mode",
        "nDCG@10",
        "recall@10",
        "MRR@10",
        "query p50 ms",
        "query p99 ms",
        "index s",
    ]
    for dataset, result in data["datasets"].items():
        lines += [f"### {dataset} ({result['queries']} queries, {result['documents']} docs)", ""]
        rows = [
            [
                f"`{name}`",
                peer.get("mode", ""),
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
                f"{r['queries_better']} / {r['queries_worse']}",
            ]
            for name, peer in result["peers"].items()
            if (r := peer.get("vs_bm25s-stem"))
        ]
        lines += table(
            ["ratio", "nDCG", "recall", "MRR", "query p50", "queries better / worse"], ratio_rows
        )
        fusion = result.get("fusion", {})
        if fusion:
            lines += [
                "Fusion and refinements on the same SQLite index (the defaults in "
                "`config/settings.py` are chosen from this table):",
                "",
                *table(
                    ["variant", "nDCG@10", "recall@10", "MRR@10"],
                    [
                        [
                            name,
                            f"{row['ndcg@10']:.4f}",
                            f"{row['recall@10']:.4f}",
                            f"{row['mrr@10']:.4f}",
                        ]
                        for name, row in fusion.items()
                    ],
                ),
            ]
    return lines


def ablation(data: dict[str, Any]) -> list[str]:
    lines = [
        "## Lexical options, one at a time (`bench/lexical_ablation.py`)",
        "",
        "Lexical search only, SQLite, XQuAD dev, side by side with `bm25s-stem` in the same "
        "run: German compound splitting, pseudo-relevance feedback (RM3) for a small grid of "
        "feedback chunks, expansion terms and weight, and the proximity re-ranker. "
        f"Defaults chosen from it: expansion `{data['defaults']['expansion']}`, re-ranker "
        f"`{data['defaults']['reranker']}`. Loading the German lexicon once: "
        f"{data['lexicon_load_ms']:.0f} ms.",
        "",
    ]
    for dataset, result in data["datasets"].items():
        lines += [f"### {dataset}", ""]
        lines += table(
            ["variant", "nDCG@10", "Δ vs bm25s-stem", "MRR@10", "query p50 ms", "better / worse"],
            [
                [
                    f"`{name}`",
                    f"{row['ndcg@10']:.4f}",
                    f"{row.get('delta_vs_bm25s-stem', 0):+.4f}" if name != "bm25s-stem" else "",
                    f"{row['mrr@10']:.4f}",
                    f"{row['query_ms']['p50']:.2f}",
                    f"{row.get('queries_better', '')} / {row.get('queries_worse', '')}"
                    if name != "bm25s-stem"
                    else "",
                ]
                for name, row in result["peers"].items()
            ],
        )
        lines += [
            f"Ingestion of the {result['documents']} paragraphs: "
            + ", ".join(f"{k} {v:.2f} s" for k, v in result["ingest_s"].items())
            + "; analysing them once: "
            + ", ".join(f"{k} {v:.0f} ms" for k, v in result["analysis_ms"].items())
            + ".",
            "",
        ]
    return lines


def scale_budgets(data: dict[str, Any]) -> list[list[Any]]:
    found = data.get("budgets", {})
    budget = data["budget"]
    rows: list[list[Any]] = []
    labels = {
        "lexical_sqlite_100k": ("lexical query, 100k chunks, SQLite", "lexical_sqlite_100k_p50_ms"),
        "hybrid_sqlite_100k": (
            "hybrid query, 100k chunks, SQLite (question's vector given)",
            "hybrid_100k_p50_ms",
        ),
        "hybrid_postgres_100k": (
            "hybrid query, 100k chunks, PostgreSQL (question's vector given)",
            "hybrid_100k_p50_ms",
        ),
        "lexical_sqlite_1m": ("lexical query, 1M chunks, SQLite", "lexical_1m_p50_ms"),
        "lexical_postgres_1m": ("lexical query, 1M chunks, PostgreSQL", "lexical_1m_p50_ms"),
    }
    for key, (label, limit) in labels.items():
        if key in found:
            value = found[key]["p50_ms"]
            rows.append(
                [
                    f"{label}, `ls.search(q, k=10)` p50 (`bench/scale.py`)",
                    f"≤ {budget[limit]:g} ms",
                    f"{value:.2f} ms" if value is not None else "–",
                    verdict(found[key]["holds"]),
                ]
            )
    return rows


def scale(data: dict[str, Any]) -> list[str]:
    lines = [
        "## Scale (`bench/scale.py`)",
        "",
        "Synthetic German and English corpora (`bench/corpus.py`: word frequencies from "
        "wordfreq, topics, bursty repetition, names and numbers; one chunk per paragraph), "
        "ingested into a fresh database per backend, lexical only, then queried with real XQuAD "
        "questions and questions drawn from the corpus. `search` is `ls.search(q, k=10)` as a "
        "caller sees it; `index` is the lexical index alone for the retriever's 100 candidates. "
        "On SQLite the default answers from the postings in memory (`retrieval.memory_index`); "
        "*FTS5 only* is the same database with that switched off. `bm25s` indexes the same "
        "chunk texts in memory (Snowball stemming, stop words). Hybrid adds dense retrieval with "
        "all-MiniLM-L6-v2 vectors of every chunk; its time excludes embedding the question "
        "(reported apart).",
        "",
        "![Query latency against corpus size](scale.png)",
        "",
    ]
    rows = []
    for size, run in sorted(data["runs"].items(), key=lambda item: int(item[0])):
        for backend in ("sqlite", "postgres"):
            block = run.get(backend)
            if not block:
                continue
            memory = block.get("memory_index", {})
            hybrid = block.get("hybrid", {})
            measured = hybrid.get("status") == "measured"
            rows.append(
                [
                    f"{int(size):,}",
                    backend,
                    f"{block['ingest']['chunks_per_s']:,.0f}",
                    f"{memory['build_s']:.1f} s / {memory['memory_mb']:.0f} MB" if memory else "–",
                    f"{ms(block['lexical']['search'])} / {ms(block['lexical']['search'], 'p99')}",
                    f"{ms(block['lexical']['index'])} / {ms(block['lexical']['index'], 'p99')}",
                    ms(block.get("lexical_fts5", {}).get("search")),
                    ms(block.get("bm25s", {}).get("lexical", {}).get("search")),
                    ms(hybrid.get("search_with_cached_query_vector")) if measured else "–",
                    ms(hybrid.get("embed_query")) if measured else "–",
                    f"{block['size_mb']['database']:,.0f}",
                ]
            )
    lines += table(
        [
            "chunks",
            "backend",
            "ingest chunks/s",
            "postings in memory: build / size",
            "search p50 / p99 ms",
            "index p50 / p99 ms",
            "FTS5 only: search p50 ms",
            "bm25s p50 ms",
            "hybrid p50 ms",
            "embed question p50 ms",
            "database MB",
        ],
        rows,
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


def groundedness(data: dict[str, Any]) -> list[str]:
    lines = [
        "## Groundedness (`bench/groundedness.py`)",
        "",
        'XQuAD dev: for each question the answer sentence "<question>: <gold answer>." against '
        "its own paragraph (supported), with the answer of a question about another paragraph "
        "(wrong fact: the wording fits, the fact does not), and against a paragraph of another "
        "article (wrong source). leitstand at its default threshold (0.5); the peers at the "
        "best threshold on the same data, which flatters them.",
        "",
    ]
    rows = []
    for language, block in data["languages"].items():
        for name, row in block["methods"].items():
            default = row.get("balanced_accuracy")
            rows.append(
                [
                    f"xquad-{language}",
                    name,
                    f"{row['auc_wrong_fact']:.3f}",
                    f"{row['auc_wrong_source']:.3f}",
                    f"{default:.3f}" if default is not None else "–",
                    f"{row['balanced_accuracy_best_threshold']:.3f}",
                    f"{row['wrong_fact_caught']:.3f}" if "wrong_fact_caught" in row else "–",
                ]
            )
    lines += table(
        ["set", "method", "AUC wrong fact", "AUC wrong source", "balanced acc. (0.5)",
         "balanced acc. (best threshold)", "wrong facts caught (0.5)"],
        rows,
    )  # fmt: skip
    timing = [
        [f"xquad-{language}", ms(block["lexical_ms_per_sentence"]),
         ms(block["lexical_ms_per_sentence"], "p99")]
        for language, block in data["languages"].items()
    ]  # fmt: skip
    lines += table(
        ["lexical check per sentence (passage analysed too)", "p50 ms", "p99 ms"], timing
    )
    return lines


MODE_NAMES = {"json": "JSON", "stream": "streamed"}
GATEWAY_TARGETS = {
    "direct": "model server, direct (no gateway)",
    "leitstand": "leitstand, defaults (guards and tracing on)",
    "leitstand_lean": "leitstand, guards and tracing off",
    "litellm": "LiteLLM proxy",
}


def gateway_budgets(results: dict[str, dict[str, Any]]) -> list[list[Any]]:
    if "gateway" not in results or "acceptance" not in results["gateway"]:
        return []
    data = results["gateway"]
    ours, verdicts = data["acceptance"]["compared"], data["acceptance"]
    added = data["latency"]["added_ms"]
    latency = "; ".join(
        f"{mode} p50 {added[mode][ours]['p50']:.1f} vs {added[mode]['litellm']['p50']:.1f}, "
        f"p99 {added[mode][ours]['p99']:.1f} vs {added[mode]['litellm']['p99']:.1f}"
        for mode in ("json", "stream")
    )
    rates = "; ".join(
        f"{mode} c{concurrency} {peers[ours]['requests_per_s']:,.0f} vs "
        f"{peers['litellm']['requests_per_s']:,.0f}"
        for mode in ("json", "stream")
        for concurrency, peers in data["throughput"][mode].items()
    )
    return [
        [
            "gateway: added latency below LiteLLM's proxy (sequential, JSON and streamed; "
            "leitstand without guards, as LiteLLM runs)",
            "p50 and p99 < LiteLLM",
            f"ms, leitstand vs LiteLLM: {latency}",
            verdict(verdicts["less_added_latency_p50_p99"]),
        ],
        [
            f"gateway: requests/s above LiteLLM's proxy ({data['workers']} workers each)",
            "> LiteLLM",
            f"req/s, leitstand vs LiteLLM: {rates}",
            verdict(verdicts["more_requests_per_s"]),
        ],
    ]


def gateway(data: dict[str, Any]) -> list[str]:
    latency, throughput, servers = data["latency"], data["throughput"], data["servers"]
    names = [name for name in GATEWAY_TARGETS if name in servers]

    def added(mode: str, name: str, key: str) -> str:
        block = latency["added_ms"][mode].get(name)
        return f"{block[key]:.2f}" if block else "–"

    def bold(cell: str) -> str:
        return f"**{cell}**" if cell != "–" else cell

    latency_rows = [
        [
            GATEWAY_TARGETS[name],
            ms(latency["total_ms"]["json"][name]),
            ms(latency["total_ms"]["json"][name], "p99"),
            bold(added("json", name, "p50")),
            added("json", name, "p99"),
            ms(latency["total_ms"]["stream"][name]),
            ms(latency["total_ms"]["stream"][name], "p99"),
            bold(added("stream", name, "p50")),
            added("stream", name, "p99"),
            ms(latency["first_byte_ms"]["stream"][name]),
        ]
        for name in names
    ]
    columns = [
        (mode, concurrency) for mode in ("json", "stream") for concurrency in throughput[mode]
    ]

    def rate(mode: str, concurrency: str, name: str) -> str:
        peer = throughput[mode][concurrency][name]
        errors = f" ({peer['errors']} errors)" if peer["errors"] else ""
        return f"{peer['requests_per_s']:,.0f}{errors}"

    def cpu(mode: str, name: str) -> str:
        first = next(iter(throughput[mode]))
        value = throughput[mode][first][name].get("server_cpu_ms_per_request")
        return f"{value:.1f}" if value is not None else "–"

    rate_rows = [
        [
            GATEWAY_TARGETS[name],
            *(rate(mode, concurrency, name) for mode, concurrency in columns),
            f"{cpu('json', name)} / {cpu('stream', name)}",
            f"{servers[name]['rss_after_mb']:,.0f}",
        ]
        for name in names
    ]
    lines = [
        "## Gateway overhead against LiteLLM (`bench/gateway.py`)",
        "",
        f"One OpenAI-compatible model server (`python -m leitstand.testing.scripted_server`, "
        f"one process) answers every request with the same {data['setup']['reply_words']}-word "
        "answer, as JSON or streamed word by word (SSE). In front of it, side by side on this "
        f"machine with {data['workers']} worker processes each: `leitstand serve` with a use "
        "case in `mode: chat`, once with its defaults and once with guards and tracing off, and "
        f"LiteLLM's proxy {data['versions'].get('litellm') or ''} (`litellm[proxy]`, one "
        "`openai/` deployment, no database, no master key, callbacks off). LiteLLM runs no "
        "guards by default, so the like-for-like comparison is leitstand with guards and "
        "tracing off; the default row shows what the guards and the trace cost. Requests carry "
        f"a system and a user message ({data['setup']['request_bytes']:,} bytes); streamed ones "
        "ask for usage. The load generator is a separate process (asyncio, one keep-alive "
        "connection per concurrent request).",
        "",
        f"Latency at concurrency 1: {data['requests']} rounds after {data['warm_up']} warm-up, "
        "one request to each target per round in a rotating order. Added = a target's percentile "
        "minus the direct call's. Streamed: time to the last byte; first byte = first event.",
        "",
        *table(
            [
                "ms",
                "JSON p50",
                "JSON p99",
                "added p50",
                "added p99",
                "stream p50",
                "stream p99",
                "added p50",
                "added p99",
                "stream first byte p50",
            ],
            latency_rows,
        ),
        f"Throughput: requests/s answered with status 200 in {data['throughput_duration_s']:g} s "
        f"after {data['throughput_warm_up_s']:g} s of warm-up, each target alone while the "
        f"others idle; median of {data['rounds']} run(s) in alternating order. CPU = the "
        "server's processes' CPU time per request (lowest concurrency), RSS after the run.",
        "",
        *table(
            [
                "requests/s",
                *(f"{MODE_NAMES[mode]} c={concurrency}" for mode, concurrency in columns),
                "CPU ms/request JSON / streamed",
                "RSS MB",
            ],
            rate_rows,
        ),
    ]
    for name, block in data.get("ratios", {}).items():
        label = "leitstand (guards and tracing off)" if "lean" in name else "leitstand (defaults)"
        latency_ratios = "; ".join(
            f"{MODE_NAMES[mode]} p50 {block[f'added_p50_{mode}']}, p99 {block[f'added_p99_{mode}']}"
            for mode in ("json", "stream")
        )
        rate_ratios = "; ".join(
            f"{MODE_NAMES[mode]} c={concurrency} {block[f'requests_per_s_{mode}_c{concurrency}']}"
            for mode, concurrency in columns
        )
        lines += [
            f"{label} ÷ LiteLLM: added latency (lower is better) {latency_ratios}; "
            f"requests/s (higher is better) {rate_ratios}.",
            "",
        ]
    errors: dict[str, Counter[str]] = {}
    for name in names:
        kinds: Counter[str] = Counter()
        for mode in ("json", "stream"):
            for peers in throughput[mode].values():
                for run in peers[name]["runs"]:
                    kinds.update(run["error_kinds"])
        if kinds:
            errors[GATEWAY_TARGETS[name]] = kinds
    if errors:
        found = "; ".join(
            f"{label}: " + ", ".join(f"{count} × {kind}" for kind, count in kinds.items())
            for label, kinds in errors.items()
        )
        lines += [f"Errors during the throughput runs: {found}.", ""]
    return lines


CACHE_ROWS = {
    "leitstand": "leitstand (cosine + near-miss guard)",
    "plain_same_threshold": "plain cosine, same threshold (GPTCache, LiteLLM)",
    "plain_at_its_threshold": "plain cosine at its own 1 % threshold",
}


def pct(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.1f} %"


def cache_budgets(results: dict[str, dict[str, Any]]) -> list[list[Any]]:
    if "semantic_cache" not in results:
        return []
    data = results["semantic_cache"]
    chosen = data["recommended"]
    best = chosen["leitstand"]
    return [
        [
            f"semantic cache: wrong hits on the near-miss set (threshold {chosen['threshold']}, "
            "chosen on the dev split)",
            "≤ 1 %",
            f"dev {pct(best['dev']['wrong_hit_rate'])}, held out "
            f"{pct(best['test']['wrong_hit_rate'])}; paraphrases served: dev "
            f"{pct(best['dev']['hit_rate'])}, held out {pct(best['test']['hit_rate'])}",
            verdict(data["acceptance"]["wrong_hit_rate_at_most_1pct"]),
        ]
    ]


def semantic_cache(data: dict[str, Any]) -> list[str]:
    chosen = data["recommended"]
    sets = data["sets"]
    lines = [
        "## Semantic answer cache (`bench/semantic_cache.py`)",
        "",
        f"{sets['paraphrases']['pairs']} paraphrase pairs (questions that want the same "
        f"answer) and {sets['near_misses']['pairs']} near-miss pairs (worded alike, another "
        "number, product, negation, date, person, place, unit or object), German and English "
        "half each, written for this benchmark (`bench/data/cache_*.jsonl`). One side of every "
        "pair is cached (one scope), the other looked up, then the other way round. Questions "
        "embedded with all-MiniLM-L6-v2. *Hit*: a paraphrase gets its partner's answer; "
        "*misdirected*: it gets another entry's; *wrong hit*: a near miss gets any answer. "
        f"The threshold ({chosen['threshold']}) is the lowest from which on both error rates "
        "stay at or below 1 % on the dev split; a third of the pairs is held out.",
        "",
    ]
    rows = []
    for key, label in CACHE_ROWS.items():
        blocks = chosen.get(key)
        if not blocks:
            continue
        threshold = (
            chosen["plain_threshold_for_budget"] if key == "plain_at_its_threshold" else None
        )
        for split in ("dev", "test", "all"):
            block = blocks[split]
            rows.append(
                [
                    label + (f" ({threshold})" if threshold else ""),
                    {"dev": "dev", "test": "held out", "all": "all"}[split],
                    pct(block["hit_rate"]),
                    pct(block["misdirected_rate"]),
                    f"{pct(block['wrong_hit_rate'])} ({block['wrong_hits']})",
                ]
            )
    lines += table(
        ["cache", "split", "paraphrases served", "misdirected", "near misses served (wrong)"],
        rows,
    )
    wanted = {0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95, chosen["threshold"]}
    curve = [
        [
            f"**{point['threshold']}**"
            if point["threshold"] == chosen["threshold"]
            else point["threshold"],
            pct(point["plain"]["hit_rate"]),
            pct(point["plain"]["wrong_hit_rate"]),
            pct(point["leitstand"]["hit_rate"]),
            pct(point["leitstand"]["wrong_hit_rate"]),
        ]
        for point in data["curves"]["all"]
        if point["threshold"] in wanted
    ]
    lines += table(
        ["threshold", "plain: served", "plain: wrong", "leitstand: served", "leitstand: wrong"],
        curve,
    )
    kinds = [
        [kind, pct(row["plain"]), pct(row["leitstand"])] for kind, row in data["by_kind"].items()
    ]
    lines += table(["near misses by kind: wrong hits", "plain cosine", "leitstand"], kinds)
    ablation = [
        [name, pct(row["hit_rate"]), pct(row["misdirected_rate"]), pct(row["wrong_hit_rate"])]
        for name, row in data["ablation"].items()
    ]
    lines += table(
        [f"the guard's checks, one by one ({chosen['threshold']})", "served", "misdirected",
         "wrong"],
        ablation,
    )  # fmt: skip
    latency = data["latency_ms"]
    timing = [
        [
            f"{int(size):,}",
            f"{block['semantic_lookup_paraphrases']['p50']:.2f} / "
            f"{block['semantic_lookup_paraphrases']['p99']:.2f}",
            f"{block['semantic_miss']['p50']:.2f} / {block['semantic_miss']['p99']:.2f}",
            f"{block['exact_hit']['p50']:.2f} / {block['exact_hit']['p99']:.2f}",
            f"{block['first_lookup_loads_scope_ms']:.0f}",
        ]
        for size, block in latency.items()
        if size.isdigit()
    ]
    lines += table(
        ["entries in the scope (SQLite)", "lookup of a paraphrase, ms p50 / p99",
         "semantic miss", "exact hit", "first lookup (loads the scope), ms"],
        timing,
    )  # fmt: skip
    embed = latency.get("embed_one_question")
    if embed:
        lines += [
            "Lookup times exclude the question's embedding: all-MiniLM-L6-v2 on the CPU takes "
            f"p50 {embed['p50']:.1f} ms, p99 {embed['p99']:.1f} ms per question (computed once "
            "per request and reused when the answer is stored).",
            "",
        ]
    wrong = data.get("wrong_hits", [])
    if wrong:
        lines += [
            f"Every near miss served and paraphrase misdirected by leitstand at "
            f"{chosen['threshold']} (asked → cached question served):",
            "",
        ]
        lines += [f"- {row['asked']} → {row['served']} (cosine {row['cosine']})" for row in wrong]
        lines.append("")
    return lines


def cascade_budgets(results: dict[str, dict[str, Any]]) -> list[list[Any]]:
    if "cascade" not in results:
        return []
    data = results["cascade"]
    found = data["acceptance"]["configurations"]
    if "cascade" not in found:
        return []
    measured = "; ".join(
        f"{language}: {block['configurations']['cascade']['accuracy']:.3f} vs "
        f"{block['configurations']['large']['accuracy']:.3f} at "
        f"{block['configurations']['cascade']['cost_fraction_of_large']:.2f} of the cost"
        for language, block in data["languages"].items()
    )
    return [
        [
            f"cascade (defaults: groundedness, threshold {data['settings']['threshold']}, PII "
            "pseudonymised): the large model's accuracy at a fraction of its cost, small model "
            f"right on {data['acceptance']['p']:.0%}",
            f"accuracy ≥ large − {data['acceptance']['accuracy_margin']}",
            measured,
            verdict(found["cascade"]["reaches_large_accuracy"]),
        ]
    ]


def cascade(data: dict[str, Any]) -> list[str]:
    settings = data["settings"]
    prices = settings["prices_per_1m"]
    lines = [
        "## Cascade (`bench/cascade.py`)",
        "",
        "XQuAD dev paragraphs in a fresh leitstand (SQLite, lexical retrieval, default guards), "
        "every question asked in rag mode. Two scripted models answer from the prompt "
        '"<question>: <answer> [N]." citing the source that holds the gold answer: the large '
        f"one (priced {prices['large']['input']} / {prices['large']['output']} USD per 1M "
        "tokens in / out, like gpt-4o) is always right; the small one "
        f"({prices['small']['input']} / {prices['small']['output']}, like gpt-4o-mini) is right "
        "on a share p of the questions (a seeded hash) and otherwise states the answer of "
        "another question. The cascade keeps the small answer when leitstand's lexical "
        "groundedness check, run on the answer as the user would see it (placeholders of "
        "pseudonymised names restored), scores its weakest sentence's support by the cited "
        f"sources ≥ the threshold (default {settings['threshold']}); `guard.support_threshold` "
        "does not enter the decision. Every cascade runs with the default guard (PII "
        "pseudonymised). Accuracy: the final answer contains the gold answer. Cost: the sum of "
        "`usage_records` (tokens estimated at ~4 characters each). Wrong kept: wrong small "
        "answers the check let through; right escalated: right ones it sent to the large model "
        "anyway.",
        "",
    ]
    rows = []
    for language, block in data["languages"].items():
        for name, row in block["configurations"].items():
            if row["p"] != settings["p"]:
                continue
            escalated = "escalated_share" in row
            rows.append(
                [
                    f"xquad-{language}",
                    name,
                    f"{row['accuracy']:.3f}",
                    f"{row['cost_usd_per_1k_questions']:.2f}",
                    f"{row['cost_fraction_of_large']:.3f}",
                    f"{row['escalated_share']:.3f}" if escalated else "–",
                    f"{row['wrong_kept']} / {row['small_wrong']}" if escalated else "–",
                    str(row["right_escalated"]) if escalated else "–",
                ]
            )
    sets = ", ".join(
        f"xquad-{language}: {block['questions']} questions, gold answer among the sources for "
        f"{block['gold_answer_in_sources']:.1%}, PII placeholders in "
        f"{block['questions_with_pii_placeholders']:.1%}"
        for language, block in data["languages"].items()
    )
    lines += [f"p = {settings['p']} ({sets}):", ""]
    lines += table(
        ["set", "configuration", "accuracy", "USD per 1k questions", "cost ÷ large",
         "escalated", "wrong kept / small wrong", "right escalated"],
        rows,
    )  # fmt: skip
    spread = []
    for language, block in data["languages"].items():
        checked = block["configurations"]["cascade"].get("check_score")
        if not checked:
            continue
        right, wrong = checked["small_right"], checked["small_wrong"]
        spread.append(
            [
                f"xquad-{language}",
                " / ".join(f"{right[k]:.3f}" for k in ("min", "p25", "p50")),
                " / ".join(f"{wrong[k]:.3f}" for k in ("p50", "p75", "max")),
                f"{right['none'] + wrong['none']}",
            ]
        )
    if spread:
        lines += [
            f"The check's score (weakest sentence) at p = {settings['p']}, for the small "
            "model's right and wrong answers:",
            "",
        ]
        lines += table(
            ["set", "right: min / p25 / median", "wrong: median / p75 / max",
             "no claim to score (escalated)"],
            spread,
        )  # fmt: skip
    sweep = []
    for language, block in data["languages"].items():
        configurations = block["configurations"]
        large = configurations["large"]["accuracy"]
        for p in sorted({row["p"] for row in configurations.values()}):
            default = p == settings["p"]
            small = configurations["small" if default else f"small p={p}"]
            row = configurations["cascade" if default else f"cascade p={p}"]
            sweep.append(
                [
                    f"xquad-{language}",
                    f"{p}",
                    f"{large:.3f}",
                    f"{small['accuracy']:.3f}",
                    f"{row['accuracy']:.3f}",
                    f"{row['cost_fraction_of_large']:.3f}",
                    f"{row['escalated_share']:.3f}",
                    f"{row['wrong_kept']} / {row['small_wrong']}",
                ]
            )
    lines += [
        f"Share p of right small answers (the cascade at threshold {settings['threshold']}):",
        "",
    ]
    lines += table(
        ["set", "p", "large accuracy", "small accuracy", "cascade accuracy",
         "cascade cost ÷ large", "escalated", "wrong kept / small wrong"],
        sweep,
    )  # fmt: skip
    timing = []
    for language, block in data["languages"].items():
        row = block["configurations"]["cascade"]
        added = row["added_ms"]
        timing.append(
            [
                f"xquad-{language}",
                ms(row["check_ms"]),
                ms(row["cascade_span_ms"]),
                f"{added['kept_vs_small']['median']:+.2f}",
                f"{added['escalated_vs_large']['median']:+.2f}",
            ]
        )
    lines += [
        f"Latency, the cascade with its defaults at p = {settings['p']}: the check is the "
        "trace's `groundedness` span on kept answers (the guard's lexical check of the final "
        "answer, the same check the cascade runs); the added times pair each question with "
        "its own small-only or large-only request.",
        "",
    ]
    lines += table(
        ["set", "check p50 ms", "cascade span p50 ms (small call + check)",
         "added ms, kept vs small only (median)", "added ms, escalated vs large only (median)"],
        timing,
    )  # fmt: skip
    lines += [
        "The scripted models answer at once; with a real small model an escalated question "
        "also waits for the small model's whole answer (a cascade does not stream it).",
        "",
    ]
    return lines


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
    if "lexical_ablation" in results:
        lines += ablation(results["lexical_ablation"])
    if "scale" in results:
        lines += scale(results["scale"])
    if "request_latency" in results:
        lines += latency(results["request_latency"])
    if "ingest_throughput" in results:
        lines += ingestion(results["ingest_throughput"])
    if "pii" in results:
        lines += pii(results["pii"])
    if "injection" in results:
        lines += injection(results["injection"])
    if "groundedness" in results:
        lines += groundedness(results["groundedness"])
    if "gateway" in results:
        lines += gateway(results["gateway"])
    if "cascade" in results:
        lines += cascade(results["cascade"])
    if "semantic_cache" in results:
        lines += semantic_cache(results["semantic_cache"])
    lines += NOTES
    return "\n".join(lines).rstrip() + "\n"
