"""Which chat model class serves which ``models.<name>.provider``."""

from __future__ import annotations

from collections.abc import Callable

from leitstand.config.settings import ModelSettings
from leitstand.errors import ConfigError
from leitstand.llm.base import ChatModel
from leitstand.plugins import load_plugins

ChatModelFactory = Callable[[str, ModelSettings], ChatModel]
"""Makes the chat model called ``name`` (in leitstand.yaml) from its settings."""


def chat_model_factories() -> dict[str, ChatModelFactory]:
    """Provider name -> factory, from every loaded plugin.

    Plugins are called before the built-ins and the first factory registered for a provider
    wins, so a plugin can replace a built-in provider.
    """
    factories: dict[str, ChatModelFactory] = {}

    def register(provider: str, factory: ChatModelFactory) -> None:
        factories.setdefault(provider, factory)

    load_plugins().hook.register_chat_models(register=register)
    return factories


def chat_model_from_settings(name: str, settings: ModelSettings) -> ChatModel:
    """The chat model configured as ``models.<name>``."""
    factories = chat_model_factories()
    factory = factories.get(settings.provider)
    if factory is None:
        known = ", ".join(sorted(factories)) or "none"
        raise ConfigError(
            f"models.{name}.provider = {settings.provider!r} is not a known provider; "
            f"known: {known}",
            hint="install the plugin that provides it, or use 'openai' for any "
            "OpenAI-compatible API",
        )
    model = factory(name, settings)
    if not isinstance(model, ChatModel):
        raise TypeError(
            f"the factory of provider {settings.provider!r} returned "
            f"{type(model).__name__}, not a ChatModel"
        )
    return model
