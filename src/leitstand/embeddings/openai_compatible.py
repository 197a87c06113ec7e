"""Embeddings from any OpenAI-compatible ``/v1/embeddings`` endpoint.

OpenAI, Ollama, vLLM, Text Embeddings Inference and gateways all answer
``POST {base_url}/embeddings``; Azure OpenAI too, with its deployment URL as ``base_url``,
``?api-version=`` (``embeddings.api_version``) and the key in an ``api-key`` header.
Texts go in batches of ``embeddings.batch_size``; 429, 5xx, connection errors and timeouts
are retried with exponential backoff (honouring ``Retry-After``); every other failure
becomes a :class:`ModelError` naming the setting to change. Vectors are L2-normalised here,
whatever the endpoint does.
"""

from __future__ import annotations

import base64
import logging
import random
import time
from collections.abc import Sequence
from typing import Any, ClassVar

import httpx
import numpy as np

from leitstand._version import __version__
from leitstand.config.settings import EmbeddingSettings
from leitstand.embeddings.base import Embedder, Kind, Vectors
from leitstand.errors import ConfigError, ModelError, SecretNotFoundError
from leitstand.llm.openai_compatible import RETRY_STATUSES, provider_message

log = logging.getLogger(__name__)

_RETRY_ERRORS = (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError)
_KEY_SETTING = "embeddings.api_key"


