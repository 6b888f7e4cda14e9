"""SQL for offers, sticky experiment assignments, offer events and per-customer history.

Offers are stored as their validated document (plugin.offers.model.dump) and rebuilt with
plugin.offers.model.load, so a row can never hold an offer the domain would refuse. `version` is a
counter across all offers: the largest one tells a process whether its in-memory snapshot of
active offers is stale, with one indexed read.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

from plugin.offers import model as domain
from plugin.offers.model import Offer
from plugin.offers.schedule import OfferHistory
from plugin.storage.database import ROWS_PER_STATEMENT, Connection, Row, values_clause
from plugin.storage.steps import Execute, FetchAll, Steps, run

EventType = str  # exposure | impression | click | dismiss | decline | accept
HISTORY_DAYS = 90  # impressions older than this never matter to a cap


@dataclass(frozen=True, slots=True)
class OfferRecord:
    offer: Offer
    version: int
    created_at: int
    updated_at: int


def _record(row: Row) -> OfferRecord:
    return OfferRecord(
        offer=domain.load(json.loads(row["document"])),
        version=row["version"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


async def _next_version(conn: Connection) -> int:
    await conn.lock("uplift.offers.version")  # two writers never read the same max
    return int(await conn.fetch_value("SELECT coalesce(max(version), 0) + 1 FROM offers"))


async def insert(conn: Connection, *, offer: Offer, now: int) -> OfferRecord | None:
    """None when the id is taken."""
    row = await conn.fetch_one(
        """
        INSERT INTO offers (id, kind, status, document, version, created_at, updated_at)
        VALUES (:id, :kind, :status, :document, :version, :now, :now)
        ON CONFLICT (id) DO NOTHING
        RETURNING *
        """,
        {
            "id": offer.id,
            "kind": offer.kind,
            "status": offer.status,
            "document": json.dumps(domain.dump(offer), sort_keys=True),
            "version": await _next_version(conn),
            "now": now,
        },
    )
    return _record(row) if row else None


async def update(conn: Connection, *, offer: Offer, now: int) -> OfferRecord | None:
    """None when there is no such offer."""
    row = await conn.fetch_one(
        """
        UPDATE offers SET kind = :kind, status = :status, document = :document,
                          version = :version, updated_at = :now
        WHERE id = :id
        RETURNING *
        """,
        {
            "id": offer.id,
            "kind": offer.kind,
            "status": offer.status,
            "document": json.dumps(domain.dump(offer), sort_keys=True),
            "version": await _next_version(conn),
            "now": now,
        },
    )
    return _record(row) if row else None


async def get(conn: Connection, offer_id: str) -> OfferRecord | None:
    row = await conn.fetch_one("SELECT * FROM offers WHERE id = :id", {"id": offer_id})
    return _record(row) if row else None


async def page(
    conn: Connection, *, status: str | None, limit: int, after_id: str | None
) -> list[OfferRecord]:
    """Ordered by id; returns up to `limit + 1` rows so the caller can tell there is more."""
    rows = await conn.fetch_all(
        """
        SELECT * FROM offers
        WHERE (status = :status OR :status IS NULL) AND (id > :after OR :after IS NULL)
        ORDER BY id LIMIT :limit
        """,
        {"status": status, "after": after_id, "limit": limit + 1},
    )
    return [_record(row) for row in rows]


async def snapshot_version(conn: Connection) -> int:
    return int(await conn.fetch_value("SELECT coalesce(max(version), 0) FROM offers"))


async def active(conn: Connection) -> list[Offer]:
    rows = await conn.fetch_all("SELECT * FROM offers WHERE status = 'active' ORDER BY id")
    return [_record(row).offer for row in rows]


# Assignments and events ------------------------------------------------------------------------


def assign_steps(*, offer_id: str, customer_id: str, arm: str, now: int) -> Steps[str]:
    """Record the arm on first exposure; the first recorded arm wins and is returned."""
    yield Execute(
        """
        INSERT INTO offer_assignments (offer_id, customer_id, arm, assigned_at)
        VALUES (:offer, :customer, :arm, :now)
        ON CONFLICT (customer_id, offer_id) DO NOTHING
        """,
        {"offer": offer_id, "customer": customer_id, "arm": arm, "now": now},
    )
    [row] = yield FetchAll(
        "SELECT arm FROM offer_assignments WHERE customer_id = :customer AND offer_id = :offer",
        {"offer": offer_id, "customer": customer_id},
    )
    return str(row["arm"])


async def assign(conn: Connection, *, offer_id: str, customer_id: str, arm: str, now: int) -> str:
    """`assign_steps` on the caller's transaction."""
    return await run(
        conn, assign_steps(offer_id=offer_id, customer_id=customer_id, arm=arm, now=now)
    )


