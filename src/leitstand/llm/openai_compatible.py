"""One chat client for every OpenAI-compatible endpoint.

OpenAI, Azure-style gateways, Mistral, Ollama, vLLM and LM Studio all answer
``POST {base_url}/chat/completions``; they differ only in base URL, auth and headers, which
come from :class:`~leitstand.config.settings.ModelSettings`. Failures that may pass (429,
500, 502, 503, 504, connection errors, timeouts) are retried with exponential backoff and
jitter, honouring ``Retry-After``; everything else becomes a :class:`ModelError` that says
what to change. The API key is resolved at first use and never appears in a message.
"""

from __future__ import annotations

import email.utils
import logging
import random
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any, ClassVar, Self, TypeVar

import httpx

from leitstand._version import __version__
from leitstand.config.settings import ModelSettings
from leitstand.errors import ModelError, SecretNotFoundError
from leitstand.llm._sse import ChunkReader, ServerSentEvent, StreamError, iter_events, parse_usage
from leitstand.llm.base import ChatDelta, ChatMessage, ChatModel, ChatOptions, ChatResult

_Item = TypeVar("_Item")

log = logging.getLogger(__name__)

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
_RETRY_ERRORS = (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError)


class _Attempts:
    """The retry budget of one call, shared by all the ways a call can fail."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0

    def spend(self) -> bool:
        if self.used >= self.limit:
            return False
        self.used += 1
        return True

    def suffix(self) -> str:
        return f" (after {self.used} retries)" if self.used else ""


class _BrokenStreamError(Exception):
    """A streamed answer stopped before its end."""


class OpenAICompatibleChat(ChatModel):
    """A chat model behind any OpenAI-compatible ``/chat/completions`` endpoint."""

    can_stream: ClassVar[bool] = True

    def __init__(
        self,
        name: str,
        settings: ModelSettings,
        *,
        backoff_base_s: float = 0.5,
        backoff_max_s: float = 8.0,
        retry_after_max_s: float = 30.0,
    ) -> None:
        self.name = name
        self.model_id = settings.model
        self.settings = settings
        self.backoff_base_s = backoff_base_s
        self.backoff_max_s = backoff_max_s
        self.retry_after_max_s = retry_after_max_s
        self._url = f"{settings.base_url}/chat/completions"
        self._azure = settings.provider == "azure"
        if self._azure:  # the deployment is in the URL; the version is a query parameter
            self._url += f"?api-version={settings.api_version}"
        self._api_key: str | None = None
        self._client = httpx.Client(
            timeout=httpx.Timeout(settings.timeout_s),
            headers={"user-agent": f"leitstand/{__version__}", **settings.headers},
        )

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(name={self.name!r}, model={self.model_id!r}, "
            f"base_url={self.settings.base_url!r})"
        )

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self._client.close()

    def complete(
        self, messages: Sequence[ChatMessage], options: ChatOptions | None = None
    ) -> ChatResult:
        attempts = _Attempts(self.settings.max_retries)
        response = self._send(self._body(messages, options, stream=False), attempts, stream=False)
        return self._result(response)

    def stream(
        self, messages: Sequence[ChatMessage], options: ChatOptions | None = None
    ) -> Iterator[ChatDelta]:
        body = self._body(messages, options, stream=True)
        attempts = _Attempts(self.settings.max_retries)
        while True:
            response = self._send(body, attempts, stream=True)
            reader = ChunkReader()
            try:
                yield from self._read_stream(response, reader)
                return
            except _BrokenStreamError as exc:
                if reader.chars or not attempts.spend():
                    raise ModelError(
                        f"the answer of model '{self.name}' broke off after {reader.chars} "
                        f"characters{attempts.suffix()}: {exc}",
                        hint="try again; if it persists, check the server's log",
                    ) from exc
                self._pause(attempts, None, str(exc))
            finally:
                response.close()

    def forward(self, body: dict[str, Any], *, retries: int | None = None) -> ChatResult:
        attempts = _Attempts(self.settings.max_retries if retries is None else retries)
        payload = {**body, "model": self.model_id, "stream": False}
        payload.pop("stream_options", None)
        return self._result(self._send(payload, attempts, stream=False))

    def forward_stream(
        self, body: dict[str, Any], *, retries: int | None = None
    ) -> Iterator[dict[str, Any]]:
        # Usage is asked for always (costs); the caller drops it when its client did not ask.
        payload = {
            **body,
            "model": self.model_id,
            "stream": True,
            "stream_options": {**(body.get("stream_options") or {}), "include_usage": True},
        }
        attempts = _Attempts(self.settings.max_retries if retries is None else retries)
        while True:
            response = self._send(payload, attempts, stream=True)
            reader = ChunkReader()
            try:
                yield from self._read_chunks(response, reader)
                return
            except _BrokenStreamError as exc:
                if reader.passed_on or not attempts.spend():
                    raise ModelError(
                        f"the answer of model '{self.name}' broke off after {reader.chars} "
                        f"characters{attempts.suffix()}: {exc}",
                        hint="try again; if it persists, check the server's log",
                        partial=reader.passed_on,
                    ) from exc
                self._pause(attempts, None, str(exc))
            finally:
                response.close()

    def _read_chunks(
        self, response: httpx.Response, reader: ChunkReader
    ) -> Iterator[dict[str, Any]]:
        """The provider's chunks as they are; errors as in :meth:`_events`."""

        def take(event: ServerSentEvent) -> dict[str, Any] | None:
            reader.read(event)
            return None if reader.done else reader.chunk

        yield from self._events(response, reader, take)

    # -- requests -------------------------------------------------------------------------

    def _body(
        self, messages: Sequence[ChatMessage], options: ChatOptions | None, *, stream: bool
    ) -> dict[str, Any]:
        opts = options or self.Options()
        body: dict[str, Any] = {"model": self.model_id, "messages": [m.as_dict() for m in messages]}
        defaults = self.settings
        values = {
            "temperature": defaults.temperature if opts.temperature is None else opts.temperature,
            "max_tokens": defaults.max_tokens if opts.max_tokens is None else opts.max_tokens,
            "top_p": opts.top_p,
            "stop": opts.stop,
        }
        body.update({key: value for key, value in values.items() if value is not None})
        if stream:
            body["stream"] = True
            body["stream_options"] = {"include_usage": True}
        return body

    def _auth(self) -> dict[str, str]:
        ref = self.settings.api_key
        if ref is None:
            return {}
        if self._api_key is None:
            try:
                self._api_key = ref.resolve()
            except SecretNotFoundError as exc:
                raise SecretNotFoundError(
                    f"models.{self.name}.api_key: {exc.message}", hint=exc.hint
                ) from exc
        if self._azure:
            return {"api-key": self._api_key}
        return {"authorization": f"Bearer {self._api_key}"}

    def _send(self, body: dict[str, Any], attempts: _Attempts, *, stream: bool) -> httpx.Response:
        """POST the body, retrying what may pass, until a 2xx response (body unread if stream)."""
        while True:
            request = self._client.build_request("POST", self._url, json=body, headers=self._auth())
            try:
                response = self._client.send(request, stream=stream)
            except _RETRY_ERRORS as exc:
                if not attempts.spend():
                    raise self._transport_error(exc, attempts) from exc
                self._pause(attempts, None, _describe(exc))
                continue
            except httpx.HTTPError as exc:
                raise ModelError(
                    f"cannot send a request to {self.settings.base_url}: {_describe(exc)}",
                    hint=f"check models.{self.name}.base_url",
                ) from exc
            if response.is_success:
                return response
            if stream:
                _read_quietly(response)
            if response.status_code in RETRY_STATUSES and attempts.spend():
                retry_after = self._retry_after(response)
                self._pause(attempts, retry_after, f"HTTP {response.status_code}")
                continue
            raise self._status_error(response, attempts)

    def _pause(self, attempts: _Attempts, retry_after: float | None, reason: str) -> None:
        if retry_after is None:
            delay = min(self.backoff_max_s, self.backoff_base_s * 2 ** (attempts.used - 1))
            delay *= random.uniform(0.5, 1.0)
        else:
            delay = retry_after
        log.warning(
            "model %r: %s; retry %d of %d in %.2f s",
            self.name,
            reason,
            attempts.used,
            attempts.limit,
            delay,
        )
        time.sleep(delay)

    def _retry_after(self, response: httpx.Response) -> float | None:
        """The wait the server asked for (``Retry-After`` seconds or date), capped."""
        seconds: float | None = None
        value = response.headers.get("retry-after-ms")
        if value is not None:
            seconds = _float(value)
            seconds = None if seconds is None else seconds / 1000
        value = response.headers.get("retry-after")
        if seconds is None and value is not None:
            seconds = _float(value)
            if seconds is None:
                try:
                    seconds = email.utils.parsedate_to_datetime(value).timestamp() - time.time()
                except (TypeError, ValueError):
                    return None
        return None if seconds is None else min(max(seconds, 0.0), self.retry_after_max_s)

    # -- answers --------------------------------------------------------------------------

    def _result(self, response: httpx.Response) -> ChatResult:
        try:
            data = response.json()
        except ValueError:
            data = None
        choices = data.get("choices") if isinstance(data, dict) else None
        if not isinstance(data, dict) or not choices or not isinstance(choices[0], dict):
            raise ModelError(
                f"{self.settings.base_url} did not answer like an OpenAI-compatible API "
                f"(HTTP {response.status_code}, {response.headers.get('content-type', 'no type')})",
                status_code=response.status_code,
                hint=f"check models.{self.name}.base_url; it usually ends in /v1",
            )
        choice = choices[0]
        message = choice.get("message")
        content = message.get("content") if isinstance(message, dict) else None
        finish_reason = choice.get("finish_reason")
        return ChatResult(
            content=content if isinstance(content, str) else "",
            model=str(data.get("model") or self.model_id),
            usage=parse_usage(data.get("usage")),
            finish_reason=str(finish_reason) if finish_reason else None,
            raw=data,
        )

    def _read_stream(self, response: httpx.Response, reader: ChunkReader) -> Iterator[ChatDelta]:
        yield from self._events(response, reader, reader.feed)
        yield reader.last()

    def _events(
        self,
        response: httpx.Response,
        reader: ChunkReader,
        take: Callable[[ServerSentEvent], _Item | None],
    ) -> Iterator[_Item]:
        """What ``take`` makes of each event of a streamed answer, until [DONE]. An error
        in the stream raises :class:`ModelError`; a connection that breaks or stalls, or a
        stream that ends before the answer did, raises :class:`_BrokenStreamError`."""
        try:
            lines = response.iter_lines()
            for event in iter_events(lines):
                item = take(event)
                if item is not None:
                    yield item
                if reader.done:
                    break
            # Read to the end of the body so the connection goes back to the pool.
            for _ in lines:
                pass
        except StreamError as exc:
            raise ModelError(
                f"model '{self.name}' reported an error while answering: {self._scrub(str(exc))}",
                status_code=exc.status_code,
                partial=reader.passed_on,
            ) from exc
        except _RETRY_ERRORS as exc:
            reason = (
                f"no data within {self.settings.timeout_s:g} s"
                if isinstance(exc, httpx.TimeoutException)
                else _describe(exc)
            )
            raise _BrokenStreamError(reason) from exc
        if not reader.complete:
            raise _BrokenStreamError("the stream ended without [DONE] or a finish_reason")

    # -- errors ---------------------------------------------------------------------------

    def _scrub(self, text: str) -> str:
        return text.replace(self._api_key, "***") if self._api_key else text

    def _key_hint(self) -> str:
        ref = self.settings.api_key
        setting = f"models.{self.name}.api_key"
        if ref is None:
            return f'set {setting}, e.g. to {{"$env": "OPENAI_API_KEY"}}, and export that variable'
        if ref.env is not None:
            return f"check the key in the environment variable {ref.env} ({setting})"
        return f"check the key in the file {ref.file} ({setting})"

    def _status_error(self, response: httpx.Response, attempts: _Attempts) -> ModelError:
        status = response.status_code
        detail = self._scrub(provider_message(response))
        said = f": {detail}" if detail else ""
        where = self.settings.base_url
        if status in (401, 403):
            return ModelError(
                f"the provider rejected the API key for model '{self.name}' (HTTP {status}{said})",
                status_code=status,
                hint=self._key_hint(),
            )
        if status == 404:
            return ModelError(
                f"model '{self.model_id}' not found at {where}{said}",
                status_code=status,
                hint=(
                    f"check models.{self.name}.model and models.{self.name}.base_url "
                    f"(usually ending in /v1); GET {where}/models lists the server's models"
                ),
            )
        if status == 429:
            return ModelError(
                f"rate limited: {where} answered HTTP 429 for model '{self.name}'"
                f"{attempts.suffix()}{said}",
                status_code=status,
                hint=f"send fewer requests, or raise models.{self.name}.max_retries",
            )
        if status < 500:
            filtered = "content_filter" in detail or "content management" in detail.lower()
            return ModelError(
                f"model '{self.name}' rejected the request (HTTP {status}){said}",
                status_code=status,
                content_filter=filtered,
            )
        return ModelError(
            f"{where} answered HTTP {status} for model '{self.name}'{attempts.suffix()}{said}",
            status_code=status,
            hint="the provider has a problem; try again later",
        )

    def _transport_error(self, exc: httpx.HTTPError, attempts: _Attempts) -> ModelError:
        where = self.settings.base_url
        retried = attempts.suffix()
        if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout):
            return ModelError(
                f"cannot reach {where}: is the server running?{retried}",
                hint=f"check models.{self.name}.base_url ({_describe(exc)})",
            )
        if isinstance(exc, httpx.TimeoutException):
            return ModelError(
                f"model '{self.name}' gave no answer within {self.settings.timeout_s:g} s "
                f"({where}){retried}",
                hint=f"raise models.{self.name}.timeout_s, or use a faster model",
            )
        return ModelError(
            f"the connection to {where} broke before model '{self.name}' answered{retried}: "
            f"{_describe(exc)}",
            hint="try again; if it persists, check the server's log",
        )


def _describe(exc: Exception) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _float(value: str) -> float | None:
    try:
        return float(value)
    except ValueError:
        return None


def _read_quietly(response: httpx.Response) -> None:
    try:
        response.read()
    except httpx.HTTPError:
        pass
    finally:
        response.close()


def provider_message(response: httpx.Response) -> str:
    """The provider's own words about an error: OpenAI, Ollama and FastAPI shapes, or text."""
    try:
        data = response.json()
    except httpx.ResponseNotRead:
        return ""
    except ValueError:
        return response.text.strip()[:300]
    if isinstance(data, dict):
        for key in ("error", "detail", "message"):
            value = data.get(key)
            if isinstance(value, dict):
                value = value.get("message") or value.get("type")
            if value:
                return str(value)[:300]
    return str(data)[:300]
