"""Admin routes for the webhook event store: list (Stripe-style) and replay."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse

from plugin.auth import AdminIdentity, authenticate_admin, bearer_token
from plugin.errors import NotFound, ValidationFailed
from plugin.services import services
from webhooks import store

DEFAULT_LIMIT = 100
MAX_LIMIT = 500


async def require_admin(request: Request) -> AdminIdentity:
    ctx = services(request)
    bootstrap = ctx.settings.admin_key
    return await authenticate_admin(
        ctx.db,
        presented=bearer_token(request.headers.get("authorization")),
        bootstrap_key=bootstrap.get_secret_value() if bootstrap is not None else None,
    )


def _limit(raw: str | None) -> int:
    if raw is None:
        return DEFAULT_LIMIT
    if not raw.isascii() or not raw.isdigit() or not 1 <= int(raw) <= MAX_LIMIT:
        raise ValidationFailed(
            f"limit must be a whole number from 1 to {MAX_LIMIT}, got {raw[:20]!r}.",
            field="limit",
        )
    return int(raw)


def event_document(event: store.StoredEvent) -> dict[str, Any]:
    """What the admin API shows of a stored event (docs/contract.md: id, type, created, status,
    attempts, last_error); the payload stays in the store."""
    return {
        "id": event.id,
        "object": "webhook_event",
        "type": event.type,
        "created": event.created,
        "livemode": event.livemode,
        "status": event.status,
        "attempts": event.attempts,
        "last_error": event.last_error,
        "received_at": event.received_at,
        "processed_at": event.processed_at,
        "next_attempt_at": event.next_attempt_at if event.status == "pending" else None,
    }


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
    return JSONResponse(
        {"object": "list", "data": [event_document(e) for e in page], "has_more": has_more}
    )


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
    return JSONResponse(event_document(event))
