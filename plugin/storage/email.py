"""SQL for lifecycle email: the sends (one per offer and customer, UNIQUE) and suppressions.

`decide` inserts a send and, in the same transaction, the offer impression it counts as (the
frequency budget the widget's caps read), unless the customer already had this offer's email or
is suppressed: whoever inserts first sends, so two processes deciding at once send once. `claim`
takes due sends under a lease, as outbound webhook deliveries are taken.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Literal

from plugin.storage.database import Connection, Database, Row

SendStatus = Literal["pending", "sent", "failed", "suppressed"]
Reason = Literal["unsubscribed", "admin"]


@dataclass(frozen=True, slots=True)
class SendRecord:
    seq: int
    id: str
    offer_id: str
    customer_id: str
    variant: str
    address: str
    status: SendStatus
    attempts: int
    next_attempt_at: int
    last_error: str | None
    created_at: int
    sent_at: int | None


def _send(row: Row) -> SendRecord:
    return SendRecord(**{k: row[k] for k in SendRecord.__dataclass_fields__})


async def decide(
    conn: Connection, *, offer_id: str, customer_id: str, variant: str, address: str, now: int
) -> SendRecord | None:
    """Record that this customer gets this offer's email (and its impression), or None if they
    had it already or are suppressed."""
    row = await conn.fetch_one(
        """
        INSERT INTO email_sends
            (id, offer_id, customer_id, variant, address, next_attempt_at, created_at)
        SELECT :id, :offer, :customer, :variant, :address, :now, :now
        WHERE NOT EXISTS (SELECT 1 FROM email_suppressions WHERE customer_id = :customer)
        ON CONFLICT (offer_id, customer_id) DO NOTHING
        RETURNING *
        """,
        {
            "id": "em_" + secrets.token_hex(12),
            "offer": offer_id,
            "customer": customer_id,
            "variant": variant,
            "address": address,
            "now": now,
        },
    )
    if row is None:
        return None
    await conn.execute(
        "INSERT INTO offer_events (offer_id, customer_id, arm, type, at)"
        " VALUES (:offer, :customer, :arm, 'impression', :now)",
        {"offer": offer_id, "customer": customer_id, "arm": variant, "now": now},
    )
    return _send(row)


async def already(db: Database, *, offer_id: str) -> set[str]:
    """The customers this offer's email was decided for (sent or not)."""
    async with db.read() as conn:
        rows = await conn.fetch_all(
            "SELECT customer_id FROM email_sends WHERE offer_id = :offer", {"offer": offer_id}
        )
    return {row["customer_id"] for row in rows}


async def suppressed(db: Database) -> set[str]:
    async with db.read() as conn:
        rows = await conn.fetch_all("SELECT customer_id FROM email_suppressions")
    return {row["customer_id"] for row in rows}


async def claim(db: Database, *, now: int, lease: int, limit: int) -> list[SendRecord]:
    lock = "" if db.dialect == "sqlite" else " FOR UPDATE SKIP LOCKED"
    async with db.transaction() as conn:
        rows = await conn.fetch_all(
            f"""
            UPDATE email_sends SET attempts = attempts + 1, next_attempt_at = :until
            WHERE id IN (SELECT id FROM email_sends
                         WHERE status = 'pending' AND next_attempt_at <= :now
                         ORDER BY next_attempt_at, seq LIMIT :limit{lock})
            RETURNING *
            """,  # noqa: S608 -- our own fragment
            {"now": now, "until": now + lease, "limit": limit},
        )
    return [_send(row) for row in rows]


async def finish(
    db: Database,
    *,
    send_id: str,
    status: SendStatus,
    now: int,
    error: str | None = None,
    retry_at: int | None = None,
) -> None:
    async with db.transaction() as conn:
        await conn.execute(
            """
            UPDATE email_sends SET status = :status, last_error = :error,
                next_attempt_at = COALESCE(:retry, next_attempt_at),
                sent_at = CASE WHEN :status = 'sent' THEN :now ELSE sent_at END
            WHERE id = :id AND status = 'pending'
            """,
            {"id": send_id, "status": status, "error": error, "retry": retry_at, "now": now},
        )


async def is_suppressed(db: Database, customer_id: str) -> bool:
    async with db.read() as conn:
        return bool(
            await conn.fetch_value(
                "SELECT EXISTS (SELECT 1 FROM email_suppressions WHERE customer_id = :c)",
                {"c": customer_id},
            )
        )


async def suppress(conn: Connection, *, customer_id: str, reason: Reason, now: int) -> bool:
    """Suppress (again, harmlessly); the customer's pending sends are not sent. True if new."""
    added = await conn.execute(
        """
        INSERT INTO email_suppressions (customer_id, reason, at) VALUES (:c, :reason, :now)
        ON CONFLICT (customer_id) DO NOTHING
        """,
        {"c": customer_id, "reason": reason, "now": now},
    )
    await conn.execute(
        "UPDATE email_sends SET status = 'suppressed'"
        " WHERE customer_id = :c AND status = 'pending'",
        {"c": customer_id},
    )
    return added == 1


async def unsuppress(conn: Connection, *, customer_id: str) -> bool:
    removed = await conn.execute(
        "DELETE FROM email_suppressions WHERE customer_id = :c", {"c": customer_id}
    )
    return removed == 1


@dataclass(frozen=True, slots=True)
class Suppression:
    customer_id: str
    reason: Reason
    at: int


async def suppression(conn: Connection, *, customer_id: str) -> Suppression | None:
    row = await conn.fetch_one(
        "SELECT customer_id, reason, at FROM email_suppressions WHERE customer_id = :c",
        {"c": customer_id},
    )
    return Suppression(row["customer_id"], row["reason"], row["at"]) if row else None


async def suppressions(db: Database, *, after: str | None, limit: int) -> list[Suppression]:
    async with db.read() as conn:
        rows = await conn.fetch_all(
            """
            SELECT customer_id, reason, at FROM email_suppressions
            WHERE (customer_id > :after OR :after IS NULL) ORDER BY customer_id LIMIT :limit
            """,
            {"after": after, "limit": limit},
        )
    return [Suppression(r["customer_id"], r["reason"], r["at"]) for r in rows]


async def sends(
    db: Database, *, offer_id: str | None, customer_id: str | None, limit: int
) -> list[SendRecord]:
    async with db.read() as conn:
        rows = await conn.fetch_all(
            """
            SELECT * FROM email_sends
            WHERE (offer_id = :offer OR :offer IS NULL)
              AND (customer_id = :customer OR :customer IS NULL)
            ORDER BY seq DESC LIMIT :limit
            """,
            {"offer": offer_id, "customer": customer_id, "limit": limit},
        )
    return [_send(row) for row in rows]
