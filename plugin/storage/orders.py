"""SQL for orders: completed purchases the widget can follow with a post-order cross-sell.

A subscription bought through Checkout is reported twice (`checkout.session.completed` and its
first `invoice.paid`), so both sightings share one key (the subscription id) and fill in each
other's columns instead of making two orders.
"""

from __future__ import annotations

from dataclasses import dataclass

from plugin.storage.database import Connection, Database, Row


@dataclass(frozen=True, slots=True)
class Order:
    key: str
    customer_id: str | None
    subscription_id: str | None
    checkout_session_id: str | None
    invoice_id: str | None
    currency: str | None
    amount_total: int | None
    created_at: int


async def record(
    conn: Connection,
    *,
    key: str,
    customer_id: str | None,
    subscription_id: str | None,
    checkout_session_id: str | None,
    invoice_id: str | None,
    currency: str | None,
    amount_total: int | None,
    created_at: int,
    now: int,
) -> None:
    await conn.execute(
        """
        INSERT INTO orders (key, customer_id, subscription_id, checkout_session_id, invoice_id,
                            currency, amount_total, created_at, recorded_at)
        VALUES (:key, :customer_id, :subscription_id, :checkout_session_id, :invoice_id,
                :currency, :amount_total, :created_at, :now)
        ON CONFLICT (key) DO UPDATE SET
            customer_id = COALESCE(orders.customer_id, excluded.customer_id),
            subscription_id = COALESCE(orders.subscription_id, excluded.subscription_id),
            checkout_session_id = COALESCE(orders.checkout_session_id,
                                           excluded.checkout_session_id),
            invoice_id = COALESCE(orders.invoice_id, excluded.invoice_id),
            currency = COALESCE(orders.currency, excluded.currency),
            amount_total = COALESCE(orders.amount_total, excluded.amount_total),
            created_at = CASE WHEN excluded.created_at < orders.created_at
                              THEN excluded.created_at ELSE orders.created_at END
        """,
        {
            "key": key,
            "customer_id": customer_id,
            "subscription_id": subscription_id,
            "checkout_session_id": checkout_session_id,
            "invoice_id": invoice_id,
            "currency": currency,
            "amount_total": amount_total,
            "created_at": created_at,
            "now": now,
        },
    )


def _order(row: Row) -> Order:
    return Order(
        key=row["key"],
        customer_id=row["customer_id"],
        subscription_id=row["subscription_id"],
        checkout_session_id=row["checkout_session_id"],
        invoice_id=row["invoice_id"],
        currency=row["currency"],
        amount_total=row["amount_total"],
        created_at=row["created_at"],
    )


async def get(db: Database, key: str) -> Order | None:
    async with db.read() as conn:
        row = await conn.fetch_one("SELECT * FROM orders WHERE key = :key", {"key": key})
    return _order(row) if row else None


async def list_for_customer(db: Database, *, customer_id: str) -> list[Order]:
    async with db.read() as conn:
        rows = await conn.fetch_all(
            "SELECT * FROM orders WHERE customer_id = :customer_id ORDER BY created_at DESC, id",
            {"customer_id": customer_id},
        )
    return [_order(row) for row in rows]
