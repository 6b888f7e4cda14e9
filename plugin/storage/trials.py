"""SQL for trial grants."""

from __future__ import annotations

from dataclasses import dataclass

from plugin.storage.database import Connection, Row


@dataclass(frozen=True, slots=True)
class TrialGrant:
    id: str
    customer_id: str
    offer_id: str
    variant: str
    plan_id: str
    starts_at: int
    ends_at: int
    created_at: int


def _grant(row: Row) -> TrialGrant:
    return TrialGrant(**{k: row[k] for k in TrialGrant.__dataclass_fields__})


async def grant(
    conn: Connection,
    *,
    grant_id: str,
    customer_id: str,
    offer_id: str,
    variant: str,
    plan_id: str,
    starts_at: int,
    ends_at: int,
) -> TrialGrant:
    """Insert the grant, or return the one this customer already has for this offer."""
    await conn.execute(
        """
        INSERT INTO trial_grants (id, customer_id, offer_id, variant, plan_id, starts_at,
                                  ends_at, created_at)
        VALUES (:id, :customer, :offer, :variant, :plan, :starts, :ends, :starts)
        ON CONFLICT (customer_id, offer_id) DO NOTHING
        """,
        {
            "id": grant_id,
            "customer": customer_id,
            "offer": offer_id,
            "variant": variant,
            "plan": plan_id,
            "starts": starts_at,
            "ends": ends_at,
        },
    )
    row = await conn.fetch_one(
        "SELECT * FROM trial_grants WHERE customer_id = :customer AND offer_id = :offer",
        {"customer": customer_id, "offer": offer_id},
    )
    if row is None:  # pragma: no cover -- inserted or already there
        raise RuntimeError("trial grant vanished")
    return _grant(row)


async def active(conn: Connection, *, customer_id: str, now: int) -> TrialGrant | None:
    """The customer's running trial with the latest end, if any."""
    row = await conn.fetch_one(
        """
        SELECT * FROM trial_grants
        WHERE customer_id = :customer AND starts_at <= :now AND ends_at > :now
        ORDER BY ends_at DESC LIMIT 1
        """,
        {"customer": customer_id, "now": now},
    )
    return _grant(row) if row else None


async def due_announcements(conn: Connection, *, now: int, ending_within: int) -> bool:
    """Whether a grant's `trial.ending` or `trial.ended` is due (a read, before a write)."""
    return bool(
        await conn.fetch_value(
            """
            SELECT EXISTS (SELECT 1 FROM trial_grants
                WHERE ends_at > :since AND ends_at <= :horizon
                  AND ((ends_at <= :now AND ended_announced = 0)
                       OR (ends_at > :now AND ending_announced = 0)))
            """,
            {"since": now - 86_400, "now": now, "horizon": now + ending_within},
        )
    )


async def take_ending(conn: Connection, *, now: int, ending_within: int) -> list[TrialGrant]:
    """Grants ending within `ending_within` whose `trial.ending` is not announced: marked."""
    rows = await conn.fetch_all(
        """
        UPDATE trial_grants SET ending_announced = 1
        WHERE ending_announced = 0 AND ends_at > :now AND ends_at <= :horizon
        RETURNING *
        """,
        {"now": now, "horizon": now + ending_within},
    )
    return [_grant(row) for row in rows]


async def take_ended(conn: Connection, *, now: int) -> list[TrialGrant]:
    """Grants that ended in the last day whose `trial.ended` is not announced: marked."""
    rows = await conn.fetch_all(
        """
        UPDATE trial_grants SET ended_announced = 1
        WHERE ended_announced = 0 AND ends_at <= :now AND ends_at > :since
        RETURNING *
        """,
        {"now": now, "since": now - 86_400},
    )
    return [_grant(row) for row in rows]
