"""Processing one stored event: the `type → handler` table, ordering, retry bookkeeping.

Order per object: Stripe does not deliver in order (docs/reliability.md rule 4). A subscription
event always reaches its handler, which keeps the subscription's whole history in Stripe's order
and derives the MRR movements from it (`IN_HISTORY`, plugin/billing/ledger.py). For other
objects (products, prices) the newest snapshot is all that matters: an event older (by Stripe's
`created`) than the newest one already applied to the same object is stale and skipped. Ties
are left to the handler, which can ask Stripe.

A handler that raises is retried with backoff; after `MAX_ATTEMPTS` the event is `failed`, with
the error text kept for the operator, until someone replays it over the admin API. A payload
that can never be parsed (`EventError`) is `failed` at once: retrying cannot change it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping

from plugin.storage import stripe_events as store
from plugin.webhooks import handlers
from plugin.webhooks.events import Event, EventError, parse_event
from plugin.webhooks.handlers import Context

Handler = Callable[[Context, Event], Awaitable[None]]

HANDLERS: Mapping[str, Handler] = {
    "customer.subscription.created": handlers.subscription_changed,
    "customer.subscription.updated": handlers.subscription_changed,
    "customer.subscription.deleted": handlers.subscription_changed,
    "customer.subscription.paused": handlers.subscription_changed,
    "customer.subscription.resumed": handlers.subscription_changed,
    "customer.subscription.pending_update_applied": handlers.subscription_changed,
    "customer.subscription.pending_update_expired": handlers.subscription_changed,
    "checkout.session.completed": handlers.checkout_completed,
    "invoice.paid": handlers.invoice_paid,
    # The legacy twin of invoice.paid; localstripe sends only this one. Both are idempotent.
    "invoice.payment_succeeded": handlers.invoice_paid,
    "invoice.payment_failed": handlers.invoice_payment_failed,
    "invoice.payment_action_required": handlers.invoice_action_required,
    "product.created": handlers.product_changed,
    "product.updated": handlers.product_changed,
    "product.deleted": handlers.product_changed,
    "price.created": handlers.price_changed,
    "price.updated": handlers.price_changed,
    "price.deleted": handlers.price_changed,
    "plan.created": handlers.price_changed,
    "plan.updated": handlers.price_changed,
    "plan.deleted": handlers.price_changed,
}

# Types whose handler keeps the object's history and must see late events too.
IN_HISTORY = frozenset(
    name for name, handler in HANDLERS.items() if handler is handlers.subscription_changed
)

# Handlers that touch nothing but `ctx.db` and `ctx.gateway`, so the worker may run them in a
# shared batch (plugin/webhooks/worker.py): a handler of its own table runs alone.
SHAREABLE = frozenset(HANDLERS.values())

MAX_ATTEMPTS = 5
BACKOFF = (10, 60, 300, 1800)  # seconds before attempts 2, 3, 4 and 5
LEASE = 300  # a claimed event is left alone this long by other worker processes
MAX_ERROR_CHARS = 500


def backoff(attempts: int) -> int:
    """Seconds to wait after the `attempts`-th failed attempt."""
    return BACKOFF[min(attempts, len(BACKOFF)) - 1]


def describe(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}"
    return text[:MAX_ERROR_CHARS]


async def attempt(
    ctx: Context, stored: store.StoredEvent, *, table: Mapping[str, Handler] = HANDLERS
) -> store.Status:
    """Run one claimed event's handler and mark it done; raises what the handler raised (the
    caller records it: `process`). Its writes are transactions of `ctx.db`, so inside a
    shared batch (plugin/storage/shared.py) they commit with the batch or not at all."""
    handler = table.get(stored.type)
    if handler is None:
        async with ctx.db.transaction() as conn:
            await store.finish(conn, event_id=stored.id, status="ignored", now=ctx.now)
        return "ignored"
    event = parse_event(stored.payload.encode("utf-8"))
    stale = False
    if stored.object_id is not None and stored.type not in IN_HISTORY:
        async with ctx.db.read() as conn:
            seen = await store.object_version(conn, stored.object_id)
        stale = seen is not None and seen.event_created > event.created
    if not stale:
        await handler(ctx, event)
    async with ctx.db.transaction() as conn:
        if stored.object_id is not None and not stale:
            await store.advance_version(
                conn, object_id=stored.object_id, created=event.created, event_id=event.id
            )
        await store.finish(conn, event_id=stored.id, status="processed", now=ctx.now)
    return "processed"


async def process(
    ctx: Context, stored: store.StoredEvent, *, table: Mapping[str, Handler] = HANDLERS
) -> store.Status:
    """Run one claimed event to its next state, on its own; returns that state."""
    try:
        return await attempt(ctx, stored, table=table)
    except Exception as exc:
        return await record_failure(ctx, stored, exc)


async def record_failure(ctx: Context, stored: store.StoredEvent, exc: Exception) -> store.Status:
    """An attempt at `stored` raised `exc`: keep the error on the event and retry it later, or
    fail it; returns the event's state."""
    error = describe(exc)
    if isinstance(exc, EventError):
        # The payload can never be read as this type's object: retrying cannot help.
        await store.fail(ctx.db, event_id=stored.id, error=error, now=ctx.now)
        return "failed"
    # Any other failure, ours or Stripe's, is recorded on the event and retried; it never
    # reaches Stripe (which got its 200 long ago) and never stops the worker.
    if stored.attempts >= MAX_ATTEMPTS:
        await store.fail(ctx.db, event_id=stored.id, error=error, now=ctx.now)
        return "failed"
    await store.retry_later(
        ctx.db, event_id=stored.id, error=error, at=ctx.now + backoff(stored.attempts)
    )
    return "pending"
