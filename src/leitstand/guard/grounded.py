"""Groundedness: how well each sentence of an answer is supported by the passages it cites.

The lexical check (the default, no model needed) asks of every content word of a sentence
whether a cited passage has it — as the same stem, or, for a compound, as all of its parts
("Vektordatenbank" is supported by "Datenbank für Vektoren"). Words differ in what they
claim:

- a **number** the passages do not have is the typical made-up fact ("die Pauschale beträgt
  45 Euro" where the source says 30), so a missing number weighs :data:`NUMBER_WEIGHT`
  (one that is there counts as any word: the same number may stand for something else);
- words the **question** already has are the answer restating what was asked, which says
  little about support, so they weigh :data:`QUESTION_WEIGHT`;
- every other content word weighs 1.

A sentence's support is the weight of its found words over the weight of all of them; below
the threshold (``guard.support_threshold``) it is *unsupported*, and the words that were not
found are reported with it, so a reviewer sees at once what is missing. A sentence without a
citation is checked against all the passages the model was given. Sentences that carry no
claim ("Gerne.", "Dazu steht in den Dokumenten nichts.") are not scored.

With an embedder (``embedding`` configured) the check is also semantic: the sentence is
compared with each sentence of its passages and the best cosine is blended in
(:data:`SEMANTIC_SHARE`) — paraphrases the stems miss are found, and a wrong number still
costs its weight. With a judge (any object with :meth:`Judge.judge`, e.g.
:class:`ModelJudge` over a configured chat model) the judge's verdict replaces both.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from leitstand.search.analyser import Analyser
from leitstand.text.sentences import sentence_spans

if TYPE_CHECKING:
    from leitstand.embeddings.base import Embedder
    from leitstand.llm.base import ChatModel

NUMBER_WEIGHT = 3.0
QUESTION_WEIGHT = 0.25
SEMANTIC_SHARE = 0.5
"""Share of the semantic score in the blend with the lexical one."""
SEMANTIC_FLOOR = 0.3
"""Cosine (all-MiniLM-like models) at which a sentence counts as unrelated; it maps to 0."""
MISSING_SHOWN = 8

_MARKER = re.compile(r"\s*\[\d{1,3}\]")
_CITED = re.compile(r"\[(\d{1,3})\]")
_NUMBER = re.compile(r"\d+(?:[.,'’ ]\d{3})*(?:[.,]\d+)?")
_ABSTAINS = re.compile(
    r"keine (?:antwort|information|angaben?)|nicht (?:in|aus) den (?:quellen|dokumenten)"
    r"|(?:quellen|dokumente|unterlagen) (?:enthalten|nennen|sagen) (?:dazu )?(?:nichts|keine)"
    r"|could not find|cannot find|can't find|no information|do(?:es)? not (?:contain|say|mention)"
    r"|not (?:in|mentioned in) the (?:sources|documents)",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class SentenceSupport:
    """One sentence of an answer and how well its sources carry it."""

    start: int
    end: int
    text: str
    cited: tuple[int, ...]
    score: float | None
    """0 (nothing found) … 1 (all found); None for a sentence without a claim."""
    supported: bool | None
    missing: tuple[str, ...] = ()
    """Words of the sentence no cited passage has (lexical check)."""

    def as_dict(self) -> dict[str, Any]:
        return {
            "start": self.start,
            "end": self.end,
            "text": self.text,
            "cited": list(self.cited),
            "score": None if self.score is None else round(self.score, 3),
            "supported": self.supported,
            "missing": list(self.missing),
        }


@dataclass
class Groundedness:
    """The support of every sentence of an answer."""

    sentences: list[SentenceSupport]
    method: str
    threshold: float
    scored: list[SentenceSupport] = field(init=False)

    def __post_init__(self) -> None:
        self.scored = [s for s in self.sentences if s.score is not None]

    @property
    def score(self) -> float | None:
        """Share of the answer's claims that are supported (None when it makes none)."""
        if not self.scored:
            return None
        return sum(1 for s in self.scored if s.supported) / len(self.scored)

    @property
    def weakest(self) -> float | None:
        """Support of the answer's least supported claim (None when it makes none)."""
        scores = [s.score for s in self.scored if s.score is not None]
        return min(scores) if scores else None

    @property
    def unsupported(self) -> list[SentenceSupport]:
        return [s for s in self.scored if not s.supported]

    def as_dict(self) -> dict[str, Any]:
        score = self.score
        return {
            "method": self.method,
            "threshold": self.threshold,
            "score": None if score is None else round(score, 3),
            "sentences": [s.as_dict() for s in self.sentences],
        }


