"""SQL for the subscription mirror (subscriptions and their items) kept from Stripe webhooks."""

from __future__ import annotations

from typing import cast

from plugin.billing.catalog import Interval
from plugin.billing.mirror import MirrorItem, MirrorSubscription
from plugin.storage.database import Connection, Database, Row


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
                                            unit_amount, currency, interval, interval_count)
            VALUES (:id, :subscription_id, :price_id, :product_id, :quantity,
                    :unit_amount, :currency, :interval, :interval_count)
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
            },
        )


def _item(row: Row) -> MirrorItem:
    return MirrorItem(
        id=row["id"],
        price_id=row["price_id"],
        product_id=row["product_id"],
        quantity=row["quantity"],
        unit_amount=row["unit_amount"],
        currency=row["currency"],
        interval=cast("Interval | None", row["interval"]),
        interval_count=row["interval_count"] or 1,
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
