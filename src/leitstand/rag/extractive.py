"""The extractive answerer: the embedded default when no model is configured.

It answers with the sentences of the retrieved passages that best support the question,
each followed by the number of its source. Scoring is lexical:

- a sentence earns the weight of every distinct question term it contains (terms that are
  rare among the candidate sentences weigh more);
- coverage of the question counts over the sentence's paragraph or list item, so "Praktisch:
  Rollenspiele zu Prompt-Injection-Angriffen." still belongs to the item about the KI-Trainer;
- a little for the rank of its passage; questions are poor answers and are damped; for
  "Was ist X?" a sentence that starts by naming X is preferred;
- a sentence that introduces a list ("… die Du kennen solltest:") brings the list with it.

Sentences in the question's language are preferred where the sources offer them.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from leitstand.ingest.chunker import LIST_MARKER
from leitstand.search.analyser import Analyser
from leitstand.search.hits import Hit
from leitstand.text.sentences import sentence_spans

MIN_SENTENCE_CHARS = 15
OTHER_LANGUAGE_FACTOR = 0.8
QUESTION_FACTOR = 0.5
DEFINITION_FACTOR = 1.6
LIST_ITEMS = 8
LIST_ITEM_CHARS = 240
LIST_TOTAL_CHARS = 700

_BLOCK_SEPARATOR = re.compile(r"\n\s*\n")
_DEFINITION_QUESTION = re.compile(
    r"^\s*(?:was|what|wer|who)\s+(?:ist|sind|is|are|bedeutet|bedeuten|means?|meint)\s+"
    r"(?:(?:ein|eine|der|die|das|a|an|the)\s+)?(?P<subject>[^?]{2,80})\??\s*$",
    re.IGNORECASE,
)


@dataclass
class Candidate:
    hit_index: int
    block: int
    start: int
    end: int
    text: str
    terms: frozenset[str]
    block_terms: frozenset[str]
    score: float = 0.0


@dataclass
class ExtractedSentence:
    text: str
    hit: Hit
    start_char: int
    end_char: int
    score: float


class ExtractiveAnswerer:
    def __init__(
        self, analyser: Analyser, *, max_sentences: int = 3, min_relative_score: float = 0.35
    ) -> None:
        self.analyser = analyser
        self.max_sentences = max_sentences
        self.min_relative_score = min_relative_score

    def select(self, question: str, language: str, hits: list[Hit]) -> list[ExtractedSentence]:
        """The sentences that answer the question, best first."""
        if not hits:
            return []
        languages = {language, *(hit.language for hit in hits)}
        query_terms = {code: frozenset(self.analyser.terms(question, code)) for code in languages}
        definition = _DEFINITION_QUESTION.match(question)
        subjects = {
            code: self.analyser.terms(definition.group("subject"), code) if definition else []
            for code in languages
        }
        candidates = self._candidates(hits)
        self._score(candidates, hits, language, query_terms, subjects)
        ranked = sorted((c for c in candidates if c.score > 0), key=lambda c: c.score, reverse=True)
        if not ranked:
            return []
        threshold = ranked[0].score * self.min_relative_score
        chosen: list[Candidate] = []
        for candidate in ranked:
            if candidate.score < threshold or len(chosen) >= self.max_sentences:
                break
            if any(_similar(candidate.terms, other.terms) for other in chosen):
                continue
            chosen.append(candidate)
        return [self._extract(c, candidates, hits) for c in chosen]

    def _score(
        self,
        candidates: list[Candidate],
        hits: list[Hit],
        language: str,
        query_terms: dict[str, frozenset[str]],
        subjects: dict[str, list[str]],
    ) -> None:
        counts: dict[str, int] = {}
        for candidate in candidates:
            for term in candidate.terms:
                counts[term] = counts.get(term, 0) + 1
        total = len(candidates)
        top_score = max(hit.score for hit in hits) or 1.0
        for candidate in candidates:
            hit = hits[candidate.hit_index]
            wanted = query_terms[hit.language]
            matched = candidate.terms & wanted
            if not matched:
                continue
            weight = sum(math.log(1 + total / counts[term]) for term in matched)
            coverage = len((candidate.block_terms | candidate.terms) & wanted) / max(1, len(wanted))
            rank_prior = 0.3 * max(hit.score, 0.0) / top_score
            length = len(candidate.terms)
            score = weight * (0.5 + coverage) + rank_prior
            lead_in = candidate.text.endswith(":")
            if length < 4 and not lead_in:
                score *= 0.6
            elif length > 60:
                score *= 0.8
            if candidate.text.rstrip().endswith("?"):
                if len(candidate.terms - wanted) <= 1:
                    continue  # the question itself, e.g. in an FAQ: it answers nothing
                score *= QUESTION_FACTOR
            subject = subjects[hit.language]
            if subject and _starts_with(self.analyser.terms(candidate.text, hit.language), subject):
                score *= DEFINITION_FACTOR
            if hit.language != language:
                score *= OTHER_LANGUAGE_FACTOR
            candidate.score = score

    def _candidates(self, hits: list[Hit]) -> list[Candidate]:
        candidates = []
        seen_texts: set[str] = set()
        for index, hit in enumerate(hits):
            offset = 0
            for block_number, block in enumerate(_BLOCK_SEPARATOR.split(hit.text)):
                block_start = hit.text.find(block, offset)
                offset = block_start + len(block)
                block_terms = frozenset(self.analyser.terms(block, hit.language))
                for start, end in sentence_spans(block):
                    text = " ".join(block[start:end].split())
                    if len(text) < MIN_SENTENCE_CHARS and not text.endswith(":"):
                        continue
                    if text in seen_texts:
                        continue
                    seen_texts.add(text)
                    terms = frozenset(self.analyser.terms(text, hit.language))
                    candidates.append(
                        Candidate(
                            index,
                            block_number,
                            block_start + start,
                            block_start + end,
                            text,
                            terms,
                            block_terms,
                        )
                    )
        return candidates

    def _extract(
        self, chosen: Candidate, candidates: list[Candidate], hits: list[Hit]
    ) -> ExtractedSentence:
        """The sentence as the answer shows it; a list lead-in brings its items along."""
        hit = hits[chosen.hit_index]
        text, end = chosen.text.removeprefix(LIST_MARKER), chosen.end
        if text.endswith(":"):
            items: list[str] = []
            following = [
                c for c in candidates if c.hit_index == chosen.hit_index and c.start >= chosen.end
            ]
            for item in sorted(following, key=lambda c: c.start)[:LIST_ITEMS]:
                if not item.text.startswith(LIST_MARKER):
                    break
                if len(item.text) > LIST_ITEM_CHARS or sum(map(len, items)) > LIST_TOTAL_CHARS:
                    break
                items.append(item.text.removeprefix(LIST_MARKER).rstrip(".;"))
                end = item.end
            if items:
                text = f"{text} {'; '.join(items)}."
        return ExtractedSentence(
            text=text,
            hit=hit,
            start_char=hit.start_char + chosen.start,
            end_char=hit.start_char + end,
            score=chosen.score,
        )


def _starts_with(terms: list[str], subject: list[str]) -> bool:
    head = terms[: len(subject) + 2]
    return all(term in head for term in subject)


def _similar(left: frozenset[str], right: frozenset[str]) -> bool:
    if not left or not right:
        return False
    return len(left & right) / len(left | right) > 0.8
