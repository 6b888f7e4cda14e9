"""The admin key check every admin route makes (`require_admin`), with its throttle of failed
keys per client address; and the admin routes for the webhook event store: list (Stripe-style)
and replay.

A `read_only` key may only send GET and HEAD (the dashboard, lists, results); anything else is a
403 `admin_key_read_only`, not counted as a failure.

The throttle: each admin key refused (unknown or revoked, 401) takes a token from its
client address's bucket (`UPLIFT_ADMIN_FAILURE_BURST`, refilled at
`UPLIFT_ADMIN_FAILURE_PER_MINUTE`, by the app's clock); while the bucket is empty, every admin
request from that address is a 429 with `Retry-After`, the right key's too, and a success
gives nothing back. A request without a Bearer credential guesses nothing and is not counted.
The address is the socket peer's (`uplift serve` ignores `X-Forwarded-For`: a client could
write anything there), so behind a reverse proxy every client shares the proxy's budget.
Buckets live in this process's memory (plugin/ratelimit.py): with N workers, N budgets.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse

from plugin.api.answers import WebhookEventListOut, WebhookEventOut
from plugin.auth import AdminIdentity, authenticate_admin, bearer_token
from plugin.errors import Forbidden, NotFound, RateLimited, Unauthorized, ValidationFailed
from plugin.logs import get_logger
from plugin.ratelimit import RateLimiter, address_key
from plugin.services import services
from plugin.storage import stripe_events as store

DEFAULT_LIMIT = 100
READS = frozenset({"GET", "HEAD"})  # what a `read_only` admin key may send
MAX_LIMIT = 500

log = get_logger("auth")


def admin_failures(request: Request) -> RateLimiter:
    """The app's buckets of failed admin keys, one per client address (made on first use)."""
    found: RateLimiter | None = getattr(request.app.state, "admin_failures", None)
    if found is None:
        settings = services(request).settings
        found = RateLimiter(
            rate=settings.admin_failure_per_minute / 60, burst=settings.admin_failure_burst
        )
        request.app.state.admin_failures = found
    return found


async def require_admin(request: Request, *, changes: bool = True) -> AdminIdentity:
    """The admin key's identity, or the refusal. `changes=False`: a POST that only computes
    (a preview, a draft's audience), which a `read_only` key may send too."""
    ctx = services(request)
    failures = admin_failures(request)
    address = request.client.host if request.client is not None else ""
    key = address_key(address)
    path = request.scope["path"]
    now = ctx.clock.now()
    # Checked before the key, and for the right key too: a lockout that let the right key
    # through would go on answering every guess (429 for a wrong one, 200 for the right one).
    wait = failures.wait(key, now=now)
    if wait is not None:
        log.info(
            "admin key throttled", extra={"client": address, "path": path, "retry_after": wait}
        )
        raise RateLimited(
            f"Too many failed admin keys from this address; retry in {wait} s.",
            retry_after=wait,
            code="too_many_failed_attempts",
        )
    presented = bearer_token(request.headers.get("authorization"))
    bootstrap = ctx.settings.admin_key
    try:
        identity = await authenticate_admin(
            ctx.db,
            presented=presented,
            bootstrap_key=bootstrap.get_secret_value() if bootstrap is not None else None,
        )
    except (Unauthorized, Forbidden) as refused:
        failures.take(key, now=now)
        # The address and why, never the presented key (a near miss of the real one, or a
        # real key pasted into the wrong place, would be a secret in the log).
        log.warning(
            "admin key refused",
            extra={
                "client": address,
                "path": path,
                "reason": refused.code,
                "blocked_for": failures.wait(key, now=now),
            },
        )
        raise
    if identity.role == "read_only" and changes and request.method not in READS:
        # A valid key doing what its role does not allow: not a guess, so not counted.
        raise Forbidden(
            "This admin key is read-only: it may only read (GET).", code="admin_key_read_only"
        )
    return identity


def _limit(raw: str | None) -> int:
    if raw is None:
        return DEFAULT_LIMIT
    if not raw.isascii() or not raw.isdigit() or not 1 <= int(raw) <= MAX_LIMIT:
        raise ValidationFailed(
            f"limit must be a whole number from 1 to {MAX_LIMIT}, got {raw[:20]!r}.",
            field="limit",
        )
    return int(raw)


def event_document(event: store.StoredEvent) -> WebhookEventOut:
    """What the admin API shows of a stored event (docs/contract.md: id, type, created, status,
    attempts, last_error); the payload stays in the store."""
    return WebhookEventOut(
        id=event.id,
        object="webhook_event",
        type=event.type,
        created=event.created,
        livemode=event.livemode,
        status=event.status,
        attempts=event.attempts,
        last_error=event.last_error,
        received_at=event.received_at,
        processed_at=event.processed_at,
        next_attempt_at=event.next_attempt_at if event.status == "pending" else None,
    )


async def list_webhook_events(request: Request) -> JSONResponse:
    await require_admin(request)
    params = request.query_params
    status = params.get("status")
    if status is not None and status not in store.STATUSES:
        raise ValidationFailed(
            f"status must be one of {', '.join(store.STATUSES)}, got {status[:40]!r}.",
            field="status",
        )
    limit = _limit(params.get("limit"))
    starting_after = params.get("starting_after")
    try:
        page, has_more = await store.list_events(
            services(request).db,
            status=status,
            limit=limit,
            starting_after=starting_after,
        )
    except KeyError:
        raise ValidationFailed(
            "starting_after names no stored event.", field="starting_after"
        ) from None
    answer = WebhookEventListOut(
        object="list", data=[event_document(e) for e in page], has_more=has_more
    )
    return JSONResponse(answer.document())


async def replay_webhook_event(request: Request) -> JSONResponse:
    await require_admin(request)
    ctx = services(request)
    event_id = request.path_params["event_id"]
    event = await store.replay(ctx.db, event_id=event_id, now=ctx.clock.now())
    if event is None:
        raise NotFound(
            f"No stored webhook event {event_id[:80]!r}.", code="webhook_event_not_found"
        )
    worker = getattr(request.app.state, "webhook_worker", None)
    if worker is not None:
        worker.wake()
    return JSONResponse(event_document(event).document())
