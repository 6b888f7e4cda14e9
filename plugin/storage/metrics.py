"""Read model for revenue metrics: the MRR ledger (with each expansion's plan-ladder tiers, from
the subscriptions' snapshots), the upgrades Uplift executed, and each subscription's plan tier
at a moment, as plugin.metrics.revenue's plain rows; and the same facts summed in SQL for the
endpoint. Who can be upsold and what an upgrade is: plugin/metrics/revenue.py, for both."""

from __future__ import annotations

import asyncio
import json
from collections import defaultdict
from collections.abc import Mapping
from typing import Any

from plugin.metrics import revenue
from plugin.metrics.revenue import (
    ArmOutcome,
    Assignment,
    CurrencyFacts,
    Facts,
    LedgerMovement,
    SubscriptionAtStart,
    Upgrade,
    UpgradeKind,
    arm_outcomes,
)
from plugin.storage.database import Connection, Database, Row

_KINDS: dict[str, UpgradeKind] = {
    "upgrade": "upgrade",
    "interval_switch": "interval_switch",
    "cross_sell": "cross_sell",
    "post_order": "cross_sell",
    "bundle": "cross_sell",
}


async def movements(
    conn: Connection, *, before: int, since: int | None = None, tiers: bool = False
) -> list[LedgerMovement]:
    """Every movement before `before` (the history decides each subscription's MRR at start),
    or only those since `since`; with `tiers`, each expansion's plan-ladder tier before and
    after it (what tells an upgrade), which the time series do not need."""
    # No `:since IS NULL OR …`: PostgreSQL cannot tell that parameter's type.
    params = {"before": before, "since": -(1 << 62) if since is None else since}
    if tiers:
        return await _tiered(
            conn, _TIERED.format(where="m.occurred_at < :before AND m.occurred_at >= :since"),
            params,
        )  # fmt: skip
    rows = await conn.fetch_all(
        """
        SELECT customer_id, subscription_id, kind, currency, amount, mrr_after, occurred_at,
               offer_id
        FROM mrr_movements WHERE occurred_at < :before AND occurred_at >= :since
        ORDER BY occurred_at, id
        """,
        params,
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


# Plan-ladder tiers (plugin.metrics.revenue `tier_of`) ----------------------------------------
#
# A movement's tiers come from the subscription's snapshots (plugin/billing/history.py): the
# prices of the snapshot that made it, and of the one before it in Stripe's order. A movement
# without them (recorded before snapshots kept prices, or written straight into the ledger)
# falls back to the Uplift upgrade it is credited to, whose from and to prices say the tiers;
# failing both, its tiers are unknown and it is not an upgrade. Only expansions can be
# upgrades, so only theirs are looked up.
_TIERED = """
    SELECT m.customer_id, m.subscription_id, m.kind, m.currency, m.amount, m.mrr_after,
           m.occurred_at, m.offer_id, a.price_ids AS prices_after,
           CASE WHEN m.kind = 'expansion' THEN (
               SELECT b.price_ids FROM subscription_snapshots b
               WHERE b.subscription_id = a.subscription_id
                 AND (b.occurred_at < a.occurred_at
                      OR (b.occurred_at = a.occurred_at AND b.seq < a.seq))
               ORDER BY b.occurred_at DESC, b.seq DESC LIMIT 1) END AS prices_before,
           u.from_price, u.to_price
    FROM mrr_movements m
    LEFT JOIN subscription_snapshots a
           ON m.kind = 'expansion' AND a.subscription_id = m.subscription_id
          AND a.source_id = m.event_id
    LEFT JOIN upgrades u ON m.kind = 'expansion' AND u.id = m.upgrade_id
    WHERE {where}
    ORDER BY m.occurred_at, m.id
"""


async def ladder(conn: Connection) -> dict[str, int]:
    """Plan price -> its plan's tier."""
    rows = await conn.fetch_all(
        "SELECT pp.price_id, p.tier FROM plan_prices pp JOIN plans p ON p.id = pp.plan_id"
    )
    return {r["price_id"]: r["tier"] for r in rows}


def _prices(raw: str | None) -> list[str] | None:
    """A snapshot's prices; None when not known (no snapshot, or one kept without prices)."""
    found = json.loads(raw) if raw else []
    return [str(p) for p in found] or None


async def _tiered(conn: Connection, sql: str, params: dict[str, Any]) -> list[LedgerMovement]:
    rows = await conn.fetch_all(sql, params)
    prices = await ladder(conn)
    # An expansion's tiers follow from its four price columns alone, and a shop has few
    # distinct ones (the same JSON lists of prices recur): each is worked out once per call.
    known: dict[tuple[Any, ...], tuple[int | None, int | None]] = {}
    found = []
    for r in rows:
        before: int | None = None
        after: int | None = None
        if r["kind"] == "expansion":
            key = (r["prices_before"], r["prices_after"], r["from_price"], r["to_price"])
            tiers = known.get(key)
            if tiers is None:
                tiers = known[key] = _expansion_tiers(*key, prices)
            before, after = tiers
        found.append(
            LedgerMovement(
                customer_id=r["customer_id"], subscription_id=r["subscription_id"],
                kind=r["kind"], currency=r["currency"], amount=r["amount"],
                mrr_after=r["mrr_after"], occurred_at=r["occurred_at"], offer_id=r["offer_id"],
                tier_before=before, tier_after=after,
            )
        )  # fmt: skip
    return found


def _expansion_tiers(
    prices_before: str | None,
    prices_after: str | None,
    from_price: str | None,
    to_price: str | None,
    ladder_prices: Mapping[str, int],
) -> tuple[int | None, int | None]:
    """An expansion's plan-ladder tier before and after it: from the snapshots around it, else
    from the Uplift change that made it; (None, None) when neither says."""
    was, now = _prices(prices_before), _prices(prices_after)
    if was is None or now is None:
        was = [from_price] if from_price else None
        now = [to_price] if to_price else None
    if was is None or now is None:
        return None, None
    return revenue.tier_of(was, ladder_prices), revenue.tier_of(now, ladder_prices)


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


async def tiers_at(conn: Connection, *, at: int) -> dict[str, int | None]:
    """Subscription -> its plan-ladder tier at `at` (plugin.metrics.revenue `tier_of`), for every
    subscription the snapshots or the mirror know."""
    return await _tiers_at(conn, at=at, where="1 = 1")


async def prices_at(conn: Connection, *, at: int) -> dict[str, list[str]]:
    """Subscription -> the prices of its items at `at`, for every subscription known."""
    return await _prices_at(conn, at=at, where="1 = 1")


async def addons(conn: Connection) -> dict[str, str]:
    """Recurring price -> its product, for the products off the plan ladder (add-ons)."""
    rows = await conn.fetch_all(_ADDONS)
    return {r["id"]: r["product_id"] for r in rows}


_ADDONS = """
    SELECT p.id, p.product_id FROM stripe_prices p
    WHERE p.interval IS NOT NULL AND p.product_id NOT IN (
        SELECT sp.product_id FROM plan_prices pp JOIN stripe_prices sp ON sp.id = pp.price_id)
"""


async def _tiers_at(
    conn: Connection, *, at: int, where: str, params: dict[str, Any] | None = None
) -> dict[str, int | None]:
    """`_prices_at`'s subscriptions, each with the highest ladder tier among its prices."""
    ladder_prices = await ladder(conn)
    found = await _prices_at(conn, at=at, where=where, params=params)
    return {sub: revenue.tier_of(held, ladder_prices) for sub, held in found.items()}


async def _prices_at(
    conn: Connection, *, at: int, where: str, params: dict[str, Any] | None = None
) -> dict[str, list[str]]:
    """The prices at `at` of the subscriptions `where` selects (a condition on
    `subscription_id`, named placeholders only; `params` are its parameters).

    They are those of the subscription's last snapshot before `at`. Without one (a
    subscription mirrored before snapshots kept prices, or seeded without a webhook), they are
    the mirror's items, each item an Uplift change has moved since `at` put back on the
    change's `from_price`; a change made outside Uplift since then is not known there.
    """
    params = {**(params or {}), "at": at}
    found: dict[str, list[str]] = {}
    snapshots = await conn.fetch_all(
        f"""
        SELECT subscription_id, price_ids FROM subscription_snapshots
        WHERE occurred_at < :at AND {where}
        ORDER BY subscription_id, occurred_at, seq
        """,  # noqa: S608 -- `where` holds named placeholders only
        params,
    )
    last: dict[str, list[str] | None] = {}
    for r in snapshots:
        last[r["subscription_id"]] = _prices(r["price_ids"])
    for sub, known in last.items():
        if known is not None:
            found[sub] = known
    items = await conn.fetch_all(
        f"""
        SELECT subscription_id, id, price_id FROM subscription_items WHERE {where}
        ORDER BY subscription_id, id
        """,  # noqa: S608 -- `where` holds named placeholders only
        params,
    )
    # Every change since `at` (few, and read by index), the ones of other subscriptions unused.
    changes = await conn.fetch_all(
        f"""
        SELECT subscription_id, subscription_item_id, from_price FROM upgrades
        WHERE created_at >= :at AND status IN {_CHANGING}
        ORDER BY created_at DESC, id DESC
        """,  # noqa: S608 -- built from constants
        {"at": at},
    )
    # Newest first, so the first change since `at` is the one left in place.
    put_back: dict[tuple[str, str], str] = {
        (r["subscription_id"], r["subscription_item_id"]): r["from_price"] for r in changes
    }
    held: dict[str, list[str]] = defaultdict(list)
    for r in items:
        key = (r["subscription_id"], r["id"])
        held[r["subscription_id"]].append(put_back.get(key) or r["price_id"])
    for sub, mirrored in held.items():
        found.setdefault(sub, mirrored)
    return found


async def top_tier(conn: Connection) -> int | None:
    value = await conn.fetch_value("SELECT max(tier) FROM plans")
    return int(value) if value is not None else None


async def assignments(conn: Connection, *, before: int) -> list[Assignment]:
    """Every first exposure before `before` (offer, customer, arm), for the lift."""
    rows = await conn.fetch_all(
        "SELECT offer_id, customer_id, arm, assigned_at FROM offer_assignments"
        " WHERE assigned_at < :before ORDER BY offer_id, customer_id",
        {"before": before},
    )
    return [Assignment(r["offer_id"], r["customer_id"], r["arm"], r["assigned_at"]) for r in rows]


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
    SELECT currency, kind, sum(amount) AS amount, count(*) AS n,
           sum(CASE WHEN offer_id IS NOT NULL THEN amount ELSE 0 END) AS attributed
    FROM mrr_movements
    WHERE occurred_at >= :start AND occurred_at < :end GROUP BY currency, kind
"""
_SEVERAL = """
    SELECT customer_id, currency, subscription_id,
           sum(CASE WHEN occurred_at < :start THEN amount ELSE 0 END) AS mrr_start,
           sum(CASE WHEN occurred_at < :end THEN amount ELSE 0 END) AS mrr_end
    FROM mrr_movements WHERE customer_id IN ({multi})
    GROUP BY customer_id, currency, subscription_id
"""
# Customers with several subscriptions (read once, handed to the queries that need them).
_MULTI = "SELECT customer_id FROM subscriptions GROUP BY customer_id HAVING count(*) > 1"
# Per customer and currency, over the customers who moved in the period (only they can have
# changed since its start): their MRR at start and `{columns}`, summed over their movements
# before its end. NDR's cohort reads it here, LTV's in plugin/storage/ltv.py.
MOVERS = """
    SELECT customer_id, currency,
           sum(CASE WHEN occurred_at < :start THEN amount ELSE 0 END) AS mrr_start, {columns}
    FROM mrr_movements
    WHERE occurred_at < :end AND customer_id IN (
        SELECT customer_id FROM mrr_movements
        WHERE occurred_at >= :start AND occurred_at < :end)
    GROUP BY customer_id, currency
"""
# The NDR cohort's change.
_CHANGE = "sum(CASE WHEN occurred_at >= :start AND kind <> 'new' THEN amount ELSE 0 END) AS change"
_COHORT = f"""
    SELECT currency, sum(change) AS change FROM ({MOVERS.format(columns=_CHANGE)}) per
    WHERE mrr_start > 0 GROUP BY currency
"""  # noqa: S608 -- built from constants, no input
# Succeeded upgrades whose success (their last `succeeded` status) falls in the period: Uplift's
# figures and the per-offer breakdown.
_SUCCEEDED = f"""
    SELECT u.id, u.customer_id, u.currency, u.mrr_delta, u.amount_paid, u.offer_id, u.variant,
           {_KIND.format(u="u", o="o")} AS kind, e.at AS succeeded_at
    FROM (SELECT upgrade_id, max(at) AS at FROM upgrade_events
          WHERE status = 'succeeded' AND at >= :start AND at < :end GROUP BY upgrade_id) e
    JOIN upgrades u ON u.id = e.upgrade_id
    LEFT JOIN offers o ON o.id = u.offer_id
    WHERE u.status = 'succeeded' AND NOT EXISTS (
        SELECT 1 FROM upgrade_events l
        WHERE l.upgrade_id = u.id AND l.status = 'succeeded' AND l.at >= :end)
"""  # noqa: S608 -- built from the constants above, no input
# Customers paying at start below the top tier (plugin.metrics.revenue `tier_of`), in two parts.
#
# Most customers neither moved nor changed plan since `start` and hold one subscription: for
# them the mirror's items are the prices at start, and the ledger's MRR now is the MRR at
# start, so they are counted here in SQL, with the same rule (the highest tier among the
# subscription's items below the top). Paying is the ledger's say: the mirror's MRR stands for
# the ledger's last movement (the webhook handler writes both in one transaction), and a
# subscription without any movement (seeded into the mirror without a webhook, as `uplift
# demo` does) pays nothing in any figure. The others ("touched") are looked at one by one,
# through `_tiers_at` and the ledger, as the pure path looks at everyone.
_TOUCHED = f"""
    SELECT customer_id FROM mrr_movements WHERE occurred_at >= :start
    UNION SELECT customer_id FROM subscription_snapshots WHERE occurred_at >= :start
    UNION SELECT customer_id FROM upgrades WHERE created_at >= :start AND status IN {_CHANGING}
    UNION SELECT u.customer_id FROM upgrade_events e JOIN upgrades u ON u.id = e.upgrade_id
          WHERE e.status = 'succeeded' AND e.at >= :start
"""  # noqa: S608 -- built from the constants above, no input
# The touched customers (those `_TOUCHED` finds, and those with several subscriptions), found
# once and handed to the queries below as a JSON list (`{listed}`: the dialect's way to read
# one), rather than found again by each.
_LISTED = {
    "sqlite": "SELECT value FROM json_each(:touched)",
    "postgresql": "SELECT json_array_elements_text(:touched::json)",
}


def _listed(db: Database, name: str) -> str:
    """The dialect's subquery reading the JSON list parameter `name`."""
    return _LISTED[db.dialect].replace(":touched", f":{name}")


# The untouched are counted as everyone the rule counts now (`{only}` empty) less the touched
# among them (`{only}` limiting it to the touched): `NOT IN` the touched list, tested on each
# of the shop's subscriptions, cost more than both, and the first need not wait for the list.
_ELIGIBLE_NOW = """
    SELECT count(*) AS n FROM (
        SELECT s.customer_id, max(pl.tier) AS tier
        FROM subscriptions s
        JOIN subscription_items i ON i.subscription_id = s.id
        JOIN plan_prices pp ON pp.price_id = i.price_id
        JOIN plans pl ON pl.id = pp.plan_id
        WHERE {only} s.mrr > 0
          AND EXISTS (SELECT 1 FROM mrr_movements m WHERE m.subscription_id = s.id)
        GROUP BY s.customer_id) per
    WHERE tier < (SELECT max(tier) FROM plans)
"""
# The touched customers' subscriptions with their ledger MRR at start.
_TOUCHED_PAYING = """
    SELECT customer_id, subscription_id, currency,
           sum(CASE WHEN occurred_at < :start THEN amount ELSE 0 END) AS mrr
    FROM mrr_movements WHERE customer_id IN ({listed})
    GROUP BY customer_id, subscription_id, currency
"""
# Attach rates at a period's end, the same way: the customers untouched since the end hold the
# mirror's add-ons (counted here); the touched ones are looked at one by one.
_UNTOUCHED_ATTACHED = f"""
    SELECT s.currency, ap.product_id, count(DISTINCT s.customer_id) AS n
    FROM ({_ADDONS}) ap
    CROSS JOIN subscription_items i  -- SQLite: from the few add-on prices to their items
    JOIN subscriptions s ON s.id = i.subscription_id
    WHERE i.price_id = ap.id AND s.customer_id NOT IN ({{listed}}) AND s.mrr > 0
      AND EXISTS (SELECT 1 FROM mrr_movements m WHERE m.subscription_id = s.id)
    GROUP BY s.currency, ap.product_id
"""  # noqa: S608 -- built from the constants above; `listed` holds named placeholders only
# A JSON list of subscriptions, the same way.
_SUBSCRIPTIONS = {
    "sqlite": "subscription_id IN (SELECT value FROM json_each(:subscriptions))",
    "postgresql": "subscription_id IN (SELECT json_array_elements_text(:subscriptions::json))",
}
# Every expansion, up to the period's end, of the customers with one in the period: the
# period's upgrades, and whether each customer's first upgrade is in it (time to upsell).
_UPGRADE_CANDIDATES = _TIERED.format(
    where="""m.kind = 'expansion' AND m.occurred_at < :end AND m.customer_id IN (
        SELECT customer_id FROM mrr_movements
        WHERE kind = 'expansion' AND occurred_at >= :start AND occurred_at < :end)"""
)
# The period's first exposures per offer and arm, and those of the customers who upgraded.
_ASSIGNED = """
    SELECT offer_id, arm, count(*) AS n FROM offer_assignments
    WHERE assigned_at >= :start AND assigned_at < :end GROUP BY offer_id, arm
"""
_ASSIGNED_UPGRADED = """
    SELECT offer_id, customer_id, arm, assigned_at FROM offer_assignments
    WHERE assigned_at >= :start AND assigned_at < :end AND customer_id IN ({customers})
"""
_FIRST_PAID = """
    SELECT customer_id, min(occurred_at) AS at FROM mrr_movements
    WHERE kind = 'new' AND customer_id IN (
        SELECT customer_id FROM mrr_movements
        WHERE kind = 'expansion' AND occurred_at >= :start AND occurred_at < :end)
    GROUP BY customer_id
"""


# What every part of `aggregated` may wait for: the top tier, and the customers with several
# subscriptions (always looked at one by one).
Prelude = asyncio.Future[tuple[int | None, list[str]]]


async def _prelude(db: Database) -> tuple[int | None, list[str]]:
    async with db.read() as conn:
        top = await top_tier(conn)
        multi = [r["customer_id"] for r in await conn.fetch_all(_MULTI)]
    return top, multi


async def _eligible(
    db: Database, *, start: int, prelude: Prelude
) -> tuple[int, list[SubscriptionAtStart]]:
    """The untouched customers eligible at `start` (a count, from SQL), and the touched ones'
    subscriptions paying at `start`, with their tiers, for
    plugin.metrics.revenue.eligible_customers."""
    listed = _LISTED[db.dialect]
    everyone = asyncio.ensure_future(_read(db, _ELIGIBLE_NOW.format(only=""), {}))
    touched = await _touched(db, since=start, prelude=prelude)

    async def paying() -> list[SubscriptionAtStart]:
        rows = await _read(
            db, _TOUCHED_PAYING.format(listed=listed), {"start": start, "touched": touched}
        )
        rows = [r for r in rows if r["mrr"] > 0]  # only those paying at start have a say
        subscriptions = json.dumps([r["subscription_id"] for r in rows])
        async with db.read() as conn:
            tiers = await _tiers_at(
                conn, at=start, where=_SUBSCRIPTIONS[db.dialect],
                params={"subscriptions": subscriptions},
            )  # fmt: skip
        return [
            SubscriptionAtStart(
                r["customer_id"], r["subscription_id"], r["mrr"], tiers.get(r["subscription_id"])
            )
            for r in rows
        ]

    among_touched, subscriptions, counted = await asyncio.gather(
        _read(
            db, _ELIGIBLE_NOW.format(only=f"s.customer_id IN ({listed}) AND"),
            {"touched": touched},
        ),
        paying(),
        everyone,
    )  # fmt: skip
    return counted[0]["n"] - among_touched[0]["n"], subscriptions


async def _touched(db: Database, *, since: int, prelude: Prelude) -> str:
    """The customers touched since `since`, and those with several subscriptions, as a JSON
    list."""
    found = {r["customer_id"] for r in await _read(db, _TOUCHED, {"start": since})}
    _, multi = await prelude
    return json.dumps(sorted(found | set(multi)))


async def _attached(db: Database, *, end: int, prelude: Prelude) -> dict[str, dict[str, int]]:
    """currency -> add-on product -> customers holding it at `end` (plugin.metrics.revenue
    .attached), the untouched counted in SQL."""
    touched = await _touched(db, since=end, prelude=prelude)
    listed = _LISTED[db.dialect]
    untouched, rows = await asyncio.gather(
        _read(db, _UNTOUCHED_ATTACHED.format(listed=listed), {"touched": touched}),
        _read(db, _TOUCHED_PAYING.format(listed=listed), {"start": end, "touched": touched}),
    )
    rows = [r for r in rows if r["mrr"] > 0]
    async with db.read() as conn:
        held = await _prices_at(
            conn, at=end, where=_SUBSCRIPTIONS[db.dialect],
            params={"subscriptions": json.dumps([r["subscription_id"] for r in rows])},
        )  # fmt: skip
        products = await addons(conn)
    found = revenue.attached(
        ((r["subscription_id"], (r["customer_id"], r["currency"], r["mrr"])) for r in rows),
        held,
        products,
    )
    for r in untouched:
        per = found.setdefault(r["currency"], {})
        per[r["product_id"]] = per.get(r["product_id"], 0) + r["n"]
    return {cur: dict(sorted(per.items())) for cur, per in found.items()}


async def _upgrade_candidates(db: Database, *, start: int, end: int) -> list[LedgerMovement]:
    async with db.read() as conn:
        return await _tiered(conn, _UPGRADE_CANDIDATES, {"start": start, "end": end})


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
    period = {"start": start, "end": end}
    # Every read starts at once; those that need the prelude wait for it, the others do not.
    # The eligibility's chain (touched, then their subscriptions, then their tiers) is the
    # longest, so it asks for a reader first.
    prelude: Prelude = asyncio.ensure_future(_prelude(db))
    eligible_task = asyncio.ensure_future(_eligible(db, start=start, prelude=prelude))

    async def read_several() -> list[Row]:
        _, multi = await prelude
        sql = _SEVERAL.format(multi=_listed(db, "multi"))
        return await _read(db, sql, {**period, "multi": json.dumps(multi)})

    reads, (untouched, touched), candidates, attach = await asyncio.gather(
        asyncio.gather(
            _read(db, _BEFORE, {"start": start}),
            _read(db, _DURING, period),
            read_several(),
            _read(db, _COHORT, period),
            _read(db, _SUCCEEDED, period),
            _read(db, _FIRST_PAID, period),
            _read(db, _ASSIGNED, period),
        ),
        eligible_task,
        _upgrade_candidates(db, start=start, end=end),
        _attached(db, end=end, prelude=prelude),
    )
    top, _ = prelude.result()
    before, during, several, cohort, succeeded, paid, assigned = reads
    upgrades = _upgrades(succeeded)
    mrr: dict[str, int] = defaultdict(int)  # at start, per currency
    subs_paying: dict[str, int] = defaultdict(int)  # subscriptions paying at start
    for r in before:
        mrr[r["currency"]] += r["amount"]
        subs_paying[r["currency"]] += _PAYING.get(r["kind"], 0) * r["n"]
    moved: dict[str, dict[str, int]] = defaultdict(
        lambda: dict.fromkeys(("new", "expansion", "contraction", "churn", "reactivation"), 0)
    )
    attributed: dict[str, int] = defaultdict(int)
    paying_delta: dict[str, int] = defaultdict(int)
    for r in during:
        moved[r["currency"]][r["kind"]] = abs(r["amount"])
        if r["kind"] == "expansion":
            attributed[r["currency"]] += r["attributed"] or 0
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
    in_period = [m for m in candidates if start <= m.occurred_at < end and m.is_upgrade]
    currencies = sorted(set(mrr) | set(moved) | {u.currency for u in upgrades})
    found = []
    for cur in currencies:
        start_mrr, start_subs = mrr[cur], subs_paying[cur]
        kinds = moved[cur]
        ups = [m for m in in_period if m.currency == cur]
        mine = [u for u in upgrades if u.currency == cur and u.kind == "upgrade"]
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
                upgrade_mrr=sum(m.amount for m in ups),
                cross_sell_mrr=sum(u.mrr_delta for u in cross),
                cross_sell_paid=sum(u.amount_paid for u in cross),
                uplift_upgrades=len(mine),
                uplift_upgrade_mrr=sum(u.mrr_delta for u in mine),
                attributed_expansion=attributed[cur],
                attached=attach.get(cur, {}),
            )
        )
    # Whoever upgraded in the period moved in it, so is among the touched.
    eligible = revenue.eligible_customers(touched, top)
    upgraded = {m.customer_id for m in in_period}
    arms = await _arms(db, assigned, revenue.upgrade_times(in_period), start=start, end=end)
    through_uplift = {u.customer_id for u in upgrades if u.kind == "upgrade"}
    return (
        Facts(
            start=start,
            end=end,
            currencies=found,
            eligible=untouched + len(eligible),
            converted=len(upgraded & eligible),
            upsell_days=revenue.upsell_days(
                revenue.first_upgrades(candidates),
                {r["customer_id"]: r["at"] for r in paid},
                start=start,
                end=end,
            ),
            upgraded=len(upgraded),
            uplift_converted=len(through_uplift & eligible),
            arms=arms,
            upgraders=frozenset((m.customer_id, m.currency) for m in in_period),
        ),
        upgrades,
    )