async def record_assignments(
    conn: Connection, assignments: Sequence[tuple[str, str, str, int]]
) -> None:
    """`assign` for a batch of first exposures, (offer id, customer id, arm, time) each,
    without reading the results back; the first recorded arm stays."""
    for start in range(0, len(assignments), ROWS_PER_STATEMENT):
        chunk = assignments[start : start + ROWS_PER_STATEMENT]
        values, params = values_clause(("offer", "customer", "arm", "now"), chunk)
        await conn.execute(
            f"""
            INSERT INTO offer_assignments (offer_id, customer_id, arm, assigned_at) {values}
            ON CONFLICT (customer_id, offer_id) DO NOTHING
            """,
            params,
        )


def record_event_steps(
    *, offer_id: str, customer_id: str, arm: str, event_type: EventType, now: int
) -> Steps[None]:
    yield Execute(
        """
        INSERT INTO offer_events (offer_id, customer_id, arm, type, at)
        VALUES (:offer, :customer, :arm, :type, :now)
        """,
        {"offer": offer_id, "customer": customer_id, "arm": arm, "type": event_type, "now": now},
    )


async def record_event(
    conn: Connection, *, offer_id: str, customer_id: str, arm: str, event_type: EventType, now: int
) -> None:
    await run(
        conn,
        record_event_steps(
            offer_id=offer_id, customer_id=customer_id, arm=arm, event_type=event_type, now=now
        ),
    )


async def record_event_once(
    conn: Connection, *, offer_id: str, customer_id: str, arm: str, event_type: EventType, now: int
) -> bool:
    """Record an event unless this customer already has one of this type for this offer (an
    accept replayed by a retried request counts once); True if it was recorded now. The lock
    makes two concurrent ones take turns, so the second sees the first (on SQLite the write
    lock does this already)."""
    await conn.lock(f"uplift.offer_event:{customer_id}:{offer_id}:{event_type}")
    recorded = await conn.execute(
        """
        INSERT INTO offer_events (offer_id, customer_id, arm, type, at)
        SELECT :offer, :customer, :arm, :type, :now
        WHERE NOT EXISTS (
            SELECT 1 FROM offer_events
            WHERE customer_id = :customer AND offer_id = :offer AND type = :type
        )
        """,
        {"offer": offer_id, "customer": customer_id, "arm": arm, "type": event_type, "now": now},
    )
    return recorded == 1


@dataclass(frozen=True, slots=True)
class CustomerOfferState:
    histories: dict[str, OfferHistory]
    recent_impressions: tuple[int, ...]  # every offer, last 24 h
    assignments: dict[str, str]


async def customer_state(conn: Connection, *, customer_id: str, now: int) -> CustomerOfferState:
    """Everything caps and experiments need about one customer: two range scans on indexes."""
    rows = await conn.fetch_all(
        """
        SELECT offer_id, type, at FROM offer_events
        WHERE customer_id = :customer AND type != 'exposure'
          AND (at >= :since OR type IN ('decline', 'accept'))
        ORDER BY at
        """,
        {"customer": customer_id, "since": now - HISTORY_DAYS * 86_400},
    )
    arms = await conn.fetch_all(
        "SELECT offer_id, arm FROM offer_assignments WHERE customer_id = :customer",
        {"customer": customer_id},
    )
    return summarise(
        [(row["offer_id"], row["type"], row["at"]) for row in rows],
        {row["offer_id"]: row["arm"] for row in arms},
        now=now,
    )


