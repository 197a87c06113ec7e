"""Semantic answer cache: paraphrases served, near misses refused, lookup latency.

Sets (written for this benchmark, ``bench/data/``): ``cache_paraphrases.jsonl``, 220 pairs
of questions that want the same answer (110 German, 110 English; HR, IT, purchasing,
sales, facilities of a mid-sized company; from a changed word order to a full rewording),
and ``cache_near_misses.jsonl``, 344 pairs worded alike that want another answer: another
number, product, negation, date, person, place, unit or object (``kind``), half of them
German. A third of the pairs (SHA-256 of the first question modulo 3 = 0) is held out: the
recommended threshold is chosen on the rest (dev) and reported on both.

Every question is embedded once with all-MiniLM-L6-v2. The first questions of all pairs of
both sets form one cache (one scope), the second questions are looked up in it, and then
the other way round: 440 paraphrase and 688 near-miss lookups per threshold. A paraphrase
lookup is a hit when it returns its partner (or an identical question); one that returns
another entry counts as misdirected. Every answer to a near-miss lookup is a wrong hit,
even where the entry found is another near miss's question that might have been fine.

Compared at each threshold: **plain cosine** (the best entry when its cosine reaches the
threshold, as GPTCache's ``similarity_threshold`` (default 0.8) and LiteLLM's
``similarity_threshold`` semantic caches do), and **leitstand**: entries at or above the
threshold, best first (up to five), the first that the near-miss guard of
``leitstand.cache.facts`` lets through. At the recommended threshold, the guard's checks are
also taken one by one. The same lookups then run once end to end through
``AnswerCache`` on SQLite, which must agree.

Latency: ``AnswerCache.lookup`` on SQLite with 1,000 and 10,000 entries in the scope (the
benchmark's questions, the rest random unit vectors), with the question's vector already
computed; the embedding of one question by all-MiniLM-L6-v2 on the CPU is given apart.

    .venv/bin/python bench/semantic_cache.py [--quick]
"""

from __future__ import annotations

import hashlib
import json
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import parser, ratio, summary, write_result
from leitstand.cache import AnswerCache, normalise
from leitstand.cache.answers import _Request
from leitstand.cache.facts import Facts, conflict, read_facts
from leitstand.config.settings import CacheSettings, EmbeddingSettings
from leitstand.embeddings.base import Embedder, Kind, Vectors
from leitstand.store.database import Database
from leitstand.store.models import CacheEntry

DATA = Path(__file__).resolve().parent / "data"
THRESHOLDS = [round(0.60 + 0.01 * step, 2) for step in range(40)]
MAX_CANDIDATES = 5
WRONG_HIT_BUDGET = 0.01
SCOPE: dict[str, Any] = {
    "use_case": "hr",
    "tenant": "acme",
    "prompt_hash": "p1",
    "model": "gpt-small",
}
Guard = Callable[[Facts, Facts], bool]


def load(name: str) -> list[dict[str, Any]]:
    lines = (DATA / name).read_text(encoding="utf-8").splitlines()
    rows = [json.loads(line) for line in lines if line.strip()]
    for row in rows:
        row["a"], row["b"] = normalise(row["a"]), normalise(row["b"])
        digest = int(hashlib.sha256(row["a"].encode("utf-8")).hexdigest(), 16)
        row["split"] = "test" if digest % 3 == 0 else "dev"
    return rows


class VectorTable(Embedder):
    """all-MiniLM-L6-v2's vectors, computed once; unknown texts get random unit vectors."""

    name = "local/all-MiniLM-L6-v2"
    dimensions = 384
    batch_size: ClassVar[int] = 64

    def __init__(self, vectors: dict[str, np.ndarray]) -> None:
        self.vectors = vectors
        self.random = np.random.default_rng(11)

    def embed(self, texts: Sequence[str], kind: Kind) -> Vectors:
        rows = []
        for text in texts:
            if text not in self.vectors:
                vector = self.random.standard_normal(self.dimensions).astype(np.float32)
                self.vectors[text] = vector / np.linalg.norm(vector)
            rows.append(self.vectors[text])
        return np.asarray(rows, dtype=np.float32)


# -- the sweep -----------------------------------------------------------------------------


