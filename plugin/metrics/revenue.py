"""Revenue metrics for a period `[start, end)`: pure arithmetic over stored facts.

Inputs are plain rows (the MRR ledger the webhooks keep, the upgrades Uplift executed), so every
figure can be checked by hand, and every figure says how it was computed: a `Figure` carries its
numerator and denominator next to its value. Money is integer minor units per currency; figures
never mix currencies. Ratios are exact fractions, rendered as decimals only at the edge.

Definitions (per currency):

- MRR of a subscription at time t: `mrr_after` of its last ledger movement at or before t.
- new / expansion / contraction / churn / reactivation MRR: the ledger movements of that kind
  with `start <= occurred_at < end` (contraction and churn are reported as positive amounts);
  net new MRR = new + expansion + reactivation - contraction - churn.
- NDR: the cohort is every customer with MRR > 0 at `start`;
  NDR = (cohort MRR at start + their expansion + reactivation - contraction - churn in the
  period) / cohort MRR at start. New customers are not in it. A cohort member who churns and
  comes back within the period counts both movements, which is their MRR at `end`.
- ARPU at t: total MRR at t / customers with MRR > 0 at t (rounded half up to a minor unit).
- upsell conversion: customers whose first succeeded *upgrade* falls in the period / customers
  paying at `start` on a plan below the top tier.
- average upgrade value: expansion MRR of the succeeded upgrades in the period / their count.
- time to upsell: days from a customer's first paid subscription (first `new` movement) to
  their first succeeded upgrade, for customers whose first upgrade is in the period; median
  and 90th percentile (nearest rank).
- cross-sell revenue: MRR added by succeeded cross-sells (recurring), and the amount charged
  today by them (one-off, the quotes' amount due now).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Literal

from plugin.billing.mirror import MovementKind
from plugin.timespan import DAY

UpgradeKind = Literal["upgrade", "interval_switch", "cross_sell", "downgrade", "other"]


@dataclass(frozen=True, slots=True)
class LedgerMovement:
    """A movement as the MRR ledger holds it: whose, in which currency, when, and the offer it
    is credited to (plugin/billing/mirror.py's `Movement`, recorded)."""

    customer_id: str
    subscription_id: str
    kind: MovementKind
    currency: str
    amount: int  # signed change of MRR, minor units
    mrr_after: int
    occurred_at: int
    offer_id: str | None = None


@dataclass(frozen=True, slots=True)
class Upgrade:
    id: str
    customer_id: str
    kind: UpgradeKind
    status: str  # only "succeeded" counts
    currency: str
    mrr_delta: int
    amount_paid: int  # charged now (minor units)
    succeeded_at: int | None
    offer_id: str | None = None
    variant: str | None = None


@dataclass(frozen=True, slots=True)
class Figure:
    """A number and how it was computed."""

    value: Fraction | int | None
    numerator: int | Fraction
    denominator: int | None = None
    note: str = ""

    def as_float(self) -> float | None:
        return None if self.value is None else float(self.value)


@dataclass(frozen=True, slots=True)
class CurrencyMetrics:
    currency: str
    mrr_start: int
    mrr_end: int
    new: int
    expansion: int
    contraction: int
    churn: int
    reactivation: int
    net_new: int
    ndr: Figure
    arpu_start: Figure
    arpu_end: Figure
    average_upgrade_value: Figure
    cross_sell_recurring: int
    cross_sell_one_off: int


@dataclass(frozen=True, slots=True)
class Metrics:
    start: int
    end: int
    currencies: dict[str, CurrencyMetrics] = field(default_factory=dict)
    upsell_conversion: Figure = field(default_factory=lambda: Figure(None, 0, 0))
    time_to_upsell_median_days: Figure = field(default_factory=lambda: Figure(None, 0))
    time_to_upsell_p90_days: Figure = field(default_factory=lambda: Figure(None, 0))


def _ratio(numerator: int, denominator: int, note: str = "") -> Figure:
    value = Fraction(numerator, denominator) if denominator else None
    return Figure(value, numerator, denominator, note)


def _round_half_up(value: Fraction) -> int:
    return int((value * 2 + 1) // 2)


def mrr_at(movements: Iterable[LedgerMovement], t: int) -> dict[str, tuple[str, str, int]]:
    """subscription -> (customer, currency, MRR) at time t (inclusive)."""
    latest: dict[str, LedgerMovement] = {}
    for m in movements:
        if m.occurred_at <= t and (
            m.subscription_id not in latest
            or m.occurred_at >= latest[m.subscription_id].occurred_at
        ):
            latest[m.subscription_id] = m
    return {sub: (m.customer_id, m.currency, m.mrr_after) for sub, m in latest.items()}


def _per_customer(state: dict[str, tuple[str, str, int]]) -> dict[str, dict[str, int]]:
    """currency -> customer -> MRR."""
    out: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for customer, currency, mrr in state.values():
        out[currency][customer] += mrr
    return out


def _percentile(sorted_values: Sequence[Fraction], pct: int) -> Fraction | None:
    """Nearest rank: the smallest value with at least `pct` % of values at or below it."""
    if not sorted_values:
        return None
    rank = max(1, -(-pct * len(sorted_values) // 100))  # ceil(pct * n / 100)
    return sorted_values[rank - 1]


@dataclass(frozen=True, slots=True)
class CurrencyFacts:
    """What the metrics of one currency are computed from: sums and counts, which the read
    model gets from SQL aggregates and `facts` gets from rows (the same definitions)."""

    currency: str
    mrr_start: int  # total MRR at start (everyone's; nobody's MRR is below zero)
    mrr_end: int
    paying_start: int  # customers with MRR > 0 at start: the NDR cohort
    paying_end: int
    cohort_change: int  # the cohort's movements in the period, other than `new`
    moved: dict[str, int]  # movement kind -> sum of |amount| in the period
    upgrades: int  # succeeded upgrades (kind "upgrade") in the period
    upgrade_mrr: int  # their MRR change
    cross_sell_mrr: int  # succeeded cross-sells in the period: MRR added
    cross_sell_paid: int  # and charged today


@dataclass(frozen=True, slots=True)
class Facts:
    start: int
    end: int
    currencies: Sequence[CurrencyFacts]
    eligible: int  # customers paying at start below the top tier
    converted: int  # of those, customers whose first succeeded upgrade is in the period
    upsell_days: Sequence[Fraction]  # first paid to first upgrade, for those in the period


def facts(
    *,
    movements: Sequence[LedgerMovement],
    upgrades: Sequence[Upgrade],
    start: int,
    end: int,
    tier_at_start: dict[str, int] | None = None,
    top_tier: int | None = None,
) -> Facts:
    """The facts for `[start, end)` from plain rows: the definitions, written out."""
    if end <= start:
        raise ValueError("the period must end after it starts")
    before = _per_customer(mrr_at(movements, start - 1))
    after = _per_customer(mrr_at(movements, end - 1))
    in_period = [m for m in movements if start <= m.occurred_at < end]
    succeeded = [u for u in upgrades if u.status == "succeeded" and u.succeeded_at is not None]
    in_period_upgrades = [u for u in succeeded if start <= (u.succeeded_at or 0) < end]

    currencies = sorted(
        set(before) | set(after) | {m.currency for m in in_period}
        | {u.currency for u in in_period_upgrades}
    )  # fmt: skip
    found = []
    for cur in currencies:
        moves = [m for m in in_period if m.currency == cur]
        moved = dict.fromkeys(("new", "expansion", "contraction", "churn", "reactivation"), 0)
        for m in moves:
            moved[m.kind] += abs(m.amount)
        cohort = {c for c, mrr in before.get(cur, {}).items() if mrr > 0}
        ups = [u for u in in_period_upgrades if u.currency == cur and u.kind == "upgrade"]
        cross = [u for u in in_period_upgrades if u.currency == cur and u.kind == "cross_sell"]
        found.append(
            CurrencyFacts(
                currency=cur,
                mrr_start=sum(before.get(cur, {}).values()),
                mrr_end=sum(after.get(cur, {}).values()),
                paying_start=len(cohort),
                paying_end=sum(1 for v in after.get(cur, {}).values() if v > 0),
                cohort_change=sum(
                    m.amount for m in moves if m.customer_id in cohort and m.kind != "new"
                ),
                moved=moved,
                upgrades=len(ups),
                upgrade_mrr=sum(u.mrr_delta for u in ups),
                cross_sell_mrr=sum(u.mrr_delta for u in cross),
                cross_sell_paid=sum(u.amount_paid for u in cross),
            )
        )

    first_upgrade: dict[str, int] = {}
    for u in sorted(succeeded, key=lambda u: u.succeeded_at or 0):
        if u.kind == "upgrade":
            first_upgrade.setdefault(u.customer_id, u.succeeded_at or 0)
    upgraded_in_period = {c for c, t in first_upgrade.items() if start <= t < end}
    paying_at_start = {c for per in before.values() for c, mrr in per.items() if mrr > 0}
    eligible = {
        c
        for c, tier in (tier_at_start or {}).items()
        if (top_tier is None or tier < top_tier) and c in paying_at_start
    }
    first_paid: dict[str, int] = {}
    for m in sorted(movements, key=lambda m: m.occurred_at):
        if m.kind == "new":
            first_paid.setdefault(m.customer_id, m.occurred_at)
    return Facts(
        start=start,
        end=end,
        currencies=found,
        eligible=len(eligible),
        converted=len(upgraded_in_period & eligible),
        upsell_days=[
            Fraction(first_upgrade[c] - first_paid[c], DAY)
            for c in upgraded_in_period
            if c in first_paid and first_upgrade[c] >= first_paid[c]
        ],
    )


def summarise(found: Facts) -> Metrics:
    """Every figure from the facts, with its numerator and denominator. NDR's cohort holds
    every customer paying at start, so its MRR at start is the total MRR at start."""
    result: dict[str, CurrencyMetrics] = {}
    for f in found.currencies:
        moved = f.moved
        result[f.currency] = CurrencyMetrics(
            currency=f.currency,
            mrr_start=f.mrr_start,
            mrr_end=f.mrr_end,
            new=moved.get("new", 0),
            expansion=moved.get("expansion", 0),
            contraction=moved.get("contraction", 0),
            churn=moved.get("churn", 0),
            reactivation=moved.get("reactivation", 0),
            net_new=moved.get("new", 0) + moved.get("expansion", 0)
            + moved.get("reactivation", 0) - moved.get("contraction", 0) - moved.get("churn", 0),
            ndr=_ratio(
                f.mrr_start + f.cohort_change,
                f.mrr_start,
                f"cohort of {f.paying_start} customers paying at start",
            ),
            arpu_start=_arpu(f.mrr_start, f.paying_start),
            arpu_end=_arpu(f.mrr_end, f.paying_end),
            average_upgrade_value=_ratio(
                f.upgrade_mrr, f.upgrades, "expansion MRR per succeeded upgrade"
            ),
            cross_sell_recurring=f.cross_sell_mrr,
            cross_sell_one_off=f.cross_sell_paid,
        )  # fmt: skip
    days = sorted(found.upsell_days)
    return Metrics(
        start=found.start,
        end=found.end,
        currencies=result,
        upsell_conversion=_ratio(
            found.converted,
            found.eligible,
            "customers below the top tier at start who upgraded in the period",
        ),
        time_to_upsell_median_days=Figure(_median(days), len(days), None, "customers"),
        time_to_upsell_p90_days=Figure(_percentile(days, 90), len(days), None, "customers"),
    )


def compute(
    *,
    movements: Sequence[LedgerMovement],
    upgrades: Sequence[Upgrade],
    start: int,
    end: int,
    tier_at_start: dict[str, int] | None = None,
    top_tier: int | None = None,
) -> Metrics:
    """All metrics for `[start, end)`. `tier_at_start` maps customers to their plan tier at
    `start` (for upsell conversion); customers below `top_tier` are the denominator."""
    return summarise(
        facts(
            movements=movements, upgrades=upgrades, start=start, end=end,
            tier_at_start=tier_at_start, top_tier=top_tier,
        )
    )  # fmt: skip


def _arpu(total: int, customers: int) -> Figure:
    value = _round_half_up(Fraction(total, customers)) if customers else None
    return Figure(value, total, customers, "MRR / paying customers, minor units")


def _median(sorted_values: Sequence[Fraction]) -> Fraction | None:
    n = len(sorted_values)
    if n == 0:
        return None
    mid = n // 2
    return sorted_values[mid] if n % 2 else (sorted_values[mid - 1] + sorted_values[mid]) / 2


# Time series ------------------------------------------------------------------------------

# A bucket is a calendar day, week (from Monday) or month, UTC; `interval` is its size's name
# in the API (`?interval=week`).
BucketSize = Literal["day", "week", "month"]
INTERVALS: tuple[BucketSize, ...] = ("day", "week", "month")
WEEK = 7 * DAY
# The unix epoch fell on a Thursday; weeks start on Monday (ISO 8601), three days earlier.
_MONDAY = -3 * DAY
SERIES = (
    "mrr",
    "new_mrr",
    "expansion_mrr",
    "contraction_mrr",
    "churned_mrr",
    "reactivation_mrr",
    "net_new_mrr",
    "upgrades",
    "upgrade_expansion_mrr",
)
_SERIES_KIND: dict[str, MovementKind] = {
    "new_mrr": "new",
    "expansion_mrr": "expansion",
    "contraction_mrr": "contraction",
    "churned_mrr": "churn",
    "reactivation_mrr": "reactivation",
}
_NET_SIGN: dict[str, int] = {
    "new": 1, "expansion": 1, "reactivation": 1, "contraction": -1, "churn": -1,
}  # fmt: skip


def _next_boundary(t: int, interval: BucketSize) -> int:
    """The first calendar boundary (UTC midnight, Monday, first of the month) after `t`."""
    if interval == "day":
        return (t // DAY + 1) * DAY
    if interval == "week":
        return ((t - _MONDAY) // WEEK + 1) * WEEK + _MONDAY
    days = t // DAY
    # Civil date from days since the epoch (Howard Hinnant's algorithm), integers only.
    z = days + 719_468
    era = z // 146_097
    doe = z - era * 146_097
    yoe = (doe - doe // 1460 + doe // 36_524 - doe // 146_096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    month = mp + 3 if mp < 10 else mp - 9
    year = yoe + era * 400 + (1 if month <= 2 else 0)
    year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return _days_from_civil(year, month, 1) * DAY


def _days_from_civil(year: int, month: int, day: int) -> int:
    year -= month <= 2
    era = year // 400
    yoe = year - era * 400
    doy = (153 * (month + (-3 if month > 2 else 9)) + 2) // 5 + day - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146_097 + doe - 719_468


def buckets(start: int, end: int, interval: BucketSize) -> list[tuple[int, int]]:
    """`[start, end)` cut at calendar boundaries (UTC): the first and last buckets may be
    partial, so the buckets add up to exactly the period."""
    if end <= start:
        raise ValueError("the period must end after it starts")
    cuts = []
    t = start
    while t < end:
        nxt = min(_next_boundary(t, interval), end)
        cuts.append((t, nxt))
        t = nxt
    return cuts


def bucket_count(start: int, end: int, interval: BucketSize) -> int:
    """How many buckets `buckets` would make, without making them (to refuse huge requests)."""
    if end <= start:
        return 0
    if interval == "month":
        return len(buckets(start, min(end, start + 40 * 366 * DAY), interval))
    size, origin = (DAY, 0) if interval == "day" else (WEEK, _MONDAY)
    return (end - 1 - origin) // size - (start - origin) // size + 1


def series(
    *,
    metric: str,
    movements: Sequence[LedgerMovement],
    upgrades: Sequence[Upgrade],
    cuts: Sequence[tuple[int, int]],
    opening: dict[str, int] | None = None,
) -> dict[str, list[int]]:
    """currency -> one value per bucket. Movement series are sums of amounts (contraction and
    churn as positive amounts, net new signed); `mrr` is the MRR at each bucket's end;
    `upgrades` counts succeeded upgrades (kind "upgrade") and `upgrade_expansion_mrr` sums
    their MRR change. A currency appears when any bucket has a non-zero value."""
    if metric not in SERIES:
        raise ValueError(f"unknown metric {metric!r}")
    if not cuts:
        return {}
    starts = [s for s, _ in cuts]
    (first, _), (_, last) = cuts[0], cuts[-1]
    out: dict[str, list[int]] = {}

    def slot(t: int) -> int | None:
        if not first <= t < last:
            return None
        lo, hi = 0, len(starts) - 1
        while lo < hi:  # the last bucket starting at or before t
            mid = (lo + hi + 1) // 2
            lo, hi = (mid, hi) if starts[mid] <= t else (lo, mid - 1)
        return lo

    def add(currency: str, t: int, value: int) -> None:
        i = slot(t)
        if i is not None:
            out.setdefault(currency, [0] * len(cuts))[i] += value

    if metric == "mrr":
        # MRR at t is the sum of the amounts before t (the ledger is a chain), so `opening`
        # (the totals at the first bucket's start, when the history before it is not given)
        # plus the amounts since.
        totals = dict(opening) if opening is not None else {
            cur: sum(v for _, c, v in mrr_at(movements, first - 1).values() if c == cur)
            for cur in {m.currency for m in movements if m.occurred_at < first}
        }  # fmt: skip
        ordered = sorted(
            (m for m in movements if m.occurred_at >= first), key=lambda m: m.occurred_at
        )
        running: dict[str, list[int]] = {}
        k = 0
        for i, (_, bucket_end) in enumerate(cuts):
            while k < len(ordered) and ordered[k].occurred_at < bucket_end:
                totals[ordered[k].currency] = totals.get(ordered[k].currency, 0) + ordered[k].amount
                k += 1
            for currency, total in totals.items():
                running.setdefault(currency, [0] * len(cuts))[i] = total
        return {c: v for c, v in sorted(running.items()) if any(v)}
    if metric in ("upgrades", "upgrade_expansion_mrr"):
        for u in upgrades:
            if u.status == "succeeded" and u.succeeded_at is not None and u.kind == "upgrade":
                add(u.currency, u.succeeded_at, 1 if metric == "upgrades" else u.mrr_delta)
    else:
        kind = _SERIES_KIND.get(metric)
        for m in movements:
            if kind is None:
                add(m.currency, m.occurred_at, _NET_SIGN[m.kind] * abs(m.amount))
            elif m.kind == kind:
                add(m.currency, m.occurred_at, abs(m.amount))
    return {c: v for c, v in sorted(out.items()) if any(v)}
