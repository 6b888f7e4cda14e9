"""SQL for the SaaS's customers, their usage and the gated features they hit."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from plugin.errors import ValidationFailed
from plugin.offers.targeting import DailyCounts, feedback_key
from plugin.storage import engagement
from plugin.storage.database import Connection, Params, ReadWouldWait, Row
from plugin.storage.steps import Execute, FetchAll, Steps, run
from plugin.timespan import DAY


@dataclass(frozen=True, slots=True)
class CustomerRecord:
    id: str
    stripe_customer: str | None
    attrs: dict[str, Any] = field(default_factory=dict)
    signup_at: int | None = None
    last_order_at: int | None = None
    created_at: int = 0
    updated_at: int = 0


def _record(row: Row) -> CustomerRecord:
    return CustomerRecord(
        id=row["id"],
        stripe_customer=row["stripe_customer"],
        attrs=json.loads(row["attrs"]),
        signup_at=row["signup_at"],
        last_order_at=row["last_order_at"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


async def upsert(
    conn: Connection,
    *,
    customer_id: str,
    stripe_customer: str | None,
    attrs: dict[str, Any],
    signup_at: int | None,
    now: int,
) -> CustomerRecord:
    row = await conn.fetch_one(
        """
        INSERT INTO customers (id, stripe_customer, attrs, signup_at, created_at, updated_at)
        VALUES (:id, :stripe_customer, :attrs, :signup_at, :now, :now)
        ON CONFLICT (id) DO UPDATE SET
            stripe_customer = excluded.stripe_customer, attrs = excluded.attrs,
            signup_at = excluded.signup_at, updated_at = excluded.updated_at
        RETURNING *
        """,
        {
            "id": customer_id,
            "stripe_customer": stripe_customer,
            "attrs": json.dumps(attrs, sort_keys=True),
            "signup_at": signup_at,
            "now": now,
        },
    )
    assert row is not None  # noqa: S101 -- INSERT … RETURNING always returns the row
    return _record(row)


async def get(conn: Connection, customer_id: str) -> CustomerRecord | None:
    row = await conn.fetch_one("SELECT * FROM customers WHERE id = :id", {"id": customer_id})
    return _record(row) if row else None


async def stripe_customer_taken(
    conn: Connection, *, stripe_customer: str, by_other_than: str
) -> bool:
    """Whether another customer has this Stripe customer. Inside a transaction, the answer
    holds until it ends: a concurrent check of the same Stripe customer waits (PostgreSQL;
    SQLite's write lock already serializes), so two customers never both claim one and the
    loser gets its 409 rather than a unique violation."""
    await conn.lock(f"uplift.stripe_customer:{stripe_customer}")
    found = await conn.fetch_value(
        "SELECT count(*) FROM customers WHERE stripe_customer = :s AND id != :id",
        {"s": stripe_customer, "id": by_other_than},
    )
    return bool(found)


async def record_order(conn: Connection, *, customer_id: str, at: int) -> None:
    await conn.execute(
        """
        UPDATE customers
        SET last_order_at = CASE WHEN coalesce(last_order_at, 0) > :at THEN last_order_at
                                 ELSE :at END
        WHERE id = :id
        """,
        {"id": customer_id, "at": at},
    )


@dataclass(frozen=True, slots=True)
class UsageOutcome:
    value: int
    replayed: bool  # True: this idempotency key was seen before; nothing changed


class UsageKeyReused(ValidationFailed):
    """The same idempotency key came with a different request body."""


def apply_usage_steps(
    *,
    customer_id: str,
    metric: str,
    value: int,
    mode: Literal["set", "increment"],
    idempotency_key: str,
    fingerprint: str,
    now: int,
) -> Steps[UsageOutcome]:
    """Set or increment one metric, once per idempotency key.

    The key is claimed first (insert, not look up): a second request with the same key waits
    for the first one's transaction on PostgreSQL and then replays its outcome, rather than
    both reading "not seen" and the loser failing on the primary key."""
    claimed = yield Execute(
        """
        INSERT INTO usage_requests (customer_id, idempotency_key, fingerprint, value, created_at)
        VALUES (:customer, :key, :fingerprint, 0, :now)
        ON CONFLICT (customer_id, idempotency_key) DO NOTHING
        """,
        {"customer": customer_id, "key": idempotency_key, "fingerprint": fingerprint, "now": now},
    )
    if claimed == 0:
        [seen] = yield FetchAll(  # the conflict means the row exists
            """
            SELECT fingerprint, value FROM usage_requests
            WHERE customer_id = :customer AND idempotency_key = :key
            """,
            {"customer": customer_id, "key": idempotency_key},
        )
        if seen["fingerprint"] != fingerprint:
            raise UsageKeyReused(idempotency_key)
        return UsageOutcome(seen["value"], replayed=True)
    [row] = yield FetchAll(
        """
        INSERT INTO usage (customer_id, metric, value, updated_at)
        VALUES (:customer, :metric, :value, :now)
        ON CONFLICT (customer_id, metric) DO UPDATE SET
            -- Capped at 2^53 (what JSON clients read exactly): past 2^63 SQLite would
            -- silently turn the sum into a float.
            value = CASE WHEN :mode != 'increment' THEN excluded.value
                         WHEN usage.value + excluded.value > 9007199254740992
                         THEN 9007199254740992
                         ELSE usage.value + excluded.value END,
            updated_at = excluded.updated_at
        RETURNING value
        """,
        {"customer": customer_id, "metric": metric, "value": value, "mode": mode, "now": now},
    )
    yield Execute(
        """
        UPDATE usage_requests SET value = :value
        WHERE customer_id = :customer AND idempotency_key = :key
        """,
        {"customer": customer_id, "key": idempotency_key, "value": row["value"]},
    )
    return UsageOutcome(int(row["value"]), replayed=False)


async def usage(conn: Connection, customer_id: str) -> dict[str, int]:
    rows = await conn.fetch_all(
        "SELECT metric, value FROM usage WHERE customer_id = :id", {"id": customer_id}
    )
    return {row["metric"]: row["value"] for row in rows}


def record_feature_hit_steps(*, customer_id: str, feature: str, now: int) -> Steps[None]:
    """The feature's last hit and number of hits, and its count for today (what a counted
    `feature_hit` rule reads; plugin/storage/engagement.py bounds those)."""
    yield Execute(
        """
        INSERT INTO feature_hits (customer_id, feature, hits, first_at, last_at)
        VALUES (:customer, :feature, 1, :now, :now)
        ON CONFLICT (customer_id, feature) DO UPDATE SET
            hits = feature_hits.hits + 1,
            last_at = CASE WHEN excluded.last_at > feature_hits.last_at THEN excluded.last_at
                           ELSE feature_hits.last_at END
        """,
        {"customer": customer_id, "feature": feature, "now": now},
    )
    yield from engagement.count_steps(
        customer_id=customer_id, kind="feature", name=feature, at=now, count=1, now=now
    )


async def record_feature_hit(conn: Connection, *, customer_id: str, feature: str, now: int) -> None:
    await run(conn, record_feature_hit_steps(customer_id=customer_id, feature=feature, now=now))


async def feature_hits(conn: Connection, customer_id: str) -> dict[str, int]:
    """feature -> time of the last hit."""
    rows = await conn.fetch_all(
        "SELECT feature, last_at FROM feature_hits WHERE customer_id = :id", {"id": customer_id}
    )
    return {row["feature"]: row["last_at"] for row in rows}


@dataclass(frozen=True, slots=True)
class TargetingFacts:
    """What the offers endpoint knows about one customer, read in one statement."""

    record: CustomerRecord | None
    stripe_customer: str | None
    usage: dict[str, int]
    feature_hits: dict[str, int]  # feature -> time of the last hit
    feature_uses: dict[str, int]  # feature -> number of hits
    events: list[tuple[str, str, int]]  # (offer_id, type, at), oldest first
    assignments: dict[str, str]
    items: list[tuple[str, str, str, str | None]]  # (subscription, status, price, interval)
    last_order_at: int | None
    # When the customer last answered each offer, and each offer with each answer key
    # (`targeting.feedback_key`): the `feedback` rule's facts.
    answered: dict[str, int] = field(default_factory=dict)
    # Daily counts within the retention (plugin/storage/engagement.py): product events by
    # name, feature hits by feature.
    event_counts: dict[str, DailyCounts] = field(default_factory=dict)
    feature_counts: dict[str, DailyCounts] = field(default_factory=dict)


# One statement, one hop to the database thread: on the hot path, the number of round trips
# costs more than SQLite's work. Each part is an indexed lookup; JSON carries the lists back.
# This read model reaches into the mirror (subscriptions, orders) and offer events on purpose.
_FACTS = """
WITH me AS (
    SELECT coalesce((SELECT stripe_customer FROM customers WHERE id = :customer), :token_cus)
           AS cus
)
SELECT
    (SELECT json_object('id', id, 'stripe_customer', stripe_customer, 'attrs', json(attrs),
                        'signup_at', signup_at, 'last_order_at', last_order_at,
                        'created_at', created_at, 'updated_at', updated_at)
     FROM customers WHERE id = :customer) AS record,
    (SELECT cus FROM me) AS cus,
    (SELECT json_group_object(metric, value) FROM usage WHERE customer_id = :customer) AS usage,
    (SELECT json_group_object(feature, json_array(last_at, hits)) FROM feature_hits
     WHERE customer_id = :customer) AS hits,
    (SELECT json_group_array(json_array(offer_id, type, at)) FROM (
        SELECT offer_id, type, at FROM offer_events
        WHERE customer_id = :customer AND type != 'exposure'
          AND (at >= :since OR type IN ('decline', 'accept'))
        ORDER BY at)) AS events,
    (SELECT json_group_object(offer_id, arm) FROM offer_assignments
     WHERE customer_id = :customer) AS arms,
    (SELECT json_group_array(json_array(s.id, s.status, i.price_id, i.interval))
     FROM subscriptions s JOIN subscription_items i ON i.subscription_id = s.id
     WHERE s.customer_id = (SELECT cus FROM me)) AS items,
    (SELECT max(created_at) FROM orders WHERE customer_id = (SELECT cus FROM me)) AS last_order,
    (SELECT json_group_array(json_array(offer_id, answer, at)) FROM feedback
     WHERE customer_id = :customer) AS answered,
    (SELECT json_group_array(json_array(kind, name, day, count)) FROM engagement_counts
     WHERE customer_id = :customer AND day >= :since_day) AS counts
