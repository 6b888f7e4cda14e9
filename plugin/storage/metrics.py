"""Read model for revenue metrics: the MRR ledger, the upgrades Uplift executed, and each
customer's plan tier at a moment, as plugin.metrics' plain rows."""

from __future__ import annotations

from plugin.metrics import Movement, Upgrade, UpgradeKind
from plugin.storage import Connection

_KINDS: dict[str, UpgradeKind] = {
    "upgrade": "upgrade",
    "interval_switch": "interval_switch",
    "cross_sell": "cross_sell",
    "post_order": "cross_sell",
    "bundle": "cross_sell",
}


async def movements(conn: Connection, *, before: int) -> list[Movement]:
    """Every movement before `before` (the history decides each subscription's MRR at start)."""
    rows = await conn.fetch_all(
        """
        SELECT customer_id, subscription_id, kind, currency, amount, mrr_after, occurred_at,
               offer_id
        FROM mrr_movements WHERE occurred_at < :before ORDER BY occurred_at, id
        """,
        {"before": before},
    )
    return [
        Movement(
            customer_id=r["customer_id"],
            subscription_id=r["subscription_id"],
            kind=r["kind"],
            currency=r["currency"],
            amount=r["amount"],
            mrr_after=r["mrr_after"],
            occurred_at=r["occurred_at"],
            offer_id=r["offer_id"],
        )
        for r in rows
    ]


async def upgrades(conn: Connection, *, before: int) -> list[Upgrade]:
    """Upgrades created before `before`; `succeeded_at` from their status history. The kind is
    the offer's (a post-order or bundle offer is a cross-sell); without an offer, the sign of
    the MRR change says upgrade or downgrade."""
    rows = await conn.fetch_all(
        """
        SELECT u.id, u.customer_id, u.status, u.currency, u.mrr_delta, u.amount_paid,
               u.offer_id, u.variant, o.kind AS offer_kind,
               (SELECT max(e.at) FROM upgrade_events e
                WHERE e.upgrade_id = u.id AND e.status = 'succeeded') AS succeeded_at
        FROM upgrades u LEFT JOIN offers o ON o.id = u.offer_id
        WHERE u.created_at < :before
        ORDER BY u.created_at, u.id
        """,
        {"before": before},
    )
    found = []
    for r in rows:
        kind: UpgradeKind = _KINDS.get(r["offer_kind"] or "", "other")
        if kind in ("upgrade", "other") and r["mrr_delta"] < 0:
            kind = "downgrade"
        elif kind == "other" and r["mrr_delta"] > 0:
            kind = "upgrade"
        found.append(
            Upgrade(
                id=r["id"],
                customer_id=r["customer_id"],
                kind=kind,
                status=r["status"],
                currency=r["currency"],
                mrr_delta=r["mrr_delta"],
                amount_paid=r["amount_paid"] or 0,
                succeeded_at=r["succeeded_at"],
                offer_id=r["offer_id"],
                variant=r["variant"],
            )
        )
    return found


async def tiers_at(conn: Connection, *, at: int) -> dict[str, int]:
    """Stripe customer -> the tier of their plan at `at`.

    The mirror holds today's price; a customer who changed plan through Uplift since `at` was
    on the `from_price` of their first such change. Changes made outside Uplift (the Stripe
    dashboard) after `at` are not known here, so for those customers this is today's tier.
    """
    rows = await conn.fetch_all(
        """
        SELECT s.customer_id AS customer,
               coalesce((SELECT u.from_price FROM upgrades u
                         WHERE u.subscription_id = s.id AND u.created_at >= :at
                           AND u.status IN ('succeeded', 'scheduled', 'processing')
                         ORDER BY u.created_at LIMIT 1), i.price_id) AS price
        FROM subscriptions s JOIN subscription_items i ON i.subscription_id = s.id
        """,
        {"at": at},
    )
    tiers = {
        r["price_id"]: r["tier"]
        for r in await conn.fetch_all(
            "SELECT pp.price_id, p.tier FROM plan_prices pp JOIN plans p ON p.id = pp.plan_id"
        )
    }
    found: dict[str, int] = {}
    for r in rows:
        tier = tiers.get(r["price"])
        if tier is not None:
            found[r["customer"]] = max(tier, found.get(r["customer"], tier))
    return found


async def top_tier(conn: Connection) -> int | None:
    value = await conn.fetch_value("SELECT max(tier) FROM plans")
    return int(value) if value is not None else None
