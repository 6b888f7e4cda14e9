"""Cohorts: customers by the calendar month (UTC) they signed up in, followed month by month,
for MRR retention (each cohort's NDR curve) and for the adoption of a gated feature. Pure
arithmetic over the ledger's facts; plugin/storage/cohorts.py sums the same facts in SQL.

Definitions, for `[start, end)` and one currency:

- A customer signs up in a currency when the ledger shows their first `new` movement in it
  (their first paid subscription there). The cohort of a month is the customers who signed up
  in it, within `[start, end)` (so the first and last cohorts may be part of a month). A
  customer paying in two currencies is in one cohort of each.
- Month k of a cohort is the calendar month k months after its signup month (month 0 is the
  signup month). It is measured at the month's end, or at `end` for the month `end` falls in
  (`complete` is false there); months starting at or after `end` are not shown.
- MRR retention (`mrr`): the cohort's MRR at month k's end (every movement of its customers
  in that currency up to then, expansions, contractions, churn and reactivations included) /
  its MRR at month 0's end: NDR since signup, 1 at month 0 by definition. Null when month 0's
  MRR is 0 (every member churned within their signup month).
- Adoption of a feature (`feature:<name>`): the cohort's customers who had hit the feature
  (`POST /api/v1/feature-events`; its first hit) by month k's end / the cohort's customers.
  A hit before signup counts from month 0. A ledger customer is matched to the SaaS's
  customer through the customer record's Stripe id; one without a record has hit nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from fractions import Fraction

from plugin.metrics.revenue import LedgerMovement

# (currency, cohort month label) -> (its customers, one running total per boundary)
Facts = Mapping[tuple[str, str], tuple[int, Sequence[int]]]


@dataclass(frozen=True, slots=True)
class Cell:
    month: int  # months since the signup month
    at: int  # when it is measured: the month's end, or the period's end
    complete: bool  # whether the month has ended by then
    numerator: int  # MRR (minor units) or customers who had hit the feature
    denominator: int  # MRR at month 0, or the cohort's customers

    @property
    def value(self) -> Fraction | None:
        return Fraction(self.numerator, self.denominator) if self.denominator else None


@dataclass(frozen=True, slots=True)
class Cohort:
    currency: str
    month: str  # YYYY-MM, UTC
    start: int  # the signups it holds are in [start, end)
    end: int
    customers: int
    cells: tuple[Cell, ...]


def month_of(t: int) -> str:
    """The calendar month (UTC) `t` falls in, as YYYY-MM (SQL's label for it too)."""
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m")


def _index(label: str) -> int:
    year, month = label.split("-")
    return int(year) * 12 + int(month) - 1


def _start_of(index: int) -> int:
    return int(datetime(index // 12, index % 12 + 1, 1, tzinfo=UTC).timestamp())


def default_start(end: int) -> int:
    """Twelve cohorts by default: the first of the month eleven months before `end`'s."""
    return _start_of(_index(month_of(end - 1)) - 11)


def boundaries(start: int, end: int) -> list[int]:
    """Where the cells of `[start, end)`'s cohorts are measured: the end of every month from
    `start`'s to the one before `end`'s, then `end` (month k of the cohort of the i-th month
    is measured at the (i + k)-th)."""
    if end <= start:
        raise ValueError("the period must end after it starts")
    first, last = _index(month_of(start)), _index(month_of(end - 1))
    return [_start_of(i + 1) for i in range(first, last)] + [end]


def assemble(*, facts: Facts, start: int, end: int, kind: str) -> list[Cohort]:
    """Cohorts from their facts: each cohort's customers and, at every one of `boundaries`,
    the running total of its MRR (`kind` "mrr"; a cell is over month 0's) or of its customers
    who had hit the feature (otherwise; over the cohort's customers). Sorted by currency,
    then month."""
    cuts = boundaries(start, end)
    first = _index(month_of(start))
    found = []
    for (currency, cohort), (customers, totals) in sorted(facts.items()):
        offset = _index(cohort) - first
        base = totals[offset] if kind == "mrr" else customers
        cells = tuple(
            Cell(k, at, at == _start_of(_index(month_of(at - 1)) + 1), totals[offset + k], base)
            for k, at in enumerate(cuts[offset:])
        )
        found.append(
            Cohort(
                currency=currency, month=cohort, start=max(start, _start_of(first + offset)),
                end=min(end, _start_of(first + offset + 1)), customers=customers, cells=cells,
            )
        )  # fmt: skip
    return found


def signups(movements: Iterable[LedgerMovement]) -> dict[tuple[str, str], int]:
    """(customer, currency) -> their first `new` movement's time."""
    first: dict[tuple[str, str], int] = {}
    for m in movements:
        key = (m.customer_id, m.currency)
        if m.kind == "new" and m.occurred_at < first.get(key, m.occurred_at + 1):
            first[key] = m.occurred_at
    return first


def _totals(
    joined: Mapping[tuple[str, str], int],
    cuts: Sequence[int],
    added: Iterable[tuple[str, str, int, int]],
) -> dict[tuple[str, str], tuple[int, list[int]]]:
    """Each cohort's customers, and the running totals at `cuts` of what `added` ((customer,
    currency, when, how much)) adds for its customers."""
    found: dict[tuple[str, str], tuple[int, list[int]]] = {}
    for (_, currency), t in joined.items():
        n, totals = found.get((currency, month_of(t)), (0, [0] * len(cuts)))
        found[(currency, month_of(t))] = (n + 1, totals)
    for customer, currency, t, amount in added:
        signed = joined.get((customer, currency))
        if signed is None:
            continue
        totals = found[(currency, month_of(signed))][1]
        for i, cut in enumerate(cuts):
            if t < cut:
                totals[i] += amount
    return found


def mrr_facts(
    movements: Iterable[LedgerMovement], *, start: int, end: int
) -> dict[tuple[str, str], tuple[int, list[int]]]:
    """The facts of MRR cohorts from every movement: the definitions, written out."""
    rows = [m for m in movements if m.occurred_at < end]
    joined = {k: t for k, t in signups(rows).items() if start <= t < end}
    added = ((m.customer_id, m.currency, m.occurred_at, m.amount) for m in rows)
    return _totals(joined, boundaries(start, end), added)


def adoption_facts(
    movements: Iterable[LedgerMovement], first_hits: Mapping[str, int], *, start: int, end: int
) -> dict[tuple[str, str], tuple[int, list[int]]]:
    """The facts of a feature's adoption cohorts: `first_hits` maps a ledger customer (the
    Stripe customer) to their first hit of the feature."""
    rows = [m for m in movements if m.occurred_at < end]
    joined = {k: t for k, t in signups(rows).items() if start <= t < end}
    added = ((c, cur, first_hits[c], 1) for c, cur in joined if c in first_hits)
    return _totals(joined, boundaries(start, end), added)
