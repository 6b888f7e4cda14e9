"""What each handled event does. One function per event family; `dispatch.HANDLERS` maps types.

Handlers are idempotent on their own keys (docs/reliability.md rule 5): the mirror is replaced by
the snapshot, MRR movements are keyed by event id, orders by subscription (or session/invoice)
id, catalog rows by Stripe id, and the upgrade hooks by invoice id. So an event processed again
after a crash between its side effects and `processed` changes nothing twice.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

from plugin import storage
from plugin.billing import ledger, upgrades
from plugin.billing.catalog import Product
from plugin.billing.mirror import MirrorSubscription
from plugin.billing.stripe_gateway import StripeGateway
from plugin.errors import NotReady, StripeRejected
from plugin.storage import Database
from plugin.storage import stripe_events as store
from plugin.webhooks.events import (
    CheckoutSessionObject,
    Event,
    InvoiceObject,
    PriceObject,
    ProductObject,
    SubscriptionObject,
    expandable_id,
    parse_object,
)
from plugin.webhooks.snapshots import metadata_of, mirror_item, mirror_of, price_of


class StripeNotConfigured(NotReady):
    """An event needs a Stripe call and UPLIFT_STRIPE_API_KEY is not set."""


@dataclass(frozen=True, slots=True)
class Context:
    db: Database
    gateway: StripeGateway | None
    now: int

    def stripe(self) -> StripeGateway:
        if self.gateway is None:
            raise StripeNotConfigured("UPLIFT_STRIPE_API_KEY is not set")
        return self.gateway


# Catalog: product.*, price.* and the legacy plan.* (localstripe sends plan.created).


async def product_changed(ctx: Context, event: Event) -> None:
    obj = parse_object(ProductObject, event)
    product = Product(
        id=obj.id,
        name=obj.name or obj.id,
        active=obj.active and not event.type.endswith(".deleted"),
        metadata=metadata_of(obj.metadata),
    )
    async with ctx.db.transaction() as conn:
        await storage.catalog.upsert_product(conn, product=product, now=ctx.now)


async def price_changed(ctx: Context, event: Event) -> None:
    price = price_of(parse_object(PriceObject, event), deleted=event.type.endswith(".deleted"))
    async with ctx.db.transaction() as conn:
        await store.ensure_product(conn, product_id=price.product_id, now=ctx.now)
        await storage.catalog.upsert_price(conn, price=price, now=ctx.now)


# Subscriptions: the mirror and the MRR ledger.


async def _from_stripe(ctx: Context, snapshot: MirrorSubscription) -> MirrorSubscription:
    """The subscription as Stripe has it now; prices from the local catalog, else Stripe."""
    current = await ctx.stripe().retrieve_subscription(snapshot.id)
    items = []
    for item in current.items:
        price = await storage.catalog.get_price(ctx.db, item.price_id)
        if price is None:
            price = await ctx.stripe().retrieve_price(item.price_id)
        items.append(mirror_item(item.id, price, item.quantity))
    first = current.items[0] if current.items else None
    return MirrorSubscription(
        id=current.id,
        customer_id=current.customer_id,
        status=current.status,
        currency=items[0].currency if items else snapshot.currency,
        items=tuple(items),
        current_period_start=first.current_period_start if first else None,
        current_period_end=first.current_period_end if first else None,
        trial_end=current.trial_end,
        cancel_at_period_end=current.cancel_at_period_end,
        canceled_at=snapshot.canceled_at,
    )


async def _learn_prices(ctx: Context, snapshot: MirrorSubscription) -> None:
    """Stripe includes a tiered price's tiers only when asked to expand them, so a subscription
    event usually lacks them: a tiered price the catalog does not know with its tiers is read
    from Stripe (when a key is set) and kept in the catalog, so its MRR can be computed."""
    if all(item.priced and item.product_id is not None for item in snapshot.items):
        return  # the common case: the payload says it all
    async with ctx.db.read() as conn:
        filled = await storage.subscriptions.with_catalog(conn, snapshot)
    missing = [item.price_id for item in filled.items if not item.priced]
    if not missing or ctx.gateway is None:
        return
    for price_id in missing:
        try:
            price = await ctx.gateway.retrieve_price(price_id)
        except StripeRejected:
            continue  # deleted in Stripe: the item stays unpriced (MRR 0), as documented
        async with ctx.db.transaction() as conn:
            await store.ensure_product(conn, product_id=price.product_id, now=ctx.now)
            await storage.catalog.upsert_price(conn, price=price, now=ctx.now)


async def subscription_changed(ctx: Context, event: Event) -> None:
    snapshot = mirror_of(parse_object(SubscriptionObject, event))
    async with ctx.db.read() as conn:
        seen = await store.object_version(conn, snapshot.id)
    tied = seen is not None and seen.event_created == event.created and seen.event_id != event.id
    if tied and ctx.gateway is not None:
        # Two events about this subscription in the same second: `created` cannot say which
        # snapshot is newer, so ask Stripe (dj-stripe and Pay always re-fetch). If Stripe no
        # longer has it (deleted long ago), the snapshot is all there is; if Stripe is
        # unreachable, the error propagates and the event is retried later.
        with contextlib.suppress(StripeRejected):
            snapshot = await _from_stripe(ctx, snapshot)
    await _learn_prices(ctx, snapshot)
    async with ctx.db.transaction() as conn:
        # What the payload could not say (a tiered price's tiers, a legacy plan's product)
        # comes from the catalog.
        snapshot = await storage.subscriptions.with_catalog(conn, snapshot)
        # History, not "newest wins": a late, older snapshot joins the subscription's history
        # in Stripe's order and the movements after it are derived again (billing/ledger.py).
        await ledger.apply_snapshot(
            conn, snapshot=snapshot, source_id=event.id, occurred_at=event.created, now=ctx.now
        )
        await store.advance_version(
            conn, object_id=snapshot.id, created=event.created, event_id=event.id
        )


# Orders and upgrades.


async def checkout_completed(ctx: Context, event: Event) -> None:
    session = parse_object(CheckoutSessionObject, event)
    subscription_id = expandable_id(session.subscription)
    async with ctx.db.transaction() as conn:
        await storage.orders.record(
            conn,
            key=subscription_id or session.id,
            customer_id=expandable_id(session.customer),
            subscription_id=subscription_id,
            checkout_session_id=session.id,
            invoice_id=None,
            currency=session.currency,
            amount_total=session.amount_total,
            created_at=event.created,
            now=ctx.now,
        )


async def invoice_paid(ctx: Context, event: Event) -> None:
    invoice = parse_object(InvoiceObject, event)
    if invoice.billing_reason == "subscription_create":
        # The first paid invoice of a new subscription is an order (bought outside Checkout,
        # or the second sighting of a Checkout purchase: same key, one order).
        subscription_id = invoice.subscription_id
        async with ctx.db.transaction() as conn:
            await storage.orders.record(
                conn,
                key=subscription_id or invoice.id,
                customer_id=expandable_id(invoice.customer),
                subscription_id=subscription_id,
                checkout_session_id=None,
                invoice_id=invoice.id,
                currency=invoice.currency,
                amount_total=invoice.amount_paid
                if invoice.amount_paid is not None
                else invoice.total,
                created_at=event.created,
                now=ctx.now,
            )
    await upgrades.on_invoice_paid(ctx.db, ctx.stripe(), invoice_id=invoice.id, now=ctx.now)


async def invoice_payment_failed(ctx: Context, event: Event) -> None:
    invoice = parse_object(InvoiceObject, event)
    error = invoice.last_finalization_error or {}
    reason = error.get("message") if isinstance(error.get("message"), str) else None
    await upgrades.on_invoice_payment_failed(
        ctx.db, ctx.stripe(), invoice_id=invoice.id, reason=reason, now=ctx.now
    )


async def invoice_action_required(ctx: Context, event: Event) -> None:
    invoice = parse_object(InvoiceObject, event)
    await upgrades.on_invoice_action_required(
        ctx.db,
        ctx.stripe(),
        invoice_id=invoice.id,
        hosted_invoice_url=invoice.hosted_invoice_url,
        now=ctx.now,
    )
