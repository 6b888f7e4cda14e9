"""SQL for the catalog mirrored from Stripe (products and prices)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Protocol, cast

from plugin.billing.catalog import (
    BillingScheme,
    Interval,
    Price,
    Product,
    Tier,
    TiersMode,
    TransformQuantity,
    UsageType,
)
from plugin.storage.database import Connection, Database, Row

# How a price computes its amount, as columns (0010_price_tiers.sql); shared with the mirror's
# items (plugin/storage/subscriptions.py), which carry the same fields. Decimals are stored as
# their exact text, never as floats.


class Priced(Protocol):
    """A `Price` or a `MirrorItem`: both carry Stripe's pricing fields."""

    @property
    def unit_amount_decimal(self) -> Decimal | None: ...
    @property
    def billing_scheme(self) -> BillingScheme: ...
    @property
    def tiers_mode(self) -> TiersMode | None: ...
    @property
    def tiers(self) -> tuple[Tier, ...] | None: ...
    @property
    def usage_type(self) -> UsageType: ...
    @property
    def transform_quantity(self) -> TransformQuantity | None: ...


@dataclass(frozen=True, slots=True)
class Pricing:
    unit_amount_decimal: Decimal | None
    billing_scheme: BillingScheme
    tiers_mode: TiersMode | None
    tiers: tuple[Tier, ...] | None
    usage_type: UsageType
    transform_quantity: TransformQuantity | None


def _text(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def pricing_params(price: Priced) -> dict[str, Any]:
    """The pricing columns of a `Price` or a `MirrorItem` (both carry Stripe's fields)."""
    transform = price.transform_quantity
    tiers = price.tiers
    return {
        "unit_amount_decimal": _text(price.unit_amount_decimal),
        "billing_scheme": price.billing_scheme,
        "tiers_mode": price.tiers_mode,
        "tiers": None
        if tiers is None
        else json.dumps(
            [
                {
                    "up_to": t.up_to,
                    "unit_amount": _text(t.unit_amount),
                    "flat_amount": _text(t.flat_amount),
                }
                for t in tiers
            ]
        ),
        "usage_type": price.usage_type,
        "transform_divide_by": transform.divide_by if transform else None,
        "transform_round": transform.round if transform else None,
    }


def _decimal(value: object) -> Decimal | None:
    return None if value is None else Decimal(str(value))


def pricing_of(row: Row) -> Pricing:
    raw = row.get("tiers")
    tiers = (
        None
        if raw is None
        else tuple(
            Tier(
                up_to=t["up_to"],
                unit_amount=_decimal(t["unit_amount"]),
                flat_amount=_decimal(t["flat_amount"]),
            )
            for t in json.loads(raw)
        )
    )
    divide_by = row.get("transform_divide_by")
    return Pricing(
        unit_amount_decimal=_decimal(row.get("unit_amount_decimal")),
        billing_scheme=cast(BillingScheme, row.get("billing_scheme") or "per_unit"),
        tiers_mode=cast("TiersMode | None", row.get("tiers_mode")),
        tiers=tiers,
        usage_type=cast(UsageType, row.get("usage_type") or "licensed"),
        transform_quantity=None
        if divide_by is None
        else TransformQuantity(
            divide_by=divide_by, round="up" if row.get("transform_round") == "up" else "down"
        ),
    )


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
                                   interval_count, lookup_key, active, metadata, synced_at,
                                   unit_amount_decimal, billing_scheme, tiers_mode, tiers,
                                   usage_type, transform_divide_by, transform_round)
        VALUES (:id, :product_id, :currency, :unit_amount, :interval,
                :interval_count, :lookup_key, :active, :metadata, :now,
                :unit_amount_decimal, :billing_scheme, :tiers_mode, :tiers,
                :usage_type, :transform_divide_by, :transform_round)
        ON CONFLICT (id) DO UPDATE SET
            product_id = excluded.product_id, currency = excluded.currency,
            unit_amount = excluded.unit_amount, interval = excluded.interval,
            interval_count = excluded.interval_count, lookup_key = excluded.lookup_key,
            active = excluded.active, metadata = excluded.metadata,
            synced_at = excluded.synced_at,
            unit_amount_decimal = excluded.unit_amount_decimal,
            billing_scheme = excluded.billing_scheme, tiers_mode = excluded.tiers_mode,
            -- Stripe sends tiers only when expanded: a snapshot without them keeps the known ones.
            tiers = CASE WHEN excluded.billing_scheme = 'tiered'
                         THEN coalesce(excluded.tiers, stripe_prices.tiers) END,
            usage_type = excluded.usage_type,
            transform_divide_by = excluded.transform_divide_by,
            transform_round = excluded.transform_round
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
            **pricing_params(price),
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
    pricing = pricing_of(row)
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
        unit_amount_decimal=pricing.unit_amount_decimal,
        billing_scheme=pricing.billing_scheme,
        tiers_mode=pricing.tiers_mode,
        tiers=pricing.tiers,
        usage_type=pricing.usage_type,
        transform_quantity=pricing.transform_quantity,
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


async def prices_by_id(conn: Connection, price_ids: list[str]) -> dict[str, Price]:
    """The catalog's prices among `price_ids`, read on `conn`."""
    found: dict[str, Price] = {}
    for price_id in dict.fromkeys(price_ids):
        row = await conn.fetch_one("SELECT * FROM stripe_prices WHERE id = :id", {"id": price_id})
        if row is not None:
            found[price_id] = _price(row)
    return found
