"""Read model for revenue metrics: the MRR ledger, the upgrades Uplift executed, and each
customer's plan tier at a moment, as plugin.metrics.revenue' plain rows."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from fractions import Fraction
from typing import Any

from plugin.metrics.revenue import CurrencyFacts, Facts, LedgerMovement, Upgrade, UpgradeKind
from plugin.storage.database import Connection, Database, Row
from plugin.timespan import DAY

_KINDS: dict[str, UpgradeKind] = {
    "upgrade": "upgrade",
    "interval_switch": "interval_switch",
    "cross_sell": "cross_sell",
    "post_order": "cross_sell",
    "bundle": "cross_sell",
}


async def movements(
    conn: Connection, *, before: int, since: int | None = None
) -> list[LedgerMovement]:
    """Every movement before `before` (the history decides each subscription's MRR at start),
    or only those since `since`."""
    # No `:since IS NULL OR …`: PostgreSQL cannot tell that parameter's type.
    rows = await conn.fetch_all(
        """
        SELECT customer_id, subscription_id, kind, currency, amount, mrr_after, occurred_at,
               offer_id
        FROM mrr_movements WHERE occurred_at < :before AND occurred_at >= :since
        ORDER BY occurred_at, id
        """,
        {"before": before, "since": -(1 << 62) if since is None else since},
    )
    return [
        LedgerMovement(
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


# Aggregated in SQL -------------------------------------------------------------------------
#
# What `GET /api/v1/admin/metrics` runs: plugin.metrics.revenue.facts over every row would read the
# whole ledger and every upgrade into Python (seconds at 100,000 upgrades), so the same facts
# are summed here, reading only the period and the customers who moved in it. Two properties
# of the ledger make that exact:
#
# - it is a chain: each subscription's movements go from one MRR to the next (the webhook
#   handler writes the mirror and the movement in one transaction), so MRR at t is the sum of
#   the amounts before t;
# - MRR leaves zero only by `new` or `reactivation` and reaches zero only by `churn`, so the
#   number of paying subscriptions at t is a count of those kinds before t. Customers with
#   several subscriptions are few; they are counted one by one and the count corrected.
#
# The queries run concurrently on the read pool (SQLite releases the GIL while it works);
# each sees its own snapshot, which a write landing between them can make differ by that
# one write.

# The upgrade's kind as `metrics_store.upgrades` decides it, in SQL.
_KIND = """CASE WHEN {o}.kind IN ('cross_sell', 'post_order', 'bundle') THEN 'cross_sell'
    WHEN {o}.kind = 'interval_switch' THEN 'interval_switch'
    WHEN {u}.mrr_delta < 0 THEN 'downgrade'
    WHEN {o}.kind = 'upgrade' OR {u}.mrr_delta > 0 THEN 'upgrade' ELSE 'other' END"""
_CHANGING = "('succeeded', 'scheduled', 'processing')"
_PAYING = {"new": 1, "reactivation": 1, "churn": -1}  # how each kind moves the paying count

_BEFORE = """
    SELECT currency, kind, sum(amount) AS amount, count(*) AS n FROM mrr_movements
    WHERE occurred_at < :start GROUP BY currency, kind
"""
_DURING = """
    SELECT currency, kind, sum(amount) AS amount, count(*) AS n FROM mrr_movements
    WHERE occurred_at >= :start AND occurred_at < :end GROUP BY currency, kind
"""
_SEVERAL = """
    SELECT customer_id, currency, subscription_id,
           sum(CASE WHEN occurred_at < :start THEN amount ELSE 0 END) AS mrr_start,
           sum(CASE WHEN occurred_at < :end THEN amount ELSE 0 END) AS mrr_end
    FROM mrr_movements
    WHERE customer_id IN (SELECT customer_id FROM subscriptions
                          GROUP BY customer_id HAVING count(*) > 1)
    GROUP BY customer_id, currency, subscription_id
"""
# The NDR cohort's change: only customers who moved in the period can have changed.
_COHORT = """
    SELECT currency, sum(change) AS change FROM (
        SELECT customer_id, currency,
               sum(CASE WHEN occurred_at < :start THEN amount ELSE 0 END) AS mrr_start,
               sum(CASE WHEN occurred_at >= :start AND kind <> 'new' THEN amount ELSE 0 END)
                   AS change
        FROM mrr_movements
        WHERE occurred_at < :end AND customer_id IN (
            SELECT customer_id FROM mrr_movements
            WHERE occurred_at >= :start AND occurred_at < :end)
        GROUP BY customer_id, currency) per
    WHERE mrr_start > 0 GROUP BY currency
"""
# Succeeded upgrades whose success (their last `succeeded` status) falls in the period, with
# what time to upsell and conversion need about their customer.
_SUCCEEDED = f"""
    SELECT u.id, u.customer_id, u.currency, u.mrr_delta, u.amount_paid, u.offer_id, u.variant,
           {_KIND.format(u="u", o="o")} AS kind, e.at AS succeeded_at,
           (SELECT min(pe.at) FROM upgrades p
            JOIN upgrade_events pe ON pe.upgrade_id = p.id AND pe.status = 'succeeded'
            LEFT JOIN offers po ON po.id = p.offer_id
            WHERE p.customer_id = u.customer_id AND p.status = 'succeeded'
              AND {_KIND.format(u="p", o="po")} = 'upgrade') AS first_upgrade_at,
           (SELECT min(m.occurred_at) FROM mrr_movements m
            WHERE m.customer_id = u.customer_id AND m.kind = 'new') AS first_paid_at
    FROM (SELECT upgrade_id, max(at) AS at FROM upgrade_events
          WHERE status = 'succeeded' AND at >= :start AND at < :end GROUP BY upgrade_id) e
    JOIN upgrades u ON u.id = e.upgrade_id
    LEFT JOIN offers o ON o.id = u.offer_id
    WHERE u.status = 'succeeded' AND NOT EXISTS (
        SELECT 1 FROM upgrade_events l
        WHERE l.upgrade_id = u.id AND l.status = 'succeeded' AND l.at >= :end)
"""  # noqa: S608 -- built from the constants above, no input
# Customers paying at start below the top tier, in two parts.
#
# Most customers neither moved nor changed plan through Uplift since `start` and hold one
# subscription: for them the mirror is the state at start (it holds the ledger's last MRR),
# so they are counted straight from the ladder's prices, index to index. The others
# ("touched") are looked at one by one: tier at start as `tiers_at` says (the plan they left
# through Uplift since, else today's), paying at start from the ledger. A subscription
# seeded into the mirror without a webhook (as `uplift demo` does) counts as paying here and
# not in the MRR figures.
_TOUCHED = f"""
    SELECT customer_id FROM mrr_movements WHERE occurred_at >= :start
    UNION SELECT customer_id FROM upgrades WHERE created_at >= :start AND status IN {_CHANGING}
    UNION SELECT u.customer_id FROM upgrade_events e JOIN upgrades u ON u.id = e.upgrade_id
          WHERE e.status = 'succeeded' AND e.at >= :start
    UNION SELECT customer_id FROM subscriptions GROUP BY customer_id HAVING count(*) > 1
"""  # noqa: S608 -- built from the constants above, no input
_UNTOUCHED_ELIGIBLE = f"""
    SELECT count(DISTINCT s.customer_id) AS n
    FROM plans pl
    JOIN plan_prices pp ON pp.plan_id = pl.id
    JOIN subscription_items i ON i.price_id = pp.price_id
    JOIN subscriptions s ON s.id = i.subscription_id
    WHERE pl.tier < :top AND s.mrr > 0 AND s.customer_id NOT IN ({_TOUCHED})
"""  # noqa: S608 -- built from the constants above, no input
_ELIGIBLE = f"""
    WITH moved AS (
        SELECT subscription_id, sum(CASE WHEN occurred_at < :start THEN amount ELSE 0 END) AS mrr
        FROM mrr_movements
        WHERE subscription_id IN (SELECT subscription_id FROM mrr_movements
                                  WHERE occurred_at >= :start)
        GROUP BY subscription_id
    ), changed AS (
        SELECT u.subscription_id, u.from_price FROM upgrades u
        WHERE u.created_at >= :start AND u.status IN {_CHANGING} AND NOT EXISTS (
            SELECT 1 FROM upgrades e
            WHERE e.subscription_id = u.subscription_id AND e.created_at >= :start
              AND e.status IN {_CHANGING}
              AND (e.created_at < u.created_at OR (e.created_at = u.created_at AND e.id < u.id)))
    ), per AS (
        SELECT s.customer_id, max(pl.tier) AS tier, max(coalesce(mv.mrr, s.mrr)) AS mrr
        FROM subscriptions s
        JOIN subscription_items i ON i.subscription_id = s.id
        LEFT JOIN changed c ON c.subscription_id = s.id
        JOIN plan_prices pp ON pp.price_id = coalesce(c.from_price, i.price_id)
        JOIN plans pl ON pl.id = pp.plan_id
        LEFT JOIN moved mv ON mv.subscription_id = s.id
        WHERE {{where}}
        GROUP BY s.customer_id
    )
    SELECT customer_id FROM per WHERE mrr > 0 AND tier < :top
"""  # noqa: S608 -- built from the constants above; `where` holds named placeholders only
_TOUCHED_ELIGIBLE = _ELIGIBLE.format(where=f"s.customer_id IN ({_TOUCHED})")


async def _read(db: Database, sql: str, params: dict[str, Any]) -> list[Row]:
    async with db.read() as conn:
        return await conn.fetch_all(sql, params)


def _upgrades(rows: list[Row]) -> list[Upgrade]:
    return [
        Upgrade(
            id=r["id"], customer_id=r["customer_id"], kind=r["kind"], status="succeeded",
            currency=r["currency"], mrr_delta=r["mrr_delta"], amount_paid=r["amount_paid"] or 0,
            succeeded_at=r["succeeded_at"], offer_id=r["offer_id"], variant=r["variant"],
        )
        for r in rows
    ]  # fmt: skip


async def aggregated(db: Database, *, start: int, end: int) -> tuple[Facts, list[Upgrade]]:
    """plugin.metrics.revenue.Facts for `[start, end)` from SQL aggregates, and the succeeded
    upgrades of the period (for the per-offer breakdown)."""
    if end <= start:
        raise ValueError("the period must end after it starts")
    async with db.read() as conn:
        top = await top_tier(conn)
    period = {"start": start, "end": end}
    eligible_params = {"start": start, "top": top if top is not None else 1 << 62}
    before, during, several, cohort, succeeded, untouched, touched = await asyncio.gather(
        _read(db, _BEFORE, {"start": start}),
        _read(db, _DURING, period),
        _read(db, _SEVERAL, period),
        _read(db, _COHORT, period),
        _read(db, _SUCCEEDED, period),
        _read(db, _UNTOUCHED_ELIGIBLE, eligible_params),
        _read(db, _TOUCHED_ELIGIBLE, eligible_params),
    )
    upgrades = _upgrades(succeeded)
    mrr: dict[str, int] = defaultdict(int)  # at start, per currency
    subs_paying: dict[str, int] = defaultdict(int)  # subscriptions paying at start
    for r in before:
        mrr[r["currency"]] += r["amount"]
        subs_paying[r["currency"]] += _PAYING.get(r["kind"], 0) * r["n"]
    moved: dict[str, dict[str, int]] = defaultdict(dict)
    paying_delta: dict[str, int] = defaultdict(int)
    for r in during:
        moved[r["currency"]][r["kind"]] = abs(r["amount"])
        paying_delta[r["currency"]] += _PAYING.get(r["kind"], 0) * r["n"]
    # A customer paying through k subscriptions was counted k times; count them once.
    subs: dict[tuple[str, str], list[tuple[int, int]]] = defaultdict(list)
    for r in several:
        subs[(r["customer_id"], r["currency"])].append((r["mrr_start"], r["mrr_end"]))
    extra_start: dict[str, int] = defaultdict(int)
    extra_end: dict[str, int] = defaultdict(int)
    for (_, currency), states in subs.items():
        extra_start[currency] += max(0, sum(1 for s, _ in states if s > 0) - 1)
        extra_end[currency] += max(0, sum(1 for _, e in states if e > 0) - 1)
    change = {r["currency"]: r["change"] for r in cohort}
    currencies = sorted(set(mrr) | set(moved) | {u.currency for u in upgrades})
    found = []
    for cur in currencies:
        start_mrr, start_subs = mrr[cur], subs_paying[cur]
        kinds = moved.get(cur, {})
        ups = [u for u in upgrades if u.currency == cur and u.kind == "upgrade"]
        cross = [u for u in upgrades if u.currency == cur and u.kind == "cross_sell"]
        found.append(
            CurrencyFacts(
                currency=cur,
                mrr_start=start_mrr,
                mrr_end=start_mrr
                + sum(kinds.get(k, 0) for k in ("new", "expansion", "reactivation"))
                - sum(kinds.get(k, 0) for k in ("contraction", "churn")),
                paying_start=start_subs - extra_start[cur],
                paying_end=start_subs + paying_delta[cur] - extra_end[cur],
                cohort_change=change.get(cur) or 0,
                moved=kinds,
                upgrades=len(ups),
                upgrade_mrr=sum(u.mrr_delta for u in ups),
                cross_sell_mrr=sum(u.mrr_delta for u in cross),
                cross_sell_paid=sum(u.amount_paid for u in cross),
            )
        )
    first: dict[str, tuple[int, int | None]] = {}
    for r in succeeded:
        at = r["first_upgrade_at"]
        if r["kind"] == "upgrade" and at is not None and start <= at < end:
            first[r["customer_id"]] = (at, r["first_paid_at"])
    # Whoever upgraded in the period moved in it, so is among the touched.
    converted = set(first) & {r["customer_id"] for r in touched}
    return (
        Facts(
            start=start,
            end=end,
            currencies=found,
            eligible=untouched[0]["n"] + len(touched),
            converted=len(converted),
            upsell_days=[
                Fraction(at - paid, DAY)
                for at, paid in first.values()
                if paid is not None and at >= paid
            ],
        ),
        upgrades,
    )


async def funnel(db: Database, *, start: int, end: int) -> list[Row]:
    """Per offer and arm, for `[start, end)`: customers first exposed (assigned), customers
    who clicked, who accepted; one row per (offer_id, arm)."""
    period = {"start": start, "end": end}
    exposed, steps = await asyncio.gather(
        _read(
            db,
            """
            SELECT offer_id, arm, count(*) AS n FROM offer_assignments
            WHERE assigned_at >= :start AND assigned_at < :end GROUP BY offer_id, arm
            """,
            period,
        ),
        _read(
            db,
            """
            SELECT offer_id, arm, type, count(DISTINCT customer_id) AS n FROM offer_events
            WHERE type IN ('click', 'accept') AND at >= :start AND at < :end
            GROUP BY offer_id, arm, type
            """,
            period,
        ),
    )
    rows: dict[tuple[str, str], Row] = {}
    for r in exposed:
        rows.setdefault((r["offer_id"], r["arm"]), {"exposed": 0, "click": 0, "accept": 0})
        rows[(r["offer_id"], r["arm"])]["exposed"] = r["n"]
    for r in steps:
        rows.setdefault((r["offer_id"], r["arm"]), {"exposed": 0, "click": 0, "accept": 0})
        rows[(r["offer_id"], r["arm"])][r["type"]] = r["n"]
    return [
        {"offer_id": offer, "arm": arm, "exposed": r["exposed"], "clicked": r["click"],
         "accepted": r["accept"]}
        for (offer, arm), r in sorted(rows.items())
    ]  # fmt: skip


async def opening_mrr(conn: Connection, *, at: int) -> dict[str, int]:
    """Total MRR per currency just before `at`: the sum of the ledger's amounts before it."""
    rows = await conn.fetch_all(
        "SELECT currency, sum(amount) AS mrr FROM mrr_movements WHERE occurred_at < :at"
        " GROUP BY currency",
        {"at": at},
    )
    return {r["currency"]: r["mrr"] for r in rows}


async def succeeded(db: Database, *, start: int, end: int) -> list[Upgrade]:
    """The upgrades whose success falls in `[start, end)`."""
    return _upgrades(await _read(db, _SUCCEEDED, {"start": start, "end": end}))
