"""SQL for the admin's plan ladder (tiers, the prices of each plan, limits, features)."""

from __future__ import annotations

import json

from plugin.billing.catalog import Plan
from plugin.storage.database import Connection, Database, Row, in_clause


def _plan(row: Row, prices: tuple[str, ...]) -> Plan:
    return Plan(
        id=row["id"],
        name=row["name"],
        tier=row["tier"],
        prices=prices,
        limits=json.loads(row["limits"]),
        features=tuple(json.loads(row["features"])),
    )


async def replace(conn: Connection, *, plans: list[Plan], now: int) -> None:
    """The ladder is replaced whole (PUT): it is small, and a partial ladder has no order.
    Two replacements at once take turns (on PostgreSQL the second's DELETE would not see the
    first's new rows, and its INSERTs would collide with them)."""
    await conn.lock("uplift.plans")
    await conn.execute("DELETE FROM plan_prices")
    await conn.execute("DELETE FROM plans")
    for plan in plans:
        await conn.execute(
            """
            INSERT INTO plans (id, name, tier, limits, features, updated_at)
            VALUES (:id, :name, :tier, :limits, :features, :now)
            """,
            {
                "id": plan.id,
                "name": plan.name,
                "tier": plan.tier,
                "limits": json.dumps(plan.limits, sort_keys=True),
                "features": json.dumps(list(plan.features)),
                "now": now,
            },
        )
        for price in plan.prices:
            await conn.execute(
                "INSERT INTO plan_prices (price_id, plan_id) VALUES (:price, :plan)",
                {"price": price, "plan": plan.id},
            )


async def list_all(conn: Connection) -> list[Plan]:
    rows = await conn.fetch_all("SELECT * FROM plans ORDER BY tier")
    prices: dict[str, list[str]] = {}
    for row in await conn.fetch_all("SELECT plan_id, price_id FROM plan_prices ORDER BY price_id"):
        prices.setdefault(row["plan_id"], []).append(row["price_id"])
    return [_plan(row, tuple(prices.get(row["id"], ()))) for row in rows]


async def for_prices(db: Database, price_ids: list[str]) -> dict[str, str]:
    """price id -> plan id, for the prices that are on the ladder."""
    if not price_ids:
        return {}
    fragment, params = in_clause("price", price_ids)
    async with db.read() as conn:
        rows = await conn.fetch_all(
            f"SELECT price_id, plan_id FROM plan_prices WHERE price_id IN {fragment}",  # noqa: S608 -- placeholders only
            params,
        )
    return {row["price_id"]: row["plan_id"] for row in rows}
