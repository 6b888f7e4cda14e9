"""SQL for the catalog mirrored from Stripe (products and prices)."""

from __future__ import annotations

import json
from typing import cast

from plugin.billing.catalog import Interval, Price, Product
from plugin.storage.database import Connection, Database, Row


async def upsert_product(conn: Connection, *, product: Product, now: int) -> None:
    await conn.execute(
        """
        INSERT INTO stripe_products (id, name, active, metadata, synced_at)
        VALUES (:id, :name, :active, :metadata, :now)
        ON CONFLICT (id) DO UPDATE SET
            name = excluded.name, active = excluded.active,
            metadata = excluded.metadata, synced_at = excluded.synced_at
        """,
        {
            "id": product.id,
            "name": product.name,
            "active": int(product.active),
            "metadata": json.dumps(product.metadata, sort_keys=True),
            "now": now,
        },
    )


async def upsert_price(conn: Connection, *, price: Price, now: int) -> None:
    await conn.execute(
        """
        INSERT INTO stripe_prices (id, product_id, currency, unit_amount, interval,
                                   interval_count, lookup_key, active, metadata, synced_at)
        VALUES (:id, :product_id, :currency, :unit_amount, :interval,
                :interval_count, :lookup_key, :active, :metadata, :now)
        ON CONFLICT (id) DO UPDATE SET
            product_id = excluded.product_id, currency = excluded.currency,
            unit_amount = excluded.unit_amount, interval = excluded.interval,
            interval_count = excluded.interval_count, lookup_key = excluded.lookup_key,
            active = excluded.active, metadata = excluded.metadata,
            synced_at = excluded.synced_at
        """,
        {
            "id": price.id,
            "product_id": price.product_id,
            "currency": price.currency,
            "unit_amount": price.unit_amount,
            "interval": price.interval,
            "interval_count": price.interval_count,
            "lookup_key": price.lookup_key,
            "active": int(price.active),
            "metadata": json.dumps(price.metadata, sort_keys=True),
            "now": now,
        },
    )


async def replace(db: Database, *, products: list[Product], prices: list[Price], now: int) -> None:
    """Mirror a full pull from Stripe in one transaction: upsert everything seen, and mark
    what Stripe no longer lists as inactive (rows stay: recorded upgrades refer to them)."""
    async with db.transaction() as conn:
        for product in products:
            await upsert_product(conn, product=product, now=now)
        for price in prices:
            await upsert_price(conn, price=price, now=now)
        await conn.execute(
            "UPDATE stripe_prices SET active = 0 WHERE synced_at < :now", {"now": now}
        )
        await conn.execute(
            "UPDATE stripe_products SET active = 0 WHERE synced_at < :now", {"now": now}
        )


def _product(row: Row) -> Product:
    return Product(
        id=row["id"],
        name=row["name"],
        active=bool(row["active"]),
        metadata=json.loads(row["metadata"]),
    )


def _price(row: Row) -> Price:
    return Price(
        id=row["id"],
        product_id=row["product_id"],
        currency=row["currency"],
        unit_amount=row["unit_amount"],
        interval=cast("Interval | None", row["interval"]),
        interval_count=row["interval_count"] or 1,
        lookup_key=row["lookup_key"],
        active=bool(row["active"]),
        metadata=json.loads(row["metadata"]),
    )


async def list_products(db: Database) -> list[Product]:
    async with db.read() as conn:
        rows = await conn.fetch_all("SELECT * FROM stripe_products ORDER BY id")
    return [_product(row) for row in rows]


async def list_prices(db: Database, *, product_id: str | None = None) -> list[Price]:
    async with db.read() as conn:
        rows = await conn.fetch_all(
            "SELECT * FROM stripe_prices WHERE (product_id = :product_id OR :product_id IS NULL)"
            " ORDER BY id",
            {"product_id": product_id},
        )
    return [_price(row) for row in rows]


async def get_price(db: Database, price_id: str) -> Price | None:
    async with db.read() as conn:
        row = await conn.fetch_one("SELECT * FROM stripe_prices WHERE id = :id", {"id": price_id})
    return _price(row) if row else None
