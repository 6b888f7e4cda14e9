"""Keeping the subscription mirror and the MRR ledger from a subscription's snapshots.

`apply_snapshot` is the one way a snapshot (a webhook event's subscription, or a state
`uplift import` reconstructed) enters Uplift: it joins the subscription's history, the mirror
becomes the newest snapshot, and the ledger is derived again from the whole history
(plugin/billing/history.py), so a late, older event re-derives the movements after it and the
ledger is the same whatever the delivery order. Movements that did not change keep their rows
(and their attribution); the others are replaced. Runs inside the caller's write transaction.
"""

from __future__ import annotations

from dataclasses import dataclass

from plugin import storage
from plugin.billing import history
from plugin.billing.mirror import MirrorSubscription
from plugin.storage.database import Connection
from plugin.storage.mrr import MovementRecord


@dataclass(frozen=True, slots=True)
class Applied:
    added: bool  # False: this source was already in the history (a duplicate)
    newest: bool  # the snapshot is now the mirror


def _same(record: MovementRecord, derived: history.Derived) -> bool:
    change = derived.movement
    return (
        record.kind,
        record.amount,
        record.mrr_before,
        record.mrr_after,
        record.occurred_at,
    ) == (
        change.kind,
        change.amount,
        change.mrr_before,
        change.mrr_after,
        derived.occurred_at,
    )


async def apply_snapshot(
    conn: Connection,
    *,
    snapshot: MirrorSubscription,
    source_id: str,
    occurred_at: int,
    now: int,
) -> Applied:
    added = await storage.history.add(
        conn,
        subscription_id=snapshot.id,
        source_id=source_id,
        occurred_at=occurred_at,
        customer_id=snapshot.customer_id,
        currency=snapshot.currency,
        mrr=snapshot.mrr(),
        price_ids=[item.price_id for item in snapshot.items],
    )
    snapshots = await storage.history.load(conn, subscription_id=snapshot.id)
    newest = bool(snapshots) and snapshots[-1].point.source_id == source_id
    if not added:
        return Applied(added=False, newest=newest)
    if newest:
        await storage.subscriptions.upsert(conn, subscription=snapshot, now=now)
    by_source = {s.point.source_id: s for s in snapshots}
    wanted = history.derive(s.point for s in snapshots)
    recorded = {
        r.event_id: r for r in await storage.mrr.of_subscription(conn, subscription_id=snapshot.id)
    }
    keep = {
        d.source_id for d in wanted if d.source_id in recorded and _same(recorded[d.source_id], d)
    }
    await storage.mrr.remove(conn, event_ids=[e for e in recorded if e not in keep])
    for derived in wanted:
        if derived.source_id in keep:
            continue
        at = by_source[derived.source_id]
        behind = None
        if derived.movement.kind in ("expansion", "contraction"):
            # Attribute expansion and contraction to the Uplift upgrade that caused them, so
            # revenue metrics can say which offer (and variant) earned it.
            behind = await storage.mrr.upgrade_behind(
                conn,
                subscription_id=snapshot.id,
                prices=list(at.price_ids),
                before=derived.occurred_at,
            )
        await storage.mrr.record(
            conn,
            event_id=derived.source_id,
            subscription_id=snapshot.id,
            customer_id=at.customer_id,
            currency=at.currency,
            movement=derived.movement,
            occurred_at=derived.occurred_at,
            upgrade_id=behind.upgrade_id if behind else None,
            offer_id=behind.offer_id if behind else None,
        )
    return Applied(added=True, newest=newest)
