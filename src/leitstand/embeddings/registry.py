"""Which embedder serves which ``embeddings.provider``, and what ``auto`` means.

Factories come from the ``register_embedders`` hook (the built-ins in
``embeddings/plugin.py`` register the same way as a third-party plugin). Nothing here
imports torch or an HTTP client; the embedder classes are imported when one is built.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from leitstand.config.settings import EmbeddingSettings
from leitstand.errors import ConfigError
from leitstand.plugins import load_plugins

if TYPE_CHECKING:
    from leitstand.embeddings.base import Embedder

log = logging.getLogger(__name__)

EmbedderFactory = Callable[[EmbeddingSettings], "Embedder"]

# Settings that decide the vectors a model produces; stored with a model so that its
# embedder can be built again after the configuration moved on to another model.
STORED_FIELDS = (
    "provider",
    "model",
    "base_url",
    "api_key",
    "api_version",
    "query_prefix",
    "document_prefix",
)


def embedder_name(provider: str, settings: EmbeddingSettings) -> str:
    """The name vectors are stored under: provider and model, plus a tag of the document
    prefix when one is set (a prefix changes every vector)."""
    name = f"{provider}/{settings.model}"
    if settings.document_prefix:
        tag = hashlib.sha256(settings.document_prefix.encode()).hexdigest()[:8]
        name += f"#{tag}"
    return name


def embedder_factories() -> dict[str, EmbedderFactory]:
    """Provider name -> factory; the first registered for a provider wins (plugins first)."""
    factories: dict[str, EmbedderFactory] = {}

    def register(provider: str, factory: EmbedderFactory) -> None:
        factories.setdefault(provider, factory)

    load_plugins().hook.register_embedders(register=register)
    return factories


def resolve_provider(settings: EmbeddingSettings) -> str:
    """The provider in effect: ``auto`` becomes ``local`` when sentence-transformers and the
    model are installed, else ``none`` (checked without importing torch)."""
    if settings.provider != "auto":
        return settings.provider
    from leitstand.embeddings.local_models import local_model_available

    return "local" if local_model_available(settings.model) else "none"


def embedder_from_settings(settings: EmbeddingSettings) -> Embedder | None:
    """The configured embedder, or None when dense retrieval is off."""
    provider = resolve_provider(settings)
    if provider == "none":
        return None
    factories = embedder_factories()
    factory = factories.get(provider)
    if factory is None:
        known = ", ".join(sorted(factories)) or "none"
        raise ConfigError(
            f"embeddings.provider = {provider!r} is not a known provider; known: {known}",
            hint="install the plugin that provides it, or use 'local' or 'openai'",
        )
    from leitstand.embeddings.base import Embedder

    embedder = factory(settings.model_copy(update={"provider": provider}))
    if not isinstance(embedder, Embedder):
        raise TypeError(
            f"the factory of provider {provider!r} returned {type(embedder).__name__}, "
            "not an Embedder"
        )
    return embedder


def stored_settings(settings: EmbeddingSettings) -> dict[str, Any]:
    """What is kept with a model in ``embedding_models.settings`` (secrets by reference only)."""
    data = settings.model_dump(mode="json", by_alias=True, include=set(STORED_FIELDS))
    data["provider"] = resolve_provider(settings)
    return data


def embedder_from_stored(data: dict[str, Any], current: EmbeddingSettings) -> Embedder | None:
    """An embedder for a model recorded earlier, with today's batching and timeouts; None
    (and a log line) when it cannot be built any more."""
    try:
        settings = EmbeddingSettings.model_validate(
            {
                **current.model_dump(mode="json", by_alias=True),
                **{key: data[key] for key in STORED_FIELDS if key in data},
            }
        )
        return embedder_from_settings(settings)
    except Exception as exc:
        log.warning("the earlier embedding model %s cannot be loaded: %s", data.get("model"), exc)
        return None
