"""Cascade: does small-to-large reach the large model's accuracy at a fraction of its cost?

A golden set from XQuAD dev (German and English, the same 612 questions in both); its 240
paragraphs are ingested into a fresh leitstand (SQLite, lexical retrieval, default guards) and
every question is asked through rag mode. Two ScriptedChatServers play the models and answer
from the request: they find the ``<source id="N">`` block of the prompt that holds the gold
answer and reply "<question without ?>: <answer> [N]." (citing [1] when retrieval missed it).

- **large** (priced like gpt-4o: 2.50 / 10.00 per 1M tokens) is right on every question;
- **small** (priced like gpt-4o-mini: 0.15 / 0.60) is right on a share ``p`` of the questions,
  chosen by a seeded hash of the question id (the same questions in both languages, and the
  right ones at p = 0.4 are right at 0.6 too); on the others it states a wrong fact in the same
  shape: the answer of a question about another paragraph (a number for a number), citing the
  same source.

Configurations, asked in turn for each question: small only, large only, and the cascade with
its defaults (``check: groundedness``, the default guard, so names in a question reach the models
as placeholders such as ``<PERSON_1>``, and ``cascade.threshold`` at the settings' default). The
check scores the small model's answer as the user would see it, with the placeholders restored,
against the sources it cites; its score is the support of the answer's *weakest* sentence (the
weighted share of its content words the cited passages hold, as ``guard.groundedness`` scores a
sentence), so one made-up fact is enough to escalate, and ``guard.support_threshold`` plays no
part in the decision. Sweeps: the cascade's threshold, and ``p`` (small only and the cascade).

Accuracy: the final answer contains the gold answer (lower-cased, punctuation removed). Cost:
the sum of the ``usage_records`` rows of the run's traces (tokens as the scripted server
estimates them, about 4 characters a token). The check's score (the ``cascade`` span of the
trace) is summarised for the small model's right and wrong answers, and a few of the default
cascade's wrong decisions are kept in the result. Latency: the trace's ``cascade`` span (the
small model's call and the check) and ``groundedness`` span (the guard's check of the final
answer), and the wall time of each ``ls.ask`` paired by question against small only (answers
kept) and large only (answers escalated).

    .venv/bin/python bench/cascade.py [--quick]
"""

from __future__ import annotations

import hashlib
import html
import json
import random
import re
import statistics
import sys
import tempfile
import time
import unicodedata
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import DATASETS, parser, ratio, summary, write_result
from leitstand import Leitstand, TextRecord
from leitstand.config.settings import CascadeSettings
from leitstand.evals.retrieval import BeirSet, load_beir, percentile
from leitstand.prompts.templates import DATAMARK
from leitstand.testing import ScriptedChatServer

SEED = 11
P_DEFAULT = 0.6
P_SWEEP = (0.4, 0.6, 0.8)
THRESHOLD_DEFAULT: float = CascadeSettings.model_fields["threshold"].default
"""The cascade's threshold when a use case sets none."""
THRESHOLDS = tuple(sorted({0.5, 0.6, THRESHOLD_DEFAULT, 0.8}))
EXAMPLES = 5
"""Wrong answers kept and right ones escalated by the default cascade, kept in the result."""
QUICK_QUESTIONS = 80
PRICES = {"small": (0.15, 0.60), "large": (2.50, 10.00)}
"""USD per 1M input and output tokens: gpt-4o-mini and gpt-4o list prices."""
ACCURACY_MARGIN = 0.01
"""The cascade "reaches" the large model's accuracy when it is at most this much below."""

_SOURCE = re.compile(r'<source id="(\d+)"[^>]*>\n(.*?)\n</source>', re.DOTALL)
_NOT_WORD = re.compile(r"[^\w]+")
_PLACEHOLDER = re.compile(r"<[A-Z_]+_\d+>")


def normalise(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).lower()
    return " " + _NOT_WORD.sub(" ", text).strip() + " "


