"""Built-in chat model providers, registered the way a third-party plugin registers its own."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from leitstand.plugins.hookspecs import hookimpl

if TYPE_CHECKING:
    from leitstand.config.settings import ModelSettings
    from leitstand.llm.base import ChatModel


def _openai(name: str, settings: ModelSettings) -> ChatModel:
    # Imported when a model is built: the HTTP client costs start-up time.
    from leitstand.llm.openai_compatible import OpenAICompatibleChat

    return OpenAICompatibleChat(name, settings)


@hookimpl
def register_chat_models(register: Callable[[str, Callable[..., Any]], None]) -> None:
    register("openai", _openai)
    register("azure", _openai)  # Azure OpenAI: deployment URL, api-version, api-key header