"""

# The same read in PostgreSQL's JSON functions (its aggregates give NULL, not `{}`, over no rows).
_FACTS_POSTGRES = """
WITH me AS (
    SELECT coalesce((SELECT stripe_customer FROM customers WHERE id = :customer), :token_cus)
           AS cus
)
SELECT
    (SELECT json_build_object('id', id, 'stripe_customer', stripe_customer,
                              'attrs', attrs::json, 'signup_at', signup_at,
                              'last_order_at', last_order_at, 'created_at', created_at,
                              'updated_at', updated_at)::text
     FROM customers WHERE id = :customer) AS record,
    (SELECT cus FROM me) AS cus,
    (SELECT coalesce(json_object_agg(metric, value), '{}')::text FROM usage
     WHERE customer_id = :customer) AS usage,
    (SELECT coalesce(json_object_agg(feature, json_build_array(last_at, hits)), '{}')::text
     FROM feature_hits WHERE customer_id = :customer) AS hits,
    (SELECT coalesce(json_agg(json_build_array(offer_id, type, at) ORDER BY at, seq), '[]')::text
     FROM offer_events
     WHERE customer_id = :customer AND type != 'exposure'
       AND (at >= :since OR type IN ('decline', 'accept'))) AS events,
    (SELECT coalesce(json_object_agg(offer_id, arm), '{}')::text FROM offer_assignments
     WHERE customer_id = :customer) AS arms,
    (SELECT coalesce(json_agg(json_build_array(s.id, s.status, i.price_id, i.interval)), '[]')::text
     FROM subscriptions s JOIN subscription_items i ON i.subscription_id = s.id
     WHERE s.customer_id = (SELECT cus FROM me)) AS items,
    (SELECT max(created_at) FROM orders WHERE customer_id = (SELECT cus FROM me)) AS last_order,
    (SELECT coalesce(json_agg(json_build_array(offer_id, answer, at)), '[]')::text FROM feedback
     WHERE customer_id = :customer) AS answered,
    (SELECT coalesce(json_agg(json_build_array(kind, name, day, count)), '[]')::text
     FROM engagement_counts WHERE customer_id = :customer AND day >= :since_day) AS counts
