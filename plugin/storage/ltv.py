"""Read model for LTV (plugin/metrics/ltv.py): the cohort paying at a period's start, how many
of it churned by its end and its MRR then, summed in SQL; and, one by one, the customers with
an expansion in the period, among whom are the upgraded (the metrics' facts say which).

Only customers who moved in the period can have churned or changed MRR (the ledger is a chain:
MRR at t is the sum of the amounts before t), so the sums read the period's movers and their
history, as plugin/storage/metrics.py's NDR cohort does; everyone else keeps their MRR at
start, which the caller has (`CurrencyFacts.mrr_start`, `paying_start`)."""

from __future__ import annotations

from plugin.storage.database import Database
from plugin.storage.metrics import MOVERS

# Per currency, over the cohort members who moved in the period: those not paying at its end,
# and the change of their MRR from start to end.
_MOVERS = f"""
    SELECT currency, sum(CASE WHEN mrr_end <= 0 THEN 1 ELSE 0 END) AS churned,
           sum(mrr_end - mrr_start) AS change
    FROM ({MOVERS.format(columns="sum(amount) AS mrr_end")}) per
    WHERE mrr_start > 0 GROUP BY currency
"""  # noqa: S608 -- built from constants, no input
# The MRR at start and at end, per currency, of the customers with an expansion in the period:
# every upgraded customer among them (an upgrade is an expansion that raises the tier), read
# beside the metrics' own queries rather than after them.
_EXPANDED = """
    SELECT customer_id, currency,
           sum(CASE WHEN occurred_at < :start THEN amount ELSE 0 END) AS mrr_start,
           sum(amount) AS mrr_end
    FROM mrr_movements WHERE occurred_at < :end AND customer_id IN (
        SELECT customer_id FROM mrr_movements
        WHERE kind = 'expansion' AND occurred_at >= :start AND occurred_at < :end)
    GROUP BY customer_id, currency
"""


async def movers(db: Database, *, start: int, end: int) -> dict[str, tuple[int, int]]:
    """currency -> (cohort members not paying at `end`, the cohort's MRR change to `end`)."""
    async with db.read() as conn:
        rows = await conn.fetch_all(_MOVERS, {"start": start, "end": end})
    return {r["currency"]: (int(r["churned"] or 0), int(r["change"] or 0)) for r in rows}


async def expanded(db: Database, *, start: int, end: int) -> dict[tuple[str, str], tuple[int, int]]:
    """(customer, currency) -> (MRR at `start`, MRR at `end`), for every customer with an
    expansion in `[start, end)`."""
    async with db.read() as conn:
        rows = await conn.fetch_all(_EXPANDED, {"start": start, "end": end})
    return {
        (r["customer_id"], r["currency"]): (int(r["mrr_start"]), int(r["mrr_end"])) for r in rows
    }
