"""Errors as ``application/problem+json`` (RFC 9457), mapped from the one error tree.

Every ``AssayError`` becomes ``{"type", "title", "status", "detail", "hint"}`` with the status
its class declares (``errors.py``); a ``SpecError`` lists its ``problems``; a request FastAPI
cannot validate is a 422 of the same shape, naming each field; anything unexpected is a bare
500 (logged here, never shown: no stack trace leaves the server).
"""

from __future__ import annotations

import logging
import re
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from assay.errors import AssayError, SpecError, Unauthenticated

MEDIA_TYPE = "application/problem+json"
log = logging.getLogger("assay.server")


def problem(
    status: int,
    detail: str,
    *,
    kind: str | None = None,
    hint: str | None = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    """A problem response; ``kind`` names its type (default: the status's phrase)."""
    title = _phrase(status)
    body: dict[str, Any] = {
        "type": f"urn:assay:problem:{kind or _slug(title)}",
        "title": title,
        "status": status,
        "detail": detail,
        "hint": hint,
        **extra,
    }
    return JSONResponse(body, status_code=status, media_type=MEDIA_TYPE, headers=headers)


def from_error(exc: AssayError) -> JSONResponse:
    extra: dict[str, Any] = {}
    if isinstance(exc, SpecError):
        extra["problems"] = [
            {"file": p.file, "line": p.line, "column": p.column, "severity": p.severity, "message": p.message}
            for p in exc.problems
        ]
    headers = {"WWW-Authenticate": 'Bearer realm="assay"'} if isinstance(exc, Unauthenticated) else None
    status = exc.http_status if exc.http_status >= 400 else 500
    return problem(
        status, exc.message, kind=_slug(type(exc).__name__), hint=exc.hint, headers=headers, **extra
    )


def install(app: FastAPI) -> None:
    async def on_assay_error(_request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, AssayError)
        return from_error(exc)

    async def on_validation_error(_request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        errors = [
            {"where": ".".join(str(part) for part in error.get("loc", ())), "message": error.get("msg", "")}
            for error in exc.errors()
        ]
        listed = "; ".join(f"{error['where']}: {error['message']}" for error in errors)
        return problem(422, f"the request is not valid: {listed}", kind="invalid-request",
                       hint="the API's schema is at /api/v1/openapi.json", errors=errors)  # fmt: skip

    async def on_http_error(_request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, HTTPException)
        detail = exc.detail if isinstance(exc.detail, str) else _phrase(exc.status_code)
        return problem(exc.status_code, detail, headers=dict(exc.headers or {}))

    async def on_unexpected(request: Request, exc: Exception) -> JSONResponse:
        route = getattr(request.scope.get("route"), "path", "?")
        log.error("unexpected error in %s %s", request.method, route, exc_info=exc)
        return problem(500, "the server failed unexpectedly; the error is in its log", kind="internal")

    app.add_exception_handler(AssayError, on_assay_error)
    app.add_exception_handler(RequestValidationError, on_validation_error)
    app.add_exception_handler(HTTPException, on_http_error)
    app.add_exception_handler(Exception, on_unexpected)


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def _slug(text: str) -> str:
    spaced = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "-", text)
    return re.sub(r"[^a-z0-9]+", "-", spaced.lower()).strip("-")
