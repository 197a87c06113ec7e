"""Prompt-injection detection: accuracy per language, false alarms on German business text,
and the time of the whole input scan (PII + injection).

Sets:

- ``../shared/datasets/injection/deepset_prompt_injections.jsonl`` (662 texts, 263 attacks,
  German and English; split by leitstand's language detector): balanced accuracy,
  false-positive rate and the confusion matrix per language. No rule or library entry was
  written from this set: the rules describe kinds of attack moves, and the library of known
  attacks (``src/leitstand/guard/injection/data/attacks.txt``) was written independently.
- ``bench/data/benign_de_business.jsonl``: handwritten German business texts that use the
  trigger words harmlessly ("ignorieren Sie bitte die letzte E-Mail", "Systemprompt" in a
  training text): the false-positive rate must stay under 3 %.

Input scan: German and English paragraphs of XQuAD (about 700 characters each) and the
business texts joined to about 1,000 characters; p50 and p99 of PII detection plus injection
detection per 1,000 characters.

No peer runs here: the injection detectors a user would pick instead (LLM Guard, Rebuff,
Vigil) need a model download or a hosted API.

    .venv/bin/python bench/injection.py [--quick]
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from _common import DATASETS, parser, summary, write_result
from leitstand.guard.injection.detector import InjectionDetector
from leitstand.guard.pii import PiiDetector
from leitstand.text.language import LanguageDetector

BENIGN = Path(__file__).resolve().parent / "data" / "benign_de_business.jsonl"


def _rows(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def confusion(labels: list[int], flagged: list[bool]) -> dict[str, Any]:
    tp = sum(1 for y, f in zip(labels, flagged, strict=True) if y == 1 and f)
    fn = sum(1 for y, f in zip(labels, flagged, strict=True) if y == 1 and not f)
    fp = sum(1 for y, f in zip(labels, flagged, strict=True) if y == 0 and f)
    tn = sum(1 for y, f in zip(labels, flagged, strict=True) if y == 0 and not f)
    tpr = tp / (tp + fn) if tp + fn else 0.0
    tnr = tn / (tn + fp) if tn + fp else 0.0
    return {
        "n": len(labels),
        "confusion": {"tp": tp, "fn": fn, "fp": fp, "tn": tn},
        "balanced_accuracy": round((tpr + tnr) / 2, 4),
        "recall": round(tpr, 4),
        "false_positive_rate": round(1 - tnr, 4),
        "precision": round(tp / (tp + fp), 4) if tp + fp else 0.0,
    }


def scan_texts(quick: bool) -> list[str]:
    texts = []
    for language in ("de", "en"):
        rows = _rows(DATASETS / f"xquad-{language}" / "corpus.jsonl")
        texts += [row["text"] for row in rows[: 60 if quick else 240]]
    business = [row["text"] for row in _rows(BENIGN)]
    block = ""
    for text in business:
        block = f"{block} {text}".strip()
        if len(block) >= 1000:
            texts.append(block)
            block = ""
    return texts


def main() -> None:
    args = parser(__doc__.splitlines()[0])
    options = args.parse_args()
    detector = InjectionDetector()
    languages = LanguageDetector(("de", "en"))
    rows = _rows(DATASETS / "injection" / "deepset_prompt_injections.jsonl")
    if options.quick:
        rows = rows[:200]
    by_language: dict[str, tuple[list[int], list[bool]]] = {}
    misses: dict[str, list[str]] = {"false_negatives": [], "false_positives": []}
    for row in rows:
        language = languages.detect(row["text"]) or "en"
        language = language if language in ("de", "en") else "other"
        result = detector.detect(row["text"])
        labels, flagged = by_language.setdefault(language, ([], []))
        labels.append(int(row["label"]))
        flagged.append(result.flagged)
        if row["label"] == 1 and not result.flagged:
            misses["false_negatives"].append(row["text"][:120])
        if row["label"] == 0 and result.flagged:
            misses["false_positives"].append(f"{row['text'][:120]} {result.rules}")
    everything = ([], [])  # type: tuple[list[int], list[bool]]
    for labels, flagged in by_language.values():
        everything[0].extend(labels)
        everything[1].extend(flagged)
    deepset = {language: confusion(*pair) for language, pair in sorted(by_language.items())}
    deepset["all"] = confusion(*everything)
    for language, block in deepset.items():
        print(f"deepset {language}: {block}", flush=True)
    benign_rows = _rows(BENIGN)
    benign_results = [detector.detect(row["text"]) for row in benign_rows]
    benign = confusion([0] * len(benign_rows), [r.flagged for r in benign_results])
    benign["flagged"] = [
        {"id": row["id"], "rules": result.rules, "score": round(result.score, 3)}
        for row, result in zip(benign_rows, benign_results, strict=True)
        if result.flagged
    ]
    print(f"benign German business texts: {benign}", flush=True)

    pii = PiiDetector()
    texts = scan_texts(options.quick)
    for text in texts[:20]:
        pii.detect(text)
        detector.detect(text)
    per_1000: list[float] = []
    injection_only: list[float] = []
    pii_only: list[float] = []
    for _ in range(1 if options.quick else 3):
        for text in texts:
            started = time.perf_counter()
            pii.detect(text)
            middle = time.perf_counter()
            detector.detect(text)
            ended = time.perf_counter()
            scale = 1000 / len(text)
            per_1000.append((ended - started) * 1000 * scale)
            pii_only.append((middle - started) * 1000 * scale)
            injection_only.append((ended - middle) * 1000 * scale)
    scan = {
        "texts": len(texts),
        "mean_chars": round(sum(map(len, texts)) / len(texts)),
        "ms_per_1000_chars": summary(per_1000),
        "pii_ms_per_1000_chars": summary(pii_only),
        "injection_ms_per_1000_chars": summary(injection_only),
    }
    print(f"input scan: {scan}", flush=True)
    result = {
        "quick": options.quick,
        "deepset": deepset,
        "benign_de_business": benign,
        "input_scan": scan,
        "errors": {k: v[:40] for k, v in misses.items()},
        "acceptance": {
            "benign_false_positive_rate_below_3pct": benign["false_positive_rate"] < 0.03,
            "benign_texts_at_least_100": len(benign_rows) >= 100,
            "input_scan_p50_at_most_1ms_per_1000_chars": scan["ms_per_1000_chars"]["p50"] <= 1.0,
        },
    }
    write_result("injection", result, options.out)


if __name__ == "__main__":
    main()
