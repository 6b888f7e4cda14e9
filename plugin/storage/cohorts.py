"""Read model for cohorts (plugin/metrics/cohorts.py): each cohort's customers and, at every
month's end, its MRR or its customers who had hit a feature, summed in SQL; and the rows the
pure path reads instead.

A customer's signup in a currency is their first `new` movement in it. The cohort's label
(YYYY-MM, UTC) is made by the database, in each dialect's words, and the boundaries are
parameters, so an answer is a few dozen grouped rows rather than every movement."""

from __future__ import annotations

import json

from plugin.metrics import cohorts
from plugin.storage.database import Connection, Database
from plugin.storage.dialect import Dialect

_MONTH: dict[Dialect, str] = {
    "sqlite": "strftime('%Y-%m', {t}, 'unixepoch')",
    "postgresql": "to_char(to_timestamp({t}) AT TIME ZONE 'UTC', 'YYYY-MM')",
}
# One pass over the ledger in the order of mrr_movements_customer_currency (migration 0014), one
# group per (customer, currency) with no sort: their signup (first `new`) and, for MRR, their
# MRR at every boundary (`{totals}`: one `sum(CASE WHEN occurred_at < :b<i> …)` each, the
# ledger being a chain). Then the customers are summed per cohort: a few dozen rows.
_MRR = """
    SELECT currency, {cohort} AS cohort, count(*) AS n, {sums}
    FROM (
        SELECT customer_id, currency, min(CASE WHEN kind = 'new' THEN occurred_at END) AS signed,
               {totals}
        FROM mrr_movements
        WHERE occurred_at < :end {only}
        GROUP BY customer_id, currency) per
    WHERE signed >= :start
    GROUP BY currency, {cohort}
"""
_ADOPTED = """
    SELECT per.currency, {cohort} AS cohort, count(*) AS n, {hits}
    FROM (
        SELECT customer_id, currency, min(occurred_at) AS signed FROM mrr_movements
        WHERE kind = 'new' AND occurred_at < :end {only}
        GROUP BY customer_id, currency) per
    LEFT JOIN customers c ON c.stripe_customer = per.customer_id
    LEFT JOIN feature_hits h ON h.customer_id = c.id AND h.feature = :feature
    WHERE per.signed >= :start
    GROUP BY per.currency, {cohort}
"""


def _sql(dialect: Dialect, count: int, *, feature: bool, currency: bool) -> str:
    """The statement for `count` boundaries (`:b0` …), in `dialect`'s words; with `currency`,
    for the one currency `:currency` (a condition only then: it is one more test per row)."""
    cohort = _MONTH[dialect].format(t="signed")
    only = "AND currency = :currency" if currency else ""
    if feature:
        hits = ", ".join(
            f"sum(CASE WHEN h.first_at < :b{i} THEN 1 ELSE 0 END) AS c{i}" for i in range(count)
        )
        return _ADOPTED.format(cohort=_MONTH[dialect].format(t="per.signed"), hits=hits, only=only)
    totals = ", ".join(
        f"sum(CASE WHEN occurred_at < :b{i} THEN amount ELSE 0 END) AS c{i}" for i in range(count)
    )
    sums = ", ".join(f"sum(c{i}) AS c{i}" for i in range(count))
    return _MRR.format(cohort=cohort, totals=totals, sums=sums, only=only)


async def facts(
    db: Database, *, start: int, end: int, currency: str | None, feature: str | None
) -> dict[tuple[str, str], tuple[int, list[int]]]:
    """plugin.metrics.cohorts `Facts` for `[start, end)`: each cohort's customers and its
    running totals at every boundary (`cohorts.boundaries`): MRR, or with `feature` the
    customers who had first hit it."""
    cuts = cohorts.boundaries(start, end)
    params: dict[str, object] = {"start": start, "end": end}
    if currency is not None:
        params["currency"] = currency
    params.update({f"b{i}": cut for i, cut in enumerate(cuts)})
    if feature is not None:
        params["feature"] = feature
    async with db.read() as conn:
        sql = _sql(
            db.dialect, len(cuts), feature=feature is not None, currency=currency is not None
        )
        rows = await conn.fetch_all(sql, params)
    return {
        (r["currency"], r["cohort"]): (
            int(r["n"]),
            [int(r[f"c{i}"] or 0) for i in range(len(cuts))],
        )
        for r in rows
    }


async def features(conn: Connection) -> list[str]:
    """The gated features: every plan's, and every one a customer has hit."""
    found = {
        r["feature"] for r in await conn.fetch_all("SELECT DISTINCT feature FROM feature_hits")
    }
    for r in await conn.fetch_all("SELECT features FROM plans"):
        found.update(str(f) for f in json.loads(r["features"] or "[]"))
    return sorted(found)


async def first_hits(conn: Connection, *, feature: str) -> dict[str, int]:
    """Stripe customer -> their customer's first hit of `feature` (the pure path's input)."""
    rows = await conn.fetch_all(
        """
        SELECT c.stripe_customer, h.first_at FROM feature_hits h
        JOIN customers c ON c.id = h.customer_id
        WHERE h.feature = :feature AND c.stripe_customer IS NOT NULL
        """,
        {"feature": feature},
    )
    return {r["stripe_customer"]: r["first_at"] for r in rows}