"""


async def targeting_facts(
    conn: Connection, *, customer_id: str, token_stripe_customer: str | None, since: int
) -> TargetingFacts:
    row = await conn.fetch_one(
        _FACTS if conn.dialect == "sqlite" else _FACTS_POSTGRES,
        _facts_params(customer_id, token_stripe_customer, since),
    )
    return _facts_from(row)


def _facts_params(customer_id: str, token_stripe_customer: str | None, since: int) -> Params:
    return {
        "customer": customer_id,
        "token_cus": token_stripe_customer,
        "since": since,
        "since_day": since // DAY,
    }


def targeting_facts_now(
    db: object, *, customer_id: str, token_stripe_customer: str | None, since: int
) -> TargetingFacts | None:
    """`targeting_facts` read on the caller's own thread, when the database offers that
    (SQLite: `fetch_one_now`) and can answer without waiting; else None (use the async read)."""
    fetch = getattr(db, "fetch_one_now", None)
    if fetch is None:
        return None
    params = _facts_params(customer_id, token_stripe_customer, since)
    try:
        row = fetch(_FACTS, params)
    except ReadWouldWait:
        return None
    return _facts_from(row)


def _facts_from(row: Row | None) -> TargetingFacts:
    if row is None:  # pragma: no cover -- a SELECT without FROM always returns one row
        raise RuntimeError("targeting facts query returned nothing")
    hits: dict[str, list[int]] = json.loads(row["hits"])
    event_counts, feature_counts = engagement.daily_counts(json.loads(row["counts"]))
    record = None
    if row["record"] is not None:
        doc = json.loads(row["record"])
        record = CustomerRecord(**doc)
    return TargetingFacts(
        record=record,
        stripe_customer=row["cus"],
        usage=json.loads(row["usage"]),
        feature_hits={feature: last for feature, (last, _) in hits.items()},
        feature_uses={feature: count for feature, (_, count) in hits.items()},
        events=[(e[0], e[1], e[2]) for e in json.loads(row["events"])],
        assignments=json.loads(row["arms"]),
        items=[(i[0], i[1], i[2], i[3]) for i in json.loads(row["items"])],
        last_order_at=row["last_order"],
        answered=_answered(json.loads(row["answered"])),
        event_counts=event_counts,
        feature_counts=feature_counts,
    )


def _answered(rows: list[list[Any]]) -> dict[str, int]:
    """(offer, answer, at) rows as the latest time per offer and per offer and answer."""
    latest: dict[str, int] = {}
    for offer_id, answer, at in rows:
        for key in {feedback_key(offer_id, None), feedback_key(offer_id, answer)}:
            if at > latest.get(key, -1):
                latest[key] = at
    return latest


# `_FACTS` for every customer with a record at once (the admin's audience counts): the same
# parts, each an indexed lookup per customer done inside the database, the same JSON back, so
# the rows parse exactly as the offers endpoint's do.
_POPULATION = """
SELECT
    json_object('id', c.id, 'stripe_customer', c.stripe_customer, 'attrs', json(c.attrs),
                'signup_at', c.signup_at, 'last_order_at', c.last_order_at,
                'created_at', c.created_at, 'updated_at', c.updated_at) AS record,
    c.stripe_customer AS cus,
    (SELECT json_group_object(metric, value) FROM usage WHERE customer_id = c.id) AS usage,
    (SELECT json_group_object(feature, json_array(last_at, hits)) FROM feature_hits
     WHERE customer_id = c.id) AS hits,
    (SELECT json_group_array(json_array(offer_id, type, at)) FROM (
        SELECT offer_id, type, at FROM offer_events
        WHERE customer_id = c.id AND type != 'exposure'
          AND (at >= :since OR type IN ('decline', 'accept'))
        ORDER BY at)) AS events,
    (SELECT json_group_object(offer_id, arm) FROM offer_assignments
     WHERE customer_id = c.id) AS arms,
    (SELECT json_group_array(json_array(s.id, s.status, i.price_id, i.interval))
     FROM subscriptions s JOIN subscription_items i ON i.subscription_id = s.id
     WHERE s.customer_id = c.stripe_customer) AS items,
    (SELECT max(created_at) FROM orders WHERE customer_id = c.stripe_customer) AS last_order,
    (SELECT json_group_array(json_array(offer_id, answer, at)) FROM feedback
     WHERE customer_id = c.id) AS answered,
    (SELECT json_group_array(json_array(kind, name, day, count)) FROM engagement_counts
     WHERE customer_id = c.id AND day >= :since_day) AS counts
