"""MinHash signatures: stable, accurate enough, cheap, and good at boilerplate with small edits."""

from __future__ import annotations

import json
import random
import subprocess
import sys
import time

import numpy as np
import pytest

from conftest import DATASETS
from leitstand.search.analyser import Analyser
from leitstand.text import minhash
from leitstand.text.minhash import (
    MIN_TERMS,
    SIGNATURE_BYTES,
    NearDuplicateIndex,
    as_matrix,
    earlier_duplicates,
    signature,
    signatures,
    similarity,
)
from text.boilerplate import constructed_set, is_true_duplicate

pytestmark = pytest.mark.unit

ANALYSER = Analyser(("de", "en"))


def _paragraphs(language: str = "de") -> list[str]:
    with (DATASETS / f"xquad-{language}" / "corpus.jsonl").open(encoding="utf-8") as lines:
        return [json.loads(line)["text"] for line in lines if line.strip()]


def _analysed(texts: list[str], language: str = "de") -> list[str]:
    return [ANALYSER.analyse(text, language) for text in texts]


def _exact_jaccard(left: str, right: str) -> float:
    a, b = set(left.split()), set(right.split())
    return len(a & b) / len(a | b)


def test_a_signature_is_256_bytes_and_the_same_text_gives_the_same_one() -> None:
    text = ANALYSER.analyse("Die Verpflegungspauschale beträgt 28 Euro pro vollem Kalendertag.")
    first = signature(text)
    assert first is not None and len(first) == SIGNATURE_BYTES
    assert signature(text) == first
    assert similarity(first, first) == 1.0


def test_texts_with_too_few_terms_get_no_signature() -> None:
    assert signature("") is None
    assert signature("kontakt") is None
    assert signature(" ".join(["a", "b", "c", "d"][: MIN_TERMS - 1])) is None
    assert signature("eins zwei drei vier fünf") is not None


def test_signatures_are_the_same_in_another_process() -> None:
    """Stored signatures are compared across processes and runs: no salted hashing."""
    texts = _analysed(_paragraphs()[:3])
    here = [blob.hex() if blob else None for blob in signatures(texts)]
    code = (
        "import json, sys; from leitstand.text.minhash import signatures; "
        "texts = json.loads(sys.stdin.read()); "
        "print(json.dumps([b.hex() if b else None for b in signatures(texts)]))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        input=json.dumps(texts),
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONHASHSEED": "12345", "PATH": ""},
    )
    assert json.loads(done.stdout) == here


def test_many_texts_at_once_equal_one_at_a_time_even_across_slices(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    texts = [*_analysed(_paragraphs()[:40]), "", "zu kurz", "x " * 3]
    one_by_one = [signature(text) for text in texts]
    monkeypatch.setattr(minhash, "SLICE_BYTES", 2000)  # force many slices
    assert signatures(texts) == one_by_one


def test_the_estimate_follows_the_exact_jaccard_similarity() -> None:
    rng = random.Random(3)
    errors = []
    for text in _analysed(_paragraphs()[:150]):
        words = text.split()
        for _ in range(rng.randint(0, len(words) // 3)):
            words[rng.randrange(len(words))] = f"neu{rng.randrange(1000)}"
        edited = " ".join(words)
        left, right = signature(text), signature(edited)
        assert left is not None and right is not None
        errors.append(similarity(left, right) - _exact_jaccard(text, edited))
    assert abs(float(np.mean(errors))) < 0.02  # unbiased
    assert float(np.mean(np.abs(errors))) < 0.06  # ~ the theoretical 0.045 at J = 0.85


def test_boilerplate_with_small_edits_is_found_and_nothing_else() -> None:
    """The constructed set: precision and recall of the earlier duplicate each text gets."""
    flagged = correct = should = 0
    for seed in range(5):
        texts = constructed_set(copies=8, relatives=4, seed=seed)
        matrix = as_matrix([blob or b"" for blob in signatures(_analysed([t.text for t in texts]))])
        found = earlier_duplicates(matrix, 0.85)
        flagged += len(found)
        correct += sum(
            is_true_duplicate(texts, row, earlier) for row, (earlier, _) in found.items()
        )
        should += sum(
            1
            for i, text in enumerate(texts)
            if text.duplicate
            and any(other.duplicate and other.family == text.family for other in texts[:i])
        )
    assert correct / flagged >= 0.98, f"precision {correct / flagged:.3f}"
    assert correct / should >= 0.95, f"recall {correct / should:.3f}"


def test_distinct_paragraphs_are_not_near_duplicates() -> None:
    texts = _analysed(_paragraphs("de")) + _analysed(_paragraphs("en"), "en")
    matrix = as_matrix([blob for blob in signatures(texts) if blob is not None])
    assert len(matrix) > 400
    assert earlier_duplicates(matrix, 0.85) == {}


def test_the_index_finds_edited_copies_and_forgets_deleted_groups() -> None:
    texts = _analysed(_paragraphs()[:200])
    stored = as_matrix([blob or b"" for blob in signatures(texts)])
    index = NearDuplicateIndex(0.85)
    index.add(list(range(1000, 1200)), [n // 10 for n in range(200)], stored)
    edited = []
    for text in texts[:20]:
        words = text.split()
        words[len(words) // 2] = "geändert"
        edited.append(" ".join(words))
    queries = as_matrix([blob or b"" for blob in signatures(edited)])
    matches = index.nearest(queries)
    assert len(matches) >= 18
    assert all(match.id == 1000 + match.row for match in matches)
    assert all(0.85 <= match.similarity <= 1.0 for match in matches)
    index.forget([0])  # the group of the first ten
    assert all(match.row >= 10 for match in index.nearest(queries))
    assert len(index) == 190


def test_signatures_cost_a_small_fraction_of_analysing_the_text() -> None:
    """Ingestion computes them per file in the worker: measured against the analysis it
    already does, so the check holds on a busy machine too."""
    paragraphs = _paragraphs()[:200]
    files = [paragraphs[start : start + 5] for start in range(0, len(paragraphs), 5)]
    analysed_files = [_analysed(chunks) for chunks in files]
    best_analyse = best_sign = float("inf")
    for _ in range(5):
        started = time.perf_counter()
        for chunks in files:
            _analysed(chunks)
        best_analyse = min(best_analyse, time.perf_counter() - started)
        started = time.perf_counter()
        for analysed in analysed_files:
            signatures(analysed)
        best_sign = min(best_sign, time.perf_counter() - started)
    per_chunk_us = best_sign / len(paragraphs) * 1e6
    print(f"signature: {per_chunk_us:.1f} µs per chunk, {best_sign / best_analyse:.0%} of analysis")
    assert best_sign < 0.5 * best_analyse
