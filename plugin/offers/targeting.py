"""Who sees an offer: targeting rules evaluated against one customer. Pure; `now` is passed in.

A rule is a small tree of frozen values. The JSON that admins send (and that is stored) maps
one to one onto it; `parse` and `dump` convert, and `parse` names the offending path on error:

    {"all": [                                              AllOf(...)
        {"plan": {"in": ["basic"], "interval": "month"}},  PlanIs
        {"usage": {"metric": "storage_gb", "at_least_percent": 80}},  UsageAtLeast
        {"attribute": {"name": "industry", "in": ["fintech", "saas"]}},  AttributeIn
        {"attribute": {"name": "company_size", "gte": 10, "lte": 200}},  AttributeRange
        {"feature_hit": {"feature": "sso", "within_days": 7}},  FeatureHit
        {"feature_hit": {"feature": "sso", "within_days": 7, "at_least": 3}},  FeatureHit
        {"event": {"name": "login", "at_least": 20, "within_days": 30}},  EventCount
        {"tenure": {"min_days": 14}},                      Tenure
        {"order": {"within_minutes": 30}},                 OrderWithin
        {"feedback": {"offer": "offer_nps", "answer": "price", "within_days": 30}},  Answered
        {"any": [...]}, {"not": {...}}                     AnyOf, Not
    ]}

`evaluate` returns a `Decision` whose reason names the first rule that failed, so the admin
API can say why a customer did not see an offer. Unknown facts fail closed: a usage rule
with no recorded usage or an unlimited plan, a tenure rule without a signup date, an order
rule without an order are all "not eligible". An offer shown to the wrong customer is worse
than one not shown.

Counted facts (`event`, and `feature_hit` with `at_least` above 1) are daily counts per UTC
day (`DailyCounts`); "within D days" is the last D UTC days, today included, and D is at
most `RETENTION_DAYS`, as long as the counts are kept. A count in a day after today's is
ignored, as a hit in the future is.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

from plugin.billing.catalog import Interval
from plugin.errors import InvalidDocument
from plugin.timespan import DAY

MAX_RULE_DEPTH = 8  # deeper trees are a mistake, and recursion on stored input must be bounded
MAX_RULES = 64
RETENTION_DAYS = 90  # daily counts are kept this long, so a counted rule looks back at most this
MAX_AT_LEAST = 1_000_000
AttributeValue = str | int | float | bool


class TargetingError(InvalidDocument):
    """A rule document is malformed; `field` is the JSON path of the offending value."""

    field: str

    def __init__(self, message: str, *, field: str) -> None:
        super().__init__(message, field=field)


@dataclass(frozen=True, slots=True)
class PlanState:
    """The customer's current plan on the admin's ladder (None fields: not on a known plan)."""

    plan: str | None
    interval: Interval | None = None
    limits: Mapping[str, int | None] = field(default_factory=dict)  # None = unlimited
    currency: str | None = None  # what the live subscription bills in


DailyCounts = tuple[tuple[int, int], ...]  # (unix day: unix seconds // DAY, count), by day


def counted(days: DailyCounts, *, within_days: int, now: int) -> int:
    """The sum of `days` over the last `within_days` UTC days, today (`now`'s) included."""
    today = now // DAY
    first = today - within_days + 1
    return sum(count for day, count in days if first <= day <= today)


@dataclass(frozen=True, slots=True)
class CustomerContext:
    customer_id: str
    plan: PlanState = field(default_factory=lambda: PlanState(plan=None))
    attrs: Mapping[str, AttributeValue] = field(default_factory=dict)
    usage: Mapping[str, int] = field(default_factory=dict)
    feature_hits: Mapping[str, int] = field(default_factory=dict)  # feature -> last hit (unix)
    # Per-day counts, kept `RETENTION_DAYS`: product events by name, feature hits by feature.
    events: Mapping[str, DailyCounts] = field(default_factory=dict)
    feature_counts: Mapping[str, DailyCounts] = field(default_factory=dict)
    signup_at: int | None = None
    last_order_at: int | None = None
    # When the customer last answered an offer (a reason or a survey answer): by offer id, and
    # by "offer id:answer key" (`feedback_key`).
    answered: Mapping[str, int] = field(default_factory=dict)


def feedback_key(offer_id: str, answer: str | None) -> str:
    return offer_id if answer is None else f"{offer_id}:{answer}"


@dataclass(frozen=True, slots=True)
class Decision:
    eligible: bool
    reason: str

    def __bool__(self) -> bool:
        return self.eligible


YES = Decision(True, "eligible")


@dataclass(frozen=True, slots=True)
class PlanIs:
    plans: tuple[str, ...] = ()  # empty: any plan
    interval: Interval | None = None


@dataclass(frozen=True, slots=True)
class AttributeIn:
    name: str
    values: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class AttributeRange:
    name: str
    gte: int | None = None
    lte: int | None = None


@dataclass(frozen=True, slots=True)
class UsageAtLeast:
    metric: str
    percent: int  # of the plan's limit for `metric`


@dataclass(frozen=True, slots=True)
class FeatureHit:
    """The feature was hit within `within_days` days: with `at_least` 1 (the default), the
    last hit is at most `within_days` * 24 h old; above 1, the feature's daily counts over
    the last `within_days` UTC days add up to `at_least` (as `EventCount` counts)."""

    feature: str
    within_days: int
    at_least: int = 1


@dataclass(frozen=True, slots=True)
class EventCount:
    """The product event `name` happened at least `at_least` times in the last `within_days`
    UTC days, today included (`POST /api/v1/events`)."""

    name: str
    at_least: int
    within_days: int


@dataclass(frozen=True, slots=True)
class Tenure:
    min_days: int


@dataclass(frozen=True, slots=True)
class OrderWithin:
    minutes: int


@dataclass(frozen=True, slots=True)
class Answered:
    """The customer answered `offer` (with `answer`, if given: a reason's or a choice's key)
    within the last `within_days` days."""

    offer: str
    answer: str | None
    within_days: int


@dataclass(frozen=True, slots=True)
class AllOf:
    rules: tuple[Rule, ...]


@dataclass(frozen=True, slots=True)
class AnyOf:
    rules: tuple[Rule, ...]


@dataclass(frozen=True, slots=True)
class Not:
    rule: Rule


Rule = (
    PlanIs
    | AttributeIn
    | AttributeRange
    | UsageAtLeast
    | FeatureHit
    | EventCount
    | Tenure
    | OrderWithin
    | Answered
    | AllOf
    | AnyOf
    | Not
)

EVERYONE: Rule = AllOf(())


def evaluate(rule: Rule, ctx: CustomerContext, *, now: int) -> Decision:
    match rule:
        case AllOf(rules):
            for sub in rules:
                decision = evaluate(sub, ctx, now=now)
                if not decision:
                    return decision
            return YES
        case AnyOf(rules):
            reasons = []
            for sub in rules:
                decision = evaluate(sub, ctx, now=now)
                if decision:
                    return YES
                reasons.append(decision.reason)
            return Decision(False, "none of: " + "; ".join(reasons) if reasons else "empty any")
        case Not(sub):
            decision = evaluate(sub, ctx, now=now)
            return Decision(False, f"excluded: {_describe(sub)}") if decision else YES
        case PlanIs(plans, interval):
            if plans and ctx.plan.plan not in plans:
                return Decision(False, f"plan {ctx.plan.plan!r} is not one of {list(plans)}")
            if interval is not None and ctx.plan.interval != interval:
                return Decision(
                    False, f"billing interval {ctx.plan.interval!r} is not {interval!r}"
                )
            return YES
        case AttributeIn(name, values):
            value = ctx.attrs.get(name)
            if value is None or _text(value) not in values:
                return Decision(False, f"attribute {name}={value!r} is not one of {list(values)}")
            return YES
        case AttributeRange(name, gte, lte):
            value = ctx.attrs.get(name)
            if not isinstance(value, int | float) or isinstance(value, bool):
                return Decision(False, f"attribute {name}={value!r} is not a number")
            if (gte is not None and value < gte) or (lte is not None and value > lte):
                return Decision(False, f"attribute {name}={value!r} is outside [{gte}, {lte}]")
            return YES
        case UsageAtLeast(metric, percent):
            return _usage(ctx, metric, percent)
        case FeatureHit(feature, within_days, at_least) if at_least > 1:
            hits = counted(ctx.feature_counts.get(feature, ()), within_days=within_days, now=now)
            if hits < at_least:
                return Decision(
                    False, f"feature {feature}: {hits} hits in {within_days} days, needs {at_least}"
                )
            return YES
        case FeatureHit(feature, within_days):
            hit = ctx.feature_hits.get(feature)
            if hit is None or hit > now or now - hit > within_days * DAY:
                return Decision(
                    False, f"feature {feature!r} not hit in the last {within_days} days"
                )
            return YES
        case EventCount(name, at_least, within_days):
            seen = counted(ctx.events.get(name, ()), within_days=within_days, now=now)
            if seen < at_least:
                return Decision(False, f"{name}: {seen} in {within_days} days, needs {at_least}")
            return YES
        case Tenure(min_days):
            if ctx.signup_at is None:
                return Decision(False, "signup date unknown")
            if now - ctx.signup_at < min_days * DAY:
                return Decision(False, f"signed up less than {min_days} days ago")
            return YES
        case OrderWithin(minutes):
            order = ctx.last_order_at
            if order is None or order > now or now - order > minutes * 60:
                return Decision(False, f"no order in the last {minutes} minutes")
            return YES
        case Answered(offer, answer, within_days):
            at = ctx.answered.get(feedback_key(offer, answer))
            if at is None or at > now or now - at > within_days * DAY:
                said = f" {answer!r}" if answer is not None else ""
                return Decision(
                    False, f"did not answer{said} to {offer!r} in the last {within_days} days"
                )
            return YES
    raise TypeError(f"not a targeting rule: {rule!r}")  # pragma: no cover -- exhaustive match


def usage_metric(rule: Rule) -> str | None:
    """The metric of the first usage rule in a targeting tree (depth first), if any: what the
    banner and the email say the customer has used."""
    match rule:
        case UsageAtLeast(metric=metric):
            return metric
        case AllOf(rules=rules) | AnyOf(rules=rules):
            return next((m for r in rules if (m := usage_metric(r)) is not None), None)
        case Not(rule=inner):
            return usage_metric(inner)
    return None


# When an answer can change ------------------------------------------------------------------


def spans(rule: Rule) -> Iterator[int]:
    """Every span of time (seconds) `rule` compares a fact's age with. A rule's answer for a
    customer can change only at one of their `instants`, or an instant plus one of these (or
    one second after that, for `<=`): what `eligibility.stable_until` needs to know."""
    match rule:
        case FeatureHit(_, within_days) | EventCount(_, _, within_days):
            # A daily count starts counting at its day's start (an instant, plus 0) and
            # leaves the window `within_days` days later.
            yield within_days * DAY
        case Tenure(min_days):
            yield min_days * DAY
        case OrderWithin(minutes):
            yield minutes * 60
        case Answered(_, _, within_days):
            yield within_days * DAY
        case AllOf(rules) | AnyOf(rules):
            for sub in rules:
                yield from spans(sub)
        case Not(sub):
            yield from spans(sub)


def instants(ctx: CustomerContext) -> Iterator[int]:
    """The moments in a customer's facts that rules measure time from."""
    yield from ctx.feature_hits.values()
    for counts in (ctx.events, ctx.feature_counts):
        for days in counts.values():
            for day, _ in days:
                yield day * DAY
    if ctx.signup_at is not None:
        yield ctx.signup_at
    if ctx.last_order_at is not None:
        yield ctx.last_order_at
    yield from ctx.answered.values()


# Compiled rules: the same yes/no as `evaluate`, without building reasons --------------------

Predicate = Callable[[CustomerContext, int], bool]


def compile_rule(rule: Rule) -> Predicate:
    """A closure answering `bool(evaluate(rule, ctx, now=now))` for `(ctx, now)`.

    The offers endpoint asks this for every active offer on every request and needs no reason
    for a miss, so the rule tree is turned once into nested closures: no pattern match, no
    `Decision` and no reason string per rule. `evaluate` stays the reference (and gives the
    reasons); tests/offers/test_targeting.py checks the two agree."""
    match rule:
        case AllOf(rules):
            return _joined(rules, every=True)
        case AnyOf(rules):
            return _joined(rules, every=False)
        case Not(sub):
            inner = compile_rule(sub)
            return lambda ctx, now: not inner(ctx, now)
        case PlanIs(plans, interval):
            return _plan_is(frozenset(plans), interval)
        case AttributeIn(name, values):
            return _attribute_in(name, frozenset(values))
        case AttributeRange(name, gte, lte):
            return _attribute_range(name, gte, lte)
        case UsageAtLeast(metric, percent):
            return _usage_at_least(metric, percent)
        case FeatureHit(feature, within_days, at_least) if at_least > 1:
            return _counted_at_least("feature_counts", feature, at_least, within_days)
        case EventCount(name, at_least, within_days):
            return _counted_at_least("events", name, at_least, within_days)
        case FeatureHit(feature, within_days):
            seconds = within_days * DAY

            def feature_hit(ctx: CustomerContext, now: int) -> bool:
                hit = ctx.feature_hits.get(feature)
                return hit is not None and hit <= now and now - hit <= seconds

            return feature_hit
        case Tenure(min_days):
            seconds = min_days * DAY
            return lambda ctx, now: ctx.signup_at is not None and now - ctx.signup_at >= seconds
        case OrderWithin(minutes):
            seconds = minutes * 60

            def order_within(ctx: CustomerContext, now: int) -> bool:
                order = ctx.last_order_at
                return order is not None and order <= now and now - order <= seconds

            return order_within
        case Answered(offer, answer, within_days):
            key, seconds = feedback_key(offer, answer), within_days * DAY

            def answered(ctx: CustomerContext, now: int) -> bool:
                at = ctx.answered.get(key)
                return at is not None and at <= now and now - at <= seconds

            return answered
    raise TypeError(f"not a targeting rule: {rule!r}")  # pragma: no cover -- exhaustive match


def _joined(rules: tuple[Rule, ...], *, every: bool) -> Predicate:
    """AllOf (`every`) or AnyOf: an empty one is everyone or no one, as in `evaluate`."""
    parts = tuple(compile_rule(r) for r in rules)
    if not parts:
        return _always if every else _never
    if len(parts) == 1:
        return parts[0]
    if len(parts) == 2:
        first, second = parts
        if every:
            return lambda ctx, now: first(ctx, now) and second(ctx, now)
        return lambda ctx, now: first(ctx, now) or second(ctx, now)
    if every:
        return lambda ctx, now: all(p(ctx, now) for p in parts)
    return lambda ctx, now: any(p(ctx, now) for p in parts)


def _counted_at_least(
    facts: Literal["events", "feature_counts"], name: str, at_least: int, within_days: int
) -> Predicate:
    """`EventCount`, or a counted `FeatureHit`: the daily counts of `name` in `facts`."""
    events = facts == "events"

    def counted_at_least(ctx: CustomerContext, now: int) -> bool:
        days = (ctx.events if events else ctx.feature_counts).get(name)
        if not days:
            return False
        today = now // DAY
        first = today - within_days + 1
        total = 0
        for day, count in days:
            if first <= day <= today:
                total += count
                if total >= at_least:
                    return True
        return False

    return counted_at_least


def _always(ctx: CustomerContext, now: int) -> bool:
    return True


def _never(ctx: CustomerContext, now: int) -> bool:
    return False


def _plan_is(plans: frozenset[str], interval: Interval | None) -> Predicate:
    if plans and interval is not None:
        return lambda ctx, now: ctx.plan.plan in plans and ctx.plan.interval == interval
    if plans:
        return lambda ctx, now: ctx.plan.plan in plans
    if interval is not None:
        return lambda ctx, now: ctx.plan.interval == interval
    return _always


def _attribute_in(name: str, values: frozenset[str]) -> Predicate:
    def attribute_in(ctx: CustomerContext, now: int) -> bool:
        value = ctx.attrs.get(name)
        if type(value) is str:
            return value in values
        return value is not None and _text(value) in values

    return attribute_in


def _attribute_range(name: str, gte: int | None, lte: int | None) -> Predicate:
    def attribute_range(ctx: CustomerContext, now: int) -> bool:
        value = ctx.attrs.get(name)
        if not isinstance(value, int | float) or isinstance(value, bool):
            return False
        return not ((gte is not None and value < gte) or (lte is not None and value > lte))

    return attribute_range


def _usage_at_least(metric: str, percent: int) -> Predicate:
    def usage_at_least(ctx: CustomerContext, now: int) -> bool:
        limit = ctx.plan.limits.get(metric)
        used = ctx.usage.get(metric)
        return limit is not None and used is not None and used * 100 >= percent * limit

    return usage_at_least


def _usage(ctx: CustomerContext, metric: str, percent: int) -> Decision:
    limit = ctx.plan.limits.get(metric)
    used = ctx.usage.get(metric)
    if limit is None:
        return Decision(False, f"plan has no limit on {metric!r}")
    if used is None:
        return Decision(False, f"no usage recorded for {metric!r}")
    # Integer comparison: used / limit >= percent / 100, without a float in sight.
    if used * 100 < percent * limit:
        return Decision(False, f"{metric} {used} of {limit} is below {percent} %")
    return YES


def _text(value: AttributeValue) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _describe(rule: Rule) -> str:
    return next(iter(dump(rule)))


# JSON <-> rules --------------------------------------------------------------------------------


def dump(rule: Rule) -> dict[str, Any]:
    match rule:
        case AllOf(rules):
            return {"all": [dump(r) for r in rules]}
        case AnyOf(rules):
            return {"any": [dump(r) for r in rules]}
        case Not(sub):
            return {"not": dump(sub)}
        case PlanIs(plans, interval):
            body: dict[str, Any] = {"in": list(plans)}
            if interval is not None:
                body["interval"] = interval
            return {"plan": body}
        case AttributeIn(name, values):
            return {"attribute": {"name": name, "in": list(values)}}
        case AttributeRange(name, gte, lte):
            bounds = {k: v for k, v in (("gte", gte), ("lte", lte)) if v is not None}
            return {"attribute": {"name": name, **bounds}}
        case UsageAtLeast(metric, percent):
            return {"usage": {"metric": metric, "at_least_percent": percent}}
        case FeatureHit(feature, within_days, at_least):
            more = {"at_least": at_least} if at_least != 1 else {}
            return {"feature_hit": {"feature": feature, "within_days": within_days, **more}}
        case EventCount(name, at_least, within_days):
            return {"event": {"name": name, "at_least": at_least, "within_days": within_days}}
        case Tenure(min_days):
            return {"tenure": {"min_days": min_days}}
        case OrderWithin(minutes):
            return {"order": {"within_minutes": minutes}}
        case Answered(offer, answer, within_days):
            given = {"answer": answer} if answer is not None else {}
            return {"feedback": {"offer": offer, **given, "within_days": within_days}}
    raise TypeError(f"not a targeting rule: {rule!r}")  # pragma: no cover -- exhaustive match


def parse(doc: object, *, path: str = "targeting") -> Rule:
    """Build a rule from its JSON document; raises TargetingError naming the bad path."""
    counter = [0]
    return _parse(doc, path, 0, counter)


def _parse(doc: object, path: str, depth: int, counter: list[int]) -> Rule:
    counter[0] += 1
    if depth > MAX_RULE_DEPTH or counter[0] > MAX_RULES:
        raise TargetingError(
            f"rules nest deeper than {MAX_RULE_DEPTH} or exceed {MAX_RULES}", field=path
        )
    if not isinstance(doc, dict) or len(doc) != 1:
        raise TargetingError("a rule is an object with exactly one key", field=path)
    ((kind, body),) = doc.items()
    here = f"{path}.{kind}"
    if kind in ("all", "any"):
        if not isinstance(body, list):
            raise TargetingError(f"{kind!r} takes a list of rules", field=here)
        rules = tuple(_parse(r, f"{here}[{i}]", depth + 1, counter) for i, r in enumerate(body))
        return AllOf(rules) if kind == "all" else AnyOf(rules)
    if kind == "not":
        return Not(_parse(body, here, depth + 1, counter))
    fields = _object(body, here)
    if kind == "plan":
        _only(fields, here, {"in", "interval"})
        plans = _strings(fields.get("in", []), f"{here}.in", allow_empty=True)
        interval = fields.get("interval")
        if interval is None:
            return PlanIs(plans)
        for known in get_args(Interval):
            if interval == known:
                return PlanIs(plans, known)
        raise TargetingError(
            f"interval must be one of {list(get_args(Interval))}", field=f"{here}.interval"
        )
    if kind == "attribute":
        name = _string(fields.get("name"), f"{here}.name")
        if "in" in fields:
            _only(fields, here, {"name", "in"})
            return AttributeIn(name, _strings(fields["in"], f"{here}.in"))
        _only(fields, here, {"name", "gte", "lte"})
        gte = _int(fields.get("gte"), f"{here}.gte", optional=True, minimum=None)
        lte = _int(fields.get("lte"), f"{here}.lte", optional=True, minimum=None)
        if gte is None and lte is None:
            raise TargetingError("an attribute rule needs `in`, `gte` or `lte`", field=here)
        if gte is not None and lte is not None and gte > lte:
            raise TargetingError("`gte` must not exceed `lte`", field=f"{here}.gte")
        return AttributeRange(name, gte, lte)
    if kind == "usage":
        _only(fields, here, {"metric", "at_least_percent"})
        percent = _int(fields.get("at_least_percent"), f"{here}.at_least_percent", minimum=1)
        if percent is None or percent > 1000:
            raise TargetingError(
                "at_least_percent must be 1..1000", field=f"{here}.at_least_percent"
            )
        return UsageAtLeast(_string(fields.get("metric"), f"{here}.metric"), percent)
    if kind == "feature_hit":
        _only(fields, here, {"feature", "within_days", "at_least"})
        feature = _string(fields.get("feature"), f"{here}.feature")
        at_least = 1
        if "at_least" in fields:
            at_least = _at_least(fields["at_least"], f"{here}.at_least")
        if at_least == 1:  # the last hit: any window, as before counts
            days = _required_int(fields.get("within_days"), f"{here}.within_days", minimum=1)
        else:
            days = _window(fields.get("within_days"), f"{here}.within_days")
        return FeatureHit(feature, days, at_least)
    if kind == "event":
        _only(fields, here, {"name", "at_least", "within_days"})
        return EventCount(
            _string(fields.get("name"), f"{here}.name"),
            _at_least(fields.get("at_least"), f"{here}.at_least"),
            _window(fields.get("within_days"), f"{here}.within_days"),
        )
    if kind == "tenure":
        _only(fields, here, {"min_days"})
        return Tenure(_required_int(fields.get("min_days"), f"{here}.min_days", minimum=0))
    if kind == "order":
        _only(fields, here, {"within_minutes"})
        return OrderWithin(
            _required_int(fields.get("within_minutes"), f"{here}.within_minutes", minimum=1)
        )
    if kind == "feedback":
        _only(fields, here, {"offer", "answer", "within_days"})
        days = _required_int(fields.get("within_days"), f"{here}.within_days", minimum=1)
        answer = fields.get("answer")
        return Answered(
            _string(fields.get("offer"), f"{here}.offer"),
            None if answer is None else _string(answer, f"{here}.answer"),
            days,
        )
    raise TargetingError(f"unknown rule {kind!r}", field=here)


def _object(body: object, path: str) -> dict[str, object]:
    if not isinstance(body, dict):
        raise TargetingError("expected an object", field=path)
    return body


def _only(fields: dict[str, object], path: str, allowed: set[str]) -> None:
    for key in fields:
        if key not in allowed:
            raise TargetingError(f"unknown field {key!r}", field=f"{path}.{key}")


def _string(value: object, path: str) -> str:
    if not isinstance(value, str) or not value or len(value) > 100:
        raise TargetingError("expected a non-empty string of at most 100 characters", field=path)
    return value


def _strings(value: object, path: str, *, allow_empty: bool = False) -> tuple[str, ...]:
    if not isinstance(value, list) or (not value and not allow_empty) or len(value) > 100:
        raise TargetingError("expected a list of strings (at most 100)", field=path)
    return tuple(_string(v, f"{path}[{i}]") for i, v in enumerate(value))


def _int(value: object, path: str, *, optional: bool = False, minimum: int | None) -> int | None:
    if value is None and optional:
        return None
    if type(value) is not int:
        raise TargetingError("expected an integer", field=path)
    if minimum is not None and value < minimum:
        raise TargetingError(f"must be at least {minimum}", field=path)
    return value


def _at_least(value: object, path: str) -> int:
    found = _required_int(value, path, minimum=1)
    if found > MAX_AT_LEAST:
        raise TargetingError(f"at_least must be 1..{MAX_AT_LEAST}", field=path)
    return found


def _window(value: object, path: str) -> int:
    """A counted rule's `within_days`: no longer than the counts are kept."""
    found = _required_int(value, path, minimum=1)
    if found > RETENTION_DAYS:
        raise TargetingError(
            f"within_days must be 1..{RETENTION_DAYS}: daily counts are kept {RETENTION_DAYS} days",
            field=path,
        )
    return found


def _required_int(value: object, path: str, *, minimum: int) -> int:
    found = _int(value, path, minimum=minimum)
    if found is None:  # pragma: no cover -- _int without optional never returns None
        raise TargetingError("expected an integer", field=path)
    return found
