"""Customer lifetime value per currency, for the customers who upgraded in a period and for
those who did not, and the difference between the two: pure arithmetic over the MRR ledger's
facts, with how sure the estimate is.

The estimate is the conventional one (the upsell guide's third metric):

    LTV = ARPU x gross margin ÷ monthly customer churn rate

Over a period `[start, end)` and one currency:

- The customers at risk are those paying at `start` (ledger MRR > 0; NDR's cohort). New
  customers of the period are in neither group: their churn has not had a period to happen.
- *Upgraded*: those of them with an upgrade in the period (the business family's upgrade: a
  plan-ladder expansion of the ledger, whoever made it); *not upgraded*: the others.
- Churned: a customer at risk not paying at `end`. One who churns and comes back within the
  period is paying at `end`, so is not churned (their MRR at `end` counts, as in NDR).
- Period churn rate p = churned / at risk. Monthly churn rate = 1 - (1 - p) ^ (month /
  period), a month being 30.4375 days (365.25 / 12): the constant monthly rate that loses
  p over the period; for a period of exactly one such month it is p.
- ARPU = the group's MRR at `end` / the group's customers paying at `end`: what a customer
  who stays pays a month (after their upgrade, for the upgraded).
- Gross margin: the operator's (`UPLIFT_GROSS_MARGIN`, by default 1: revenue LTV).
- Confidence: the 95 % Wilson score interval on p (churned out of at risk), put through the
  same monthly conversion; LTV's interval is ARPU x margin over its high and its low end.
  With no churn, p is 0 and LTV unbounded: the value is null, with its reason, and only the
  interval's low end is known (the high end is null, unbounded).
- LTV uplift: upgraded LTV - not-upgraded LTV (minor units) and their ratio, when both exist.

Money stays integer minor units: LTV and its bounds are computed in exact fractions or
`Decimal` (50 digits, never binary floats) and rounded half up to a minor unit at the end; the
rates are exact until the answer renders them. Known bias, said here rather than hidden: a
customer who churns early in the period had less time to upgrade in it, so the upgraded
group's churn is lower partly by construction; a longer period, or comparing periods, shows
how much.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Context, Decimal, localcontext
from fractions import Fraction

from plugin.metrics.revenue import CurrencyFacts, LedgerMovement, mrr_at
from plugin.timespan import DAY

MONTH = 36525 * DAY // 1200  # 30.4375 days, in seconds (exact: 2,629,800)
# The 97.5th percentile of the standard normal (a two-sided 95 % interval), as
# plugin/offers/experiments.py's Z_95.
Z_95 = Decimal("1.959963984540054")
_DIGITS = Context(prec=50)


@dataclass(frozen=True, slots=True)
class Group:
    """Customers paying at a period's start, one currency: how many, how many of them were not
    paying at its end, and the MRR at its end of those who still were."""

    customers: int
    churned: int
    mrr_end: int

    @property
    def paying_end(self) -> int:
        return self.customers - self.churned


@dataclass(frozen=True, slots=True)
class LtvFacts:
    currency: str
    upgraded: Group
    not_upgraded: Group


@dataclass(frozen=True, slots=True)
class Estimate:
    group: Group
    period_churn: Fraction | None  # churned / customers
    monthly_churn: Decimal | None
    monthly_churn_interval: tuple[Decimal, Decimal] | None  # 95 % Wilson, monthly
    arpu: Fraction | None  # MRR at end / paying at end, minor units (exact)
    ltv: int | None  # minor units
    ltv_low: int | None
    ltv_high: int | None  # None when unbounded (no churn) or unknown
    reason: str | None  # why `ltv` is null


@dataclass(frozen=True, slots=True)
class CurrencyLtv:
    currency: str
    upgraded: Estimate
    not_upgraded: Estimate
    difference: int | None  # upgraded LTV - not-upgraded LTV, minor units
    ratio: Fraction | None  # upgraded LTV / not-upgraded LTV
    reason: str | None  # why the uplift is null


def split(
    *,
    currency: str,
    at_risk: int,
    churned: int,
    mrr_end: int,
    upgraded: Iterable[tuple[int, int]],
) -> LtvFacts:
    """One currency's two groups from the whole cohort's counts (`at_risk` paying at start,
    `churned` of them not at end, `mrr_end` their MRR at end) and each upgraded cohort
    member's (MRR at start, MRR at end): the not-upgraded are the rest. The SQL path counts
    the whole cohort in aggregates and reads only the upgraded one by one."""
    up = [(s, e) for s, e in upgraded if s > 0]
    mine = Group(
        customers=len(up),
        churned=sum(1 for _, e in up if e <= 0),
        mrr_end=sum(max(e, 0) for _, e in up),
    )
    others = Group(
        customers=at_risk - mine.customers,
        churned=churned - mine.churned,
        mrr_end=mrr_end - mine.mrr_end,
    )
    return LtvFacts(currency, mine, others)


def from_sums(
    currencies: Iterable[CurrencyFacts],
    movers: Mapping[str, tuple[int, int]],
    states: Mapping[tuple[str, str], tuple[int, int]],
    upgraders: Iterable[tuple[str, str]],
) -> list[LtvFacts]:
    """The SQL path's facts: each currency's cohort from the metrics' facts (customers and MRR
    paying at start), `movers` (currency -> (cohort members not paying at end, the cohort's
    MRR change to end), from the customers who moved) and the (MRR at start, MRR at end) in
    `states` of each (customer, currency) in `upgraders` (`Facts.upgraders`)."""
    upgraded: dict[str, list[tuple[int, int]]] = {}
    for customer, currency in upgraders:
        if (customer, currency) in states:
            upgraded.setdefault(currency, []).append(states[(customer, currency)])
    return [
        split(
            currency=f.currency, at_risk=f.paying_start,
            churned=movers.get(f.currency, (0, 0))[0],
            mrr_end=f.mrr_start + movers.get(f.currency, (0, 0))[1],
            upgraded=upgraded.get(f.currency, ()),
        )
        for f in sorted(currencies, key=lambda f: f.currency)
        if f.paying_start > 0
    ]  # fmt: skip


def facts(movements: Iterable[LedgerMovement], *, start: int, end: int) -> list[LtvFacts]:
    """The facts of `[start, end)` from every ledger movement before `end` (with the
    expansions' tiers, which tell an upgrade): the definitions, written out."""
    if end <= start:
        raise ValueError("the period must end after it starts")
    rows = list(movements)
    before = _per_customer(mrr_at(rows, start - 1).values())
    after = _per_customer(mrr_at(rows, end - 1).values())
    upgraders = {
        (m.customer_id, m.currency) for m in rows if start <= m.occurred_at < end and m.is_upgrade
    }
    found = []
    for currency in sorted(before):
        cohort = {c: s for c, s in before[currency].items() if s > 0}
        if not cohort:
            continue
        ends = {c: after.get(currency, {}).get(c, 0) for c in cohort}
        found.append(
            split(
                currency=currency,
                at_risk=len(cohort),
                churned=sum(1 for e in ends.values() if e <= 0),
                mrr_end=sum(max(e, 0) for e in ends.values()),
                upgraded=[(cohort[c], ends[c]) for c in cohort if (c, currency) in upgraders],
            )
        )
    return found


def _per_customer(state: Iterable[tuple[str, str, int]]) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for customer, currency, mrr in state:
        per = out.setdefault(currency, {})
        per[customer] = per.get(customer, 0) + mrr
    return out


def wilson(successes: int, trials: int, z: Decimal = Z_95) -> tuple[Decimal, Decimal]:
    """The Wilson score interval of successes / trials, in `Decimal` (plugin/offers/
    experiments.py's `wilson_interval`, which gives the same bounds in floats)."""
    if trials <= 0:
        raise ValueError("an interval needs at least one trial")
    with localcontext(_DIGITS):
        n = Decimal(trials)
        p = Decimal(successes) / n
        z2 = z * z
        denominator = 1 + z2 / n
        centre = (p + z2 / (2 * n)) / denominator
        half = z * (p * (1 - p) / n + z2 / (4 * n * n)).sqrt() / denominator
        # At 0 and at every trial the bounds are exactly 0 and 1, whatever the rounding.
        low = Decimal(0) if successes == 0 else max(Decimal(0), centre - half)
        high = Decimal(1) if successes == trials else min(Decimal(1), centre + half)
    return low, high


def monthly(period_rate: Decimal | Fraction, *, seconds: int) -> Decimal:
    """The constant monthly rate that loses `period_rate` over `seconds`."""
    with localcontext(_DIGITS):
        p = _decimal(period_rate)
        if seconds == MONTH or p in (0, 1):
            return p
        return 1 - (1 - p) ** (Decimal(MONTH) / Decimal(seconds))


def _decimal(value: Decimal | Fraction) -> Decimal:
    if isinstance(value, Decimal):
        return value
    with localcontext(_DIGITS):
        return Decimal(value.numerator) / Decimal(value.denominator)


def _money(value: Fraction | Decimal) -> int:
    """Rounded half up to a minor unit."""
    if isinstance(value, Fraction):
        return int((value * 2 + 1) // 2)
    return int(value.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def _over(monthly_value: Decimal | None, arpu: Fraction, margin: Fraction) -> int | None:
    """ARPU x margin / a monthly rate, minor units; None when the rate is 0 (unbounded)."""
    if monthly_value is None or monthly_value == 0:
        return None
    with localcontext(_DIGITS):
        return _money(_decimal(arpu * margin) / monthly_value)


def estimate(group: Group, *, margin: Fraction, seconds: int) -> Estimate:
    """One group's LTV over a period of `seconds`, with its 95 % interval."""
    if group.customers == 0:
        return Estimate(group, None, None, None, None, None, None, None,
                        "no customers paying at the period's start")  # fmt: skip
    p = Fraction(group.churned, group.customers)
    rate = monthly(p, seconds=seconds)
    low_p, high_p = wilson(group.churned, group.customers)
    interval = (monthly(low_p, seconds=seconds), monthly(high_p, seconds=seconds))
    if group.paying_end == 0:
        return Estimate(group, p, rate, interval, None, None, None, None,
                        "none of them pays at the period's end: no ARPU")  # fmt: skip
    arpu = Fraction(group.mrr_end, group.paying_end)
    low = _over(interval[1], arpu, margin)
    high = _over(interval[0], arpu, margin)
    if group.churned == 0:
        return Estimate(
            group, p, rate, interval, arpu, None, low, None,
            f"not enough data: none of the {group.customers} customers churned in the"
            " period, so the estimate is unbounded (only its low end is known)",
        )  # fmt: skip
    # Over a period of exactly one month the monthly rate is the period's: exact fractions.
    value = _money(arpu * margin / p) if seconds == MONTH else _over(rate, arpu, margin)
    return Estimate(group, p, rate, interval, arpu, value, low, high, None)


def estimates(
    found: Iterable[LtvFacts], *, margin: Fraction, start: int, end: int
) -> list[CurrencyLtv]:
    """Each currency's two estimates and the uplift between them."""
    if not 0 < margin <= 1:
        raise ValueError("the gross margin must be above 0 and at most 1")
    seconds = end - start
    out = []
    for f in found:
        up = estimate(f.upgraded, margin=margin, seconds=seconds)
        other = estimate(f.not_upgraded, margin=margin, seconds=seconds)
        difference = ratio = reason = None
        if up.ltv is not None and other.ltv is not None:
            difference = up.ltv - other.ltv
            ratio = Fraction(up.ltv, other.ltv) if other.ltv else None
        else:
            missing = "upgraded" if up.ltv is None else "not upgraded"
            reason = f"no LTV for the {missing} customers: {(up.reason or other.reason)}"
            if up.ltv is None and other.ltv is None:
                reason = "no LTV for either group"
        out.append(CurrencyLtv(f.currency, up, other, difference, ratio, reason))
    return out


def margin_of(setting: Decimal) -> Fraction:
    """The gross margin setting as an exact fraction."""
    return Fraction(setting)
