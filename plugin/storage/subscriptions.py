"""SQL for the subscription mirror (subscriptions and their items) kept from Stripe webhooks."""

from __future__ import annotations

from dataclasses import replace
from typing import cast

from plugin.billing.catalog import Interval
from plugin.billing.mirror import MirrorItem, MirrorSubscription
from plugin.storage.catalog import prices_by_id, pricing_of, pricing_params
from plugin.storage.database import Connection, Database, Row


async def with_catalog(conn: Connection, subscription: MirrorSubscription) -> MirrorSubscription:
    """`subscription` with what its payload could not say filled in from the catalog: the
    product of a legacy plan that named none, and the tiers of a tiered price (Stripe sends
    tiers only when expanded, so a subscription event usually lacks them). Items the catalog
    does not know stay as they are."""
    wanted = [
        item.price_id
        for item in subscription.items
        if item.product_id is None or (item.billing_scheme == "tiered" and item.tiers is None)
    ]
    if not wanted:
        return subscription
    known = await prices_by_id(conn, wanted)
    items = []
    for item in subscription.items:
        price = known.get(item.price_id)
        if price is not None:
            item = replace(
                item,
                product_id=item.product_id or price.product_id,
                tiers=item.tiers if item.tiers is not None else price.tiers,
                tiers_mode=item.tiers_mode or price.tiers_mode,
            )
        items.append(item)
    return replace(subscription, items=tuple(items))


async def upsert(conn: Connection, *, subscription: MirrorSubscription, now: int) -> None:
    """Replace the mirrored subscription and its items with `subscription`."""
    await conn.execute(
        """
        INSERT INTO subscriptions (id, customer_id, status, currency, current_period_start,
                                   current_period_end, trial_end, cancel_at_period_end,
                                   canceled_at, mrr, updated_at)
        VALUES (:id, :customer_id, :status, :currency, :current_period_start,
                :current_period_end, :trial_end, :cancel_at_period_end,
                :canceled_at, :mrr, :now)
        ON CONFLICT (id) DO UPDATE SET
            customer_id = excluded.customer_id, status = excluded.status,
            currency = excluded.currency, current_period_start = excluded.current_period_start,
            current_period_end = excluded.current_period_end, trial_end = excluded.trial_end,
            cancel_at_period_end = excluded.cancel_at_period_end,
            canceled_at = excluded.canceled_at, mrr = excluded.mrr,
            updated_at = excluded.updated_at
        """,
        {
            "id": subscription.id,
            "customer_id": subscription.customer_id,
            "status": subscription.status,
            "currency": subscription.currency,
            "current_period_start": subscription.current_period_start,
            "current_period_end": subscription.current_period_end,
            "trial_end": subscription.trial_end,
            "cancel_at_period_end": int(subscription.cancel_at_period_end),
            "canceled_at": subscription.canceled_at,
            "mrr": subscription.mrr(),
            "now": now,
        },
    )
    await conn.execute(
        "DELETE FROM subscription_items WHERE subscription_id = :id", {"id": subscription.id}
    )
    for item in subscription.items:
        await conn.execute(
            """
            INSERT INTO subscription_items (id, subscription_id, price_id, product_id, quantity,
                                            unit_amount, currency, interval, interval_count,
                                            unit_amount_decimal, billing_scheme, tiers_mode,
                                            tiers, usage_type, transform_divide_by,
                                            transform_round)
            VALUES (:id, :subscription_id, :price_id, :product_id, :quantity,
                    :unit_amount, :currency, :interval, :interval_count,
                    :unit_amount_decimal, :billing_scheme, :tiers_mode,
                    :tiers, :usage_type, :transform_divide_by,
                    :transform_round)
            """,
            {
                "id": item.id,
                "subscription_id": subscription.id,
                "price_id": item.price_id,
                "product_id": item.product_id,
                "quantity": item.quantity,
                "unit_amount": item.unit_amount,
                "currency": item.currency,
                "interval": item.interval,
                "interval_count": item.interval_count,
                **pricing_params(item),
            },
        )


def _item(row: Row) -> MirrorItem:
    pricing = pricing_of(row)
    return MirrorItem(
        id=row["id"],
        price_id=row["price_id"],
        product_id=row["product_id"],
        quantity=row["quantity"],
        unit_amount=row["unit_amount"],
        currency=row["currency"],
        interval=cast("Interval | None", row["interval"]),
        interval_count=row["interval_count"] or 1,
        unit_amount_decimal=pricing.unit_amount_decimal,
        billing_scheme=pricing.billing_scheme,
        tiers_mode=pricing.tiers_mode,
        tiers=pricing.tiers,
        usage_type=pricing.usage_type,
        transform_quantity=pricing.transform_quantity,
    )


async def load(conn: Connection, subscription_id: str) -> MirrorSubscription | None:
    """The mirrored subscription, read on `conn` (inside a write transaction when the caller
    is about to change it)."""
    row = await conn.fetch_one(
        "SELECT * FROM subscriptions WHERE id = :id", {"id": subscription_id}
    )
    if row is None:
        return None
    items = await conn.fetch_all(
        "SELECT * FROM subscription_items WHERE subscription_id = :id ORDER BY id",
        {"id": subscription_id},
    )
    return MirrorSubscription(
        id=row["id"],
        customer_id=row["customer_id"],
        status=row["status"],
        currency=row["currency"],
        items=tuple(_item(item) for item in items),
        current_period_start=row["current_period_start"],
        current_period_end=row["current_period_end"],
        trial_end=row["trial_end"],
        cancel_at_period_end=bool(row["cancel_at_period_end"]),
        canceled_at=row["canceled_at"],
    )


async def get(db: Database, subscription_id: str) -> MirrorSubscription | None:
    async with db.read() as conn:
        return await load(conn, subscription_id)


async def list_for_customer(db: Database, *, customer_id: str) -> list[MirrorSubscription]:
    async with db.read() as conn:
        ids = await conn.fetch_all(
            "SELECT id FROM subscriptions WHERE customer_id = :customer_id ORDER BY id",
            {"customer_id": customer_id},
        )
        found = [await load(conn, row["id"]) for row in ids]
    return [sub for sub in found if sub is not None]
