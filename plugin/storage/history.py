"""SQL for subscription snapshots: each subscription's history, in Stripe's order
(plugin/billing/history.py derives the MRR movements from it)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

from plugin.billing.history import Point
from plugin.storage.database import Connection


@dataclass(frozen=True, slots=True)
class Snapshot:
    point: Point
    customer_id: str
    currency: str
    price_ids: tuple[str, ...]


async def add(
    conn: Connection,
    *,
    subscription_id: str,
    source_id: str,
    occurred_at: int,
    customer_id: str,
    currency: str,
    mrr: int,
    price_ids: Sequence[str],
) -> bool:
    """Add a snapshot; False if this source already added one (a duplicate delivery). Its `seq`
    is the subscription's next, so snapshots of the same second keep their arrival order.

    Holds the subscription's lock until the transaction ends: the caller derives the ledger
    from the whole history next, and on PostgreSQL (read committed) two transactions adding to
    the same subscription at once, an import and a webhook, would each derive it without the
    other's snapshot and leave a ledger that misses one."""
    await conn.lock(f"uplift.subscription_history:{subscription_id}")
    changed = await conn.execute(
        """
        INSERT INTO subscription_snapshots (subscription_id, source_id, occurred_at, seq,
                                            customer_id, currency, mrr, price_ids)
        SELECT :subscription_id, :source_id, :occurred_at,
               COALESCE(MAX(seq), 0) + 1, :customer_id, :currency, :mrr, :price_ids
        FROM subscription_snapshots WHERE subscription_id = :subscription_id
        ON CONFLICT (subscription_id, source_id) DO NOTHING
        """,
        {
            "subscription_id": subscription_id,
            "source_id": source_id,
            "occurred_at": occurred_at,
            "customer_id": customer_id,
            "currency": currency,
            "mrr": mrr,
            "price_ids": json.dumps(list(price_ids)),
        },
    )
    return changed == 1


async def load(conn: Connection, *, subscription_id: str) -> list[Snapshot]:
    """The subscription's snapshots, in Stripe's order."""
    rows = await conn.fetch_all(
        """
        SELECT * FROM subscription_snapshots WHERE subscription_id = :id
        ORDER BY occurred_at, seq, source_id
        """,
        {"id": subscription_id},
    )
    return [
        Snapshot(
            point=Point(
                source_id=row["source_id"],
                occurred_at=row["occurred_at"],
                seq=row["seq"],
                mrr=row["mrr"],
            ),
            customer_id=row["customer_id"],
            currency=row["currency"],
            price_ids=tuple(json.loads(row["price_ids"])),
        )
        for row in rows
    ]
