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

Two families, named apart (docs/contract.md, "Metrics"):

- *business*: the shop's figures over every movement of the ledger, whatever caused it.
  - upsell conversion: customers eligible at `start` (paying, below the top tier: "Upsell
    candidates and upgrades" below has the rule) with at least one upgrade (a plan-ladder
    expansion of the ledger) in the period / those eligible customers.
  - upgraded customers: customers with an upgrade in the period, new customers included (so a
    customer who signed up and upgraded in the period shows here and not in the conversion).
  - average upgrade value: the MRR added by the period's upgrades / their count.
  - time to upsell: days from a customer's first paid subscription (first `new` movement) to
    their first upgrade, for customers whose first upgrade is in the period; median and 90th
    percentile (nearest rank).
  - attach rate of an add-on (a recurring product off the plan ladder): customers paying at
    `end` who hold it on a subscription paying at `end` / customers paying at `end`.
  - cross-sell rate: succeeded cross-sells of the period / customers first shown a cross-sell
    offer in it (the per-offer rate is the funnel's); cross-sell revenue: the MRR they added
    (recurring) and what they charged today (one-off, the quotes' amount due now).
- *uplift*: what Uplift itself did.
  - upsell conversion through Uplift: eligible customers (the same denominator) with a
    succeeded Uplift upgrade in the period / eligible customers.
  - Uplift upgrades and their average value: succeeded upgrades Uplift executed (kind
    "upgrade") in the period, and their MRR change / their count.
  - attributed expansion: the period's expansion movements the ledger credits to an offer.
  - offer conversion: upgrades paid in the period / customers first exposed in it, over every
    offer (and per offer and arm in the funnel).
  - lift against the holdout: the upgrade rate of the customers shown an offer minus that of
    the customers its experiment held out ("Lift against the holdout" below).

A figure is never built from a failed upgrade: only "succeeded" ones count, and a failed one
moved no MRR.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Literal

from plugin.billing.mirror import MovementKind
from plugin.offers.experiments import HOLDOUT
from plugin.timespan import DAY

UpgradeKind = Literal["upgrade", "interval_switch", "cross_sell", "downgrade", "other"]


# Upsell candidates and upgrades -------------------------------------------------------
#
# Who can be upsold, and which ledger movement is an upgrade: one rule, used by the pure path
# (`facts` over rows) and by the SQL read model (plugin/storage/metrics.py), so the two cannot
# count different customers.
#
# - The plan ladder maps each plan price to its plan's tier (Basic 1, Pro 2, …). A subscription's
#   tier is the highest tier among its items' prices; items off the ladder (add-ons) have none,
#   so a subscription holding only add-ons has no tier.
# - A customer's tier at the start of a period is the highest tier among their subscriptions
#   *paying at start* (ledger MRR > 0): a churned Enterprise subscription does not make a paying
#   Basic customer a top-tier one, and one subscription holding a Basic and an Enterprise item is
#   on Enterprise.
# - Eligible to upgrade ("existing customers eligible to upgrade"): paying at start, with a tier,
#   below the top tier of the ladder.
# - An upgrade is a ledger `expansion` after which the subscription's tier is higher than before
#   it, whatever caused it (an Uplift offer, the Stripe dashboard, the customer portal). A plan
#   change that lowers MRR (a yearly discount) is not an expansion, and an interval switch or an
#   add-on keeps the tier, so neither is an upgrade.


@dataclass(frozen=True, slots=True)
class SubscriptionAtStart:
    customer_id: str
    subscription_id: str
    mrr: int  # ledger MRR at start, minor units of its currency
    tier: int | None  # its tier at start; None when no item is on the plan ladder


def tier_of(price_ids: Iterable[str], ladder: Mapping[str, int]) -> int | None:
    """The highest tier among `price_ids` (price -> tier in `ladder`); None if none is on it."""
    tiers = [ladder[p] for p in price_ids if p in ladder]
    return max(tiers) if tiers else None


def raises_tier(kind: str, before: int | None, after: int | None) -> bool:
    """Whether a movement of `kind` from tier `before` to tier `after` is an upgrade."""
    return kind == "expansion" and before is not None and after is not None and after > before


def customer_tiers(subscriptions: Iterable[SubscriptionAtStart]) -> dict[str, int]:
    """customer -> their tier at start, over their subscriptions paying at start."""
    found: dict[str, int] = {}
    for s in subscriptions:
        if s.mrr > 0 and s.tier is not None:
            found[s.customer_id] = max(s.tier, found.get(s.customer_id, s.tier))
    return found


def eligible_customers(
    subscriptions: Iterable[SubscriptionAtStart], top_tier: int | None
) -> set[str]:
    """Customers paying at start below the top tier (every tiered one when there is no top)."""
    return {
        customer
        for customer, tier in customer_tiers(subscriptions).items()
        if top_tier is None or tier < top_tier
    }


# Lift against the holdout -------------------------------------------------------------
#
# Did the customers an offer was shown to upgrade more than the customers its experiment held
# out? An experiment keeps a share of customers from seeing the offer (plugin/offers/
# experiments.py, arm `holdout`); both groups are recorded on first exposure (an assignment).
# The outcome is the business family's upgrade (a plan-ladder expansion of the ledger, whatever
# caused it), made at or after the assignment and before the period's end, so an upgrade a
# held-out customer made in the Stripe portal counts against the offer's, and the difference
# is what the offer added. Over the customers first assigned in the period:
#
#     treated rate = customers of every other arm who upgraded / those customers
#     holdout rate = held-out customers who upgraded / held-out customers
#     lift = treated rate - holdout rate (a difference of rates, not a ratio)
#
# Offers without held-out customers in the period have no lift.


@dataclass(frozen=True, slots=True)
class Assignment:
    offer_id: str
    customer_id: str
    arm: str
    assigned_at: int


@dataclass(frozen=True, slots=True)
class ArmOutcome:
    """One arm of one offer in the period: customers first assigned, and those of them who
    upgraded at or after their assignment."""

    offer_id: str
    arm: str
    assigned: int
    upgraded: int


@dataclass(frozen=True, slots=True)
class Lift:
    offer_id: str
    treated: tuple[int, int]  # (upgraded, assigned) over the arms shown the offer
    held_out: tuple[int, int]  # (upgraded, assigned) in the holdout

    @property
    def difference(self) -> Fraction | None:
        (t_up, t_n), (h_up, h_n) = self.treated, self.held_out
        if not t_n or not h_n:
            return None
        return Fraction(t_up, t_n) - Fraction(h_up, h_n)


def arm_outcomes(
    assignments: Iterable[Assignment],
    upgrade_times: Mapping[str, Sequence[int]],
    *,
    start: int,
    end: int,
) -> list[ArmOutcome]:
    """Per (offer, arm), sorted: the assignments in `[start, end)` and how many of those
    customers have an upgrade time (`upgrade_times`: customer -> times) in
    `[assigned_at, end)`."""
    assigned: dict[tuple[str, str], int] = defaultdict(int)
    upgraded: dict[tuple[str, str], int] = defaultdict(int)
    for a in assignments:
        if not start <= a.assigned_at < end:
            continue
        key = (a.offer_id, a.arm)
        assigned[key] += 1
        if any(a.assigned_at <= t < end for t in upgrade_times.get(a.customer_id, ())):
            upgraded[key] += 1
    return [
        ArmOutcome(offer, arm, n, upgraded[(offer, arm)])
        for (offer, arm), n in sorted(assigned.items())
    ]


def lifts(outcomes: Iterable[ArmOutcome]) -> list[Lift]:
    """The lift of each offer with held-out customers, by offer id."""
    treated: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    held: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for o in outcomes:
        into = held if o.arm == HOLDOUT else treated
        into[o.offer_id][0] += o.upgraded
        into[o.offer_id][1] += o.assigned
    return [
        Lift(offer, (treated[offer][0], treated[offer][1]), (up, n))
        for offer, (up, n) in sorted(held.items())
        if n
    ]


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
    # The subscription's plan-ladder tier before and after the movement (`tier_of`);
    # None when it has no plan on the ladder or its prices are not known.
    tier_before: int | None = None
    tier_after: int | None = None

    @property
    def is_upgrade(self) -> bool:
        """A plan-ladder expansion: the business family's upgrade, whoever made it."""
        return raises_tier(self.kind, self.tier_before, self.tier_after)


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
    average_upgrade_value: Figure  # business: the ledger's upgrades
    cross_sell_recurring: int
    cross_sell_one_off: int
    upgrades: int = 0  # business: the ledger's upgrades in the period
    uplift_upgrades: int = 0  # succeeded upgrades Uplift executed
    uplift_average_upgrade_value: Figure = field(default_factory=lambda: Figure(None, 0, 0))
    attributed_expansion: int = 0  # expansion the ledger credits to an offer
    attach_rate: dict[str, Figure] = field(default_factory=dict)  # add-on product -> rate


@dataclass(frozen=True, slots=True)
class Metrics:
    start: int
    end: int
    currencies: dict[str, CurrencyMetrics] = field(default_factory=dict)
    upsell_conversion: Figure = field(default_factory=lambda: Figure(None, 0, 0))
    time_to_upsell_median_days: Figure = field(default_factory=lambda: Figure(None, 0))
    time_to_upsell_p90_days: Figure = field(default_factory=lambda: Figure(None, 0))
    upgraded_customers: Figure = field(default_factory=lambda: Figure(0, 0))
    uplift_upsell_conversion: Figure = field(default_factory=lambda: Figure(None, 0, 0))
    lift: Sequence[Lift] = ()  # per offer with held-out customers


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
    upgrades: int  # the ledger's upgrades (plan-ladder expansions) in the period
    upgrade_mrr: int  # the MRR they added
    cross_sell_mrr: int  # succeeded cross-sells in the period: MRR added
    cross_sell_paid: int  # and charged today
    uplift_upgrades: int = 0  # succeeded Uplift upgrades (kind "upgrade") in the period
    uplift_upgrade_mrr: int = 0  # their MRR change
    attributed_expansion: int = 0  # the period's expansion movements credited to an offer
    # add-on product -> customers paying at end holding it on a subscription paying at end
    attached: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Facts:
    start: int
    end: int
    currencies: Sequence[CurrencyFacts]
    eligible: int  # customers paying at start below the top tier
    converted: int  # of those, customers with an upgrade (the ledger's) in the period
    upsell_days: Sequence[Fraction]  # first paid to first upgrade, for those in the period
    upgraded: int = 0  # customers with an upgrade in the period, new ones included
    uplift_converted: int = 0  # eligible customers with a succeeded Uplift upgrade in it
    arms: Sequence[ArmOutcome] = ()  # per offer and arm: assigned in the period, upgraded
    # (customer, currency) of every upgrade in the period, for LTV (plugin/metrics/ltv.py)
    upgraders: frozenset[tuple[str, str]] = frozenset()


def facts(
    *,
    movements: Sequence[LedgerMovement],
    upgrades: Sequence[Upgrade],
    start: int,
    end: int,
    tier_at_start: Mapping[str, int | None] | None = None,
    top_tier: int | None = None,
    assignments: Sequence[Assignment] = (),
    prices_at_end: Mapping[str, Sequence[str]] | None = None,
    addons: Mapping[str, str] | None = None,
) -> Facts:
    """The facts for `[start, end)` from plain rows: the definitions, written out.
    `tier_at_start` maps subscriptions to their plan-ladder tier at `start` (`tier_of`);
    `top_tier` is the ladder's top; `assignments` are the offers' first exposures (for the
    lift); `prices_at_end` maps subscriptions to their items' prices at `end` and `addons`
    add-on prices to their product (attach rates)."""
    if end <= start:
        raise ValueError("the period must end after it starts")
    state_before = mrr_at(movements, start - 1)
    state_after = mrr_at(movements, end - 1)
    before = _per_customer(state_before)
    after = _per_customer(state_after)
    held = attached(state_after.items(), prices_at_end or {}, addons or {})
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
        ups = [m for m in moves if m.is_upgrade]
        mine = [u for u in in_period_upgrades if u.currency == cur and u.kind == "upgrade"]
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
                upgrade_mrr=sum(m.amount for m in ups),
                cross_sell_mrr=sum(u.mrr_delta for u in cross),
                cross_sell_paid=sum(u.amount_paid for u in cross),
                uplift_upgrades=len(mine),
                uplift_upgrade_mrr=sum(u.mrr_delta for u in mine),
                attributed_expansion=sum(
                    m.amount for m in moves if m.kind == "expansion" and m.offer_id is not None
                ),
                attached=held.get(cur, {}),
            )
        )

    tiers = tier_at_start or {}
    eligible = eligible_customers(
        (
            SubscriptionAtStart(customer, sub, mrr, tiers.get(sub))
            for sub, (customer, _, mrr) in state_before.items()
        ),
        top_tier,
    )
    first_upgrade = first_upgrades(movements)
    upgraded = {m.customer_id for m in in_period if m.is_upgrade}
    through_uplift = {u.customer_id for u in in_period_upgrades if u.kind == "upgrade"}
    first_paid: dict[str, int] = {}
    for m in sorted(movements, key=lambda m: m.occurred_at):
        if m.kind == "new":
            first_paid.setdefault(m.customer_id, m.occurred_at)
    return Facts(
        start=start,
        end=end,
        currencies=found,
        eligible=len(eligible),
        converted=len(upgraded & eligible),
        upsell_days=upsell_days(first_upgrade, first_paid, start=start, end=end),
        upgraded=len(upgraded),
        uplift_converted=len(through_uplift & eligible),
        arms=arm_outcomes(assignments, upgrade_times(in_period), start=start, end=end),
        upgraders=frozenset((m.customer_id, m.currency) for m in in_period if m.is_upgrade),
    )


