"""leitstand: the control room for a company's production LLM applications."""

from leitstand._version import __version__
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
from leitstand.search.retriever import Hit, SearchResult

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
