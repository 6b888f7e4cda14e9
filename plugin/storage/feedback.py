"""SQL for what customers answered: the reason for a decline, a dismiss or a downgrade, and
survey answers. Free text is stored as given; everything that shows it treats it as text."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from plugin.storage.database import Database, Row
from plugin.storage.steps import FetchAll, Steps

Kind = Literal["decline", "dismiss", "survey", "downgrade"]


@dataclass(frozen=True, slots=True)
class FeedbackRecord:
    seq: int
    customer_id: str
    offer_id: str
    variant: str | None
    kind: Kind
    answer: str | None
    score: int | None
    text: str | None
    at: int

    @property
    def id(self) -> str:
        return f"fb_{self.seq}"


def _record(row: Row) -> FeedbackRecord:
    return FeedbackRecord(**{k: row[k] for k in FeedbackRecord.__dataclass_fields__})


def record_steps(
    *,
    customer_id: str,
    offer_id: str,
    variant: str | None,
    kind: str,
    answer: str | None,
    score: int | None,
    text: str | None,
    now: int,
) -> Steps[FeedbackRecord]:
    [row] = yield FetchAll(
        """
        INSERT INTO feedback (customer_id, offer_id, variant, kind, answer, score, text, at)
        VALUES (:customer, :offer, :variant, :kind, :answer, :score, :text, :now)
        RETURNING *
        """,
        {
            "customer": customer_id,
            "offer": offer_id,
            "variant": variant,
            "kind": kind,
            "answer": answer,
            "score": score,
            "text": text,
            "now": now,
        },
    )
    return _record(row)


async def page(
    db: Database,
    *,
    offer_id: str | None,
    customer_id: str | None,
    before_seq: int | None,
    limit: int,
    kind: str | None = None,
) -> list[FeedbackRecord]:
    """Newest first, for one offer or one customer (or all)."""
    async with db.read() as conn:
        rows = await conn.fetch_all(
            """
            SELECT * FROM feedback
            WHERE (offer_id = :offer OR :offer IS NULL)
              AND (customer_id = :customer OR :customer IS NULL)
              AND (kind = :kind OR :kind IS NULL)
              AND (seq < :before OR :before IS NULL)
            ORDER BY seq DESC LIMIT :limit
            """,
            {
                "offer": offer_id,
                "customer": customer_id,
                "kind": kind,
                "before": before_seq,
                "limit": limit,
            },
        )
    return [_record(row) for row in rows]
