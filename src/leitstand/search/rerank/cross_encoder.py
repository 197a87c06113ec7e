"""Re-ranking with a cross-encoder: a model that reads question and passage together.

The model is a sentence-transformers ``CrossEncoder`` in a local folder, named by
``retrieval.cross_encoder``; nothing is downloaded. Good choices are multilingual re-rankers
such as ``BAAI/bge-reranker-v2-m3`` or ``cross-encoder/mmarco-mMiniLMv2-L12-H384-v1``
(English-only MS MARCO models rank German text poorly). Fetch one once, on a machine that
may, with ``huggingface-cli download <model> --local-dir models/reranker``.

How much re-ranking helps depends entirely on the model: leitstand's tests only prove the
plumbing (scores are used, the order follows them, hits stay citable) with a tiny random
model, which ranks no better than chance. Measure a real model on your golden set with
``leitstand eval tune`` before switching it on.

torch and sentence-transformers are imported on first use (``pip install
'leitstand[local]'``), so configuring a cross-encoder costs nothing at start-up.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from leitstand.config.settings import RetrievalSettings
from leitstand.errors import ConfigError
from leitstand.search.hits import Hit
from leitstand.search.rerank.base import Reranker, RerankQuery

SETTING = "retrieval.cross_encoder"
BATCH_SIZE = 16


def check_model_folder(path: Path) -> Path:
    """The folder, if it looks like a Hugging Face model; else a ConfigError naming the setting."""
    if not path.exists():
        raise ConfigError(
            f"{SETTING} = {str(path)!r} does not exist",
            hint="download a cross-encoder once, e.g. `huggingface-cli download "
            "BAAI/bge-reranker-v2-m3 --local-dir models/reranker`, and point the setting at it",
        )
    if not path.is_dir() or not (path / "config.json").is_file():
        raise ConfigError(
            f"{SETTING} = {str(path)!r} is not a model folder (no config.json in it)",
            hint="point it at the folder that holds config.json, the weights and the tokenizer",
        )
    return path


def cross_encoder_from_settings(
    settings: RetrievalSettings, resolve: Callable[[Path], Path] = Path.resolve
) -> CrossEncoderReranker | None:
    """The configured cross-encoder, or None; a ConfigError when a profile asks for one
    that is not configured. ``resolve`` makes a relative path relative to the config file."""
    wanting = [
        name
        for name, profile in {"retrieval": settings, **settings.collections}.items()
        if profile.reranker == "cross-encoder"
    ]
    if settings.cross_encoder is None:
        if wanting:
            where = (
                "retrieval" if wanting[0] == "retrieval" else f"retrieval.collections.{wanting[0]}"
            )
            raise ConfigError(
                f"{where}.reranker = 'cross-encoder', but {SETTING} is not set",
                hint=f"set {SETTING} to the folder of a local cross-encoder model",
            )
        return None
    return CrossEncoderReranker(resolve(settings.cross_encoder))


class CrossEncoderReranker(Reranker):
    """Scores every (question, passage) pair with a local cross-encoder, best first."""

    name = "cross-encoder"

    def __init__(
        self, path: Path, *, batch_size: int = BATCH_SIZE, device: str | None = None
    ) -> None:
        self.path = check_model_folder(path)
        self.batch_size = batch_size
        self.device = device
        self._model: Any = None
        self._lock = threading.Lock()

    def _loaded(self) -> Any:
        with self._lock:
            if self._model is None:
                try:
                    from sentence_transformers import CrossEncoder
                except ImportError as exc:
                    raise ConfigError(
                        f"{SETTING} needs sentence-transformers, which is not installed",
                        hint="pip install 'leitstand[local]'",
                    ) from exc
                try:
                    self._model = CrossEncoder(
                        str(self.path), device=self.device, local_files_only=True
                    )
                except (OSError, ValueError, KeyError, RuntimeError) as exc:
                    raise ConfigError(
                        f"{SETTING} = {str(self.path)!r} could not be loaded as a "
                        f"cross-encoder ({type(exc).__name__}: {exc})",
                        hint="use a sentence-transformers CrossEncoder or a Hugging Face "
                        "sequence-classification model with its tokenizer",
                    ) from exc
            return self._model

    def rerank(self, query: RerankQuery, hits: list[Hit]) -> list[Hit]:
        if not hits:
            return []
        model = self._loaded()
        pairs = [(query.text, _passage(hit)) for hit in hits]
        scores = model.predict(pairs, batch_size=self.batch_size, show_progress_bar=False)
        values = [float(score) for score in scores]
        order = sorted(range(len(hits)), key=lambda i: (-values[i], i))
        return [hits[i].with_score(values[i]) for i in order]


def _passage(hit: Hit) -> str:
    """What the model reads: the heading path gives a chunk its context."""
    return f"{hit.heading}\n{hit.text}" if hit.heading else hit.text