class OpenAICompatibleEmbedder(Embedder):
    """An embedding model behind any OpenAI-compatible ``/embeddings`` endpoint."""

    batch_size: ClassVar[int] = 64

    def __init__(
        self,
        settings: EmbeddingSettings,
        *,
        name: str | None = None,
        backoff_base_s: float = 0.5,
        backoff_max_s: float = 8.0,
        retry_after_max_s: float = 30.0,
    ) -> None:
        from leitstand.embeddings.registry import embedder_name

        base_url = (settings.base_url or "").rstrip("/")
        if not base_url.startswith(("http://", "https://")):
            raise ConfigError(
                "embeddings.provider = openai needs embeddings.base_url"
                + (f" (got {settings.base_url!r})" if settings.base_url else ""),
                hint="set embeddings.base_url to the endpoint's API root, "
                "e.g. http://localhost:11434/v1",
            )
        self.settings = settings
        self.base_url = base_url
        self.model_id = settings.model
        self.name = name or embedder_name("openai", settings)
        self.backoff_base_s = backoff_base_s
        self.backoff_max_s = backoff_max_s
        self.retry_after_max_s = retry_after_max_s
        self._dimensions: int | None = None
        self._api_key: str | None = None
        self._client = httpx.Client(
            timeout=httpx.Timeout(settings.timeout_s),
            headers={"user-agent": f"leitstand/{__version__}"},
        )

    def __repr__(self) -> str:
        return f"OpenAICompatibleEmbedder(name={self.name!r}, base_url={self.base_url!r})"

    @property
    def dimensions(self) -> int:
        """The vector size; asked of the endpoint with one short text when not yet known."""
        if self._dimensions is None:
            self._dimensions = int(self._request(["dimensions"]).shape[1])
        return self._dimensions

    @dimensions.setter
    def dimensions(self, value: int) -> None:
        self._dimensions = value

    def embed(self, texts: Sequence[str], kind: Kind) -> Vectors:
        prefix = self.settings.query_prefix if kind == "query" else self.settings.document_prefix
        inputs = [prefix + text for text in texts]
        size = self.settings.batch_size
        parts = [
            self._checked(self._request(inputs[i : i + size])) for i in range(0, len(inputs), size)
        ]
        if not parts:
            return np.zeros((0, self._dimensions or 0), dtype=np.float32)
        return np.vstack(parts)

    def _checked(self, vectors: Vectors) -> Vectors:
        """One batch's vectors, checked against the size of the first (each batch, so that
        a size change between batches gets this message rather than numpy's)."""
        if self._dimensions is None:
            self._dimensions = int(vectors.shape[1])
        elif vectors.shape[1] != self._dimensions:
            raise ModelError(
                f"embeddings.model {self.model_id!r} at {self.base_url} returned "
                f"{vectors.shape[1]}-dimensional vectors, but {self.name!r} has "
                f"{self._dimensions} dimensions",
                hint="a different model answers under this name: give embeddings.model the "
                f"right name, or remove the old vectors with `leitstand embed drop {self.name}`",
            )
        return vectors

    def close(self) -> None:
        self._client.close()

    # -- requests -------------------------------------------------------------------------

    def _request(self, texts: list[str]) -> Vectors:
        body = {"model": self.model_id, "input": texts, "encoding_format": "float"}
        response = self._send(body)
        try:
            data = response.json()["data"]
            rows = sorted(data, key=lambda item: int(item.get("index", 0)))
            vectors = np.array([_decode(row["embedding"]) for row in rows], dtype=np.float32)
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise ModelError(
                f"{self.base_url} did not answer like an OpenAI-compatible embeddings API "
                f"(HTTP {response.status_code})",
                hint="check embeddings.base_url; it usually ends in /v1",
            ) from exc
        if vectors.ndim != 2 or len(vectors) != len(texts) or vectors.shape[1] == 0:
            raise ModelError(
                f"{self.base_url} returned {len(vectors)} embeddings for {len(texts)} texts",
                hint="check that embeddings.model names an embedding model",
            )
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return (vectors / np.where(norms > 0, norms, 1.0)).astype(np.float32)

    def _auth(self) -> dict[str, str]:
        ref = self.settings.api_key
        if ref is None:
            return {}
        if self._api_key is None:
            try:
                self._api_key = ref.resolve()
            except SecretNotFoundError as exc:
                raise SecretNotFoundError(f"{_KEY_SETTING}: {exc.message}", hint=exc.hint) from exc
        if self.settings.api_version:  # Azure OpenAI
            return {"api-key": self._api_key}
        return {"authorization": f"Bearer {self._api_key}"}

    def _send(self, body: dict[str, Any]) -> httpx.Response:
        url = f"{self.base_url}/embeddings"
        params = {"api-version": self.settings.api_version} if self.settings.api_version else None
        retries = 0
        while True:
            try:
                response = self._client.post(url, json=body, headers=self._auth(), params=params)
            except _RETRY_ERRORS as exc:
                if retries >= self.settings.max_retries:
                    raise self._transport_error(exc, retries) from exc
                retries += 1
                self._pause(retries, None, type(exc).__name__)
                continue
            except httpx.HTTPError as exc:
                raise ModelError(
                    f"cannot send a request to {self.base_url}: {exc}",
                    hint="check embeddings.base_url",
                ) from exc
            if response.is_success:
                return response
            if response.status_code in RETRY_STATUSES and retries < self.settings.max_retries:
                retries += 1
                self._pause(retries, self._retry_after(response), f"HTTP {response.status_code}")
                continue
            raise self._status_error(response, retries)

    def _pause(self, retry: int, retry_after: float | None, reason: str) -> None:
        delay = retry_after
        if delay is None:
            delay = min(self.backoff_max_s, self.backoff_base_s * 2 ** (retry - 1))
            delay *= random.uniform(0.5, 1.0)
        log.warning(
            "embeddings %r: %s; retry %d of %d in %.2f s",
            self.name,
            reason,
            retry,
            self.settings.max_retries,
            delay,
        )
        time.sleep(delay)

    def _retry_after(self, response: httpx.Response) -> float | None:
        value = response.headers.get("retry-after")
        try:
            seconds = float(value) if value is not None else None
        except ValueError:
            return None
        return None if seconds is None else min(max(seconds, 0.0), self.retry_after_max_s)

    # -- errors ---------------------------------------------------------------------------

    def _status_error(self, response: httpx.Response, retries: int) -> ModelError:
        status = response.status_code
        detail = provider_message(response)
        if self._api_key:
            detail = detail.replace(self._api_key, "***")
        said = f": {detail}" if detail else ""
        after = f" (after {retries} retries)" if retries else ""
        if status in (401, 403):
            ref = self.settings.api_key
            return ModelError(
                f"the embedding endpoint {self.base_url} rejected the API key "
                f"(HTTP {status}{said})",
                status_code=status,
                hint=f'set {_KEY_SETTING}, e.g. to {{"$env": "OPENAI_API_KEY"}}, and export '
                "that variable"
                if ref is None
                else f"check the key that {_KEY_SETTING} points at ({ref.describe()})",
            )
        if status == 404:
            return ModelError(
                f"embedding model {self.model_id!r} not found at {self.base_url}{said}",
                status_code=status,
                hint="check embeddings.model and embeddings.base_url (usually ending in /v1)",
            )
        if status == 429:
            return ModelError(
                f"rate limited: {self.base_url} answered HTTP 429{after}{said}",
                status_code=status,
                hint="lower embeddings.batch_size or raise embeddings.max_retries",
            )
        if status < 500:
            return ModelError(
                f"the embedding endpoint rejected the request (HTTP {status}){said}",
                status_code=status,
                hint="check embeddings.model names an embedding model",
            )
        return ModelError(
            f"{self.base_url} answered HTTP {status}{after}{said}",
            status_code=status,
            hint="the embedding server has a problem; try again later",
        )

    def _transport_error(self, exc: httpx.HTTPError, retries: int) -> ModelError:
        after = f" (after {retries} retries)" if retries else ""
        if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout):
            return ModelError(
                f"cannot reach the embedding endpoint {self.base_url}: is the server "
                f"running?{after}",
                hint=f"check embeddings.base_url ({type(exc).__name__}: {exc})",
            )
        if isinstance(exc, httpx.TimeoutException):
            return ModelError(
                f"the embedding endpoint {self.base_url} gave no answer within "
                f"{self.settings.timeout_s:g} s{after}",
                hint="raise embeddings.timeout_s or lower embeddings.batch_size",
            )
        return ModelError(
            f"the connection to {self.base_url} broke{after}: {type(exc).__name__}: {exc}",
            hint="try again; if it persists, check the embedding server's log",
        )


def _decode(value: Any) -> Any:
    """A vector as a list of floats, or base64 of little-endian float32 (encoding_format)."""
    if isinstance(value, str):
        return np.frombuffer(base64.b64decode(value), dtype="<f4")
    return value