class Judge(Protocol):
    """Scores sentences against passages, e.g. a chat model asked to check them."""

    name: str

    def judge(self, claims: Sequence[tuple[str, str]]) -> list[float]:
        """For each ``(sentence, passages)``, a support score from 0 to 1."""
        ...


class GroundednessChecker:
    """Scores an answer's sentences against the passages they cite."""

    def __init__(
        self,
        analyser: Analyser,
        *,
        threshold: float = 0.5,
        embedder: Embedder | None = None,
        judge: Judge | None = None,
    ) -> None:
        self.analyser = analyser
        self.threshold = threshold
        self.embedder = embedder
        self.judge = judge

    @property
    def method(self) -> str:
        if self.judge is not None:
            return f"judge:{self.judge.name}"
        return "lexical+semantic" if self.embedder is not None else "lexical"

    def check(
        self,
        answer: str,
        sources: Mapping[int, str],
        *,
        question: str = "",
        language: str | None = None,
        terms: Mapping[int, str] | None = None,
    ) -> Groundedness:
        """``sources`` maps the numbers the answer cites to the passages' texts; ``terms``,
        where known, to their index terms as stored at ingestion (saves analysing them)."""
        claims: list[_Claim] = []
        sentences: list[SentenceSupport] = []
        analyser = self.analyser
        for start, end in sentence_spans(answer):
            raw = answer[start:end]
            if "[" in raw:
                cited = tuple(dict.fromkeys(int(n) for n in _CITED.findall(raw)))
                text = _MARKER.sub("", raw).strip()
            else:
                cited, text = (), raw.strip()
            numbers = [n for n in cited if n in sources] or list(sources)
            figures = list(dict.fromkeys(_NUMBER.findall(text)))
            # Stop words claim nothing; each word keeps its terms for the lexical check.
            words = analyser.content_words(_NUMBER.sub(" ", text) if figures else text, language)
            if not numbers or _abstains(text) or (not figures and len(words) < 2):
                sentences.append(SentenceSupport(start, end, text, cited, None, None))
                continue
            claims.append(_Claim(start, end, text, cited, numbers, figures, words))
        if not claims:
            return Groundedness(sentences, self.method, self.threshold)
        if self.judge is not None:
            scores = self.judge.judge(
                [(c.text, "\n\n".join(sources[n] for n in c.sources)) for c in claims]
            )
            missing: list[tuple[str, ...]] = [() for _ in claims]
        else:
            question_terms = set(analyser.terms(question, language)) if question else set()
            # Of a passage's terms only those a claim has matter: the stems and compound
            # parts of the claims' words.
            needed = {term for claim in claims for _, found in claim.words for term in found}
            evidence: dict[int, _Evidence] = {}  # each passage read once
            stored = terms or {}
            for n in {n for claim in claims for n in claim.sources}:
                known = stored.get(n)
                evidence[n] = _Evidence(
                    sources[n],
                    needed.intersection(
                        _stored_terms(known) if known else analyser.terms(sources[n], language)
                    ),
                )
            lexical = [
                self._lexical(claim, [evidence[n] for n in claim.sources], question_terms)
                for claim in claims
            ]
            scores = [score for score, _ in lexical]
            missing = [words for _, words in lexical]
            if self.embedder is not None:
                semantic = self._semantic(
                    [(c.text, [sources[n] for n in c.sources]) for c in claims]
                )
                scores = [
                    (1 - SEMANTIC_SHARE) * lex + SEMANTIC_SHARE * sem
                    for lex, sem in zip(scores, semantic, strict=True)
                ]
        for claim, value, lacking in zip(claims, scores, missing, strict=True):
            score = min(1.0, max(0.0, float(value)))
            sentences.append(
                SentenceSupport(
                    claim.start,
                    claim.end,
                    claim.text,
                    claim.cited,
                    score,
                    score >= self.threshold,
                    lacking,
                )
            )
        sentences.sort(key=lambda s: s.start)
        return Groundedness(sentences, self.method, self.threshold)

    def _lexical(
        self,
        claim: _Claim,
        evidence: Sequence[_Evidence],
        question_terms: set[str],
    ) -> tuple[float, tuple[str, ...]]:
        total = found = 0.0
        missing: list[str] = []
        for number in claim.figures:
            digits = _digits(number)
            if any(digits in passage.numbers for passage in evidence):
                total += 1.0
                found += 1.0
            else:  # a number that is there proves little; one that is not, a lot
                total += NUMBER_WEIGHT
                missing.append(number)
        if len(evidence) == 1:
            known = evidence[0].terms
        else:
            known = set().union(*(passage.terms for passage in evidence))
        for word, (stem, *parts) in claim.words:
            weight = QUESTION_WEIGHT if stem in question_terms else 1.0
            total += weight
            if stem in known or (parts and all(p in known for p in parts)):
                found += weight
            else:
                missing.append(word)
        if total == 0:
            return 1.0, ()
        return found / total, tuple(missing[:MISSING_SHOWN])

    def _semantic(self, claims: Sequence[tuple[str, Sequence[str]]]) -> list[float]:
        """Best cosine of each sentence with a sentence of its passages, mapped to 0…1."""
        assert self.embedder is not None
        pieces: list[str] = []
        ranges: list[tuple[int, int]] = []
        for _, passages in claims:
            first = len(pieces)
            for passage in passages:
                pieces.extend(passage[a:b] for a, b in sentence_spans(passage))
            ranges.append((first, len(pieces)))
        texts = [text for text, _ in claims]
        vectors = np.asarray(self.embedder.embed(texts + pieces, "document"), dtype=np.float32)
        own, others = vectors[: len(texts)], vectors[len(texts) :]
        scores = []
        for row, (first, last) in enumerate(ranges):
            best = float(np.max(others[first:last] @ own[row])) if last > first else 0.0
            scores.append(max(0.0, (best - SEMANTIC_FLOOR) / (1 - SEMANTIC_FLOOR)))
        return scores


