"""One JSON error shape for every failure: `{"error": {"code", "message", "details"}}`
(`veriframe_core.protocol.ErrorBody`; a 422's details are `FieldError`s).

Clients branch on `code` (stable, snake_case); `message` is for people; `details` carries
what was wrong (validation errors per field). The handlers here are the one place an
exception becomes a status, and `errors()` documents the same statuses per operation.
"""

from __future__ import annotations

import logging
from typing import Any

import asyncpg
import sqlalchemy as sa
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.protocol.claims import ClaimRefused
from veriframe_core.protocol import (
    Error,
    ErrorBody,
    FieldError,
    InvalidRequest,
    InvalidRequestBody,
)

log = logging.getLogger("veriframe.api")

CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "too_large",
    422: "invalid_request",
    429: "rate_limited",
    503: "unavailable",
}
DESCRIPTIONS = {
    400: "the parameters contradict each other",
    401: "no valid access token, or its session ended",
    403: "the caller may not do this",
    404: "no such resource",
    409: "not in a state for this",
    413: "more than the caller may send",
    422: "the parameters or body do not match this operation's schema",
    429: "too many requests from this client: retry after `Retry-After` seconds",
    503: "the warehouse or the chain node is unavailable: retry after `Retry-After` seconds",
}
"""What each status means when an operation says no more specific."""
BEARER = {"WWW-Authenticate": "Bearer"}
DATABASE_DOWN = (
    sa.exc.OperationalError,
    asyncpg.PostgresConnectionError,
    asyncpg.exceptions.ConnectionDoesNotExistError,
    asyncpg.exceptions.OperatorInterventionError,  # admin shutdown, cannot connect now
    OSError,  # connection refused or reset, timeouts
)
"""What the warehouse being unreachable or going away looks like to a request."""
RETRY_AFTER_S = "5"


class ApiError(Exception):
    """An expected failure with its status, stable code and message."""

    def __init__(
        self,
        status: int,
        message: str,
        code: str | None = None,
        details: Any = None,
        headers: dict[str, str] | None = None,
    ):
        super().__init__(message)
        self.status = status
        self.code = code or CODES.get(status, "error")
        self.message = message
        self.details = details
        self.headers = headers


def not_found(what: str) -> ApiError:
    return ApiError(404, f"{what} not found")


def unauthorized(message: str) -> ApiError:
    return ApiError(401, message, headers=BEARER)


def errors(*statuses: int, said: dict[int, str] | None = None) -> dict[int | str, dict[str, Any]]:
    """An operation's `responses`: each status with the one error shape (422 with its field
    errors) and what it means, from `DESCRIPTIONS` unless `said` says it for this operation."""
    said = said or {}
    return {
        status: {
            "model": InvalidRequestBody if status == 422 else ErrorBody,
            "description": said.get(status) or DESCRIPTIONS[status],
        }
        for status in sorted({*statuses, *said})
    }


def error_body(code: str, message: str, details: Any = None) -> dict[str, Any]:
    return ErrorBody(error=Error(code=code, message=message, details=details)).model_dump(
        mode="json"
    )


def invalid_body(exc: RequestValidationError) -> dict[str, Any]:
    """The 422 body: every field error with where it is, what is wrong and pydantic's type."""
    details = [
        FieldError(location=list(e["loc"]), message=e["msg"], type=e["type"]) for e in exc.errors()
    ]
    invalid = InvalidRequest(code="invalid_request", message="request is invalid", details=details)
    return InvalidRequestBody(error=invalid).model_dump(mode="json")


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def api_error(_: Request, exc: ApiError) -> JSONResponse:
        body = error_body(exc.code, exc.message, exc.details)
        return JSONResponse(body, exc.status, headers=exc.headers)

    @app.exception_handler(ClaimRefused)
    async def claim_refused(request: Request, exc: ClaimRefused) -> JSONResponse:
        headers = BEARER if exc.status == 401 else None
        return await api_error(request, ApiError(exc.status, exc.message, headers=headers))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = CODES.get(exc.status_code, "error")
        return JSONResponse(error_body(code, str(exc.detail)), exc.status_code, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse(invalid_body(exc), 422)

    async def database_down(_: Request, exc: Exception) -> JSONResponse:
        log.warning("Warehouse unavailable: %s", exc)
        body = error_body("unavailable", "the warehouse database is unavailable: retry shortly")
        return JSONResponse(body, 503, headers={"Retry-After": RETRY_AFTER_S})

    for kind in DATABASE_DOWN:
        app.add_exception_handler(kind, database_down)

    @app.exception_handler(Exception)
    async def unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error", exc_info=exc)
        return JSONResponse(error_body("internal_error", "internal error"), 500)