@dataclass(frozen=True)
class Item:
    qid: str
    question: str
    answer: str
    wrong: str
    share: float
    """In [0, 1): the small model is right when ``share < p``."""


@dataclass(frozen=True)
class Config:
    name: str
    use_case: str
    p: float
    threshold: float | None = None
    """The cascade's threshold (None: no cascade)."""


def golden(language: str) -> tuple[BeirSet, list[Item], int]:
    """The questions with gold and wrong answers; also how many were left out (the gold
    answer is part of the question itself)."""
    folder = DATASETS / f"xquad-{language}"
    data = load_beir(folder, "dev")
    answers = {}
    with (folder / "answers.jsonl").open(encoding="utf-8") as handle:
        for line in handle:
            row = json.loads(line)
            answers[row["_id"]] = row["answers"][0]
    rows = []
    by_kind: dict[bool, list[tuple[str, str]]] = {True: [], False: []}
    for qid, question in data.queries.items():
        if qid not in answers or qid not in data.qrels:
            continue
        doc = next(iter(data.qrels[qid]))
        numeric = any(ch.isdigit() for ch in answers[qid])
        by_kind[numeric].append((doc, answers[qid]))
        rows.append((qid, question, doc, answers[qid], numeric))
    rng = random.Random(SEED)
    items, left_out = [], 0
    for qid, question, doc, answer, numeric in rows:
        gold, passage = normalise(answer), normalise(data.corpus[doc]["text"])
        if gold in normalise(stem(question)):
            left_out += 1
            continue
        pool = [
            a
            for d, a in by_kind[numeric]
            if d != doc and normalise(a) not in passage and gold not in normalise(a)
        ]
        digest = hashlib.sha256(f"{SEED}:{qid}".encode()).digest()
        share = int.from_bytes(digest[:8], "big") / 2**64
        items.append(Item(qid, question, answer, rng.choice(pool), share))
    return data, items, left_out


def stem(question: str) -> str:
    return question.strip().rstrip("?？ ").strip()


class ScriptedModels:
    """The ``default=`` replies of the two servers, for the question being asked."""

    def __init__(self) -> None:
        self.item: Item | None = None
        self.p = P_DEFAULT
        self.found: dict[str, bool] = {}
        """Per question: did a source in the prompt hold the gold answer?"""
        self.pseudonymised: set[str] = set()
        """Questions that reached a model with PII placeholders in them."""
        self.said: dict[tuple[str, float], str] = {}
        """The small model's last reply per question and ``p``."""

    def _reply(self, body: dict[str, Any], right: bool) -> str:
        assert self.item is not None
        prompt = body["messages"][-1]["content"]
        sources, _, asked = prompt.rpartition("Question:")
        if _PLACEHOLDER.search(asked):
            self.pseudonymised.add(self.item.qid)
        gold = normalise(self.item.answer)
        cited = 1
        for number, text in _SOURCE.findall(sources):
            if gold in normalise(html.unescape(text).replace(DATAMARK, " ")):
                cited = int(number)
                break
        else:
            self.found[self.item.qid] = False
        self.found.setdefault(self.item.qid, True)
        fact = self.item.answer if right else self.item.wrong
        return f"{stem(asked)}: {fact} [{cited}]."

    def small(self, body: dict[str, Any]) -> str:
        assert self.item is not None
        reply = self._reply(body, right=self.item.share < self.p)
        self.said[self.item.qid, self.p] = reply
        return reply

    def large(self, body: dict[str, Any]) -> str:
        return self._reply(body, right=True)


