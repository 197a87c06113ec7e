"""The loader contract: bytes of one file in, blocks of text out.

A loader is small: it names the file types it reads and turns the bytes into
:class:`Block` objects (headings, paragraphs, list items, table rows, code) with page numbers
where the format has pages. Normalisation, chunking and indexing happen afterwards, the same
way for every format. Loaders are registered through the ``register_loaders`` hook.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

from leitstand.errors import IngestFileError

BlockKind = Literal["heading", "paragraph", "list_item", "table_row", "code", "quote"]


@dataclass
class Block:
    """A run of text with one role in the document."""

    text: str
    kind: BlockKind = "paragraph"
    level: int = 0
    """Heading level (1 = top) for headings; nesting depth for list items."""
    page: int | None = None
    """1-based page number for paged formats (PDF, DOCX with page breaks)."""


@dataclass
class LoadedDocument:
    blocks: list[Block]
    title: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    page_count: int | None = None


class LoadError(IngestFileError):
    """Raised by a loader when a file cannot be read; the message says why and what to do."""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__("", message, hint=hint)


@dataclass
class LoadContext:
    """What a loader may need besides the bytes: the name, limits and a place for warnings."""

    path: str
    max_pages: int = 2000
    timeout_s: float = 60.0
    warnings: list[str] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)

    def check_deadline(self) -> None:
        """Loaders call this between pages or sections; raises once the time limit is over."""
        if time.monotonic() - self.started > self.timeout_s:
            raise LoadError(
                f"parsing took longer than the limit of {self.timeout_s:g} s",
                hint="raise ingest.timeout_s in leitstand.yaml if the file is legitimate",
            )

    def check_pages(self, pages: int) -> None:
        if pages > self.max_pages:
            raise LoadError(
                f"has {pages} pages, more than the limit of {self.max_pages}",
                hint="split the file or raise ingest.max_pages in leitstand.yaml",
            )

    def warn(self, message: str) -> None:
        self.warnings.append(message)


class Loader(ABC):
    """Reads one family of file formats."""

    name: ClassVar[str]
    """Short name stored with each document, e.g. ``pdf``."""
    extensions: ClassVar[tuple[str, ...]]
    """Lower-case file name endings including the dot, e.g. ``(".md", ".markdown")``."""

    @abstractmethod
    def load(self, data: bytes, context: LoadContext) -> LoadedDocument:
        """Turn the file's bytes into blocks, or raise :class:`LoadError`."""
