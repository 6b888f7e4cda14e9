"""SQL for upgrades and their status history.

`claim` inserts first and lets UNIQUE (quote_id) decide who executes a quote: of two concurrent
accepts exactly one gets `claimed=True`; the other reads the winner's row. Status changes are
compare-and-set (`WHERE status IN (…)`), so a webhook and the accept request racing on the same
upgrade cannot step on each other, and each change that happened is written to `upgrade_events`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from plugin.storage import Connection, Database, Row, in_clause

Status = Literal["processing", "requires_action", "scheduled", "succeeded", "failed"]


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


async def claim(db: Database, *, upgrade: NewUpgrade, now: int) -> tuple[UpgradeRecord, bool]:
    """Insert the upgrade unless its quote (or its customer's idempotency key) already has one.
    Returns the row that exists afterwards and whether this call created it. When the key was
    used for another quote, the returned row is that other quote's upgrade."""
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
                created_at, updated_at
            ) VALUES (
                :id, :quote_id, :idempotency_key, :customer_id, :offer_id, :variant, :execution,
                :subscription_id, :subscription_item_id, :from_price, :from_quantity, :to_price,
                :to_quantity, :currency, :amount_quoted, :mrr_delta, :status, :effective_at,
                :now, :now
            )
            ON CONFLICT DO NOTHING
            RETURNING *
            """,
            values,
        )
        if row is not None:
            await _log(conn, upgrade.id, upgrade.status, None, now)
            return _record(row), True
        existing = await conn.fetch_one(
            "SELECT * FROM upgrades WHERE quote_id = :quote_id", {"quote_id": upgrade.quote_id}
        ) or await conn.fetch_one(
            "SELECT * FROM upgrades WHERE customer_id = :customer_id AND idempotency_key = :key",
            {"customer_id": upgrade.customer_id, "key": upgrade.idempotency_key},
        )
    if existing is None:  # pragma: no cover -- a conflict implies one of the two rows exists
        raise RuntimeError(f"upgrade insert for quote {upgrade.quote_id} conflicted with nothing")
    return _record(existing), False


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
    return changed == 1


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
    keys of their steps."""
    async with db.read() as conn:
        rows = await conn.fetch_all(
            """
            SELECT * FROM upgrades
            WHERE status = 'processing' AND updated_at < :before AND created_at > :after
            ORDER BY created_at, id
            """,
            {"before": updated_before, "after": created_after},
        )
    return [_record(row) for row in rows]