def configs() -> list[Config]:
    """The defaults, the cascade's threshold sweep and the ``p`` sweep."""
    runs = [
        Config("small", "small", P_DEFAULT),
        Config("large", "large", P_DEFAULT),
        Config("cascade", "cascade", P_DEFAULT, THRESHOLD_DEFAULT),
    ]
    runs += [
        Config(f"cascade, threshold {t}", f"cascade-t{t}", P_DEFAULT, t)
        for t in THRESHOLDS
        if t != THRESHOLD_DEFAULT
    ]
    for p in P_SWEEP:
        if p != P_DEFAULT:
            runs += [
                Config(f"small p={p}", "small", p),
                Config(f"cascade p={p}", "cascade", p, THRESHOLD_DEFAULT),
            ]
    return runs


def use_cases() -> dict[str, Any]:
    """The cascade use cases leave the guard at its defaults; ``cascade`` leaves the threshold
    at its default too."""
    check = {"small": "small", "large": "large", "check": "groundedness"}
    cases: dict[str, Any] = {
        "small": {"model": "small"},
        "large": {"model": "large"},
        "cascade": {"model": "small", "cascade": check},
    }
    for t in THRESHOLDS:
        cases[f"cascade-t{t}"] = {"model": "small", "cascade": {**check, "threshold": t}}
    return cases


@contextmanager
def leitstand(data: BeirSet, folder: Path, models: ScriptedModels) -> Iterator[Leitstand]:
    with ExitStack() as stack:
        small = stack.enter_context(ScriptedChatServer(model="small", default=models.small))
        large = stack.enter_context(ScriptedChatServer(model="large", default=models.large))
        settings = {
            name: {
                "base_url": server.url,
                "model": f"{name}-model",
                "max_retries": 0,
                "price_input": PRICES[name][0],
                "price_output": PRICES[name][1],
            }
            for name, server in (("small", small), ("large", large))
        }
        ls = stack.enter_context(
            Leitstand.open(
                None,
                data_dir=str(folder),
                embeddings={"provider": "none"},
                models=settings,
                use_cases=use_cases(),
                default_use_case="small",
            )
        )
        records = [
            TextRecord(path=doc_id, text=doc["text"], title=doc["title"] or None)
            for doc_id, doc in data.corpus.items()
        ]
        report = ls.ingest_texts(records, source=f"bench-{data.name}")
        if report.failed or report.warnings:
            raise RuntimeError(f"could not ingest: {(report.failed or report.warnings)[:3]}")
        yield ls


@dataclass
class Outcome:
    trace_id: str
    model: str
    right: bool
    wall_ms: float
    text: str


def ask_all(
    ls: Leitstand, models: ScriptedModels, items: list[Item], runs: list[Config]
) -> dict[str, dict[str, Outcome]]:
    """Every question in every configuration, in a rotating order (load hits all alike)."""
    outcomes: dict[str, dict[str, Outcome]] = {run.name: {} for run in runs}
    for index, item in enumerate(items):
        models.item = item
        gold = normalise(item.answer)
        for offset in range(len(runs)):
            run = runs[(index + offset) % len(runs)]
            models.p = run.p
            started = time.perf_counter()
            answer = ls.ask(item.question, use_case=run.use_case)
            wall_ms = (time.perf_counter() - started) * 1000
            right = gold in normalise(answer.text)
            assert answer.trace_id is not None
            outcomes[run.name][item.qid] = Outcome(
                answer.trace_id, answer.model, right, wall_ms, answer.text
            )
    return outcomes


def costs(ls: Leitstand) -> dict[str, float]:
    """Cost per trace id, from usage_records."""
    from sqlalchemy import func, select

    from leitstand.store.models import UsageRecord

    ls.tracer.flush()
    with ls.db.read() as session:
        rows = session.execute(
            select(UsageRecord.trace_id, func.sum(UsageRecord.cost)).group_by(UsageRecord.trace_id)
        )
        return {trace_id: float(cost) for trace_id, cost in rows if trace_id is not None}


def span(ls: Leitstand, trace_id: str, name: str) -> Any | None:
    spans = [s for s in ls.traces.get(trace_id).spans if s.name == name]
    return spans[0] if spans else None