FROM customers c WHERE :all_customers OR c.id IN (SELECT value FROM json_each(:ids))
ORDER BY c.id
"""

_POPULATION_POSTGRES = """
SELECT
    json_build_object('id', c.id, 'stripe_customer', c.stripe_customer,
                      'attrs', c.attrs::json, 'signup_at', c.signup_at,
                      'last_order_at', c.last_order_at, 'created_at', c.created_at,
                      'updated_at', c.updated_at)::text AS record,
    c.stripe_customer AS cus,
    (SELECT coalesce(json_object_agg(metric, value), '{}')::text FROM usage
     WHERE customer_id = c.id) AS usage,
    (SELECT coalesce(json_object_agg(feature, json_build_array(last_at, hits)), '{}')::text
     FROM feature_hits WHERE customer_id = c.id) AS hits,
    (SELECT coalesce(json_agg(json_build_array(offer_id, type, at) ORDER BY at, seq), '[]')::text
     FROM offer_events
     WHERE customer_id = c.id AND type != 'exposure'
       AND (at >= :since OR type IN ('decline', 'accept'))) AS events,
    (SELECT coalesce(json_object_agg(offer_id, arm), '{}')::text FROM offer_assignments
     WHERE customer_id = c.id) AS arms,
    (SELECT coalesce(json_agg(json_build_array(s.id, s.status, i.price_id, i.interval)), '[]')::text
     FROM subscriptions s JOIN subscription_items i ON i.subscription_id = s.id
     WHERE s.customer_id = c.stripe_customer) AS items,
    (SELECT max(created_at) FROM orders WHERE customer_id = c.stripe_customer) AS last_order,
    (SELECT coalesce(json_agg(json_build_array(offer_id, answer, at)), '[]')::text FROM feedback
     WHERE customer_id = c.id) AS answered,
    (SELECT coalesce(json_agg(json_build_array(kind, name, day, count)), '[]')::text
     FROM engagement_counts WHERE customer_id = c.id AND day >= :since_day) AS counts
