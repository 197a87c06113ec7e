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

from _common import RESULTS, ROOT
from _render import render

SCRIPTS = (
    "retrieval",
    "lexical_ablation",
    "scale",
    "request_latency",
    "ingest_throughput",
    "pii",
    "injection",
    "groundedness",
    "gateway",
    "semantic_cache",
    "cascade",
)
MISSING_PEER = {"gateway": 3}
"""Exit status of a script whose peer is not installed (LiteLLM's proxy): skipped, not failed."""
DOCS = ROOT / "docs" / "benchmarks.md"
HERE = Path(__file__).resolve().parent


def run(names: list[str], quick: bool) -> None:
    for name in names:
        command = [sys.executable, str(HERE / f"{name}.py"), *(["--quick"] if quick else [])]
        print(f"$ {' '.join(command)}", flush=True)
        started = time.perf_counter()
        code = subprocess.run(command, check=False, cwd=ROOT).returncode
        if code and code == MISSING_PEER.get(name):
            print(f"  {name} skipped: its peer is not installed (see above)", flush=True)
            continue
        if code:
            raise subprocess.CalledProcessError(code, command)
        print(f"  {name} took {time.perf_counter() - started:.0f} s", flush=True)


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