def attached(
    paying: Iterable[tuple[str, tuple[str, str, int]]],
    prices: Mapping[str, Sequence[str]],
    addons: Mapping[str, str],
) -> dict[str, dict[str, int]]:
    """currency -> add-on product -> customers holding it on a subscription that pays, from
    `paying` (subscription, (customer, currency, MRR)) and each subscription's `prices`."""
    holders: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    for sub, (customer, currency, mrr) in paying:
        if mrr > 0:
            for price in prices.get(sub, ()):
                if price in addons:
                    holders[currency][addons[price]].add(customer)
    return {
        cur: {product: len(c) for product, c in sorted(per.items())} for cur, per in holders.items()
    }


def upgrade_times(movements: Iterable[LedgerMovement]) -> dict[str, list[int]]:
    """customer -> when the ledger shows their upgrades, among `movements`."""
    times: dict[str, list[int]] = defaultdict(list)
    for m in movements:
        if m.is_upgrade:
            times[m.customer_id].append(m.occurred_at)
    return times


def first_upgrades(movements: Iterable[LedgerMovement]) -> dict[str, int]:
    """customer -> when the ledger shows their first upgrade."""
    first: dict[str, int] = {}
    for m in movements:
        if m.is_upgrade and m.occurred_at < first.get(m.customer_id, m.occurred_at + 1):
            first[m.customer_id] = m.occurred_at
    return first


