"""Extension points: pluggy hooks of one shape, ``register_<things>(register)``.

The built-ins are plugins themselves (``DEFAULT_PLUGINS``). Third-party plugins are found
through the ``leitstand`` entry-point group. Nothing is loaded at import time; call
:func:`load_plugins`. ``LEITSTAND_PLUGINS`` (comma-separated names) limits which
third-party plugins load; ``LEITSTAND_PLUGINS=`` (empty) loads only the built-ins.
"""

from __future__ import annotations

import importlib
import os
import threading
from importlib.metadata import entry_points

import pluggy

from leitstand.plugins.hookspecs import PROJECT, LeitstandSpec, hookimpl

DEFAULT_PLUGINS: tuple[str, ...] = (
    "leitstand.ingest.loaders.plugin",
    "leitstand.llm.plugin",
    "leitstand.embeddings.plugin",
)
PLUGINS_ENV = "LEITSTAND_PLUGINS"

_lock = threading.Lock()
_loaded: dict[str, pluggy.PluginManager] = {}


def load_plugins() -> pluggy.PluginManager:
    """The plugin manager with built-ins and allowed third-party plugins registered (once)."""
    with _lock:
        if PROJECT not in _loaded:
            manager = pluggy.PluginManager(PROJECT)
            manager.add_hookspecs(LeitstandSpec)
            for name in DEFAULT_PLUGINS:
                manager.register(importlib.import_module(name), name=name)
            allowed = os.environ.get(PLUGINS_ENV)
            names = (
                None if allowed is None else {n.strip() for n in allowed.split(",") if n.strip()}
            )
            for entry in entry_points(group=PROJECT):
                if names is None or entry.name in names:
                    manager.register(entry.load(), name=entry.name)
            _loaded[PROJECT] = manager
        return _loaded[PROJECT]


__all__ = ["DEFAULT_PLUGINS", "hookimpl", "load_plugins"]
