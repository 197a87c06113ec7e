"""The golden set on the seed articles: right article in the first three sources (≥ 90 %),
expected fact in the answer text (≥ 80 %), with the embedded default (extractive)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from conftest import SEEDS

pytestmark = pytest.mark.integration

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "seeds.yaml"


def test_golden_set_is_big_enough_and_bilingual() -> None:
    questions = yaml.safe_load(GOLDEN.read_text(encoding="utf-8"))
    assert len(questions) >= 20
    assert {q["language"] for q in questions} == {"de", "en"}
    assert {q["article"] for q in questions} == {"000", "001", "002", "003", "004"}


def test_golden_questions_on_the_seeds(open_leitstand: Any) -> None:
    questions = yaml.safe_load(GOLDEN.read_text(encoding="utf-8"))
    ls = open_leitstand()
    report = ls.ingest(SEEDS)
    assert report.failed == [] and len(report.added) == 5
    right_article = right_fact = 0
    misses = []
    for item in questions:
        answer = ls.ask(item["question"])
        articles = [source.hit.path[:3] for source in answer.sources[:3]]
        found_article = item["article"] in articles
        found_fact = any(fact.lower() in answer.text.lower() for fact in item["facts"])
        right_article += found_article
        right_fact += found_fact
        if not (found_article and found_fact):
            misses.append(f"{item['question']} -> {articles}: {answer.text[:160]}")
    total = len(questions)
    detail = "\n".join(misses)
    assert right_article / total >= 0.9, f"article among first three sources:\n{detail}"
    assert right_fact / total >= 0.8, f"expected fact in the answer:\n{detail}"
