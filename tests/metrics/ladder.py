"""The plan ladder of the metrics tests, in three currencies (jpy zero-decimal), with yearly
and quarterly prices and one add-on, and what both metric paths are compared on.

Basic 1, Pro 2, Enterprise 3 (the top); Advanced Reports is an add-on, off the ladder. usd
Basic 2900/mo, Pro 9900/mo or 99000/yr (8250/mo), Enterprise 29900/mo, Reports 1900/mo; eur
Basic 7500 a quarter (2500/mo), Pro 8500/mo; jpy Basic ¥3000/mo, Pro ¥120000/yr (10000/mo),
Enterprise ¥30000/mo.
"""

from __future__ import annotations

from datetime import UTC, datetime

import httpx

from plugin.billing.catalog import Price, Product
from plugin.billing.ledger import apply_snapshot
from plugin.billing.mirror import MirrorItem, MirrorSubscription
from plugin.metrics import revenue as metrics
from plugin.storage import Database
from plugin.storage import catalog as catalog_store
from plugin.storage import metrics as metrics_store
from tests.factories import ADMIN
from tests.support import NOW


def at(day: str, hour: int = 12) -> int:
    return int(datetime.fromisoformat(f"{day}T{hour:02}:00:00").replace(tzinfo=UTC).timestamp())


PRODUCTS = {"prod_basic": "Basic", "prod_pro": "Pro", "prod_ent": "Enterprise",
            "prod_reports": "Advanced Reports"}  # fmt: skip
PRICES = {
    p.id: p
    for p in (
        Price("price_basic_usd", "prod_basic", "usd", 2900, "month"),
        Price("price_pro_usd", "prod_pro", "usd", 9900, "month"),
        Price("price_pro_usd_y", "prod_pro", "usd", 99000, "year"),
        Price("price_ent_usd", "prod_ent", "usd", 29900, "month"),
        Price("price_reports_usd", "prod_reports", "usd", 1900, "month"),
        Price("price_basic_eur_q", "prod_basic", "eur", 7500, "month", interval_count=3),
        Price("price_pro_eur", "prod_pro", "eur", 8500, "month"),
        Price("price_basic_jpy", "prod_basic", "jpy", 3000, "month"),
        Price("price_pro_jpy_y", "prod_pro", "jpy", 120000, "year"),
        Price("price_ent_jpy", "prod_ent", "jpy", 30000, "month"),
    )
}
PLANS = {
    "plans": [
        {"id": "basic", "name": "Basic", "tier": 1,
         "prices": ["price_basic_usd", "price_basic_eur_q", "price_basic_jpy"]},
        {"id": "pro", "name": "Pro", "tier": 2,
         "prices": ["price_pro_usd", "price_pro_usd_y", "price_pro_eur", "price_pro_jpy_y"]},
        {"id": "enterprise", "name": "Enterprise", "tier": 3,
         "prices": ["price_ent_usd", "price_ent_jpy"]},
    ]
}  # fmt: skip


async def seed_ladder(client: httpx.AsyncClient, db: Database) -> None:
    """The catalog's products and prices, and the plan ladder through the admin API."""
    async with db.transaction() as conn:
        for product_id, name in PRODUCTS.items():
            await catalog_store.upsert_product(
                conn, product=Product(id=product_id, name=name), now=NOW
            )
        for price in PRICES.values():
            await catalog_store.upsert_price(conn, price=price, now=NOW)
    planned = await client.put("/api/v1/admin/plans", json=PLANS, headers=ADMIN)
    assert planned.status_code == 200, planned.text


def subscription(
    sub: str, customer: str, status: str, prices: list[str], *, item: str | None = None
) -> MirrorSubscription:
    """A snapshot of `sub`: its first item is `item` (default `si_<sub>`), the others
    `<item>_<product>`."""
    first = item or f"si_{sub}"
    items = []
    for i, price_id in enumerate(prices):
        price = PRICES[price_id]
        items.append(
            MirrorItem(
                id=first + ("" if i == 0 else f"_{price.product_id[5:]}"),
                price_id=price.id, product_id=price.product_id, quantity=1,
                unit_amount=price.unit_amount, currency=price.currency, interval=price.interval,
                interval_count=price.interval_count,
            )
        )  # fmt: skip
    return MirrorSubscription(
        id=sub, customer_id=customer, status=status, currency=PRICES[prices[0]].currency,
        items=tuple(items), current_period_start=None, current_period_end=None,
        trial_end=None, cancel_at_period_end=False, canceled_at=None,
    )  # fmt: skip


async def deliver(db: Database, event: str, snapshot: MirrorSubscription, occurred_at: int) -> None:
    """A webhook's snapshot, the way the handler records it: history, mirror, ledger."""
    async with db.transaction() as conn:
        await apply_snapshot(
            conn, snapshot=snapshot, source_id=event, occurred_at=occurred_at, now=NOW
        )


async def pure_facts(db: Database, *, start: int, end: int) -> metrics.Facts:
    """plugin.metrics.revenue.facts over every row: the definitions, for the SQL to equal."""
    async with db.read() as conn:
        return metrics.facts(
            movements=await metrics_store.movements(conn, before=end, tiers=True),
            upgrades=await metrics_store.upgrades(conn, before=end),
            start=start, end=end,
            tier_at_start=await metrics_store.tiers_at(conn, at=start),
            top_tier=await metrics_store.top_tier(conn),
            assignments=await metrics_store.assignments(conn, before=end),
            prices_at_end=await metrics_store.prices_at(conn, at=end),
            addons=await metrics_store.addons(conn),
        )  # fmt: skip
