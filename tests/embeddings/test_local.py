"""LocalEmbedder with the real packaged all-MiniLM-L6-v2 (loaded once for this module), and
how ``auto`` and a missing model resolve."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from leitstand.config.settings import EmbeddingSettings
from leitstand.embeddings.local import LocalEmbedder
from leitstand.errors import ConfigError

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def minilm() -> Iterator[LocalEmbedder]:
    embedder = LocalEmbedder(EmbeddingSettings(provider="local"))
    yield embedder
    embedder.close()


@pytest.mark.slow  # the first embed loads torch and the model (seconds)
def test_minilm_gives_384_normalised_dimensions(minilm: LocalEmbedder) -> None:
    assert minilm.name == "local/all-MiniLM-L6-v2"
    assert minilm.dimensions == 384  # read from the model's files, before torch loads
    vectors = minilm.embed(["The cat sleeps.", "Die Katze schläft.", "Zahlen"], "document")
    assert vectors.dtype == np.float32
    assert vectors.shape == (3, 384)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert minilm.embed([], "query").shape == (0, 384)


@pytest.mark.slow
def test_a_paraphrase_across_languages_is_closer_than_an_unrelated_text(
    minilm: LocalEmbedder,
) -> None:
    german, english, unrelated = minilm.embed(
        [
            "Die Verpflegungspauschale für Dienstreisen beträgt 28 Euro pro Tag.",
            "The meal allowance for business trips is 28 euros per day.",
            "The pump moves cooling water through the turbine housing.",
        ],
        "document",
    )
    assert float(german @ english) > float(german @ unrelated) + 0.1
    query = minilm.embed(["How much is the daily meal allowance on a business trip?"], "query")
    assert float(query[0] @ english) > float(query[0] @ unrelated)


@pytest.mark.usefixtures("dense_by_default")
def test_auto_resolves_to_the_installed_local_model(open_leitstand: Any) -> None:
    ls = open_leitstand()
    assert ls.embeddings is not None
    assert isinstance(ls.embeddings.embedder, LocalEmbedder)
    assert ls.embeddings.embedder.name == "local/all-MiniLM-L6-v2"
    assert ls.retriever.mode == "hybrid"


@pytest.mark.usefixtures("dense_by_default")
def test_auto_without_the_model_is_lexical(open_leitstand: Any) -> None:
    ls = open_leitstand(embeddings={"model": "no-such-model"})
    assert ls.embeddings is None
    assert ls.retriever.mode == "lexical"


def test_a_missing_model_names_the_package_to_install(open_leitstand: Any) -> None:
    with pytest.raises(ConfigError) as failed:
        LocalEmbedder(EmbeddingSettings(provider="local", model="acme/German-MiniLM-v9"))
    assert "'acme/German-MiniLM-v9' is neither a model folder nor an installed model" in (
        failed.value.message
    )
    assert failed.value.hint is not None
    assert "pip install gt-german-minilm-v9" in failed.value.hint
    with pytest.raises(ConfigError, match="neither a model folder"):
        open_leitstand(embeddings={"provider": "local", "model": "acme/German-MiniLM-v9"})
