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
    ) -> Groundedness:
        """``sources`` maps the numbers the answer cites to the passages' texts."""
        claims: list[tuple[int, int, str, tuple[int, ...], list[str]]] = []
        sentences: list[SentenceSupport] = []
        for start, end in sentence_spans(answer):
            raw = answer[start:end]
            cited = tuple(dict.fromkeys(int(n) for n in _CITED.findall(raw)))
            text = _MARKER.sub("", raw).strip()
            passages = [sources[n] for n in cited if n in sources] or list(sources.values())
            if not passages or _ABSTAINS.search(text) or not self._has_claim(text, language):
                sentences.append(SentenceSupport(start, end, text, cited, None, None))
                continue
            claims.append((start, end, text, cited, passages))
        if not claims:
            return Groundedness(sentences, self.method, self.threshold)
        if self.judge is not None:
            scores = self.judge.judge([(c[2], "\n\n".join(c[4])) for c in claims])
            missing: list[tuple[str, ...]] = [() for _ in claims]
        else:
            question_terms = set(self.analyser.terms(question, language)) if question else set()
            lexical = [
                self._lexical(text, passages, question_terms, language)
                for _, _, text, _, passages in claims
            ]
            scores = [score for score, _ in lexical]
            missing = [words for _, words in lexical]
            if self.embedder is not None:
                semantic = self._semantic([(c[2], c[4]) for c in claims])
                scores = [
                    (1 - SEMANTIC_SHARE) * lex + SEMANTIC_SHARE * sem
                    for lex, sem in zip(scores, semantic, strict=True)
                ]
        for (start, end, text, cited, _), value, words in zip(claims, scores, missing, strict=True):
            score = min(1.0, max(0.0, float(value)))
            sentences.append(
                SentenceSupport(start, end, text, cited, score, score >= self.threshold, words)
            )
        sentences.sort(key=lambda s: s.start)
        return Groundedness(sentences, self.method, self.threshold)

    def _has_claim(self, text: str, language: str | None) -> bool:
        return bool(_NUMBER.search(text)) or len(self.analyser.terms(text, language)) >= 2

    def _lexical(
        self,
        sentence: str,
        passages: Sequence[str],
        question_terms: set[str],
        language: str | None,
    ) -> tuple[float, tuple[str, ...]]:
        analyser = self.analyser
        source = "\n".join(passages)
        source_terms = set(analyser.terms(source, language))
        source_numbers = {_digits(n) for n in _NUMBER.findall(source)}
        total = found = 0.0
        missing: list[str] = []
        for number in dict.fromkeys(_NUMBER.findall(sentence)):
            if _digits(number) in source_numbers:
                total += 1.0
                found += 1.0
            else:  # a number that is there proves little; one that is not, a lot
                total += NUMBER_WEIGHT
                missing.append(number)
        words = [w for w in analyser.words(_NUMBER.sub(" ", sentence)) if not w.isdigit()]
        for word in dict.fromkeys(words):
            terms = analyser.terms(word, language)
            if not terms:
                continue  # a stop word
            stem, parts = terms[0], terms[1:]
            weight = QUESTION_WEIGHT if stem in question_terms else 1.0
            total += weight
            if stem in source_terms or (parts and all(p in source_terms for p in parts)):
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
