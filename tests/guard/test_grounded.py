"""Groundedness: each answer sentence against the passages it cites."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest

from leitstand.embeddings.base import Embedder, Kind, Vectors
from leitstand.guard.grounded import GroundednessChecker
from leitstand.search.analyser import Analyser

TRAVEL = (
    "Die Verpflegungspauschale beträgt 28 Euro pro vollem Tag. Für Anreise- und Abreisetage "
    "gelten 14 Euro. Belege reichen Sie innerhalb von 30 Tagen über das Reiseportal ein."
)
IT = "Passwörter haben mindestens 14 Zeichen und werden alle 90 Tage geändert."


@pytest.fixture(scope="module")
def checker() -> GroundednessChecker:
    return GroundednessChecker(Analyser(("de", "en")))


def test_a_supported_sentence_scores_high_and_a_made_up_number_low(
    checker: GroundednessChecker,
) -> None:
    report = checker.check(
        "Die Pauschale beträgt 28 Euro pro Tag [1]. An Anreisetagen gibt es 21 Euro [1].",
        {1: TRAVEL},
        question="Wie hoch ist die Verpflegungspauschale?",
        language="de",
    )
    first, second = report.sentences
    assert first.supported is True and first.score is not None and first.score > 0.9
    assert second.supported is False and "21" in second.missing
    assert second.cited == (1,)
    assert report.score == 0.5
    assert [s.text for s in report.unsupported] == ["An Anreisetagen gibt es 21 Euro."]


def test_numbers_match_in_any_notation(checker: GroundednessChecker) -> None:
    source = "Das Budget liegt bei 1.500.000 Euro, die Quote bei 2,5 Prozent."
    report = checker.check("Das Budget beträgt 1500000 Euro bei 2.5 Prozent [1].", {1: source})
    assert report.sentences[0].supported is True


def test_a_sentence_is_checked_against_the_passage_it_cites(
    checker: GroundednessChecker,
) -> None:
    answer = "Passwörter haben mindestens 14 Zeichen [2]."
    assert checker.check(answer, {1: TRAVEL, 2: IT}).sentences[0].supported is True
    wrong = checker.check("Passwörter haben mindestens 14 Zeichen [1].", {1: TRAVEL, 2: IT})
    assert wrong.sentences[0].supported is False
    # Without a citation, any passage the model was given may carry it.
    free = checker.check("Passwörter haben mindestens 14 Zeichen.", {1: TRAVEL, 2: IT})
    assert free.sentences[0].supported is True and free.sentences[0].cited == ()


def test_compounds_are_supported_by_their_parts(checker: GroundednessChecker) -> None:
    source = "Die Datenbank für Vektoren speichert Einbettungen aller Dokumente."
    report = checker.check("Die Vektordatenbank speichert die Einbettungen [1].", {1: source})
    assert report.sentences[0].supported is True


def test_sentences_without_a_claim_are_not_scored(checker: GroundednessChecker) -> None:
    report = checker.check(
        "Gerne. Dazu habe ich in den Dokumenten keine Antwort gefunden.", {1: TRAVEL}
    )
    assert [s.score for s in report.sentences] == [None, None]
    assert report.score is None and report.unsupported == []


class _BagOfWords(Embedder):
    """Vectors from hashed lower-case words: similar wording, similar vector."""

    name = "bag-of-words"
    dimensions = 64

    def embed(self, texts: Sequence[str], kind: Kind) -> Vectors:
        rows = np.zeros((len(texts), self.dimensions), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in text.lower().split():
                rows[row, hash(word.strip(".,")) % self.dimensions] += 1
        return rows / np.maximum(np.linalg.norm(rows, axis=1, keepdims=True), 1e-9)


def test_the_semantic_check_blends_with_the_lexical_one() -> None:
    analyser = Analyser(("de", "en"))
    lexical = GroundednessChecker(analyser)
    semantic = GroundednessChecker(analyser, embedder=_BagOfWords())
    assert semantic.method == "lexical+semantic"
    answer = "Passwörter haben mindestens 14 Zeichen [1]."
    unrelated = "Kantinenessen kostet vier Euro."
    assert semantic.check(answer, {1: IT}).sentences[0].supported is True
    lexical_score = lexical.check(answer, {1: unrelated}).sentences[0].score
    semantic_score = semantic.check(answer, {1: unrelated}).sentences[0].score
    assert lexical_score is not None and semantic_score is not None
    assert semantic_score <= 0.5


class _Judge:
    name = "strict"

    def __init__(self) -> None:
        self.seen: list[tuple[str, str]] = []

    def judge(self, claims: Sequence[tuple[str, str]]) -> list[float]:
        self.seen.extend(claims)
        return [1.0 if "28" in sentence else 0.0 for sentence, _ in claims]


def test_a_judge_decides_when_configured() -> None:
    judge = _Judge()
    checker = GroundednessChecker(Analyser(("de",)), judge=judge)
    report = checker.check("Es gibt 28 Euro [1]. Es gibt 99 Euro [1].", {1: TRAVEL})
    assert [s.supported for s in report.sentences] == [True, False]
    assert judge.seen == [("Es gibt 28 Euro.", TRAVEL), ("Es gibt 99 Euro.", TRAVEL)]
    assert report.method == "judge:strict"
