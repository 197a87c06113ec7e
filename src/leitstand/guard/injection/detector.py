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


# Where a sentence or a line ends: a mark with white space after it, or a line break. The
# pattern starts with a set of characters, which Python's re skips ahead to, rather than with
# a look-behind tried at every character (the mark it consumes holds no word).
_SENTENCE_END = re.compile(r"[\n.!?:;](?:(?<=\n)|\s)\s*")
MIN_SEGMENT_WORDS = 6


def _sentences(normalised: str) -> list[list[str]]:
    """The words of each sentence (or line) of a normalised text."""
    return [_WORD.findall(sentence) for sentence in _SENTENCE_END.split(normalised)]


def _segments(sentences: list[list[str]]) -> list[list[str]]:
    """Stretches of whole sentences of ``MIN_SEGMENT_WORDS`` to ``SEGMENT_WORDS`` words."""
    segments: list[list[str]] = []
    current: list[str] = []
    for sentence in sentences:
        words = sentence
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
        # The same terms as sets that a segment's words and pairs of words are compared with
        # in one step each, before any term of the segment is built.
        self._words = frozenset(term for term in self.postings if " " not in term)
        self._pairs = frozenset(
            (first, second)
            for first, _, second in (term.partition(" ") for term in self.postings)
            if second
        )

    @classmethod
    @cache
    def bundled(cls) -> AttackLibrary:
        text = resources.files("leitstand.guard.injection").joinpath("data/attacks.txt")
        lines = text.read_text(encoding="utf-8").splitlines()
        return cls([line for line in lines if line.strip() and not line.startswith("#")])

    def most_similar(self, normalised: str) -> tuple[float, int]:
        """(cosine, index of the attack) of the most similar stretch of the text: a
        sentence, with its short neighbours joined up to ``SEGMENT_WORDS`` words."""
        return self.most_similar_words(_sentences(normalised))

    def most_similar_words(self, sentences: list[list[str]]) -> tuple[float, int]:
        """:meth:`most_similar` for a text already split into sentences of words."""
        best, best_index = 0.0, -1
        words, pairs = self._words, self._pairs
        for segment in _segments(sentences):
            # The distinct terms the segment shares with the library: its words that are
            # terms (no stop word is one) and its pairs of words.
            shared = len(words.intersection(segment))
            shared += len(pairs.intersection(pairwise(segment)))
            if shared < MIN_SHARED_TERMS:
                continue  # too little in common to come near SIMILAR_FROM
            score, index = self._similarity(Counter(_terms(segment)))
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
        triggers = {t for r in self.rules for group in (r.triggers, *r.requires) for t in group}
        self._marks = sorted(t for t in triggers if not t.isalnum())
        # The rules by trigger: a text's words are looked up once each, instead of once per
        # rule in that rule's set of triggers (most texts trigger no rule at all).
        self._by_trigger: dict[str, list[int]] = {}
        for number, rule in enumerate(self.rules):
            for trigger in rule.triggers:
                self._by_trigger.setdefault(trigger, []).append(number)

    def detect(self, text: str) -> InjectionResult:
        if not text.strip():
            return InjectionResult(0.0, False)
        fired: dict[str, float] = {}
        texts = views(text)
        sentences = [_sentences(view) for view in texts]
        for view, words in zip(texts, sentences, strict=True):
            # What the triggers compare: the first letters of each word, each whole word (a
            # trigger longer than PREFIX is one) and the marks.
            present = {word for sentence in words for word in sentence}
            present.update([word[:PREFIX] for word in present])
            present.update(mark for mark in self._marks if mark in view)
            by_trigger = self._by_trigger
            triggered = {n for word in present for n in by_trigger.get(word, ())}
            for number in sorted(triggered):  # in the rules' order, as may_match would
                rule = self.rules[number]
                if (
                    rule.name not in fired
                    and rule.has_required(present)
                    and rule.pattern.search(view)
                ):
                    fired[rule.name] = rule.weight
        scores = [combine(list(fired.values()))]
        similar_to = None
        similarity, index = max(self.library.most_similar_words(words) for words in sentences)
        if similarity >= SIMILAR_FROM:
            share = min(1.0, (similarity - SIMILAR_FROM) / (SIMILAR_FULL - SIMILAR_FROM))
            scores.append(SIMILARITY_WEIGHT * share)
            similar_to = self.library.attacks[index]
        if self.classifier is not None:
            scores.append(min(1.0, max(0.0, self.classifier.score(text))))
        score = combine(scores)
        return InjectionResult(score, score >= self.threshold, sorted(fired), similar_to)
