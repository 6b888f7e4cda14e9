"""The one error tree of the HTTP API.

    ApiError                      400 bad_request
    ├── BadRequest                400 malformed request (bad JSON, missing header)
    ├── Unauthorized              401 no or bad credentials
    ├── Forbidden                 403 revoked or not allowed
    ├── NotFound                  404 unknown or not yours
    ├── MethodNotAllowed          405
    ├── Conflict                  409 stale quote, same Idempotency-Key still in flight
    ├── Gone                      410 expired quote
    ├── PayloadTooLarge           413
    ├── UnsupportedMediaType      415 not JSON
    ├── ValidationFailed          422 invalid field
    ├── RateLimited               429 (carries Retry-After); too many failed admin keys
    └── ServiceUnavailable        503 not ready (database unreachable)

Every error renders as `{"error": {"code", "message", "field"?}}` through `to_response()`;
`create_app` registers exactly one handler for the tree and one catch-all for everything else.
Messages name the bad field and value but never echo secrets or tokens.
"""

from __future__ import annotations

from typing import ClassVar

from starlette.responses import JSONResponse


class ApiError(Exception):
    status: ClassVar[int] = 400
    default_code: ClassVar[str] = "bad_request"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        field: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code or self.default_code
        self.field = field
        self.headers = headers or {}

    def body(self) -> dict[str, dict[str, str]]:
        error = {"code": self.code, "message": self.message}
        if self.field is not None:
            error["field"] = self.field
        return {"error": error}


class BadRequest(ApiError):
    status = 400
    default_code = "bad_request"


class Unauthorized(ApiError):
    status = 401
    default_code = "unauthorized"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        # RFC 9110 §11.6.1: a 401 names the scheme the client should use.
        super().__init__(message, code=code, headers={"WWW-Authenticate": "Bearer"})


class Forbidden(ApiError):
    status = 403
    default_code = "forbidden"


class NotFound(ApiError):
    status = 404
    default_code = "not_found"


class MethodNotAllowed(ApiError):
    status = 405
    default_code = "method_not_allowed"


class Conflict(ApiError):
    status = 409
    default_code = "conflict"


class Gone(ApiError):
    status = 410
    default_code = "gone"


class PayloadTooLarge(ApiError):
    status = 413
    default_code = "payload_too_large"


class UnsupportedMediaType(ApiError):
    status = 415
    default_code = "unsupported_media_type"


class ValidationFailed(ApiError):
    status = 422
    default_code = "invalid_field"


class RateLimited(ApiError):
    status = 429
    default_code = "rate_limited"

    def __init__(self, message: str, *, retry_after: int, code: str | None = None) -> None:
        super().__init__(message, code=code, headers={"Retry-After": str(max(1, retry_after))})


class ServiceUnavailable(ApiError):
    status = 503
    default_code = "not_ready"


def to_response(error: ApiError) -> JSONResponse:
    return JSONResponse(error.body(), status_code=error.status, headers=error.headers)


INTERNAL_ERROR_BODY = {
    "error": {"code": "internal_error", "message": "Something went wrong on our side."}
}
