"""The HTTP edge of the error tree (plugin/errors.py): the one map from an error class to a
status, the headers some statuses carry, and the JSON document every error answers with.
An `UpliftError` whose class maps to no status is a bug, answered as an internal error."""

from __future__ import annotations

import json
from typing import Any

from starlette.responses import JSONResponse
from starlette.types import Send

from plugin.errors import (
    BadRequest,
    Conflict,
    Forbidden,
    Gone,
    MethodNotAllowed,
    NotFound,
    NotReady,
    PayloadTooLarge,
    RateLimited,
    StripeUnavailable,
    Unauthorized,
    UnsupportedMediaType,
    UpliftError,
    ValidationFailed,
)

# The nearest class in an error's MRO decides its status.
STATUS: dict[type[UpliftError], int] = {
    BadRequest: 400,
    Unauthorized: 401,
    Forbidden: 403,
    NotFound: 404,
    MethodNotAllowed: 405,
    Conflict: 409,
    Gone: 410,
    PayloadTooLarge: 413,
    UnsupportedMediaType: 415,
    ValidationFailed: 422,
    RateLimited: 429,
    NotReady: 503,
    StripeUnavailable: 503,
}

INTERNAL_ERROR_BODY = {
    "error": {"code": "internal_error", "message": "Something went wrong on our side."}
}


def status_of(error: UpliftError) -> int | None:
    """The HTTP status of `error`, or None for an error no request should end with."""
    for cls in type(error).__mro__:
        status = STATUS.get(cls)
        if status is not None:
            return status
    return None


def headers_of(error: UpliftError) -> dict[str, str]:
    if isinstance(error, Unauthorized):
        # RFC 9110 §11.6.1: a 401 names the scheme the client should use.
        return {"WWW-Authenticate": "Bearer"}
    if isinstance(error, RateLimited):
        return {"Retry-After": str(error.retry_after)}
    return {}


def answer(error: UpliftError) -> tuple[int, dict[str, Any], dict[str, str]]:
    """Status, body and headers for `error`; an unmapped error gets the internal-error body."""
    status = status_of(error)
    if status is None:
        return 500, INTERNAL_ERROR_BODY, {}
    return status, error.body(), headers_of(error)


def to_response(error: UpliftError) -> JSONResponse:
    status, body, headers = answer(error)
    return JSONResponse(body, status_code=status, headers=headers)


async def send_error(send: Send, error: UpliftError) -> None:
    """`error`'s answer sent straight through ASGI, closing the connection: for the layers that
    refuse a request before any application reads it (the body limit, the webhook fast path)."""
    status, document, _ = answer(error)
    body = json.dumps(document).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
