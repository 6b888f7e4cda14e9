"""`POST /webhooks/stripe`: verify, store once, acknowledge; processing happens later.

Order (docs/style.md, habit 10): the header must be there, the raw bytes must carry a valid
signature from a configured secret, the body must be a Stripe snapshot event; only then is
anything written. The 200 goes out after the insert has committed (docs/reliability.md rule 2),
for a redelivered id too. Every rejection is a 400 in the contract's error shape, never a 500.

An event whose `livemode` is not the configured Stripe key's mode is refused after its
signature verifies, with a 400 `livemode_mismatch` and nothing stored: its objects are not in
the account mode this instance's key reads and charges, so storing and processing it could
only mix test data with live (or fail against the API). A 400 rather than a 200 so the
misconfiguration shows: Stripe marks each delivery failed, retries it and tells the account
owner; accepting and dropping it would hide it. Without a key (`stripe_livemode` is None)
either mode is accepted: nothing says which one is right.

Two ways in, one path: the route (`stripe_webhook`) and, for every real delivery, the fast
path in plugin/middleware.py (`StripeWebhookMiddleware`), which skips the router and answers
with the same bytes. Both call `require_signature_header`, then `accept`.
"""

from __future__ import annotations

from starlette.datastructures import State
from starlette.requests import Request
from starlette.responses import Response

from plugin.errors import BadRequest
from plugin.logs import get_logger
from plugin.services import Services
from plugin.storage import stripe_events as store
from plugin.webhooks import signature
from plugin.webhooks.events import EventError, parse_event
from plugin.webhooks.intake import IntakeQueue
from plugin.webhooks.worker import Worker

# The two answers, rendered once: what `JSONResponse({"received": True, "duplicate": …})`
# renders (compact separators), without a `json.dumps` per delivery.
RECEIVED = b'{"received":true,"duplicate":false}'
DUPLICATE = b'{"received":true,"duplicate":true}'

log = get_logger("webhooks")


def _mode(livemode: bool) -> str:
    return "live-mode" if livemode else "test-mode"


def worker(state: State) -> Worker | None:
    found: Worker | None = getattr(state, "webhook_worker", None)
    return found


def require_signature_header(header: str | None) -> str:
    # Fail fast on a request that cannot be from Stripe, before reading a possibly large body.
    if not header:
        raise BadRequest("The Stripe-Signature header is missing.", code="signature_missing")
    return header


async def accept(state: State, *, header: str, payload: bytes) -> bytes:
    """Verify, parse and store one delivery; returns the 200's body once its row has
    committed. Raises `BadRequest` for anything that is not a verified Stripe event."""
    ctx: Services = state.services
    now = ctx.clock.now()
    try:
        signature.verify(
            payload,
            header,
            secrets=[s.get_secret_value() for s in ctx.settings.stripe_webhook_secrets],
            now=now,
        )
        event = parse_event(payload)
    except (signature.SignatureError, EventError) as exc:
        raise BadRequest(exc.message, code=exc.code) from None
    expected = ctx.settings.stripe_livemode
    if expected is not None and event.livemode != expected:
        log.warning(
            "webhook event refused: livemode mismatch",
            extra={
                "event_id": event.id,
                "event_type": event.type,
                "event_livemode": event.livemode,
                "key_livemode": expected,
            },
        )
        raise BadRequest(
            f"This instance uses a {_mode(expected)} Stripe key; the event {event.id[:80]!r} is"
            f" {_mode(event.livemode)}. Send this endpoint the events of the key's mode only.",
            code="livemode_mismatch",
        )
    event_row = store.NewEvent(
        id=event.id,
        type=event.type,
        object_id=event.object_id,
        created=event.created,
        livemode=event.livemode,
        payload=payload.decode("utf-8"),
        received_at=now,
    )
    intake: IntakeQueue | None = getattr(state, "webhook_intake", None)
    if intake is not None:
        stored = await intake.store(event_row)
    else:
        stored = await store.insert(ctx.db, event=event_row)
    if not stored:
        return DUPLICATE
    found = worker(state)
    if found is not None:
        found.wake()
    return RECEIVED


async def stripe_webhook(request: Request) -> Response:
    header = require_signature_header(request.headers.get("stripe-signature"))
    payload = await request.body()
    body = await accept(request.app.state, header=header, payload=payload)
    return Response(body, media_type="application/json")
