"""The one error tree. Domain code raises these; it knows nothing of HTTP. The HTTP edge
(`plugin/api/errors.py`) holds the one map from a class to a status and renders every error as
`{"error": {"code", "message", "field"?, ...}}`.

    UpliftError                     error        the root: a code, a message, the field at fault
    ├── BadRequest                  bad_request  malformed request (bad JSON, a missing header)
    │   └── UnstorableText                       text the database cannot store (NUL)
    ├── Unauthorized                unauthorized no or bad credentials
    ├── Forbidden                   forbidden    revoked or not allowed
    ├── NotFound                    not_found    unknown, or not the caller's
    ├── MethodNotAllowed
    ├── Conflict                    conflict     same Idempotency-Key in flight, another change
    │   ├── StaleQuote              stale_quote  the subscription moved since the quote
    │   └── AlreadySubscribed, ChangeConflict    (billing/quotes.py, billing/upgrades.py)
    ├── Gone                        gone
    │   └── QuoteExpired            quote_expired
    ├── PayloadTooLarge
    ├── UnsupportedMediaType
    ├── ValidationFailed            invalid_field a field's value
    │   └── InvalidDocument         an offer, targeting rule, schedule or experiment that does not
    │                               parse (OfferError, TargetingError, ScheduleError, ...)
    ├── RateLimited                 rate_limited carries `retry_after` seconds
    ├── NotReady                    not_ready    the database is unreachable or not migrated
    ├── StripeError                              Stripe did not do what was asked
    │   ├── StripeUnavailable       stripe_unavailable  network, rate limit, Stripe-side error
    │   └── StripeRejected                       Stripe refused (bad parameters, declined, ...)
    └── OperatorError                            a one-line reason an `uplift` command cannot run

Messages name the bad field and value but never echo secrets or tokens.
"""

from __future__ import annotations

from typing import Any, ClassVar


class UpliftError(Exception):
    default_code: ClassVar[str] = "error"

    def __init__(self, message: str, *, code: str | None = None, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code or self.default_code
        self.field = field

    def body(self) -> dict[str, dict[str, Any]]:
        """The error document; subclasses with more to say (an `upgrade_id`, a fresh quote)
        add to `error`."""
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.field is not None:
            error["field"] = self.field
        return {"error": error}


class BadRequest(UpliftError):
    default_code = "bad_request"


class UnstorableText(BadRequest):
    """Text the database cannot store: PostgreSQL refuses NUL in text, SQLite keeps it; the
    request is refused the same way on both before anything is written."""


class Unauthorized(UpliftError):
    default_code = "unauthorized"


class Forbidden(UpliftError):
    default_code = "forbidden"


class NotFound(UpliftError):
    default_code = "not_found"


class MethodNotAllowed(UpliftError):
    default_code = "method_not_allowed"


class Conflict(UpliftError):
    default_code = "conflict"


class Gone(UpliftError):
    default_code = "gone"


class QuoteExpired(Gone):
    default_code = "quote_expired"


class PayloadTooLarge(UpliftError):
    default_code = "payload_too_large"


class UnsupportedMediaType(UpliftError):
    default_code = "unsupported_media_type"


class ValidationFailed(UpliftError):
    default_code = "invalid_field"


class InvalidDocument(ValidationFailed):
    """An admin's document (offer, targeting rule, schedule, experiment) that does not parse;
    `field` is the dotted path of the part at fault."""


class RateLimited(UpliftError):
    default_code = "rate_limited"

    def __init__(self, message: str, *, retry_after: int, code: str | None = None) -> None:
        super().__init__(message, code=code)
        self.retry_after = max(1, retry_after)


class NotReady(UpliftError):
    default_code = "not_ready"


class StripeError(UpliftError):
    """Stripe did not do what was asked."""

    default_code = "stripe_error"


class StripeUnavailable(StripeError):
    """Network trouble, rate limiting or a Stripe-side error: the same call may succeed later."""

    default_code = "stripe_unavailable"


class StripeRejected(StripeError):
    """Stripe refused the request (bad parameters, card declined, key revoked …)."""

    default_code = "stripe_rejected"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        decline_code: str | None = None,
        param: str | None = None,
        http_status: int | None = None,
    ) -> None:
        super().__init__(message, code=code, field=param)
        self.stripe_code = code  # Stripe's own error code, if it gave one
        self.decline_code = decline_code
        self.param = param
        self.http_status = http_status


class OperatorError(UpliftError):
    """A one-line reason an `uplift` command cannot run (bad settings, a missing key): the
    command prints it and exits 2, never a traceback."""

    default_code = "operator_error"


class Terminated(BaseException):
    """Not an error: raised by a command's SIGTERM handler (`uplift demo`'s) so that its
    `finally` and `with` blocks run, as KeyboardInterrupt makes them run on Ctrl-C; the command
    exits with 143."""
