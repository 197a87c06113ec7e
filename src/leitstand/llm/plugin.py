"""Built-in chat model providers, registered the way a third-party plugin registers its own."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from leitstand.llm.openai_compatible import OpenAICompatibleChat
from leitstand.plugins.hookspecs import hookimpl


@hookimpl
def register_chat_models(register: Callable[[str, Callable[..., Any]], None]) -> None:
    register("openai", OpenAICompatibleChat)
