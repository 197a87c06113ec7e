"""Built-in embedders, registered the way a third-party plugin registers its own."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from leitstand.plugins.hookspecs import hookimpl

if TYPE_CHECKING:
    from leitstand.config.settings import EmbeddingSettings
    from leitstand.embeddings.base import Embedder


def _local(settings: EmbeddingSettings) -> Embedder:
    # Imported when an embedder is built; torch itself loads on the first embed call.
    from leitstand.embeddings.local import LocalEmbedder

    return LocalEmbedder(settings)


def _openai(settings: EmbeddingSettings) -> Embedder:
    from leitstand.embeddings.openai_compatible import OpenAICompatibleEmbedder

    return OpenAICompatibleEmbedder(settings)


@hookimpl
def register_embedders(register: Callable[[str, Callable[..., Any]], None]) -> None:
    register("local", _local)
    register("openai", _openai)
