"""The plot of ``bench/scale.py``: query latency against corpus size, per backend and peer."""

from __future__ import annotations

from pathlib import Path
from typing import Any

SERIES = (
    # (backend, block, colour, label)
    ("sqlite", "lexical", "#1f77b4", "leitstand, SQLite (postings in memory: the default)"),
    ("sqlite", "lexical_fts5", "#9ecae1", "leitstand, SQLite FTS5 only"),
    ("postgres", "lexical", "#d62728", "leitstand, PostgreSQL"),
    ("bm25s", "lexical", "#2ca02c", "bm25s (in memory, no database)"),
)


def plot(result: dict[str, Any], path: Path, budgets: dict[str, float]) -> Path:
    """p50 and p99 of ``ls.search(q, k=10)`` (left) and of the lexical index alone (right)
    against corpus size; hybrid at the sizes where it was measured."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = result["runs"]
    fig, axes = plt.subplots(1, 2, figsize=(12, 5), sharey=True)
    for axis, measure, title in (
        (axes[0], "search", "ls.search(q, k=10): what a caller waits for"),
        (axes[1], "index", "lexical index alone (100 candidates)"),
    ):
        for backend, block, colour, label in SERIES:
            points = sorted(
                (int(size), data[backend][block][measure])
                for size, data in runs.items()
                if measure in data.get(backend, {}).get(block, {})
            )
            if not points:
                continue
            xs = [size for size, _ in points]
            axis.plot(xs, [p["p50"] for _, p in points], "o-", color=colour, label=f"{label} p50")
            axis.plot(
                xs, [p["p99"] for _, p in points], "s--", color=colour, alpha=0.5, label="… p99"
            )
        if measure == "search":
            hybrid = sorted(
                (int(size), data["sqlite"]["hybrid"]["search_with_cached_query_vector"])
                for size, data in runs.items()
                if data.get("sqlite", {}).get("hybrid", {}).get("status") == "measured"
            )
            if hybrid:
                axis.plot(
                    [s for s, _ in hybrid],
                    [p["p50"] for _, p in hybrid],
                    "D",
                    color="#9467bd",
                    label="leitstand hybrid, SQLite p50 (question's vector given)",
                )
        for value, text in (
            (budgets["lexical_sqlite_100k_p50_ms"], "5 ms: lexical p50 budget at 100k"),
            (budgets["lexical_1m_p50_ms"], "20 ms: lexical p50 budget at 1M, hybrid at 100k"),
        ):
            axis.axhline(value, color="grey", lw=0.8, ls=":")
            axis.text(
                1.0,
                value,
                text,
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
        sizes = sorted({int(s) for s in runs})
        axis.set_xticks(
            sizes, [f"{s // 1000:,}k" if s < 1_000_000 else f"{s // 1_000_000}M" for s in sizes]
        )
        axis.minorticks_off()
    axes[0].set_ylabel("query latency (ms, log scale)")
    axes[0].legend(fontsize=7, loc="upper left")
    fig.suptitle(
        "Query latency against corpus size (synthetic German + English corpus, 2 cores)",
        fontsize=11,
    )
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    print(f"wrote {path}")
    return path
