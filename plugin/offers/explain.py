"""Why one customer does or does not see one offer, gate by gate, and which gate keeps each
customer of a population out (the admin's "why not shown" and audience). Pure; `now` passed in.

The gates are the widget's, in its order: whether the offer sells the customer anything
(`owned`, plugin/offers/relevance.py: the widget drops such offers first), then
`eligibility.evaluate`'s:

    status → placement → schedule → owned → frequency (accepted, cap, cooldown) → targeting →
    experiment

`explain` evaluates every gate, even after one failed, and words the fact each one read, so
an admin sees everything that stands between the customer and the offer at once. A targeting
rule is one gate per leaf rule (plan, attribute, usage, feature, event, tenure, order,
feedback), named by its JSON path; `all`/`any`/`not` combine them, and the `targeting` gate
says what they add up to.

`exclusion` is the cheap form for a whole population: the name of the first gate that fails,
or None; it agrees with `explain` (tests/offers/test_explain.py holds them to each other).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from fractions import Fraction

from plugin.offers import experiments, schedule, targeting
from plugin.offers.eligibility import NO_HISTORY, CustomerState
from plugin.offers.model import Offer
from plugin.offers.relevance import Ladder, owned
from plugin.offers.schedule import FrequencyCap, OfferHistory
from plugin.offers.targeting import (
    AllOf,
    Answered,
    AnyOf,
    AttributeIn,
    AttributeRange,
    CustomerContext,
    EventCount,
    FeatureHit,
    Not,
    OrderWithin,
    PlanIs,
    Rule,
    Tenure,
    UsageAtLeast,
)
from plugin.timespan import DAY

# Every gate name `exclusion` can answer, in the order they are checked ("targeting" is a
# combination of leaves that fails as a whole, such as an `any` whose leaves differ).
EXCLUSIONS = (
    "status",
    "schedule",
    "owned",
    "accepted",
    "cap",
    "cooldown",
    "plan",
    "attribute",
    "usage",
    "feature",
    "event",
    "tenure",
    "order",
    "feedback",
    "targeting",
)


@dataclass(frozen=True, slots=True)
class Gate:
    gate: str  # status, placement, schedule, accepted, cap, cooldown, plan, ..., experiment
    passed: bool
    detail: str
    rule: str | None = None  # a targeting leaf's JSON path, e.g. "targeting.all[1]"


@dataclass(frozen=True, slots=True)
class Explanation:
    eligible: bool  # passes every gate (the experiment may still hold the customer out)
    shown: bool  # eligible and in a variant, not the holdout
    arm: str | None  # the variant key, or "holdout"; None when not eligible
    gates: tuple[Gate, ...]


def _iso(t: int | float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _percent(part: int, whole: int) -> str:
    value = Fraction(part * 100, whole)
    if value.denominator == 1:
        return f"{value.numerator} %"
    tenths = (value * 10 + Fraction(1, 2)).__floor__()  # half up, to one decimal
    return f"{tenths // 10}.{tenths % 10} %"


def _frequency(cap: FrequencyCap, history: OfferHistory, now: int) -> Iterator[Gate]:
    accepted = history.accepted_at
    yield Gate(
        "accepted",
        accepted is None,
        "never accepted" if accepted is None else f"accepted at {_iso(accepted)}",
    )
    if cap.max_declines is not None:
        yield Gate(
            "cap",
            history.declines < cap.max_declines,
            f"declined {history.declines} times; never shown again after {cap.max_declines}",
        )
    for name, at, span in (
        ("decline", history.last_declined_at, cap.decline_cooldown),
        ("dismissal", history.last_dismissed_at, cap.dismiss_cooldown),
    ):
        if span <= 0:
            continue
        if at is None:
            yield Gate("cooldown", True, f"no {name} yet (cooldown {span} s)")
        else:
            inside = now - at < span
            where = "inside" if inside else "past"
            yield Gate(
                "cooldown", not inside, f"last {name} at {_iso(at)}: {where} its {span} s cooldown"
            )
    if cap.max_impressions is not None:
        recent = sum(1 for t in history.impressions if now - cap.per_seconds < t <= now)
        yield Gate(
            "cap",
            recent < cap.max_impressions,
            f"shown {recent} times in the last {cap.per_seconds} s, at most {cap.max_impressions}",
        )


def _leaf(rule: Rule, ctx: CustomerContext, now: int) -> tuple[str, bool, str]:
    """A leaf rule's gate name, outcome and the fact it read."""
    match rule:
        case PlanIs(plans, interval):
            plan, billed = ctx.plan.plan, ctx.plan.interval
            ok = (not plans or plan in plans) and (interval is None or billed == interval)
            wanted = f"one of {list(plans)}" if plans else "any plan"
            if interval is not None:
                wanted += f", billed per {interval}"
            return "plan", ok, f"plan {plan!r} billed per {billed!r}; wanted {wanted}"
        case AttributeIn(name, values):
            value = ctx.attrs.get(name)
            ok = bool(targeting.evaluate(rule, ctx, now=now))
            return "attribute", ok, f"attribute {name} = {value!r}; wanted one of {list(values)}"
        case AttributeRange(name, gte, lte):
            value = ctx.attrs.get(name)
            ok = bool(targeting.evaluate(rule, ctx, now=now))
            low = "-inf" if gte is None else gte
            high = "inf" if lte is None else lte
            return "attribute", ok, f"attribute {name} = {value!r}; wanted in [{low}, {high}]"
        case UsageAtLeast(metric, percent):
            limit, used = ctx.plan.limits.get(metric), ctx.usage.get(metric)
            ok = bool(targeting.evaluate(rule, ctx, now=now))
            if limit is None:
                return "usage", ok, f"usage {metric}: the plan has no limit on it"
            if used is None:
                return "usage", ok, f"usage {metric}: none recorded (limit {limit})"
            share = _percent(used, limit) if limit else "-"
            sign = ">=" if ok else "<"
            return "usage", ok, f"usage {metric} {used} of {limit} = {share} {sign} {percent} %"
        case FeatureHit(feature, within_days, at_least) if at_least > 1:
            counts = ctx.feature_counts.get(feature, ())
            hits = targeting.counted(counts, within_days=within_days, now=now)
            ok = hits >= at_least
            return (
                "feature",
                ok,
                f"feature {feature!r} hit {hits} times in the last {within_days} days; "
                f"wanted at least {at_least}",
            )
        case EventCount(name, at_least, within_days):
            seen = targeting.counted(ctx.events.get(name, ()), within_days=within_days, now=now)
            ok = seen >= at_least
            return (
                "event",
                ok,
                f"event {name!r} {seen} times in the last {within_days} days; "
                f"wanted at least {at_least}",
            )
        case FeatureHit(feature, within_days):
            hit = ctx.feature_hits.get(feature)
            ok = bool(targeting.evaluate(rule, ctx, now=now))
            last = "never" if hit is None else f"last at {_iso(hit)}"
            return (
                "feature",
                ok,
                f"feature {feature!r} hit {last}; wanted within {within_days} days",
            )
        case Tenure(min_days):
            signup = ctx.signup_at
            ok = bool(targeting.evaluate(rule, ctx, now=now))
            if signup is None:
                return "tenure", ok, f"signup date unknown; wanted {min_days} days"
            days = (now - signup) // DAY
            return "tenure", ok, f"signed up {days} days ago; wanted at least {min_days}"
        case OrderWithin(minutes):
            order = ctx.last_order_at
            ok = bool(targeting.evaluate(rule, ctx, now=now))
            last = "none" if order is None else f"at {_iso(order)}"
            return "order", ok, f"last order {last}; wanted within {minutes} minutes"
        case Answered(offer, answer, within_days):
            at = ctx.answered.get(targeting.feedback_key(offer, answer))
            ok = bool(targeting.evaluate(rule, ctx, now=now))
            said = "" if answer is None else f" {answer!r}"
            last = "never" if at is None else f"last at {_iso(at)}"
            return (
                "feedback",
                ok,
                f"answered{said} to {offer!r} {last}; wanted within {within_days} days",
            )
    raise TypeError(f"not a leaf rule: {rule!r}")  # pragma: no cover -- callers pass leaves


