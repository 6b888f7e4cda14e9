"""SQL for engagement facts: per-customer daily counts of product events and feature hits.

One row per customer, kind (`event` or `feature`), name and UTC day (`engagement_counts`),
upserted with `count += n`, so storage grows with the distinct names and days, never with the
number of reports. It is bounded per customer: every count written first deletes the
customer's rows older than `RETENTION_DAYS` (a counted rule never looks further back), and at
most `MAX_NAMES` event names and `MAX_NAMES` features are counted per customer within them.
A 51st event name is refused (`TooManyEventNames`, a 422); a 51st feature's hit is still
recorded as its last hit (`feature_hits`, what `feature_hit` without a count reads) but not
counted, so a counted rule on it fails closed.

On PostgreSQL two transactions naming new names for one customer at once can each see room
for theirs: the bound can be passed by as many names as reports arrive at that same moment
(SQLite's single writer makes it exact). It bounds storage; it is not a quota.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from plugin.errors import ValidationFailed
from plugin.offers.targeting import RETENTION_DAYS, DailyCounts
from plugin.storage.steps import Execute, FetchAll, Steps
from plugin.timespan import DAY

MAX_NAMES = 50  # distinct event names (and, apart, features) counted per customer
KEY_TTL = DAY  # how long an event's Idempotency-Key is remembered
Kind = Literal["event", "feature"]


class TooManyEventNames(ValidationFailed):
    """The customer already has `MAX_NAMES` event names counted within the retention."""

    default_code = "too_many_event_names"


class EventKeyReused(ValidationFailed):
    """The same idempotency key came with a different request body."""

    default_code = "idempotency_key_reused"


@dataclass(frozen=True, slots=True)
class EventOutcome:
    occurred_at: int  # the first request's, on a replay
    replayed: bool  # True: this idempotency key was seen before; nothing changed


def first_kept_day(now: int) -> int:
    """The oldest UTC day whose counts are kept at `now` (today is the last of them)."""
    return now // DAY - RETENTION_DAYS + 1


def count_steps(
    *, customer_id: str, kind: Kind, name: str, at: int, count: int, now: int
) -> Steps[bool]:
    """Add `count` to the customer's `name` on `at`'s UTC day, after deleting their counts
    older than the retention. False (nothing counted) when `name` would be one more than
    `MAX_NAMES` of its kind for this customer."""
    yield Execute(
        "DELETE FROM engagement_counts WHERE customer_id = :customer AND day < :first",
        {"customer": customer_id, "first": first_kept_day(now)},
    )
    rows = yield FetchAll(
        """
        SELECT count(DISTINCT name) AS names,
               max(CASE WHEN name = :name THEN 1 ELSE 0 END) AS known
        FROM engagement_counts WHERE customer_id = :customer AND kind = :kind
        """,
        {"customer": customer_id, "kind": kind, "name": name},
    )
    if not rows[0]["known"] and rows[0]["names"] >= MAX_NAMES:
        return False
    yield Execute(
        """
        INSERT INTO engagement_counts (customer_id, kind, name, day, count)
        VALUES (:customer, :kind, :name, :day, :count)
        ON CONFLICT (customer_id, kind, name, day) DO UPDATE SET
            count = engagement_counts.count + excluded.count
        """,
        {"customer": customer_id, "kind": kind, "name": name, "day": at // DAY, "count": count},
    )
    return True


def record_event_steps(
    *,
    customer_id: str,
    name: str,
    count: int,
    occurred_at: int,
    idempotency_key: str,
    fingerprint: str,
    now: int,
) -> Steps[EventOutcome]:
    """Count `count` occurrences of the event `name`, once per idempotency key.

    As `customers.apply_usage_steps`: the key is claimed first (insert, not look up), so a
    second request with the same key waits for the first one's transaction on PostgreSQL and
    then replays its outcome. Keys older than `KEY_TTL` are forgotten (deleted here)."""
    yield Execute(
        "DELETE FROM event_requests WHERE customer_id = :customer AND created_at < :before",
        {"customer": customer_id, "before": now - KEY_TTL},
    )
    claimed = yield Execute(
        """
        INSERT INTO event_requests
            (customer_id, idempotency_key, fingerprint, occurred_at, created_at)
        VALUES (:customer, :key, :fingerprint, :occurred_at, :now)
        ON CONFLICT (customer_id, idempotency_key) DO NOTHING
        """,
        {
            "customer": customer_id,
            "key": idempotency_key,
            "fingerprint": fingerprint,
            "occurred_at": occurred_at,
            "now": now,
        },
    )
    if claimed == 0:
        [seen] = yield FetchAll(  # the conflict means the row exists
            """
            SELECT fingerprint, occurred_at FROM event_requests
            WHERE customer_id = :customer AND idempotency_key = :key
            """,
            {"customer": customer_id, "key": idempotency_key},
        )
        if seen["fingerprint"] != fingerprint:
            raise EventKeyReused(
                "This Idempotency-Key was used with a different body.",
            )
        return EventOutcome(int(seen["occurred_at"]), replayed=True)
    counted = yield from count_steps(
        customer_id=customer_id, kind="event", name=name, at=occurred_at, count=count, now=now
    )
    if not counted:  # raising rolls the claimed key back with everything else
        raise TooManyEventNames(
            f"Customer {customer_id!r} already has {MAX_NAMES} event names counted in the last "
            f"{RETENTION_DAYS} days; {name!r} would be one more.",
            field="event",
        )
    return EventOutcome(occurred_at, replayed=False)


def daily_counts(rows: list[list[Any]]) -> tuple[dict[str, DailyCounts], dict[str, DailyCounts]]:
    """(kind, name, day, count) rows as the targeting context's daily counts: events by name,
    features by feature, each by day."""
    found: dict[str, dict[str, list[tuple[int, int]]]] = {"event": {}, "feature": {}}
    for kind, name, day, count in rows:
        found[kind].setdefault(name, []).append((int(day), int(count)))
    events, features = (
        {name: tuple(sorted(days)) for name, days in found[kind].items()}
        for kind in ("event", "feature")
    )
    return events, features
