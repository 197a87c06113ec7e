"""The embedder contract: texts in, L2-normalised float32 vectors out.

One required method, :meth:`Embedder.embed`. ``kind`` tells query from document, because
some models want a prefix for each ("query: " / "passage: " for E5). Embedders are
registered through the ``register_embedders`` hook.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import ClassVar, Literal

import numpy as np
import numpy.typing as npt

Kind = Literal["query", "document"]
Vectors = npt.NDArray[np.float32]


class Embedder(ABC):
    """Turns texts into vectors of one fixed dimension."""

    batch_size: ClassVar[int] = 32
    """Texts per call that suit the model; callers batch accordingly."""

    name: str
    """Identifies the model and its settings; vectors from different names never mix."""
    dimensions: int

    @abstractmethod
    def embed(self, texts: Sequence[str], kind: Kind) -> Vectors:
        """One L2-normalised float32 row per text, in order."""

    def close(self) -> None:  # noqa: B027 - optional hook; most embedders hold nothing
        """Release connections or memory."""
