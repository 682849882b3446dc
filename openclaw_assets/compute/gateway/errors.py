"""Every error the gateway answers: a status and ``{"error": ..., "detail": ...}``, never a traceback.

4xx: the request is wrong (400, 401, 403, 404, 405, 413, 415, 422). 503: the gateway cannot
answer yet or its stores or model failed (see ``/readyz``). 500: anything unexpected, logged.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from openclaw_assets.compute.gateway.contract import ErrorResponse
from openclaw_assets.observability import tracing

log = logging.getLogger("openclaw.gateway")

NAMES = {
    400: "bad_request",
    404: "not_found",
    405: "method_not_allowed",
    413: "body_too_large",
    415: "unsupported_media_type",
}


class ApiError(HTTPException):
    """An answer with a status and a reason. An HTTPException, so that FastAPI passes it through
    unchanged when it is raised while the body is read (a chunked body over the limit)."""

    def __init__(self, status: int, error: str, detail: Any = None, headers: dict[str, str] | None = None) -> None:
        super().__init__(status, error, headers)
        self.status, self.error, self.detail, self.headers = status, error, detail, headers


def error_response(
    status: int, error: str, detail: Any = None, headers: Mapping[str, str] | None = None
) -> JSONResponse:
    return JSONResponse({"error": error, "detail": detail}, status_code=status, headers=headers)


def documented(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for these error statuses, all in the error model."""
    return {status: {"model": ErrorResponse, "description": DESCRIPTIONS[status]} for status in statuses}


DESCRIPTIONS = {
    400: "The body or a header could not be read (not UTF-8, a Content-Length that is not a number).",
    401: "No bearer token, or not a valid one (with `WWW-Authenticate: Bearer`); the detail says so.",
    403: "The token's role may not call this endpoint (the access policy's reason is the detail).",
    404: "Not found: for the audit routes, a ledger without a signed head yet, or an entry it does not hold.",
    413: "The body is over 1 MiB, or more than 1,000 flights.",
    415: "The body is not sent as JSON (`Content-Type: application/json`).",
    422: "The body does not follow the contract: each problem names its field.",
    500: "An unexpected error; the gateway log has the details.",
    503: "Not ready (no model, no feature store), the feature store or the model failed, or the ledger "
    "cannot be read (audit routes).",
}


def install(app: FastAPI) -> None:
    """The exception handlers that turn every failure into the error model."""

    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError):
        return error_response(exc.status, exc.error, exc.detail, exc.headers)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException):
        return error_response(exc.status_code, NAMES.get(exc.status_code, "http_error"), exc.detail, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError):
        kind = request.headers.get("content-type", "")
        if request.method == "POST" and "json" not in kind:
            return error_response(
                415, "unsupported_media_type", "send the body as JSON with Content-Type: application/json"
            )
        detail = [
            {"field": ".".join(str(p) for p in e.get("loc", ()) if p != "body"), "problem": e.get("msg", "")}
            for e in exc.errors()
        ]
        return error_response(422, "invalid_request", detail)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception):
        log.exception("unexpected error on %s", request.url.path)
        # Starlette's ServerErrorMiddleware sends this answer, outside the middleware that adds
        # ``traceparent`` to the others; the server span is still current here, so name it.
        value = tracing.traceparent()
        return error_response(
            500,
            "internal_error",
            f"{type(exc).__name__}; see the gateway log",
            {"traceparent": value} if value else None,
        )