FROM customers c
WHERE :all_customers OR c.id IN (SELECT json_array_elements_text(:ids::json))
ORDER BY c.id
"""


async def population(
    conn: Connection, *, since: int, only: Sequence[str] | None = None
) -> list[TargetingFacts]:
    """Every customer with a record (or those of `only` who have one), as `targeting_facts`
    reads each one without a token's Stripe customer, in id order, in one statement."""
    rows = await conn.fetch_all(
        _POPULATION if conn.dialect == "sqlite" else _POPULATION_POSTGRES,
        {
            "since": since,
            "since_day": since // DAY,
            "all_customers": only is None,
            "ids": json.dumps(list(only or ())),
        },
    )
    return [_facts_from(row) for row in rows]


async def ids_by_stripe(conn: Connection, stripe_customers: Iterable[str]) -> dict[str, str]:
    """The SaaS's own customer id for each of these Stripe customers that has one (a page of
    upgrades, at most a few hundred)."""
    wanted = sorted(set(stripe_customers))
    if not wanted:
        return {}
    names = {f"s{i}": value for i, value in enumerate(wanted)}
    rows = await conn.fetch_all(
        "SELECT id, stripe_customer FROM customers WHERE stripe_customer IN "  # noqa: S608 -- placeholders only
        f"({', '.join(':' + name for name in names)})",
        names,
    )
    return {row["stripe_customer"]: row["id"] for row in rows}