def upsell_days(
    first_upgrade: Mapping[str, int], first_paid: Mapping[str, int], *, start: int, end: int
) -> list[Fraction]:
    """Days from first payment to first upgrade, for customers whose first upgrade is in
    `[start, end)` (a customer the ledger shows no `new` for has no first payment)."""
    return sorted(
        Fraction(t - first_paid[c], DAY)
        for c, t in first_upgrade.items()
        if start <= t < end and c in first_paid and t >= first_paid[c]
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
                f.upgrade_mrr, f.upgrades, "MRR added per upgrade (plan-ladder expansion)"
            ),
            cross_sell_recurring=f.cross_sell_mrr,
            cross_sell_one_off=f.cross_sell_paid,
            upgrades=f.upgrades,
            uplift_upgrades=f.uplift_upgrades,
            uplift_average_upgrade_value=_ratio(
                f.uplift_upgrade_mrr, f.uplift_upgrades,
                "MRR change per succeeded Uplift upgrade",
            ),
            attributed_expansion=f.attributed_expansion,
            attach_rate={
                product: _ratio(n, f.paying_end, "customers holding it / paying customers, at end")
                for product, n in f.attached.items()
            },
        )  # fmt: skip
    days = sorted(found.upsell_days)
    return Metrics(
        start=found.start,
        end=found.end,
        currencies=result,
        upsell_conversion=_ratio(
            found.converted,
            found.eligible,
            "customers paying below the top tier at start who upgraded in the period",
        ),
        time_to_upsell_median_days=Figure(_median(days), len(days), None, "customers"),
        time_to_upsell_p90_days=Figure(_percentile(days, 90), len(days), None, "customers"),
        upgraded_customers=Figure(
            found.upgraded, found.upgraded, None,
            "customers with an upgrade in the period, new customers included",
        ),
        uplift_upsell_conversion=_ratio(
            found.uplift_converted,
            found.eligible,
            "customers paying below the top tier at start who upgraded through Uplift",
        ),
        lift=lifts(found.arms),
    )  # fmt: skip