def span_ms(ls: Leitstand, trace_id: str, name: str) -> float | None:
    found = span(ls, trace_id, name)
    return None if found is None else float(found.duration_ms)


def check_score(ls: Leitstand, trace_id: str) -> float | None:
    """The cascade check's score (the weakest sentence's support), as the trace has it."""
    found = span(ls, trace_id, "cascade")
    score = None if found is None else found.attributes.get("score")
    return None if score is None else float(score)


def scores(values: list[float | None]) -> dict[str, Any]:
    """Minimum, quartiles and maximum of check scores; how many had none (no claim)."""
    known = sorted(v for v in values if v is not None)
    if not known:
        return {"n": 0, "none": len(values)}
    return {
        "n": len(known),
        "none": len(values) - len(known),
        "min": round(known[0], 3),
        "p25": round(percentile(known, 0.25), 3),
        "p50": round(percentile(known, 0.50), 3),
        "p75": round(percentile(known, 0.75), 3),
        "max": round(known[-1], 3),
    }


def paired(a: dict[str, Outcome], b: dict[str, Outcome], qids: list[str]) -> dict[str, float]:
    """The wall time of ``a`` minus that of ``b``, question by question (ms)."""
    values = [a[q].wall_ms - b[q].wall_ms for q in qids]
    if not values:
        return {"n": 0}
    return {"n": len(values), "median": round(statistics.median(values), 3)}


def evaluate(
    ls: Leitstand,
    models: ScriptedModels,
    items: list[Item],
    runs: list[Config],
    outcomes: dict[str, dict[str, Outcome]],
    cost: dict[str, float],
) -> dict[str, Any]:
    by_id = {item.qid: item for item in items}
    large_cost = sum(cost.get(o.trace_id, 0.0) for o in outcomes["large"].values())
    large_accuracy = sum(o.right for o in outcomes["large"].values()) / len(items)
    result: dict[str, Any] = {}
    for run in runs:
        rows = outcomes[run.name]
        total = sum(cost.get(o.trace_id, 0.0) for o in rows.values())
        accuracy = sum(o.right for o in rows.values()) / len(rows)
        block: dict[str, Any] = {
            "p": run.p,
            "accuracy": round(accuracy, 4),
            "cost_usd": round(total, 6),
            "cost_usd_per_1k_questions": round(total / len(rows) * 1000, 4),
            "cost_fraction_of_large": ratio(total, large_cost, 4),
            "latency_ms": summary([o.wall_ms for o in rows.values()]),
        }
        if run.threshold is not None:
            escalated = [q for q, o in rows.items() if o.model == "large"]
            kept = [q for q, o in rows.items() if o.model == "small"]
            small_right = {q for q in rows if by_id[q].share < run.p}
            cascade_ms = [span_ms(ls, rows[q].trace_id, "cascade") for q in rows]
            check_ms = [span_ms(ls, rows[q].trace_id, "groundedness") for q in kept]
            score = {q: check_score(ls, rows[q].trace_id) for q in rows}
            block |= {
                "threshold": run.threshold,
                "escalated_share": round(len(escalated) / len(rows), 4),
                "accuracy_gap_to_large": round(large_accuracy - accuracy, 4),
                "wrong_kept": sum(1 for q in kept if q not in small_right),
                "right_escalated": sum(1 for q in escalated if q in small_right),
                "small_wrong": len(rows) - len(small_right),
                "cascade_span_ms": summary([v for v in cascade_ms if v is not None]),
                "check_ms": summary([v for v in check_ms if v is not None]),
                "check_score": {
                    "small_right": scores([score[q] for q in rows if q in small_right]),
                    "small_wrong": scores([score[q] for q in rows if q not in small_right]),
                },
            }
            if run.name == "cascade":
                block["examples"] = {
                    "wrong_kept": [
                        example(by_id[q], rows[q].text, score[q])
                        for q in kept
                        if q not in small_right
                    ][:EXAMPLES],
                    "right_escalated": [
                        example(by_id[q], models.said[q, run.p], score[q])
                        for q in escalated
                        if q in small_right
                    ][:EXAMPLES],
                }
            small_run = "small" if run.p == P_DEFAULT else f"small p={run.p}"
            block["added_ms"] = {
                "kept_vs_small": paired(rows, outcomes[small_run], kept),
                "escalated_vs_large": paired(rows, outcomes["large"], escalated),
            }
        result[run.name] = block
    return result


