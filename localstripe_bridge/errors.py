"""Stripe-shaped errors.

stripe-python only turns a response into a typed error (InvalidRequestError, CardError, …) when the
body is `{"error": {"type", "message", "param"?, "code"?}}`. localstripe answers unknown routes with
aiohttp's plain-text 404, and a parameter one of its methods does not know escapes as a TypeError,
i.e. a plain-text 500 that stripe-python reports as "Invalid response body" and retries. The
bridge raises localstripe's own `UserError` (its error middleware renders it); the middleware here
turns the rest into Stripe's shape: unknown routes 404, unknown parameters 400 `not_emulated`,
any other crash 500 `api_error`.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler
from localstripe.errors import UserError

log = logging.getLogger("localstripe_bridge")

DOCS = "docs/stripe-emulator.md"


def invalid(
    message: str, *, param: str | None = None, code: str | None = None, status: int = 400
) -> Exception:
    """An `invalid_request_error` for localstripe's error middleware to render."""
    contents: dict[str, Any] = {}
    if param is not None:
        contents["param"] = param
    if code is not None:
        contents["code"] = code
    error: Exception = UserError(status, message, contents)
    return error


def missing(param: str) -> Exception:
    return invalid(f"Missing required param: {param}.", param=param, code="parameter_missing")


def unknown(param: str) -> Exception:
    return invalid(
        f"Received unknown parameter: {param} (localstripe_bridge does not emulate it, see {DOCS})",
        param=param,
        code="parameter_unknown",
    )


def no_such(kind: str, object_id: str, *, param: str | None = None, status: int = 400) -> Exception:
    """Stripe's wording for an id that does not exist: 404 on its own route, 400 as a parameter."""
    return invalid(
        f"No such {kind}: '{object_id}'", param=param, code="resource_missing", status=status
    )


def not_emulated(what: str, *, param: str | None = None) -> Exception:
    """Valid on Stripe, but the emulator cannot do it: say so instead of doing something else."""
    return invalid(
        f"localstripe_bridge: {what} is not emulated (see {DOCS})",
        param=param,
        code="not_emulated",
    )


def _body(status: int, error_type: str, message: str, **extra: str) -> web.Response:
    error = {"type": error_type, "message": message, **extra}
    return web.json_response({"error": error}, status=status)


# localstripe passes request parameters to its methods as keyword arguments, so a parameter a
# method does not know surfaces as this TypeError.
_UNEXPECTED_ARGUMENT = re.compile(r"got an unexpected keyword argument '(\w+)'")


@web.middleware
async def stripe_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Outermost: unknown routes and crashes still answer in Stripe's error shape."""
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        if exc.status == 404:
            message = (
                f"Unrecognized request URL ({request.method}: {request.path}). "
                f"localstripe_bridge does not emulate this API (see {DOCS})."
            )
        else:
            message = f"{exc.reason} ({request.method}: {request.path})"
        return _body(exc.status, "invalid_request_error", message)
    except TypeError as exc:
        unexpected = _UNEXPECTED_ARGUMENT.search(str(exc))
        if unexpected is None:
            return _crashed(request, exc)
        param = unexpected.group(1)
        message = (
            f"localstripe_bridge: parameter {param} of {request.method} {request.path} is not "
            f"emulated (see {DOCS})"
        )
        return _body(400, "invalid_request_error", message, param=param, code="not_emulated")
    except Exception as exc:
        return _crashed(request, exc)
    return response


def _crashed(request: web.Request, exc: Exception) -> web.Response:
    """A crash in localstripe. Stripe's `api_error` shape makes stripe-python raise APIError with
    this message instead of complaining about an unparseable body."""
    log.error("unhandled error on %s %s", request.method, request.path, exc_info=exc)
    return _body(
        500,
        "api_error",
        f"localstripe_bridge: the emulator failed on {request.method} {request.path}: "
        f"{type(exc).__name__}: {exc}",
    )
