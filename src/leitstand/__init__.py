"""leitstand: the control room for a company's production LLM applications.

The public names are imported lazily, so ``import leitstand.testing`` or the CLI's
``--help`` do not pay for the database and server stack.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from leitstand._version import __version__

if TYPE_CHECKING:
    from leitstand.config import Config, Settings, load_config
    from leitstand.core import Leitstand, SourceInfo
    from leitstand.errors import (
        ConfigError,
        IngestFileError,
        LeitstandError,
        ModelError,
        NotFoundError,
        StorageError,
        UnknownUseCaseError,
    )
    from leitstand.ingest.pipeline import IngestProgress, IngestReport, TextRecord
    from leitstand.llm.base import ChatMessage, ChatOptions
    from leitstand.rag.answer import Answer, SourceRef
    from leitstand.rag.pipeline import StreamEvent
    from leitstand.search.hits import Hit
    from leitstand.search.retriever import SearchResult

_EXPORTS: dict[str, str] = {
    "Answer": "leitstand.rag.answer",
    "ChatMessage": "leitstand.llm.base",
    "ChatOptions": "leitstand.llm.base",
    "Config": "leitstand.config",
    "ConfigError": "leitstand.errors",
    "Hit": "leitstand.search.hits",
    "IngestFileError": "leitstand.errors",
    "IngestProgress": "leitstand.ingest.pipeline",
    "IngestReport": "leitstand.ingest.pipeline",
    "Leitstand": "leitstand.core",
    "LeitstandError": "leitstand.errors",
    "ModelError": "leitstand.errors",
    "NotFoundError": "leitstand.errors",
    "SearchResult": "leitstand.search.retriever",
    "Settings": "leitstand.config",
    "SourceInfo": "leitstand.core",
    "SourceRef": "leitstand.rag.answer",
    "StorageError": "leitstand.errors",
    "StreamEvent": "leitstand.rag.pipeline",
    "TextRecord": "leitstand.ingest.pipeline",
    "UnknownUseCaseError": "leitstand.errors",
    "load_config": "leitstand.config",
}

__all__ = [
    "Answer",
    "ChatMessage",
    "ChatOptions",
    "Config",
    "ConfigError",
    "Hit",
    "IngestFileError",
    "IngestProgress",
    "IngestReport",
    "Leitstand",
    "LeitstandError",
    "ModelError",
    "NotFoundError",
    "SearchResult",
    "Settings",
    "SourceInfo",
    "SourceRef",
    "StorageError",
    "StreamEvent",
    "TextRecord",
    "UnknownUseCaseError",
    "__version__",
    "load_config",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'leitstand' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