def overall_conversion(steps: Iterable[tuple[int, int]], note: str) -> Figure:
    """Σ successes / Σ tries over `(successes, tries)` pairs: one rate over many offers,
    weighted by their tries (not a mean of their rates)."""
    pairs = list(steps)
    return _ratio(sum(s for s, _ in pairs), sum(t for _, t in pairs), note)


def compute(
    *,
    movements: Sequence[LedgerMovement],
    upgrades: Sequence[Upgrade],
    start: int,
    end: int,
    tier_at_start: Mapping[str, int | None] | None = None,
    top_tier: int | None = None,
    assignments: Sequence[Assignment] = (),
    prices_at_end: Mapping[str, Sequence[str]] | None = None,
    addons: Mapping[str, str] | None = None,
) -> Metrics:
    """All metrics for `[start, end)`. `tier_at_start` maps subscriptions to their plan
    tier at `start` (for upsell conversion); customers below `top_tier` are the denominator."""
    return summarise(
        facts(
            movements=movements, upgrades=upgrades, start=start, end=end,
            tier_at_start=tier_at_start, top_tier=top_tier, assignments=assignments,
            prices_at_end=prices_at_end, addons=addons,
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
UPGRADE_SERIES = ("upgrades", "upgrade_expansion_mrr")  # these need the movements' tiers
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
    cuts: Sequence[tuple[int, int]],
    opening: dict[str, int] | None = None,
) -> dict[str, list[int]]:
    """currency -> one value per bucket. Movement series are sums of amounts (contraction and
    churn as positive amounts, net new signed); `mrr` is the MRR at each bucket's end;
    `upgrades` counts the business family's upgrades (plan-ladder expansions, so the
    movements need their tiers) and `upgrade_expansion_mrr` sums the MRR they added, so the
    buckets add up to the metrics' `upgrades` and average upgrade value's numerator. A
    currency appears when any bucket has a non-zero value."""
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
    if metric in UPGRADE_SERIES:
        for m in movements:
            if m.is_upgrade:
                add(m.currency, m.occurred_at, 1 if metric == "upgrades" else m.amount)
    else:
        kind = _SERIES_KIND.get(metric)
        for m in movements:
            if kind is None:
                add(m.currency, m.occurred_at, _NET_SIGN[m.kind] * abs(m.amount))
            elif m.kind == kind:
                add(m.currency, m.occurred_at, abs(m.amount))
    return {c: v for c, v in sorted(out.items()) if any(v)}