@dataclass(frozen=True)
class _Claim:
    """A sentence to check: where it is, what it cites, its numbers and content words."""

    start: int
    end: int
    text: str
    cited: tuple[int, ...]
    sources: list[int]
    figures: list[str]
    words: list[tuple[str, tuple[str, ...]]]
    """Its content words, each with its terms: the stem, then the compound parts' stems."""


@lru_cache(maxsize=256)
def _stored_terms(analysed: str) -> frozenset[str]:
    """The set of a passage's stored index terms (space-separated): remembered, since the
    passages that answer a use case's common questions come back request after request."""
    return frozenset(analysed.split())


class _Evidence:
    """A passage's terms, and its numbers (read only when a sentence has one)."""

    __slots__ = ("_numbers", "terms", "text")

    def __init__(self, text: str, terms: set[str]) -> None:
        self.text = text
        self.terms = terms
        self._numbers: set[str] | None = None

    @property
    def numbers(self) -> set[str]:
        if self._numbers is None:
            self._numbers = {_digits(n) for n in _NUMBER.findall(self.text)}
        return self._numbers


_NEGATIONS = ("kein", "nicht", "not", "no ", "n't")


def _abstains(text: str) -> bool:
    """ "Dazu steht in den Dokumenten nichts": the answer declines, which claims nothing."""
    lowered = text.lower()
    return any(map(lowered.__contains__, _NEGATIONS)) and _ABSTAINS.search(lowered) is not None


def _digits(number: str) -> str:
    """ "1.000", "1 000" and "1000" are the same number; "2,5" and "2.5" too."""
    number = re.sub(r"[.,'’ ](?=\d{3}(?:\D|$))", "", number)
    return number.replace(",", ".")


_VERDICT = re.compile(r"^\s*(\d{1,3})\s*[:.)-]\s*(yes|no|partly|partial|ja|nein|teilweise)", re.I)
_JUDGE_PROMPT = """You check whether statements are supported by source passages.
For each numbered statement, answer on its own line with the number and one word:
"yes" (the passages state it), "partly" (some of it), or "no" (not in the passages, or
contradicted). Judge only by the passages, not by what you know.

{claims}"""


class ModelJudge:
    """A chat model as the judge: one request per answer, one verdict per sentence."""

    def __init__(self, model: ChatModel, name: str) -> None:
        self.model = model
        self.name = name

    def judge(self, claims: Sequence[tuple[str, str]]) -> list[float]:
        from leitstand.llm.base import ChatMessage, ChatOptions

        blocks = [
            f"Statement {n}: {sentence}\nPassages for statement {n}:\n{passages}"
            for n, (sentence, passages) in enumerate(claims, start=1)
        ]
        prompt = _JUDGE_PROMPT.format(claims="\n\n".join(blocks))
        reply = self.model.complete(
            [ChatMessage("user", prompt)], ChatOptions(temperature=0.0)
        ).content
        verdicts: dict[int, float] = {}
        for line in reply.splitlines():
            match = _VERDICT.match(line)
            if match:
                word = match.group(2).lower()
                value = 1.0 if word in ("yes", "ja") else 0.0 if word in ("no", "nein") else 0.5
                verdicts.setdefault(int(match.group(1)), value)
        # A statement the judge left out counts as unchecked: neither proof nor alarm.
        return [verdicts.get(n, 0.5) for n in range(1, len(claims) + 1)]
