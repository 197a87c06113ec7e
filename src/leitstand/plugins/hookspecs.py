"""The hooks a plugin can implement. Each receives a ``register`` callable."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from leitstand.ingest.loaders.base import Loader

PROJECT = "leitstand"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


class LeitstandSpec:
    @hookspec
    def register_loaders(self, register: Callable[[Loader], None]) -> None:
        """Register file loaders: ``register(MyLoader())``. Plugins are called before the
        built-ins and the first loader registered for an extension wins, so a plugin can
        replace a built-in loader."""

    @hookspec
    def register_embedders(self, register: Callable[[str, Callable[..., Any]], None]) -> None:
        """Register embedder factories by provider name: ``register("local", factory)``.
        The factory receives the ``EmbeddingSettings`` and returns an ``Embedder``."""

    @hookspec
    def register_chat_models(self, register: Callable[[str, Callable[..., Any]], None]) -> None:
        """Register chat model factories by provider name: ``register("openai", factory)``.
        The factory receives ``(name, settings)`` — the model's name in leitstand.yaml and its
        ``ModelSettings`` — and returns a ``ChatModel``."""