def summarise(
    events: Sequence[tuple[str, str, int]], assignments: dict[str, str], *, now: int
) -> CustomerOfferState:
    """Offer histories from a customer's events `(offer_id, type, at)`, oldest first."""
    impressions: dict[str, list[int]] = {}
    dismissed: dict[str, int] = {}
    declined: dict[str, int] = {}
    declines: dict[str, int] = {}
    accepted: dict[str, int] = {}
    recent: list[int] = []
    for offer, kind, at in events:
        if kind == "impression":
            impressions.setdefault(offer, []).append(at)
            if now - 86_400 < at <= now:
                recent.append(at)
        elif kind == "dismiss":
            dismissed[offer] = at
        elif kind == "decline":
            declined[offer] = at
            declines[offer] = declines.get(offer, 0) + 1
        elif kind == "accept":
            accepted.setdefault(offer, at)
    offers = set(impressions) | set(dismissed) | set(declined) | set(accepted)
    histories = {
        offer: OfferHistory(
            impressions=tuple(impressions.get(offer, ())),
            last_dismissed_at=dismissed.get(offer),
            last_declined_at=declined.get(offer),
            declines=declines.get(offer, 0),
            accepted_at=accepted.get(offer),
        )
        for offer in offers
    }
    return CustomerOfferState(
        histories=histories, recent_impressions=tuple(recent), assignments=assignments
    )


@dataclass(frozen=True, slots=True)
class ArmCounts:
    arm: str
    exposed: int  # distinct customers assigned to the arm (recorded on first exposure)
    clicked: int
    accepted: int
    paid: int  # distinct customers whose upgrade was paid (holdout: who expanded anyway)
    revenue: dict[str, int]  # currency -> expansion MRR in minor units


async def arm_counts(conn: Connection, *, offer_id: str, arms: Sequence[str]) -> list[ArmCounts]:
    """The funnel per arm, for experiment results: exposed -> clicked -> accepted -> paid."""
    params = {"offer": offer_id}
    exposed = await conn.fetch_all(
        "SELECT arm, count(*) AS n FROM offer_assignments WHERE offer_id = :offer GROUP BY arm",
        params,
    )
    steps = await conn.fetch_all(
        """
        SELECT arm,
               count(DISTINCT CASE WHEN type = 'click' THEN customer_id END) AS clicked,
               count(DISTINCT CASE WHEN type = 'accept' THEN customer_id END) AS accepted
        FROM offer_events WHERE offer_id = :offer GROUP BY arm
        """,
        params,
    )
    # Treated arms: the upgrades Uplift charged for this offer. The holdout never saw the
    # offer, so its "conversions" are expansions its customers made on their own after
    # assignment: the baseline that lift is measured against.
    paid = await conn.fetch_all(
        """
        SELECT variant AS arm, currency, count(DISTINCT customer_id) AS n, sum(mrr_delta) AS mrr
        FROM upgrades WHERE offer_id = :offer AND status = 'succeeded'
        GROUP BY variant, currency
        UNION ALL
        SELECT 'holdout' AS arm, m.currency, count(DISTINCT a.customer_id) AS n,
               sum(m.amount) AS mrr
        FROM offer_assignments a
        JOIN customers c ON c.id = a.customer_id
        JOIN mrr_movements m ON m.customer_id = c.stripe_customer
                            AND m.kind = 'expansion' AND m.occurred_at >= a.assigned_at
        WHERE a.offer_id = :offer AND a.arm = 'holdout'
        GROUP BY m.currency
        """,
        params,
    )
    exposed_by = {row["arm"]: row["n"] for row in exposed}
    steps_by = {row["arm"]: row for row in steps}
    paid_by: dict[str, int] = {}
    revenue_by: dict[str, dict[str, int]] = {}
    for row in paid:
        paid_by[row["arm"]] = paid_by.get(row["arm"], 0) + row["n"]
        revenue_by.setdefault(row["arm"], {})[row["currency"]] = row["mrr"]
    return [
        ArmCounts(
            arm=arm,
            exposed=exposed_by.get(arm, 0),
            clicked=steps_by[arm]["clicked"] if arm in steps_by else 0,
            accepted=steps_by[arm]["accepted"] if arm in steps_by else 0,
            paid=paid_by.get(arm, 0),
            revenue=revenue_by.get(arm, {}),
        )
        for arm in arms
    ]
