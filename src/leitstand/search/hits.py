"""A retrieved passage with everything a citation needs."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any


@dataclass(frozen=True)
class Hit:
    """A retrieved chunk with everything a citation needs."""

    chunk_id: int
    document_id: int
    score: float
    text: str
    heading: str
    start_char: int
    end_char: int
    page_start: int | None
    page_end: int | None
    language: str
    title: str
    path: str
    uri: str
    source: str

    def location(self) -> str:
        """Where the passage is: "page 3", "pages 3–4" or "characters 120–980"."""
        if self.page_start is not None:
            if self.page_end is not None and self.page_end != self.page_start:
                return f"pages {self.page_start}–{self.page_end}"
            return f"page {self.page_start}"
        return f"characters {self.start_char}–{self.end_char}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "chunk_id": self.chunk_id,
            "document_id": self.document_id,
            "score": round(self.score, 4),
            "source": self.source,
            "path": self.path,
            "title": self.title,
            "uri": self.uri,
            "heading": self.heading,
            "page_start": self.page_start,
            "page_end": self.page_end,
            "start_char": self.start_char,
            "end_char": self.end_char,
            "language": self.language,
            "text": self.text,
        }

    def with_score(self, score: float) -> Hit:
        return replace(self, score=score)
