"""`POST /webhooks/stripe`: verify, store once, acknowledge; processing happens later.

Order (STYLE habit 10): the header must be there, the raw bytes must carry a valid signature
from a configured secret, the body must be a Stripe snapshot event; only then is anything
written. The 200 goes out after the insert has committed (RELIABILITY-NOTES rule 2), for a
redelivered id too. Every rejection is a 400 in the contract's error shape, never a 500.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse

from plugin.errors import BadRequest
from plugin.services import services
from webhooks import signature, store
from webhooks.events import EventError, parse_event
from webhooks.intake import IntakeQueue
from webhooks.worker import Worker


def worker(request: Request) -> Worker | None:
    found: Worker | None = getattr(request.app.state, "webhook_worker", None)
    return found


async def stripe_webhook(request: Request) -> JSONResponse:
    ctx = services(request)
    header = request.headers.get("stripe-signature")
    # Fail fast on a request that cannot be from Stripe, before reading a possibly large body.
    if not header:
        raise BadRequest("The Stripe-Signature header is missing.", code="signature_missing")
    payload = await request.body()
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
    event_row = store.NewEvent(
        id=event.id,
        type=event.type,
        object_id=event.object_id,
        created=event.created,
        livemode=event.livemode,
        payload=payload.decode("utf-8"),
        received_at=now,
    )
    intake: IntakeQueue | None = getattr(request.app.state, "webhook_intake", None)
    if intake is not None:
        stored = await intake.store(event_row)
    else:
        stored = await store.insert(ctx.db, event=event_row)
    if stored:
        found = worker(request)
        if found is not None:
            found.wake()
    return JSONResponse({"received": True, "duplicate": not stored})
