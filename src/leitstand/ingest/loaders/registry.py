"""Which loader reads which file."""

from __future__ import annotations

from pathlib import PurePath

from leitstand.ingest.loaders.base import Loader
from leitstand.plugins import load_plugins


class LoaderRegistry:
    def __init__(self, loaders: list[Loader] | None = None) -> None:
        self._by_extension: dict[str, Loader] = {}
        if loaders is None:
            loaders = []
            load_plugins().hook.register_loaders(register=loaders.append)
        for loader in loaders:
            for extension in loader.extensions:
                self._by_extension.setdefault(extension.lower(), loader)

    def for_path(self, path: str | PurePath) -> Loader | None:
        name = PurePath(path).name.lower()
        for extension in sorted(self._by_extension, key=len, reverse=True):
            if name.endswith(extension):
                return self._by_extension[extension]
        return None

    @property
    def extensions(self) -> list[str]:
        return sorted(self._by_extension)
