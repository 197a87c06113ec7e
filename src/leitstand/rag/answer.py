"""The answer a user gets: text with [n] markers and the numbered sources behind them."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from leitstand.llm.base import Usage
from leitstand.search.hits import Hit

if TYPE_CHECKING:
    from leitstand.guard.grounded import Groundedness

_MARKER = re.compile(r"\[(\d{1,3})\]")

NO_ANSWER = {
    "de": "Dazu habe ich in den Dokumenten keine Antwort gefunden.",
    "en": "I could not find an answer to this question in the documents.",
}
SOURCES_HEADING = {"de": "Quellen", "en": "Sources"}


def localised(table: dict[str, str], language: str) -> str:
    return table.get(language, table["en"])


@dataclass(frozen=True)
class SourceRef:
    """A numbered source of an answer, pointing at the exact passage."""

    number: int
    hit: Hit

    @property
    def location(self) -> str:
        return self.hit.location()

    @property
    def title(self) -> str:
        return self.hit.title

    @property
    def text(self) -> str:
        return self.hit.text

    def label(self) -> str:
        """One line for a footnote: "[1] handbook/travel.md, page 2 — Travel policy"."""
        name = f"{self.hit.source}/{self.hit.path}" if self.hit.source else self.hit.path
        title = f" — {self.hit.title}" if self.hit.title and self.hit.title != self.hit.path else ""
        return f"[{self.number}] {name}, {self.location}{title}"

    def as_dict(self) -> dict[str, Any]:
        return {"number": self.number, "location": self.location, **self.hit.as_dict()}


@dataclass
class Answer:
    text: str
    sources: list[SourceRef]
    question: str
    language: str
    use_case: str
    model: str
    trace_id: str | None = None
    prompt_hash: str | None = None
    usage: Usage | None = None
    answered: bool = True
    groundedness: Groundedness | None = None
    """How well each sentence is supported by its sources (chat models only)."""
    cached: dict[str, Any] | None = None
    """Served from the answer cache: ``kind``, ``similarity``, ``entry_id``, ``cached_at``."""
    warnings: list[str] = field(default_factory=list)
    """Spent soft budgets of the caller (the request was served anyway)."""

    def footnotes(self) -> str:
        if not self.sources:
            return ""
        lines = [f"{localised(SOURCES_HEADING, self.language)}:"]
        lines.extend(source.label() for source in self.sources)
        return "\n".join(lines)

    def text_with_footnotes(self) -> str:
        notes = self.footnotes()
        return f"{self.text}\n\n{notes}" if notes else self.text

    def cache_entry(self) -> dict[str, Any]:
        """What the answer cache keeps of it (see :func:`cached_answer`)."""
        return {
            "text": self.text,
            "language": self.language,
            "model": self.model,
            "prompt_hash": self.prompt_hash,
            "sources": [source.as_dict() for source in self.sources],
        }

    def as_dict(self) -> dict[str, Any]:
        return {
            "answer": self.text,
            "answered": self.answered,
            "language": self.language,
            "use_case": self.use_case,
            "model": self.model,
            "trace_id": self.trace_id,
            "prompt_hash": self.prompt_hash,
            "sources": [source.as_dict() for source in self.sources],
            "groundedness": self.groundedness.as_dict() if self.groundedness else None,
            "cached": self.cached,
            "warnings": self.warnings,
        }


def cached_answer(response: dict[str, Any], question: str, use_case: str) -> Answer:
    """An answer as :func:`Answer.cache_entry` stored it, for a cache hit."""
    from leitstand.rag.assembly import Passage

    sources = []
    for data in response.get("sources") or []:
        fields = {name: data[name] for name in _HIT_FIELDS}
        hit: Hit = (
            Passage(**fields, chunk_ids=tuple(data["chunk_ids"]), tokens=int(data["tokens"]))
            if "chunk_ids" in data
            else Hit(**fields)
        )
        sources.append(SourceRef(int(data["number"]), hit))
    return Answer(
        text=str(response["text"]),
        sources=sources,
        question=question,
        language=str(response["language"]),
        use_case=use_case,
        model=str(response["model"]),
        prompt_hash=response.get("prompt_hash"),
    )


_HIT_FIELDS = (
    "chunk_id",
    "document_id",
    "score",
    "text",
    "heading",
    "start_char",
    "end_char",
    "page_start",
    "page_end",
    "language",
    "title",
    "path",
    "uri",
    "source",
)


def cited_numbers(text: str) -> list[int]:
    """The source numbers cited in a text, in order of first appearance."""
    seen: dict[int, None] = {}
    for match in _MARKER.finditer(text):
        seen.setdefault(int(match.group(1)), None)
    return list(seen)