def _leaves(rule: Rule, ctx: CustomerContext, now: int, path: str) -> Iterator[Gate]:
    match rule:
        case AllOf(rules):
            for i, sub in enumerate(rules):
                yield from _leaves(sub, ctx, now, f"{path}.all[{i}]")
        case AnyOf(rules):
            for i, sub in enumerate(rules):
                yield from _leaves(sub, ctx, now, f"{path}.any[{i}]")
        case Not(sub):
            for gate in _leaves(sub, ctx, now, f"{path}.not"):
                yield Gate(gate.gate, not gate.passed, f"not ({gate.detail})", gate.rule)
        case _:
            name, ok, detail = _leaf(rule, ctx, now)
            yield Gate(name, ok, detail, path)


def explain(
    offer: Offer, state: CustomerState, *, placement: str | None, now: int, ladder: Ladder
) -> Explanation:
    """Every gate between this customer and `offer` now, at `placement` (any when None);
    `ladder`: the offer snapshot's, for the `owned` gate."""
    gates = [Gate("status", offer.status == "active", f"offer is {offer.status}")]
    if placement is not None:
        placed = placement in offer.placements
        where = "" if placed else "not "
        gates.append(Gate("placement", placed, f"{where}placed at {placement!r}"))
    window = offer.window
    opens = "always" if window.starts_at is None else _iso(window.starts_at)
    closes = "never" if window.ends_at is None else _iso(window.ends_at)
    inside = bool(schedule.in_window(window, now=now))
    gates.append(Gate("schedule", inside, f"runs from {opens} to {closes}; now {_iso(now)}"))
    has = owned(offer, state.context.plan, ladder)
    gates.append(Gate("owned", has is None, has or "sells what the customer does not have"))
    history = state.histories.get(offer.id, NO_HISTORY)
    gates.extend(_frequency(offer.frequency, history, now))
    rule = offer.targeting
    if rule != targeting.EVERYONE:
        gates.extend(_leaves(rule, state.context, now, "targeting"))
    decision = targeting.evaluate(rule, state.context, now=now)
    gates.append(
        Gate("targeting", bool(decision), "every rule holds" if decision else decision.reason)
    )
    # A Not's leaf, or one of an `any`, may fail while the rule holds: the verdict is the
    # targeting gate's and the others', never a leaf's alone.
    eligible = all(g.passed for g in gates if g.rule is None)
    arm: str | None = None
    if eligible:
        recorded = state.assignments.get(offer.id)
        if recorded is None or (recorded != experiments.HOLDOUT and recorded not in offer.by_key):
            recorded = experiments.assign(
                offer.design, offer_id=offer.id, customer_id=state.context.customer_id
            )
        arm = recorded
        held = arm == experiments.HOLDOUT
        gates.append(
            Gate(
                "experiment",
                not held,
                "in the holdout, not shown" if held else f"variant {arm!r}",
            )
        )
    return Explanation(eligible, eligible and arm != experiments.HOLDOUT, arm, tuple(gates))