def lookups(para: list[dict[str, Any]], near: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Both directions: cache the one side of every pair, look up the other."""
    cases = []
    for cached, asked in (("a", "b"), ("b", "a")):
        for kind, rows in (("paraphrase", para), ("near_miss", near)):
            for row in rows:
                cases.append(
                    {
                        "set": kind,
                        "direction": f"{cached}->{asked}",
                        "question": row[asked],
                        "partner": row[cached],
                        "split": row["split"],
                        "lang": row["lang"],
                        "kind": row.get("kind"),
                    }
                )
    return cases


class Sweep:
    """Similarities of every lookup against its direction's cache, computed once."""

    def __init__(
        self,
        para: list[dict[str, Any]],
        near: list[dict[str, Any]],
        vectors: dict[str, np.ndarray],
    ) -> None:
        self.cases = lookups(para, near)
        self.facts = {text: read_facts(text) for text in vectors}
        self.caches: dict[str, list[str]] = {}
        self.ranked: list[tuple[list[str], np.ndarray]] = []
        for cached in ("a", "b"):
            entries = sorted({row[cached] for row in [*para, *near]})
            self.caches[f"{cached}->{'b' if cached == 'a' else 'a'}"] = entries
        matrices = {
            direction: np.stack([vectors[text] for text in entries])
            for direction, entries in self.caches.items()
        }
        for case in self.cases:
            entries = self.caches[case["direction"]]
            similarities = matrices[case["direction"]] @ vectors[case["question"]]
            order = np.argsort(-similarities, kind="stable")[:MAX_CANDIDATES]
            self.ranked.append(([entries[i] for i in order], similarities[order]))

    def answer(self, index: int, threshold: float, guard: Guard | None) -> tuple[str, float] | None:
        """The entry a cache returns for lookup ``index``, with its cosine."""
        question = self.cases[index]["question"]
        entries, similarities = self.ranked[index]
        for entry, similarity in zip(entries, similarities, strict=True):
            if similarity < threshold:
                return None
            if guard is None:
                return entry, float(similarity)
            if guard(self.facts[question], self.facts[entry]):
                return entry, float(similarity)
        return None

    def score(
        self, threshold: float, guard: Guard | None, where: Callable[[dict[str, Any]], bool]
    ) -> dict[str, Any]:
        counts: Counter[str] = Counter()
        for index, case in enumerate(self.cases):
            if not where(case):
                continue
            found = self.answer(index, threshold, guard)
            counts[case["set"]] += 1
            if found is None:
                continue
            if found[0] == case["question"]:
                counts["identical"] += 1  # the same question is cached too: a right answer
            elif case["set"] == "near_miss":
                counts["wrong_hits"] += 1
            elif found[0] in (case["partner"], case["question"]):
                counts["hits"] += 1
            else:
                counts["misdirected"] += 1
        return {
            "paraphrase_lookups": counts["paraphrase"],
            "near_miss_lookups": counts["near_miss"],
            "hit_rate": ratio(counts["hits"], counts["paraphrase"], 4),
            "misdirected_rate": ratio(counts["misdirected"], counts["paraphrase"], 4),
            "wrong_hit_rate": ratio(counts["wrong_hits"], counts["near_miss"], 4),
            "wrong_hits": counts["wrong_hits"],
        }


def guarded(a: Facts, b: Facts) -> bool:
    return conflict(a, b) is None


def signature_only(a: Facts, b: Facts) -> bool:
    return a.signature == b.signature


def signature_and_kind(a: Facts, b: Facts) -> bool:
    return signature_only(a, b) and (a.kind is None or b.kind is None or a.kind == b.kind)


def having(field: str, value: str) -> Callable[[dict[str, Any]], bool]:
    return lambda case: bool(case[field] == value)


def within_budget(block: dict[str, Any]) -> bool:
    return (block["wrong_hit_rate"] or 0) <= WRONG_HIT_BUDGET and (
        block["misdirected_rate"] or 0
    ) <= WRONG_HIT_BUDGET


def recommend(curve: list[dict[str, Any]], method: str) -> float | None:
    """The lowest threshold from which on every higher one stays within the budget."""
    chosen = None
    for point in reversed(curve):
        if not within_budget(point[method]):
            break
        chosen = point["threshold"]
    return chosen


def sweep_results(sweep: Sweep) -> dict[str, Any]:
    def everything(_case: dict[str, Any]) -> bool:
        return True

    def dev(case: dict[str, Any]) -> bool:
        return bool(case["split"] == "dev")

    def test(case: dict[str, Any]) -> bool:
        return bool(case["split"] == "test")

    curves: dict[str, list[dict[str, Any]]] = {}
    for name, where in (("all", everything), ("dev", dev), ("test", test)):
        curves[name] = [
            {
                "threshold": threshold,
                "plain": sweep.score(threshold, None, where),
                "leitstand": sweep.score(threshold, guarded, where),
            }
            for threshold in THRESHOLDS
        ]
    chosen = recommend(curves["dev"], "leitstand") or THRESHOLDS[-1]
    plain_chosen = recommend(curves["dev"], "plain")
    at = THRESHOLDS.index(chosen)
    result: dict[str, Any] = {
        "curves": curves,
        "recommended": {
            "threshold": chosen,
            "rule": "the lowest threshold from which on, on the dev split, near-miss wrong "
            f"hits and misdirected paraphrase hits stay at or below {WRONG_HIT_BUDGET:.0%}",
            "leitstand": {name: curves[name][at]["leitstand"] for name in curves},
            "plain_same_threshold": {name: curves[name][at]["plain"] for name in curves},
            "plain_threshold_for_budget": plain_chosen,
            "plain_at_its_threshold": (
                {name: curves[name][THRESHOLDS.index(plain_chosen)]["plain"] for name in curves}
                if plain_chosen is not None
                else None
            ),
        },
    }
    result["ablation"] = {
        name: sweep.score(chosen, guard, everything)
        for name, guard in (
            ("cosine only", None),
            ("+ fact signature", signature_only),
            ("+ kind of question", signature_and_kind),
            ("+ frame (leitstand)", guarded),
        )
    }
    kinds = sorted({case["kind"] for case in sweep.cases if case["kind"]})
    result["by_kind"] = {
        kind: {
            method: sweep.score(chosen, guard, having("kind", kind))["wrong_hit_rate"]
            for method, guard in (("plain", None), ("leitstand", guarded))
        }
        for kind in kinds
    }
    result["by_language"] = {
        lang: {
            method: sweep.score(chosen, guard, having("lang", lang))
            for method, guard in (("plain", None), ("leitstand", guarded))
        }
        for lang in ("de", "en")
    }
    result["wrong_hits"] = [
        {"asked": case["question"], "served": found[0], "cosine": round(found[1], 3)}
        for index, case in enumerate(sweep.cases)
        if (found := sweep.answer(index, chosen, guarded)) is not None
        and found[0] != case["question"]
        and (case["set"] == "near_miss" or found[0] != case["partner"])
    ]
    return result


# -- end to end and latency ----------------------------------------------------------------


def end_to_end(sweep: Sweep, table: VectorTable, threshold: float, folder: Path) -> dict[str, Any]:
    """The a->b lookups through AnswerCache on SQLite, compared with the sweep."""
    db = Database(f"sqlite:///{folder / 'e2e.db'}")
    db.migrate()
    settings = CacheSettings(semantic_threshold=threshold)
    cache = AnswerCache(db, table, max_candidates=MAX_CANDIDATES)
    for question in sweep.caches["a->b"]:
        cache.store(
            **SCOPE, messages=[("user", question)], settings=settings, response={"q": question}
        )
    agree = served = 0
    indexes = [i for i, case in enumerate(sweep.cases) if case["direction"] == "a->b"]
    for index in indexes:
        question = sweep.cases[index]["question"]
        hit = cache.lookup(**SCOPE, messages=[("user", question)], settings=settings)
        expected = sweep.answer(index, threshold, guarded)
        got = None if hit is None else hit.question
        served += hit is not None
        agree += got == (None if expected is None else expected[0])
    db.dispose()
    return {"lookups": len(indexes), "served": served, "agree_with_sweep": agree}


def fill(db: Database, table: VectorTable, questions: list[str], size: int) -> None:
    """A scope of ``size`` semantic entries: the given questions, then random ones."""
    texts = [*questions, *(f"synthetic question {i}" for i in range(size - len(questions)))]
    vectors = table.embed(texts, "query")
    now = time.time()
    created = datetime.fromtimestamp(now, UTC)
    expires = datetime.fromtimestamp(now + 86_400, UTC)
    with db.write() as session:
        for text, vector in zip(texts, vectors, strict=True):
            request = _Request.of(**SCOPE, messages=[("user", text)])
            assert request is not None
            session.add(
                CacheEntry(
                    kind="semantic",
                    key_hash=request.key_hash,
                    scope_hash=request.scope_hash(table.name),
                    question=text,
                    vector=vector.astype("<f4").tobytes(),
                    response={"q": text},
                    chunk_ids=[],
                    created_at=created,
                    expires_at=expires,
                    hits=0,
                    **SCOPE,
                )
            )


def timed(call: Callable[[], object], rounds: int) -> dict[str, float]:
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        call()
        times.append((time.perf_counter() - started) * 1000)
    return summary(times)


def latency(
    sweep: Sweep, table: VectorTable, threshold: float, folder: Path, sizes: list[int], rounds: int
) -> dict[str, Any]:
    settings = CacheSettings(exact=True, semantic_threshold=threshold)
    semantic = CacheSettings(semantic_threshold=threshold)
    paraphrases = [
        case for case in sweep.cases[: len(sweep.cases) // 2] if case["set"] == "paraphrase"
    ]
    hits = [case["question"] for case in paraphrases]
    misses = [f"Eine Frage, die niemand gestellt hat, Nummer {i}?" for i in range(50)]
    table.embed(misses, "query")
    results: dict[str, Any] = {}
    for size in sizes:
        db = Database(f"sqlite:///{folder / f'latency-{size}.db'}")
        db.migrate()
        fill(db, table, sweep.caches["a->b"], size)
        cache = AnswerCache(db, table, max_candidates=MAX_CANDIDATES)
        started = time.perf_counter()
        cache.lookup(**SCOPE, messages=[("user", hits[0])], settings=semantic)
        load_ms = (time.perf_counter() - started) * 1000
        block: dict[str, Any] = {"entries": size, "first_lookup_loads_scope_ms": round(load_ms, 1)}
        for name, questions, use in (
            ("semantic_lookup_paraphrases", hits, semantic),
            ("semantic_miss", misses, semantic),
            ("exact_hit", sweep.caches["a->b"], settings),
        ):
            position = iter(range(10**9))

            def one(
                questions: list[str] = questions,
                use: CacheSettings = use,
                position: Iterator[int] = position,
                cache: AnswerCache = cache,
            ) -> None:
                question = questions[next(position) % len(questions)]
                cache.lookup(**SCOPE, messages=[("user", question)], settings=use)

            timed(one, 20)  # warm-up
            block[name] = timed(one, rounds)
        results[str(size)] = block
        db.dispose()
        print(f"latency {size}: {json.dumps(block)}", flush=True)
    return results


def embed_latency(rounds: int) -> dict[str, float]:
    from leitstand.embeddings.local import LocalEmbedder

    embedder = LocalEmbedder(EmbeddingSettings(provider="local"))
    questions = [f"Wie viele Urlaubstage habe ich im Jahr {2000 + i}?" for i in range(rounds)]
    embedder.embed(questions[:4], "query")  # loads torch and the model
    position = iter(range(10**9))
    return timed(lambda: embedder.embed([questions[next(position) % rounds]], "query"), rounds)


def main() -> None:
    options = parser(__doc__.splitlines()[0]).parse_args()
    para = load("cache_paraphrases.jsonl")
    near = load("cache_near_misses.jsonl")
    from leitstand.embeddings.local import LocalEmbedder

    embedder = LocalEmbedder(EmbeddingSettings(provider="local"))
    texts = sorted({row[side] for row in [*para, *near] for side in ("a", "b")})
    started = time.perf_counter()
    vectors = dict(zip(texts, embedder.embed(texts, "query"), strict=True))
    print(f"embedded {len(texts)} questions in {time.perf_counter() - started:.1f} s", flush=True)
    embedder.close()
    sweep = Sweep(para, near, vectors)
    results: dict[str, Any] = {
        "model": "all-MiniLM-L6-v2 (sentence-transformers, CPU)",
        "sets": {
            "paraphrases": {
                "pairs": len(para),
                "languages": dict(Counter(row["lang"] for row in para)),
                "test_pairs": sum(row["split"] == "test" for row in para),
            },
            "near_misses": {
                "pairs": len(near),
                "languages": dict(Counter(row["lang"] for row in near)),
                "kinds": dict(Counter(row["kind"] for row in near)),
                "test_pairs": sum(row["split"] == "test" for row in near),
            },
            "split": "test: SHA-256 of the pair's first question modulo 3 = 0; dev: the rest",
        },
        "max_candidates": MAX_CANDIDATES,
        **sweep_results(sweep),
    }
    chosen = results["recommended"]["threshold"]
    for name, block in results["recommended"]["leitstand"].items():
        plain = results["recommended"]["plain_same_threshold"][name]
        print(
            f"{name} @ {chosen}: leitstand hit {block['hit_rate']}, wrong {block['wrong_hit_rate']}"
            f" | plain hit {plain['hit_rate']}, wrong {plain['wrong_hit_rate']}",
            flush=True,
        )
    table = VectorTable(dict(vectors))
    with tempfile.TemporaryDirectory(prefix="cache-bench-") as tmp:
        folder = Path(tmp)
        results["end_to_end"] = end_to_end(sweep, table, chosen, folder)
        print(f"end to end: {results['end_to_end']}", flush=True)
        sizes = [1_000] if options.quick else [1_000, 10_000]
        rounds = 100 if options.quick else 400
        results["latency_ms"] = latency(sweep, table, chosen, folder, sizes, rounds)
    results["latency_ms"]["embed_one_question"] = embed_latency(30 if options.quick else 100)
    best = results["recommended"]["leitstand"]
    results["acceptance"] = {
        "wrong_hit_rate_at_most_1pct": all(
            (best[name]["wrong_hit_rate"] or 0) <= WRONG_HIT_BUDGET for name in ("dev", "test")
        ),
        "end_to_end_agrees": results["end_to_end"]["agree_with_sweep"]
        == results["end_to_end"]["lookups"],
    }
    results["quick"] = options.quick
    write_result("semantic_cache", results, options.out)


if __name__ == "__main__":
    main()
