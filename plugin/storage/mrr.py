"""SQL for the MRR movement ledger. One row per event at most: the event id is the key, so
reprocessing an event after a crash never counts a movement twice (docs/reliability.md rule 5)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from plugin.billing.mirror import Movement
from plugin.storage.database import Connection, Database, Row, in_clause


@dataclass(frozen=True, slots=True)
class MovementRecord:
    event_id: str
    subscription_id: str
    customer_id: str
    kind: str
    currency: str
    amount: int
    mrr_before: int
    mrr_after: int
    occurred_at: int
    upgrade_id: str | None
    offer_id: str | None


async def record(
    conn: Connection,
    *,
    event_id: str,
    subscription_id: str,
    customer_id: str,
    currency: str,
    movement: Movement,
    occurred_at: int,
    upgrade_id: str | None = None,
    offer_id: str | None = None,
) -> bool:
    """Record the movement; False if this event already recorded one."""
    changed = await conn.execute(
        """
        INSERT INTO mrr_movements (event_id, subscription_id, customer_id, kind, currency,
                                   amount, mrr_before, mrr_after, occurred_at,
                                   upgrade_id, offer_id)
        VALUES (:event_id, :subscription_id, :customer_id, :kind, :currency,
                :amount, :mrr_before, :mrr_after, :occurred_at, :upgrade_id, :offer_id)
        ON CONFLICT (event_id) DO NOTHING
        """,
        {
            "event_id": event_id,
            "subscription_id": subscription_id,
            "customer_id": customer_id,
            "kind": movement.kind,
            "currency": currency,
            "amount": movement.amount,
            "mrr_before": movement.mrr_before,
            "mrr_after": movement.mrr_after,
            "occurred_at": occurred_at,
            "upgrade_id": upgrade_id,
            "offer_id": offer_id,
        },
    )
    return changed == 1


def _record(row: Row) -> MovementRecord:
    return MovementRecord(
        event_id=row["event_id"],
        subscription_id=row["subscription_id"],
        customer_id=row["customer_id"],
        kind=row["kind"],
        currency=row["currency"],
        amount=row["amount"],
        mrr_before=row["mrr_before"],
        mrr_after=row["mrr_after"],
        occurred_at=row["occurred_at"],
        upgrade_id=row["upgrade_id"],
        offer_id=row["offer_id"],
    )


async def of_subscription(conn: Connection, *, subscription_id: str) -> list[MovementRecord]:
    """The subscription's movements, read on `conn` (inside the write transaction that is about
    to derive them again)."""
    rows = await conn.fetch_all(
        "SELECT * FROM mrr_movements WHERE subscription_id = :id ORDER BY occurred_at, id",
        {"id": subscription_id},
    )
    return [_record(row) for row in rows]


async def remove(conn: Connection, *, event_ids: Sequence[str]) -> None:
    """Remove movements a late event made obsolete (they are derived again after it)."""
    if not event_ids:
        return
    fragment, params = in_clause("event", list(event_ids))
    await conn.execute(
        f"DELETE FROM mrr_movements WHERE event_id IN {fragment}",  # noqa: S608 -- placeholders only
        params,
    )


async def list_movements(
    db: Database, *, subscription_id: str | None = None
) -> list[MovementRecord]:
    async with db.read() as conn:
        rows = await conn.fetch_all(
            """
            SELECT * FROM mrr_movements
            WHERE (subscription_id = :subscription_id OR :subscription_id IS NULL)
            ORDER BY occurred_at, id
            """,
            {"subscription_id": subscription_id},
        )
    return [_record(row) for row in rows]


@dataclass(frozen=True, slots=True)
class Attribution:
    """The Uplift upgrade a movement is attributed to, and the offer that upgrade came from."""

    upgrade_id: str
    offer_id: str | None


async def upgrade_behind(
    conn: Connection, *, subscription_id: str, prices: Sequence[str], before: int
) -> Attribution | None:
    """The Uplift upgrade that explains a change of this subscription: one made before the
    event, to a price the subscription now has, not already credited with another movement.
    None when the change came from elsewhere (the dashboard, a renewal)."""
    if not prices:
        return None
    fragment, params = in_clause("price", list(prices))
    row = await conn.fetch_one(
        f"""
        SELECT u.id, u.offer_id FROM upgrades u
        WHERE u.subscription_id = :subscription AND u.to_price IN {fragment}
          AND u.status IN ('succeeded', 'processing', 'requires_action', 'scheduled')
          AND u.created_at <= :before
          AND NOT EXISTS (SELECT 1 FROM mrr_movements m WHERE m.upgrade_id = u.id)
        ORDER BY u.created_at DESC LIMIT 1
        """,  # noqa: S608 -- the fragment holds named placeholders only
        {"subscription": subscription_id, "before": before, **params},
    )
    return Attribution(upgrade_id=row["id"], offer_id=row["offer_id"]) if row else None