_LEAF_GATES: dict[type, str] = {
    PlanIs: "plan",
    AttributeIn: "attribute",
    AttributeRange: "attribute",
    UsageAtLeast: "usage",
    FeatureHit: "feature",
    EventCount: "event",
    Tenure: "tenure",
    OrderWithin: "order",
    Answered: "feedback",
}
Categorize = Callable[[CustomerContext, int], str]


def categorize(rule: Rule) -> Categorize:
    """For a rule that fails, the gate to name: its leaf's, or the first failing part's of an
    `all`; "targeting" when an `any` fails on parts of different kinds, or a `not` negates a
    combination. Compiled once, like `targeting.compile_rule`."""
    match rule:
        case AllOf(rules):
            parts = tuple((targeting.compile_rule(sub), categorize(sub)) for sub in rules)

            def first_failing(ctx: CustomerContext, now: int) -> str:
                for holds, why in parts:
                    if not holds(ctx, now):
                        return why(ctx, now)
                return "targeting"  # pragma: no cover -- called on failing rules only

            return first_failing
        case AnyOf(rules):
            whys = tuple(categorize(sub) for sub in rules)

            def all_failing(ctx: CustomerContext, now: int) -> str:
                kinds = {why(ctx, now) for why in whys}
                return kinds.pop() if len(kinds) == 1 else "targeting"

            return all_failing
        case Not(sub):
            gate = _LEAF_GATES.get(type(sub), "targeting")
            return lambda ctx, now: gate
        case _:
            gate = _LEAF_GATES[type(rule)]
            return lambda ctx, now: gate


def exclusion(
    offer: Offer,
    state: CustomerState,
    *,
    now: int,
    ladder: Ladder,
    why: Categorize | None = None,
    sells: bool | None = None,
) -> str | None:
    """The first gate that keeps this customer from `offer` now (a name in `EXCLUSIONS`), or
    None when they are eligible. The experiment is not a gate here: the holdout is eligible.
    `why`: `categorize(offer.targeting)`, made once by a caller asking for many customers;
    `sells`: the `owned` gate's answer for the customer's plan, when the caller keeps it."""
    if offer.status != "active":
        return "status"
    if not (offer.opens <= now < offer.closes):
        return "schedule"
    if sells is None:
        sells = owned(offer, state.context.plan, ladder) is None
    if not sells:
        return "owned"
    history = state.histories.get(offer.id) if state.histories else None
    if history is not None:
        cap = offer.frequency
        if history.accepted_at is not None:
            return "accepted"
        if cap.max_declines is not None and history.declines >= cap.max_declines:
            return "cap"
        if not schedule.check_frequency(cap, history, now=now):
            # What is left after accepted and declines: a cooldown, or the impressions cap.
            decided = schedule.check_frequency(
                FrequencyCap(
                    max_impressions=None,
                    dismiss_cooldown=cap.dismiss_cooldown,
                    decline_cooldown=cap.decline_cooldown,
                    max_declines=None,
                ),
                history,
                now=now,
            )
            return "cap" if decided else "cooldown"
    if not offer.matches(state.context, now):
        return (why or categorize(offer.targeting))(state.context, now)
    return None