async def search(
    conn: Connection, *, query: str | None, limit: int, after_id: str | None
) -> list[CustomerRecord]:
    """Customers by id, `limit + 1` of them after `after_id` (the caller tells there is more);
    with `query`, those whose id or Stripe customer id starts with it, or any of whose
    attribute values contains it (an email, a company name), letter case ignored."""
    pattern = None
    if query:
        pattern = query.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    rows = await conn.fetch_all(
        """
        SELECT * FROM customers
        WHERE (CAST(:after AS TEXT) IS NULL OR id > :after)
          AND (CAST(:pattern AS TEXT) IS NULL
               OR lower(id) LIKE :pattern || '%' ESCAPE '\\'
               OR lower(coalesce(stripe_customer, '')) LIKE :pattern || '%' ESCAPE '\\'
               OR lower(attrs) LIKE '%' || :pattern || '%' ESCAPE '\\')
        ORDER BY id LIMIT :limit
        """,
        {"after": after_id, "pattern": pattern, "limit": limit + 1},
    )
    return [_record(row) for row in rows]


def usage_level_steps(*, customer_id: str, metric: str) -> Steps[int]:
    """The percent of the plan limit last announced as reached (plugin/customers/thresholds.py)."""
    rows = yield FetchAll(
        "SELECT percent FROM usage_thresholds WHERE customer_id = :customer AND metric = :metric",
        {"customer": customer_id, "metric": metric},
    )
    return int(rows[0]["percent"]) if rows else 0


def set_usage_level_steps(*, customer_id: str, metric: str, level: int) -> Steps[None]:
    yield Execute(
        """
        INSERT INTO usage_thresholds (customer_id, metric, percent)
        VALUES (:customer, :metric, :level)
        ON CONFLICT (customer_id, metric) DO UPDATE SET percent = excluded.percent
        """,
        {"customer": customer_id, "metric": metric, "level": level},
    )


def plan_items_steps(customer_id: str) -> Steps[list[tuple[str, str, str, str | None]]]:
    """The customer's subscription items as `view.current_plan` reads them: (subscription,
    status, price, interval), through their Stripe customer id."""
    rows = yield FetchAll(
        """
        SELECT s.id, s.status, i.price_id, i.interval
        FROM customers c
        JOIN subscriptions s ON s.customer_id = c.stripe_customer
        JOIN subscription_items i ON i.subscription_id = s.id
        WHERE c.id = :customer
        """,
        {"customer": customer_id},
    )
    return [(r["id"], r["status"], r["price_id"], r["interval"]) for r in rows]
