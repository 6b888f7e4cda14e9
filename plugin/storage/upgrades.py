"""SQL for upgrades and their status history.

`claim` inserts first and lets the database decide: UNIQUE (quote_id) picks who executes a
quote, and the partial unique indexes of migration 0009 let one change of a subscription be in
flight (`processing` or `requires_action`) and one be scheduled, whichever quotes they come
from: of concurrent accepts exactly one gets `claimed=True`; the others read the row they
conflicted with. A claim is `verify`-ed once the accept has re-read the subscription, and
one that is not (the subscription had changed: nothing was sent to Stripe) is `release`-d.
Status changes are compare-and-set (`WHERE status IN (…)`), so a webhook and the accept
request racing on the same upgrade cannot step on each other, and each change that happened
is written to `upgrade_events`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from plugin.outbound import events
from plugin.storage import outbound as outbound_store
from plugin.storage.database import Connection, Database, Row, in_clause

Status = Literal["processing", "requires_action", "scheduled", "succeeded", "failed"]
IN_FLIGHT = "('processing', 'requires_action')"  # as in the index upgrades_one_in_flight
ANNOUNCED: frozenset[Status] = frozenset({"succeeded", "failed", "requires_action"})


@dataclass(frozen=True, slots=True)
class NewUpgrade:
    id: str
    quote_id: str
    idempotency_key: str
    customer_id: str
    offer_id: str | None
    variant: str | None
    execution: str
    subscription_id: str
    subscription_item_id: str
    from_price: str
    from_quantity: int
    to_price: str
    to_quantity: int
    currency: str
    amount_quoted: int
    mrr_delta: int
    status: Status
    effective_at: int
    retention_until: int | None = None


@dataclass(frozen=True, slots=True)
class UpgradeRecord:
    id: str
    quote_id: str
    idempotency_key: str
    customer_id: str
    offer_id: str | None
    variant: str | None
    execution: str
    subscription_id: str
    subscription_item_id: str
    from_price: str
    from_quantity: int
    to_price: str
    to_quantity: int
    currency: str
    amount_quoted: int
    amount_paid: int | None
    mrr_delta: int
    status: Status
    invoice_id: str | None
    hosted_invoice_url: str | None
    failure_reason: str | None
    effective_at: int
    created_at: int
    updated_at: int
    verified_at: int | None = None
    retention_until: int | None = None


@dataclass(frozen=True, slots=True)
class UpgradeEvent:
    status: Status
    detail: str | None
    at: int


def _record(row: Row) -> UpgradeRecord:
    return UpgradeRecord(**row)


async def _log(conn: Connection, upgrade_id: str, status: str, detail: str | None, at: int) -> None:
    await conn.execute(
        "INSERT INTO upgrade_events (upgrade_id, status, detail, at) "
        "VALUES (:id, :status, :detail, :at)",
        {"id": upgrade_id, "status": status, "detail": detail, "at": at},
    )


async def claim(
    db: Database, *, upgrade: NewUpgrade, now: int
) -> tuple[UpgradeRecord | None, bool]:
    """Insert the upgrade unless its quote (or its customer's idempotency key) already has one,
    or its subscription has a change in flight (or, for a scheduled one, one scheduled).
    Returns the row that exists afterwards and whether this call created it: when the key was
    used for another quote, or another change holds the subscription, that other upgrade."""
    values: dict[str, Any] = {
        name: getattr(upgrade, name) for name in NewUpgrade.__dataclass_fields__
    }
    values["now"] = now
    async with db.transaction() as conn:
        row = await conn.fetch_one(
            """
            INSERT INTO upgrades (
                id, quote_id, idempotency_key, customer_id, offer_id, variant, execution,
                subscription_id, subscription_item_id, from_price, from_quantity, to_price,
                to_quantity, currency, amount_quoted, mrr_delta, status, effective_at,
                retention_until, created_at, updated_at
            ) VALUES (
                :id, :quote_id, :idempotency_key, :customer_id, :offer_id, :variant, :execution,
                :subscription_id, :subscription_item_id, :from_price, :from_quantity, :to_price,
                :to_quantity, :currency, :amount_quoted, :mrr_delta, :status, :effective_at,
                :retention_until, :now, :now
            )
            ON CONFLICT DO NOTHING
            RETURNING *
            """,
            values,
        )
        if row is not None:
            await _log(conn, upgrade.id, upgrade.status, None, now)
            return _record(row), True
        holding = "('scheduled')" if upgrade.status == "scheduled" else IN_FLIGHT
        existing = None
        for sql, params in (
            ("SELECT * FROM upgrades WHERE quote_id = :q", {"q": upgrade.quote_id}),
            (
                "SELECT * FROM upgrades WHERE customer_id = :c AND idempotency_key = :k",
                {"c": upgrade.customer_id, "k": upgrade.idempotency_key},
            ),
            (
                f"SELECT * FROM upgrades WHERE subscription_id = :s AND status IN {holding}",  # noqa: S608 -- constants
                {"s": upgrade.subscription_id},
            ),
        ):
            existing = await conn.fetch_one(sql, params)
            if existing is not None:
                break
    if existing is None:
        # The row we conflicted with was gone by the time we looked (a claim released, a
        # change finished between our insert and our read): the caller may try again.
        return None, False
    return _record(existing), False


async def verify(db: Database, *, upgrade_id: str, now: int) -> None:
    """The accept re-read the subscription after claiming and found it as quoted."""
    async with db.transaction() as conn:
        await conn.execute(
            "UPDATE upgrades SET verified_at = :now WHERE id = :id AND verified_at IS NULL",
            {"id": upgrade_id, "now": now},
        )


async def release(db: Database, *, upgrade_id: str) -> bool:
    """Delete a claim that was never verified (nothing of it reached Stripe), so its quote and
    idempotency key answer as if it had never been claimed and the subscription is free."""
    async with db.transaction() as conn:
        await conn.execute(
            "DELETE FROM upgrade_events WHERE upgrade_id = :id AND EXISTS (SELECT 1 FROM upgrades"
            " WHERE id = :id AND verified_at IS NULL)",
            {"id": upgrade_id},
        )
        deleted = await conn.execute(
            "DELETE FROM upgrades WHERE id = :id AND verified_at IS NULL", {"id": upgrade_id}
        )
    return deleted == 1


async def taken(
    db: Database, *, customer_id: str, offer_id: str, other_than: str | None = None
) -> UpgradeRecord | None:
    """An upgrade of this customer for this offer that is not `failed` (other than
    `other_than`): the offer has been accepted."""
    async with db.read() as conn:
        row = await conn.fetch_one(
            "SELECT * FROM upgrades WHERE customer_id = :customer AND offer_id = :offer"
            " AND status != 'failed' AND id != :other ORDER BY created_at LIMIT 1",
            {"customer": customer_id, "offer": offer_id, "other": other_than or ""},
        )
    return _record(row) if row else None


async def retention_running(
    db: Database, *, subscription_id: str, now: int, other_than: str | None = None
) -> UpgradeRecord | None:
    """A retention discount granted to this subscription whose window has not ended."""
    async with db.read() as conn:
        row = await conn.fetch_one(
            "SELECT * FROM upgrades WHERE subscription_id = :subscription"
            " AND retention_until > :now AND status != 'failed' AND id != :other"
            " ORDER BY created_at LIMIT 1",
            {"subscription": subscription_id, "now": now, "other": other_than or ""},
        )
    return _record(row) if row else None


async def latest_applied(
    db: Database, *, subscription_id: str, to_price: str, to_quantity: int
) -> UpgradeRecord | None:
    """The most recent succeeded upgrade that moved this subscription to this price and
    quantity (who made a stale quote's change already)."""
    async with db.read() as conn:
        row = await conn.fetch_one(
            "SELECT * FROM upgrades WHERE subscription_id = :subscription AND status = 'succeeded'"
            " AND to_price = :price AND to_quantity = :quantity"
            " ORDER BY updated_at DESC, id DESC LIMIT 1",
            {"subscription": subscription_id, "price": to_price, "quantity": to_quantity},
        )
    return _record(row) if row else None


async def transition(
    db: Database,
    *,
    upgrade_id: str,
    status: Status,
    allowed_from: tuple[Status, ...],
    now: int,
    detail: str | None = None,
    **fields: Any,
) -> bool:
    """Move to `status` (setting `fields` too) if the upgrade is in one of `allowed_from`."""
    sets = "".join(f", {name} = :f_{name}" for name in fields)
    source, source_params = in_clause("from", allowed_from)
    async with db.transaction() as conn:
        changed = await conn.execute(
            f"UPDATE upgrades SET status = :status, updated_at = :now{sets} "  # noqa: S608 -- column names come from our own keyword arguments
            f"WHERE id = :id AND status IN {source}",
            {
                "id": upgrade_id,
                "status": status,
                "now": now,
                **source_params,
                **{f"f_{name}": value for name, value in fields.items()},
            },
        )
        if changed:
            await _log(conn, upgrade_id, status, detail, now)
            if status in ANNOUNCED:
                await _announce(conn, upgrade_id, status, now)
    return changed == 1


async def _announce(conn: Connection, upgrade_id: str, status: Status, now: int) -> None:
    """`upgrade.<status>` (and `retention.saved` for a retention offer's), in the transaction
    of the change: announced exactly when it happened."""
    row = await conn.fetch_one(
        "SELECT u.*, c.id AS saas_customer FROM upgrades u"
        " LEFT JOIN customers c ON c.stripe_customer = u.customer_id WHERE u.id = :id",
        {"id": upgrade_id},
    )
    if row is None:  # pragma: no cover -- just updated
        return
    saas_customer = row.pop("saas_customer")
    record = _record(row)
    data = events.upgrade_data(record, saas_customer)
    types = [f"upgrade.{status}"]
    if status == "succeeded" and record.retention_until is not None:
        types.append("retention.saved")
    for event_type in types:
        event_id = outbound_store.new_event_id()
        await outbound_store.emit(conn, events.make(event_type, data, now=now, event_id=event_id))


async def set_invoice(
    db: Database, *, upgrade_id: str, invoice_id: str, hosted_invoice_url: str | None, now: int
) -> None:
    async with db.transaction() as conn:
        await conn.execute(
            "UPDATE upgrades SET invoice_id = :invoice_id, hosted_invoice_url = "
            "COALESCE(:url, hosted_invoice_url), updated_at = :now WHERE id = :id",
            {"id": upgrade_id, "invoice_id": invoice_id, "url": hosted_invoice_url, "now": now},
        )


async def note(db: Database, *, upgrade_id: str, status: Status, detail: str, now: int) -> None:
    """Record something that happened without changing the status (e.g. a failed retry)."""
    async with db.transaction() as conn:
        await _log(conn, upgrade_id, status, detail, now)


async def get(db: Database, upgrade_id: str) -> UpgradeRecord | None:
    async with db.read() as conn:
        row = await conn.fetch_one("SELECT * FROM upgrades WHERE id = :id", {"id": upgrade_id})
    return _record(row) if row else None


async def by_quote(db: Database, quote_id: str) -> UpgradeRecord | None:
    async with db.read() as conn:
        row = await conn.fetch_one(
            "SELECT * FROM upgrades WHERE quote_id = :quote_id", {"quote_id": quote_id}
        )
    return _record(row) if row else None


async def by_invoice(db: Database, invoice_id: str) -> UpgradeRecord | None:
    async with db.read() as conn:
        row = await conn.fetch_one(
            "SELECT * FROM upgrades WHERE invoice_id = :invoice_id", {"invoice_id": invoice_id}
        )
    return _record(row) if row else None


async def due(db: Database, *, now: int) -> list[UpgradeRecord]:
    """Scheduled changes (period-end downgrades) whose time has come."""
    async with db.read() as conn:
        rows = await conn.fetch_all(
            "SELECT * FROM upgrades WHERE status = 'scheduled' AND effective_at <= :now "
            "ORDER BY effective_at, id",
            {"now": now},
        )
    return [_record(row) for row in rows]


async def history(db: Database, upgrade_id: str) -> list[UpgradeEvent]:
    async with db.read() as conn:
        rows = await conn.fetch_all(
            "SELECT status, detail, at FROM upgrade_events WHERE upgrade_id = :id ORDER BY seq",
            {"id": upgrade_id},
        )
    return [UpgradeEvent(status=row["status"], detail=row["detail"], at=row["at"]) for row in rows]


async def list_for_customer(db: Database, customer_id: str) -> list[UpgradeRecord]:
    async with db.read() as conn:
        rows = await conn.fetch_all(
            "SELECT * FROM upgrades WHERE customer_id = :customer_id ORDER BY created_at, id",
            {"customer_id": customer_id},
        )
    return [_record(row) for row in rows]


async def page(
    db: Database,
    *,
    status: str | None,
    offer_id: str | None,
    created_from: int | None,
    created_to: int | None,
    limit: int,
    before_created: tuple[int, str] | None,
) -> list[UpgradeRecord]:
    """Newest first, filtered; up to `limit + 1` rows so the caller can tell there is more.
    `before_created` is the (created_at, id) of the last row of the previous page."""
    created, last_id = before_created if before_created else (None, None)
    async with db.read() as conn:
        rows = await conn.fetch_all(
            """
            SELECT * FROM upgrades
            WHERE (status = :status OR :status IS NULL)
              AND (offer_id = :offer OR :offer IS NULL)
              AND (created_at >= :from OR :from IS NULL)
              AND (created_at < :to OR :to IS NULL)
              AND (created_at < :created OR :created IS NULL
                   OR (created_at = :created AND id < :last_id))
            ORDER BY created_at DESC, id DESC LIMIT :limit
            """,
            {
                "status": status,
                "offer": offer_id,
                "from": created_from,
                "to": created_to,
                "created": created,
                "last_id": last_id,
                "limit": limit + 1,
            },
        )
    return [_record(row) for row in rows]


async def stuck(db: Database, *, updated_before: int, created_after: int) -> list[UpgradeRecord]:
    """Upgrades left `processing` (a crash or a Stripe outage mid-accept) that no one has
    touched since `updated_before`, and young enough that Stripe still has the idempotency
    keys of their steps; or, of any age, claims never verified (nothing of them reached
    Stripe), which would otherwise hold their subscription for ever."""
    async with db.read() as conn:
        rows = await conn.fetch_all(
            """
            SELECT * FROM upgrades
            WHERE status = 'processing' AND updated_at < :before
              AND (created_at > :after OR verified_at IS NULL)
            ORDER BY created_at, id
            """,
            {"before": updated_before, "after": created_after},
        )
    return [_record(row) for row in rows]


async def awaiting_payment(db: Database, *, created_before: int) -> list[UpgradeRecord]:
    """Upgrades waiting for the customer to pay their invoice (`requires_action`) since before
    `created_before`."""
    async with db.read() as conn:
        rows = await conn.fetch_all(
            "SELECT * FROM upgrades WHERE status = 'requires_action' AND created_at < :before"
            " ORDER BY created_at, id",
            {"before": created_before},
        )
    return [_record(row) for row in rows]
