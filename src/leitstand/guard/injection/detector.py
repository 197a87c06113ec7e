"""Prompt-injection and jailbreak detection in layers.

1. **Normalisation** (``normalise.py``): look-alike letters, invisible characters, leetspeak,
   Base64 and ROT13 are undone; every rule reads every view of the text.
2. **Rules** (``rules.py``): kinds of attack moves in German and English, each with a weight,
   combined by noisy-or.
3. **Similarity** to a library of known attacks (``data/attacks.txt``): TF-IDF cosine over
   words and word pairs, per sentence (short ones joined) so that one attack in a long
   document is not diluted by the rest.
4. **A classifier**, optionally: anything with ``score(text) -> float`` (a Prompt Guard model
   from a local path, say), registered by the user.

The layers' scores combine by noisy-or; a text is flagged from ``threshold`` (0.5).
"""

from __future__ import annotations

import math
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from itertools import pairwise
from typing import Protocol

from leitstand.guard.injection.normalise import normalise, views
from leitstand.guard.injection.rules import PREFIX, RULES, Rule, combine
from leitstand.search.analyser import stop_words

_WORD = re.compile(r"[a-z0-9]+")
SEGMENT_WORDS = 40
"""Words per stretch compared with the known attacks."""
SIMILAR_FROM, SIMILAR_FULL = 0.3, 0.7
"""Cosine similarity from which a known attack counts, and at which it counts fully."""
SIMILARITY_WEIGHT = 0.9
MIN_SHARED_TERMS = 3
"""Terms a stretch must share with the library before its similarity is computed."""


class InjectionClassifier(Protocol):
    """A model that scores a text's probability of being an injection (0..1)."""

    name: str

    def score(self, text: str) -> float: ...


@dataclass(frozen=True)
class InjectionResult:
    score: float
    flagged: bool
    rules: list[str] = field(default_factory=list)
    similar_to: str | None = None
    """The known attack most like the text, when similarity counted."""

    def as_dict(self) -> dict[str, object]:
        return {"score": round(self.score, 3), "flagged": self.flagged, "rules": self.rules}


def _terms(words: list[str]) -> list[str]:
    stops = _stops()
    content = [w for w in words if w not in stops]
    return content + [f"{a} {b}" for a, b in pairwise(words)]


@cache
def _stops() -> frozenset[str]:
    return stop_words("en") | stop_words("de")


_SENTENCE_END = re.compile(r"(?<=[.!?:;])\s+|\n+")
MIN_SEGMENT_WORDS = 6


def _segments(normalised: str) -> list[list[str]]:
    """Stretches of whole sentences of ``MIN_SEGMENT_WORDS`` to ``SEGMENT_WORDS`` words."""
    segments: list[list[str]] = []
    current: list[str] = []
    for sentence in _SENTENCE_END.split(normalised):
        words = _WORD.findall(sentence)
        while len(words) > SEGMENT_WORDS:
            segments.append(words[:SEGMENT_WORDS])
            words = words[SEGMENT_WORDS // 2 :]
        if current and len(current) + len(words) > SEGMENT_WORDS:
            segments.append(current)
            current = []
        current = current + words
        if len(current) >= MIN_SEGMENT_WORDS:
            segments.append(current)
            current = []
    if current or not segments:
        segments.append(current)
    return segments


class AttackLibrary:
    """Known attacks, searchable by TF-IDF cosine similarity."""

    def __init__(self, attacks: Sequence[str]) -> None:
        self.attacks = list(attacks)
        documents = [Counter(_terms(_WORD.findall(normalise(a)))) for a in self.attacks]
        frequency = Counter(term for d in documents for term in d)
        count = len(documents)
        self.idf = {term: math.log(1 + count / df) for term, df in frequency.items()}
        self.unknown_idf = math.log(1 + count)
        self.postings: dict[str, list[tuple[int, float]]] = defaultdict(list)
        for number, document in enumerate(documents):
            weights = {t: (1 + math.log(n)) * self.idf[t] for t, n in document.items()}
            norm = math.sqrt(sum(w * w for w in weights.values())) or 1.0
            for term, weight in weights.items():
                self.postings[term].append((number, weight / norm))

    @classmethod
    @cache
    def bundled(cls) -> AttackLibrary:
        text = resources.files("leitstand.guard.injection").joinpath("data/attacks.txt")
        lines = text.read_text(encoding="utf-8").splitlines()
        return cls([line for line in lines if line.strip() and not line.startswith("#")])

    def most_similar(self, normalised: str) -> tuple[float, int]:
        """(cosine, index of the attack) of the most similar stretch of the text: a
        sentence, with its short neighbours joined up to ``SEGMENT_WORDS`` words."""
        best, best_index = 0.0, -1
        postings = self.postings
        for segment in _segments(normalised):
            terms = _terms(segment)
            if len({term for term in terms if term in postings}) < MIN_SHARED_TERMS:
                continue  # too little in common to come near SIMILAR_FROM
            score, index = self._similarity(Counter(terms))
            if score > best:
                best, best_index = score, index
        return best, best_index

    def _similarity(self, query: Counter[str]) -> tuple[float, int]:
        postings = self.postings
        shared = [term for term in query if term in postings]
        if len(shared) < MIN_SHARED_TERMS:
            return 0.0, -1  # too little in common to come near SIMILAR_FROM
        idf, unknown = self.idf, self.unknown_idf
        norm = 0.0
        for term, n in query.items():
            weight = (1.0 if n == 1 else 1 + math.log(n)) * idf.get(term, unknown)
            norm += weight * weight
        scores: dict[int, float] = defaultdict(float)
        for term in shared:
            n = query[term]
            weight = (1.0 if n == 1 else 1 + math.log(n)) * idf[term]
            for document, document_weight in postings[term]:
                scores[document] += weight * document_weight
        index = max(scores, key=scores.__getitem__)
        return scores[index] / math.sqrt(norm), index


class InjectionDetector:
    """Scores a text for prompt injection and jailbreaks (see the module's docstring)."""

    def __init__(
        self,
        *,
        threshold: float = 0.5,
        rules: Iterable[Rule] = RULES,
        library: AttackLibrary | None = None,
        classifier: InjectionClassifier | None = None,
    ) -> None:
        self.threshold = threshold
        self.rules = tuple(rules)
        self.library = library if library is not None else AttackLibrary.bundled()
        self.classifier = classifier
        self._marks = sorted({t for r in self.rules for t in r.triggers if not t.isalnum()})

    def detect(self, text: str) -> InjectionResult:
        if not text.strip():
            return InjectionResult(0.0, False)
        fired: dict[str, float] = {}
        texts = views(text)
        for view in texts:
            present = {word[:PREFIX] for word in _WORD.findall(view)}
            present.update(mark for mark in self._marks if mark in view)
            for rule in self.rules:
                if (
                    rule.name not in fired
                    and not present.isdisjoint(rule.triggers)
                    and rule.pattern.search(view)
                ):
                    fired[rule.name] = rule.weight
        scores = [combine(list(fired.values()))]
        similar_to = None
        similarity, index = max(self.library.most_similar(view) for view in texts)
        if similarity >= SIMILAR_FROM:
            share = min(1.0, (similarity - SIMILAR_FROM) / (SIMILAR_FULL - SIMILAR_FROM))
            scores.append(SIMILARITY_WEIGHT * share)
            similar_to = self.library.attacks[index]
        if self.classifier is not None:
            scores.append(min(1.0, max(0.0, self.classifier.score(text))))
        score = combine(scores)
        return InjectionResult(score, score >= self.threshold, sorted(fired), similar_to)
