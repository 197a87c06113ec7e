"""Errors in OpenAI's shape: ``{"error": {"message", "type", "param", "code"}}``."""

from __future__ import annotations

import math
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from leitstand.errors import (
    ConfigError,
    GuardBlockedError,
    LeitstandError,
    LimitError,
    ModelError,
    NotFoundError,
    RateLimitedError,
    UnknownUseCaseError,
)
from leitstand.guard.tools import InvalidToolsError


class ApiError(Exception):
    def __init__(
        self,
        status: int,
        message: str,
        *,
        type_: str = "invalid_request_error",
        code: str | None = None,
        param: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type_
        self.code = code
        self.param = param
        self.headers = headers


def error_body(
    message: str, type_: str, code: str | None = None, param: str | None = None
) -> dict[str, Any]:
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


_SIMPLE: tuple[tuple[type[LeitstandError], int, str, str | None, str | None], ...] = (
    (UnknownUseCaseError, 404, "invalid_request_error", "model_not_found", "model"),
    (NotFoundError, 404, "invalid_request_error", "not_found", None),
    (GuardBlockedError, 400, "invalid_request_error", "content_blocked", None),
    (ConfigError, 500, "server_error", "configuration_error", None),
)
"""Errors whose HTTP form depends on their class only: status, type, code, param."""


def from_leitstand_error(exc: LeitstandError) -> ApiError:
    message = f"{exc.message} ({exc.hint})" if exc.hint else exc.message
    if isinstance(exc, ModelError):
        status = 504 if exc.status_code == 504 else 502
        return ApiError(status, message, type_="upstream_error", code="model_error")
    if isinstance(exc, LimitError):
        limited = isinstance(exc, RateLimitedError)
        return ApiError(
            429,
            message,
            type_="rate_limit_error" if limited else "insufficient_quota",
            code="rate_limit_exceeded" if limited else "budget_exceeded",
            headers={"Retry-After": str(max(1, math.ceil(exc.retry_after_s)))},
        )
    if isinstance(exc, InvalidToolsError):
        return ApiError(400, message, code="invalid_tools", param=exc.param)
    for kind, status, type_, code, param in _SIMPLE:
        if isinstance(exc, kind):
            return ApiError(status, message, type_=type_, code=code, param=param)
    return ApiError(400, message)


def install(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else exc.headers
        return JSONResponse(
            error_body(exc.message, exc.type, exc.code, exc.param), exc.status, headers=headers
        )

    @app.exception_handler(LeitstandError)
    async def _leitstand_error(request: Request, exc: LeitstandError) -> JSONResponse:
        return await _api_error(request, from_leitstand_error(exc))

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {"loc": (), "msg": "invalid request"}
        loc = [str(part) for part in first.get("loc", ()) if part != "body"]
        param = ".".join(loc) or None
        message = f"{param}: {first['msg']}" if param else str(first["msg"])
        return JSONResponse(
            error_body(message, "invalid_request_error", "invalid_value", param), 400
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = "not_found" if exc.status_code == 404 else None
        return JSONResponse(
            error_body(str(exc.detail), "invalid_request_error", code), exc.status_code
        )