def example(item: Item, said: str, score: float | None) -> dict[str, Any]:
    """One question the check decided wrongly: what the small model said and its score."""
    return {
        "id": item.qid,
        "question": item.question,
        "gold": item.answer,
        "small_answer": said,
        "weakest_sentence_support": score,
    }


def acceptance(languages: dict[str, Any]) -> dict[str, Any]:
    """For each cascade at p = 0.6: within ``ACCURACY_MARGIN`` of the large model's accuracy
    in every language, and at what share of its cost."""
    first = next(iter(languages.values()))["configurations"]
    names = [n for n, c in first.items() if "escalated_share" in c and c["p"] == P_DEFAULT]
    verdicts: dict[str, Any] = {}
    for name in names:
        verdicts[name] = {
            "reaches_large_accuracy": all(
                block["configurations"][name]["accuracy_gap_to_large"] <= ACCURACY_MARGIN
                for block in languages.values()
            ),
            "cost_fraction_of_large": {
                language: block["configurations"][name]["cost_fraction_of_large"]
                for language, block in languages.items()
            },
        }
    return {"accuracy_margin": ACCURACY_MARGIN, "p": P_DEFAULT, "configurations": verdicts}


def main() -> None:
    args = parser(__doc__.splitlines()[0]).parse_args()
    runs = configs()
    results: dict[str, Any] = {
        "quick": args.quick,
        "settings": {
            "seed": SEED,
            "p": P_DEFAULT,
            "threshold": THRESHOLD_DEFAULT,
            "check": "groundedness: the support of the weakest sentence of the restored answer",
            "prices_per_1m": {k: {"input": i, "output": o} for k, (i, o) in PRICES.items()},
            "retrieval": "lexical, top_k 5 (default)",
        },
        "languages": {},
    }
    for language in ("de", "en"):
        data, items, left_out = golden(language)
        if args.quick:
            items = items[:QUICK_QUESTIONS]
        models = ScriptedModels()
        started = time.perf_counter()
        with tempfile.TemporaryDirectory() as tmp, leitstand(data, Path(tmp), models) as ls:
            outcomes = ask_all(ls, models, items, runs)
            configurations = evaluate(ls, models, items, runs, outcomes, costs(ls))
        found = sum(models.found.get(item.qid, False) for item in items)
        block = {
            "questions": len(items),
            "left_out_answer_in_question": left_out,
            "gold_answer_in_sources": round(found / len(items), 4),
            "questions_with_pii_placeholders": round(
                len(models.pseudonymised & {item.qid for item in items}) / len(items), 4
            ),
            "seconds": round(time.perf_counter() - started, 1),
            "configurations": configurations,
        }
        results["languages"][language] = block
        print(f"xquad-{language}: {len(items)} questions, {block['seconds']} s")
        for name, row in configurations.items():
            extra = (
                f" escalated {row['escalated_share']:.3f} wrong kept {row['wrong_kept']}"
                f" right escalated {row['right_escalated']}"
                if "escalated_share" in row
                else ""
            )
            print(
                f"  {name:24} accuracy {row['accuracy']:.3f} cost ${row['cost_usd']:.4f}"
                f" ({row['cost_fraction_of_large']:.3f} of large){extra}"
            )
    results["acceptance"] = acceptance(results["languages"])
    write_result("cascade", results, args.out)


if __name__ == "__main__":
    main()
