"""API key authentication: required as soon as one active key exists."""

from __future__ import annotations

import threading
import time

from fastapi import Request

from leitstand.govern.keys import KeyInfo, KeyStore
from leitstand.server.errors import ApiError

ACTIVE_CHECK_SECONDS = 5.0


class Authenticator:
    def __init__(self, keys: KeyStore) -> None:
        self.keys = keys
        self._required = False
        self._checked_at = -1e9
        self._lock = threading.Lock()

    def required(self) -> bool:
        now = time.monotonic()
        with self._lock:
            if now - self._checked_at > ACTIVE_CHECK_SECONDS:
                self._required = self.keys.any_active()
                self._checked_at = now
            return self._required

    def __call__(self, request: Request) -> KeyInfo | None:
        if not self.required():
            return None
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise ApiError(
                401,
                "missing API key: send 'Authorization: Bearer <key>' "
                "(create one with `leitstand keys create NAME`)",
                code="invalid_api_key",
            )
        info = self.keys.verify(token.strip())
        if info is None:
            raise ApiError(401, "invalid or revoked API key", code="invalid_api_key")
        return info
