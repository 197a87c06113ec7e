"""The built-in loaders, registered the same way a third-party plugin registers its own."""

from __future__ import annotations

from collections.abc import Callable

from leitstand.ingest.loaders.base import Loader
from leitstand.ingest.loaders.markdown import MarkdownLoader
from leitstand.ingest.loaders.text import TextLoader
from leitstand.plugins.hookspecs import hookimpl


@hookimpl
def register_loaders(register: Callable[[Loader], None]) -> None:
    register(TextLoader())
    register(MarkdownLoader())