async def _arms(
    db: Database, assigned: list[Row], times: dict[str, list[int]], *, start: int, end: int
) -> list[ArmOutcome]:
    """plugin.metrics.revenue.arm_outcomes from the per-arm counts and the assignments of the
    customers who upgraded (only they can add to `upgraded`)."""
    rows = await _read(
        db, _ASSIGNED_UPGRADED.format(customers=_listed(db, "customers")),
        {"start": start, "end": end, "customers": json.dumps(sorted(times))},
    ) if times else []  # fmt: skip
    found = {
        (o.offer_id, o.arm): o.upgraded
        for o in arm_outcomes(
            (Assignment(r["offer_id"], r["customer_id"], r["arm"], r["assigned_at"]) for r in rows),
            times, start=start, end=end,
        )
    }  # fmt: skip
    return sorted(
        (ArmOutcome(r["offer_id"], r["arm"], r["n"], found.get((r["offer_id"], r["arm"]), 0))
         for r in assigned),
        key=lambda o: (o.offer_id, o.arm),
    )  # fmt: skip


async def funnel(db: Database, *, start: int, end: int) -> list[Row]:
    """Per offer and arm, for `[start, end)`: customers first exposed (assigned), customers
    who clicked, who accepted; one row per (offer_id, arm), with the offer's kind as
    `upgrades` decides it (`cross_sell` for post-order and bundle offers)."""
    period = {"start": start, "end": end}
    exposed, steps, kinds = await asyncio.gather(
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
        _read(db, "SELECT id, kind FROM offers", {}),
    )
    kind_of = {r["id"]: _KINDS.get(r["kind"], "other") for r in kinds}
    rows: dict[tuple[str, str], Row] = {}
    for r in exposed:
        rows.setdefault((r["offer_id"], r["arm"]), {"exposed": 0, "click": 0, "accept": 0})
        rows[(r["offer_id"], r["arm"])]["exposed"] = r["n"]
    for r in steps:
        rows.setdefault((r["offer_id"], r["arm"]), {"exposed": 0, "click": 0, "accept": 0})
        rows[(r["offer_id"], r["arm"])][r["type"]] = r["n"]
    return [
        {"offer_id": offer, "arm": arm, "exposed": r["exposed"], "clicked": r["click"],
         "accepted": r["accept"], "kind": kind_of.get(offer, "other")}
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
