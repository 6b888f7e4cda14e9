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

Two ways in, one path: the route (`stripe_webhook`) and, for every real delivery, its fast
answer (`DeliveryFastPath`, run by plugin/middleware/fast_path.py), which skips the router and
answers with the same bytes. Both call `require_signature_header`, then `accept`.
"""

from __future__ import annotations

from starlette.datastructures import State
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from plugin.api.errors import send_error, to_response
from plugin.errors import BadRequest, UpliftError
from plugin.logs import get_logger
from plugin.middleware.body_limit import BodyLimit, read_body
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


class DeliveryFastPath:
    """The fast answer of `POST /webhooks/stripe` (plugin/middleware/fast_path.py), without the
    layers in between, the router, the exception layer, the route's request wrapper and a
    response object per delivery: Stripe's deliveries come in bursts, and those layers cost
    about as much as verifying and parsing one. The body limit is applied here with
    `BodyLimit`'s own checks (a declared length refused before anything, a chunked body over
    the limit raising from `receive`, here as in the route). It reads the header, then the
    body, then answers with the route's own bytes and headers; an `UpliftError` becomes its
    JSON answer as the app's handler would make it, anything else (a client gone mid-body)
    goes up to the server-error layer as before. One per app, made by `create_app`."""

    def __init__(self, *, max_bytes: int) -> None:
        self._limit = BodyLimit(max_bytes)
        # The route answers `Response(body, media_type="application/json")`; same headers.
        self._headers = {
            body: Response(body, media_type="application/json").raw_headers
            for body in (RECEIVED, DUPLICATE)
        }

    async def __call__(self, scope: Scope, receive: Receive, send: Send, rest: ASGIApp) -> None:
        refusal = self._limit.refusal(scope)
        if refusal is not None:
            await send_error(send, refusal)
            return
        header = None
        for name, value in scope["headers"]:
            if name == b"stripe-signature":  # the first, as `request.headers.get` takes
                header = value.decode("latin-1")
                break
        try:
            header = require_signature_header(header)
            payload = await read_body(self._limit.limited(receive))
            body = await accept(scope["app"].state, header=header, payload=payload)
        except UpliftError as error:
            await to_response(error)(scope, receive, send)
            return
        headers = list(self._headers[body])
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})
