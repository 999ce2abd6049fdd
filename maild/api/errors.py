"""Errors as JSON: `{"error": {"code", "message", "field"}}`, with a message a person can act on.

maild's own errors map to statuses here (NotFound 404, InvalidRequest 422, Conflict 409,
PermissionDenied 403, StorageError 503); request validation names the field; anything else is a
500 whose message says no more than that it was logged.
"""

from __future__ import annotations

import logging
import re
from typing import Any

import sqlalchemy as sa
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from maild.errors import Conflict, InvalidRequest, MaildError, NotFound, PermissionDenied

log = logging.getLogger("maild.api")


class ErrorDetail(BaseModel):
    code: str
    message: str
    field: str | None = None


class ErrorBody(BaseModel):
    error: ErrorDetail


class ApiError(Exception):
    """An error raised by the API layer itself (authentication, roles, unknown names)."""

    def __init__(self, status: int, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.field = status, code, message, field


def unauthorized(message: str) -> ApiError:
    return ApiError(401, "unauthorized", message)


def forbidden(message: str) -> ApiError:
    return ApiError(403, "forbidden", message)


def bad_field(field: str, message: str) -> ApiError:
    return ApiError(422, "invalid", message, field)


_STATUS: list[tuple[type[MaildError], int, str]] = [
    (NotFound, 404, "not_found"),
    (InvalidRequest, 422, "invalid"),
    (Conflict, 409, "conflict"),
    (PermissionDenied, 403, "forbidden"),
]
_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
}

# Documented on every route, so clients (and schemathesis) know the error shape.
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorBody, "description": description}
    for status, description in (
        (400, "the body is not valid JSON"),
        (401, "missing, unknown or revoked token"),
        (403, "the caller's role may not do this"),
        (404, "no such thing, or not visible to the caller"),
        (409, "conflicts with the current state"),
        (422, "the request is invalid; `field` names the culprit"),
    )
}


def body(status: int, code: str, message: str, field: str | None = None, **kw: Any) -> JSONResponse:
    content = ErrorBody(error=ErrorDetail(code=code, message=message, field=field))
    return JSONResponse(content.model_dump(), status_code=status, **kw)


def install(app: FastAPI) -> None:
    app.add_exception_handler(ApiError, _api_error)  # type: ignore[arg-type]
    app.add_exception_handler(MaildError, _maild_error)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, _validation)  # type: ignore[arg-type]
    app.add_exception_handler(StarletteHTTPException, _http)  # type: ignore[arg-type]
    app.add_exception_handler(sa.exc.IntegrityError, _integrity)  # type: ignore[arg-type]
    app.add_exception_handler(sa.exc.OperationalError, _database_down)  # type: ignore[arg-type]
    app.add_exception_handler(Exception, _unexpected)


async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
    headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
    return body(exc.status, exc.code, exc.message, exc.field, headers=headers)


async def _maild_error(request: Request, exc: MaildError) -> JSONResponse:
    for kind, status, code in _STATUS:
        if isinstance(exc, kind):
            return body(status, code, str(exc))
    return body(503, "unavailable", str(exc))  # StorageError and the rest: the service side


async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
    first = exc.errors()[0] if exc.errors() else {"loc": (), "msg": "invalid request"}
    location = [str(part) for part in first.get("loc", ())]
    # loc starts with where the value was: body, query, path, header
    field = ".".join(location[1:] if location[:1] in (["body"], ["query"], ["path"]) else location)
    # A validator's own message reads as pydantic wraps it: "Value error, <ours>".
    reason = str(first.get("msg", "invalid")).removeprefix("Value error, ")
    message = f"{field or 'request'}: {reason}"
    return body(422, "invalid", message, field or None)


async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    code = _HTTP_CODES.get(exc.status_code, "error")
    headers = dict(getattr(exc, "headers", None) or {})
    message = str(exc.detail)
    if exc.status_code == 400:
        message = "the request body is not valid JSON; send UTF-8 JSON as application/json"
    elif exc.status_code == 404:
        message = f"no such endpoint: {request.url.path}; see /api/v1/docs"
    elif exc.status_code == 405:
        allowed = allowed_methods(request.app, request.url.path)
        headers["Allow"] = ", ".join(allowed)
        message = f"{request.method} is not allowed here; use {' or '.join(allowed) or 'nothing'}"
    return body(exc.status_code, code, message, headers=headers or None)


def allowed_methods(app: FastAPI, path: str) -> list[str]:
    """The methods the document lists for `path` (the router names only its first match): a
    literal path's own (`/tickets/merge`), else those of every template it fits."""
    paths = app.openapi()["paths"]
    if path in paths:
        return sorted(method.upper() for method in paths[path])
    found: set[str] = set()
    for template, operations in paths.items():
        pattern = re.sub(r"\\{[^/]+?\\}", "[^/]+", re.escape(template))
        if re.fullmatch(pattern, path):
            found.update(method.upper() for method in operations)
    return sorted(found)


async def _integrity(request: Request, exc: sa.exc.IntegrityError) -> JSONResponse:
    # Two requests raced for one name: the loser learns why and may retry.
    return body(409, "conflict", "the change clashes with another one made meanwhile; retry")


async def _database_down(request: Request, exc: sa.exc.OperationalError) -> JSONResponse:
    log.warning("database error: %s", exc.orig)
    return body(503, "unavailable", "the database is not reachable right now; retry later")


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unexpected error in %s %s", request.method, request.url.path)
    return body(500, "internal", "unexpected error; it was logged for the administrator")
