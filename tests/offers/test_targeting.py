"""Targeting rules: each rule, the combinators, and the JSON documents admins send."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from plugin.offers import targeting
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
    PlanState,
    Rule,
    TargetingError,
    Tenure,
    UsageAtLeast,
)
from plugin.timespan import DAY
from tests.support import NOW

TODAY = NOW // DAY
BASIC = PlanState(
    plan="basic", interval="month", limits={"storage_gb": 10, "users": 5, "seats": None}
)


def ctx(**overrides: Any) -> CustomerContext:
    values: dict[str, Any] = {
        "customer_id": "cust_1",
        "plan": BASIC,
        "attrs": {"industry": "fintech", "company_size": 40, "beta": True},
        "usage": {"storage_gb": 8, "users": 2},
        "feature_hits": {"sso": NOW - 3 * DAY},
        "signup_at": NOW - 30 * DAY,
        "last_order_at": NOW - 10 * 60,
        "answered": {"offer_nps": NOW - 2 * DAY, "offer_nps:price": NOW - 2 * DAY},
        # 3 logins today, 5 ten days ago, 10 forty days ago; sso hit 2 + 1 times this week.
        "events": {"login": ((TODAY - 40, 10), (TODAY - 10, 5), (TODAY, 3))},
        "feature_counts": {"sso": ((TODAY - 3, 2), (TODAY - 1, 1))},
    }
    values.update(overrides)
    return CustomerContext(**values)


CASES: list[tuple[str, Rule, CustomerContext, bool]] = [
    ("plan matches", PlanIs(("basic", "pro")), ctx(), True),
    ("plan differs", PlanIs(("pro",)), ctx(), False),
    ("no plan is not basic", PlanIs(("basic",)), ctx(plan=PlanState(plan=None)), False),
    ("interval matches", PlanIs((), "month"), ctx(), True),
    ("interval differs", PlanIs(("basic",), "year"), ctx(), False),
    ("attribute in", AttributeIn("industry", ("fintech", "saas")), ctx(), True),
    ("attribute not in", AttributeIn("industry", ("retail",)), ctx(), False),
    ("attribute missing", AttributeIn("segment", ("smb",)), ctx(), False),
    ("boolean attribute as text", AttributeIn("beta", ("true",)), ctx(), True),
    ("number attribute as text", AttributeIn("company_size", ("40",)), ctx(), True),
    ("range inside", AttributeRange("company_size", 10, 200), ctx(), True),
    ("range below", AttributeRange("company_size", 50, None), ctx(), False),
    ("range above", AttributeRange("company_size", None, 39), ctx(), False),
    ("range on text", AttributeRange("industry", 1, None), ctx(), False),
    ("range on boolean", AttributeRange("beta", 0, None), ctx(), False),
    ("usage at 80 % of limit", UsageAtLeast("storage_gb", 80), ctx(), True),
    ("usage below 90 %", UsageAtLeast("storage_gb", 90), ctx(), False),
    ("usage exactly at threshold", UsageAtLeast("users", 40), ctx(), True),
    ("usage just below threshold", UsageAtLeast("users", 41), ctx(), False),
    ("usage over the limit", UsageAtLeast("storage_gb", 80), ctx(usage={"storage_gb": 12}), True),
    (
        "unlimited metric never triggers",
        UsageAtLeast("seats", 1),
        ctx(usage={"seats": 10**9}),
        False,
    ),
    ("no usage recorded", UsageAtLeast("storage_gb", 1), ctx(usage={}), False),
    ("metric the plan does not limit", UsageAtLeast("api_calls", 50), ctx(), False),
    ("feature hit in window", FeatureHit("sso", 7), ctx(), True),
    ("feature hit too long ago", FeatureHit("sso", 2), ctx(), False),
    ("feature never hit", FeatureHit("audit_log", 30), ctx(), False),
    (
        "feature hit in the future is ignored",
        FeatureHit("sso", 7),
        ctx(feature_hits={"sso": NOW + 60}),
        False,
    ),
    ("feature hit often enough", FeatureHit("sso", 7, at_least=3), ctx(), True),
    ("feature hit too few times", FeatureHit("sso", 7, at_least=4), ctx(), False),
    ("feature hits outside the window", FeatureHit("sso", 3, at_least=2), ctx(), False),
    ("feature hits on the window's first day", FeatureHit("sso", 4, at_least=2), ctx(), True),
    ("uncounted feature fails closed", FeatureHit("audit_log", 30, at_least=2), ctx(), False),
    ("events today count", EventCount("login", 3, 1), ctx(), True),
    ("events in the window add up", EventCount("login", 8, 11), ctx(), True),
    ("events just outside the window", EventCount("login", 8, 10), ctx(), False),
    ("events over the whole retention", EventCount("login", 18, 90), ctx(), True),
    ("too few events", EventCount("login", 19, 90), ctx(), False),
    ("event never reported", EventCount("project_created", 1, 30), ctx(), False),
    (
        "events dated after today are ignored",
        EventCount("login", 1, 30),
        ctx(events={"login": ((TODAY + 1, 50),)}),
        False,
    ),
    ("tenure long enough", Tenure(14), ctx(), True),
    ("too new", Tenure(31), ctx(), False),
    ("tenure exactly N days", Tenure(30), ctx(), True),
    ("unknown signup fails closed", Tenure(0), ctx(signup_at=None), False),
    ("order recent", OrderWithin(30), ctx(), True),
    ("order too old", OrderWithin(5), ctx(), False),
    ("no order", OrderWithin(30), ctx(last_order_at=None), False),
    ("answered in window", Answered("offer_nps", None, 7), ctx(), True),
    ("gave that answer", Answered("offer_nps", "price", 7), ctx(), True),
    ("gave another answer", Answered("offer_nps", "video", 7), ctx(), False),
    ("answered too long ago", Answered("offer_nps", None, 1), ctx(), False),
    ("never answered", Answered("offer_other", None, 30), ctx(), False),
    (
        "an answer in the future is ignored",
        Answered("offer_nps", None, 7),
        ctx(answered={"offer_nps": NOW + 60}),
        False,
    ),
    ("all of nothing is everyone", AllOf(()), ctx(), True),
    ("all needs every rule", AllOf((PlanIs(("basic",)), Tenure(60))), ctx(), False),
    ("any needs one rule", AnyOf((PlanIs(("pro",)), Tenure(14))), ctx(), True),
    ("any of nothing is no one", AnyOf(()), ctx(), False),
    ("not inverts", Not(PlanIs(("basic",))), ctx(), False),
    ("not of a miss is a hit", Not(PlanIs(("pro",))), ctx(), True),
]


@pytest.mark.parametrize(
    ("rule", "context", "eligible"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_rule_decides_eligibility(rule: Rule, context: CustomerContext, eligible: bool) -> None:
    """Each rule admits exactly the customers it describes; unknown facts fail closed."""
    decision = targeting.evaluate(rule, context, now=NOW)
    assert decision.eligible is eligible
    assert decision.reason == "eligible" if eligible else decision.reason != "eligible"


def test_count_reasons_say_what_was_counted_and_what_is_needed() -> None:
    """A counted rule's miss names the event, its count, the window and the bound."""
    decision = targeting.evaluate(EventCount("login", 20, 30), ctx(), now=NOW)
    assert decision.reason == "login: 8 in 30 days, needs 20"
    decision = targeting.evaluate(FeatureHit("sso", 7, at_least=5), ctx(), now=NOW)
    assert decision.reason == "feature sso: 3 hits in 7 days, needs 5"


def test_the_window_is_the_last_utc_days_today_included() -> None:
    """`within_days` D counts D UTC days ending with `now`'s: a day's count leaves the window
    at the start of the day D days after it, whatever the hour."""
    rule = EventCount("login", 1, 2)
    yesterday = ctx(events={"login": ((TODAY - 1, 1),)})
    assert targeting.evaluate(rule, yesterday, now=NOW + DAY - 1)  # late in today
    assert not targeting.evaluate(rule, yesterday, now=NOW + DAY)  # tomorrow, at midnight


def test_reason_names_the_first_failing_rule() -> None:
    """An admin can read why a customer was not targeted."""
    rule = AllOf((PlanIs(("basic",)), UsageAtLeast("storage_gb", 90), Tenure(60)))
    decision = targeting.evaluate(rule, ctx(), now=NOW)
    assert decision.reason == "storage_gb 8 of 10 is below 90 %"


DOCUMENT = {
    "all": [
        {"plan": {"in": ["basic"], "interval": "month"}},
        {"usage": {"metric": "storage_gb", "at_least_percent": 80}},
        {"attribute": {"name": "industry", "in": ["fintech", "saas"]}},
        {"attribute": {"name": "company_size", "gte": 10, "lte": 200}},
        {
            "any": [
                {"feature_hit": {"feature": "sso", "within_days": 7}},
                {"tenure": {"min_days": 14}},
            ]
        },
        {"not": {"order": {"within_minutes": 1}}},
        {"feedback": {"offer": "offer_nps", "answer": "price", "within_days": 30}},
        {"feedback": {"offer": "offer_nps", "within_days": 7}},
        {"event": {"name": "login", "at_least": 8, "within_days": 30}},
        {"feature_hit": {"feature": "sso", "within_days": 7, "at_least": 3}},
    ]
}


def test_documents_round_trip() -> None:
    """The stored JSON and the rule tree say the same thing."""
    rule = targeting.parse(DOCUMENT)
    assert targeting.dump(rule) == DOCUMENT
    assert targeting.evaluate(rule, ctx(), now=NOW).eligible


def _nested(rule: dict[str, object], depth: int) -> dict[str, object]:
    for _ in range(depth):
        rule = {"not": rule}
    return rule


BAD_DOCUMENTS: list[tuple[str, object, str]] = [
    ("not an object", [], "targeting"),
    ("two keys", {"plan": {}, "tenure": {}}, "targeting"),
    ("unknown rule", {"moon_phase": {}}, "targeting.moon_phase"),
    ("all takes a list", {"all": {}}, "targeting.all"),
    ("bad child path", {"all": [{"tenure": {"min_days": -1}}]}, "targeting.all[0].tenure.min_days"),
    ("unknown field", {"tenure": {"min_days": 1, "max_days": 2}}, "targeting.tenure.max_days"),
    (
        "percent as text",
        {"usage": {"metric": "gb", "at_least_percent": "80"}},
        "targeting.usage.at_least_percent",
    ),
    (
        "percent zero",
        {"usage": {"metric": "gb", "at_least_percent": 0}},
        "targeting.usage.at_least_percent",
    ),
    (
        "percent absurd",
        {"usage": {"metric": "gb", "at_least_percent": 5000}},
        "targeting.usage.at_least_percent",
    ),
    ("boolean is not an int", {"tenure": {"min_days": True}}, "targeting.tenure.min_days"),
    ("bad interval", {"plan": {"in": [], "interval": "fortnight"}}, "targeting.plan.interval"),
    ("empty attribute values", {"attribute": {"name": "x", "in": []}}, "targeting.attribute.in"),
    (
        "range upside down",
        {"attribute": {"name": "x", "gte": 5, "lte": 1}},
        "targeting.attribute.gte",
    ),
    ("attribute without a test", {"attribute": {"name": "x"}}, "targeting.attribute"),
    (
        "overlong name",
        {"feature_hit": {"feature": "x" * 101, "within_days": 1}},
        "targeting.feature_hit.feature",
    ),
    (
        "event window beyond the retention",
        {"event": {"name": "login", "at_least": 1, "within_days": 91}},
        "targeting.event.within_days",
    ),
    (
        "event count zero",
        {"event": {"name": "login", "at_least": 0, "within_days": 7}},
        "targeting.event.at_least",
    ),
    (
        "event count absurd",
        {"event": {"name": "login", "at_least": 10**7, "within_days": 7}},
        "targeting.event.at_least",
    ),
    (
        "event without a count",
        {"event": {"name": "login", "within_days": 7}},
        "targeting.event.at_least",
    ),
    (
        "event without a name",
        {"event": {"at_least": 1, "within_days": 7}},
        "targeting.event.name",
    ),
    (
        "counted feature window beyond the retention",
        {"feature_hit": {"feature": "sso", "within_days": 120, "at_least": 2}},
        "targeting.feature_hit.within_days",
    ),
    (
        "feature count as text",
        {"feature_hit": {"feature": "sso", "within_days": 7, "at_least": "2"}},
        "targeting.feature_hit.at_least",
    ),
    ("too deep", _nested({"tenure": {"min_days": 1}}, 9), "targeting" + ".not" * 9),
    ("too many", {"all": [{"tenure": {"min_days": 1}}] * 100}, "targeting.all[63]"),
]


def test_feature_hit_without_a_count_keeps_its_unbounded_window() -> None:
    """`at_least` 1 (or none) reads the last hit, as before counts: any `within_days`, and the
    document is dumped without `at_least`."""
    plain = targeting.parse({"feature_hit": {"feature": "sso", "within_days": 365}})
    once = targeting.parse({"feature_hit": {"feature": "sso", "within_days": 365, "at_least": 1}})
    assert plain == once == FeatureHit("sso", 365)
    assert targeting.dump(once) == {"feature_hit": {"feature": "sso", "within_days": 365}}


@pytest.mark.parametrize(
    ("doc", "path"), [c[1:] for c in BAD_DOCUMENTS], ids=[c[0] for c in BAD_DOCUMENTS]
)
def test_bad_documents_name_the_offending_path(doc: object, path: str) -> None:
    """A malformed rule is refused with the JSON path of the bad value, never half-built."""
    with pytest.raises(TargetingError) as raised:
        targeting.parse(doc)
    assert raised.value.field == path


@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=5),
        lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=12), c, max_size=3),
        max_leaves=20,
    )
)
def test_parse_never_fails_with_anything_but_a_targeting_error(doc: object) -> None:
    """Whatever JSON arrives, parsing either builds a rule or raises TargetingError."""
    try:
        rule = targeting.parse(doc)
    except TargetingError:
        return
    assert targeting.parse(targeting.dump(rule)) == rule


@pytest.mark.parametrize(
    ("rule", "context", "eligible"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_compiled_rule_decides_like_evaluate(
    rule: Rule, context: CustomerContext, eligible: bool
) -> None:
    """The closure the offers endpoint runs gives the same answer as the reference."""
    assert targeting.compile_rule(rule)(context, NOW) is eligible


_LEAVES = [c[1] for c in CASES]
_CONTEXTS = [c[2] for c in CASES]
_rules = st.recursive(
    st.sampled_from(_LEAVES),
    lambda inner: st.one_of(
        st.lists(inner, max_size=4).map(lambda rs: AllOf(tuple(rs))),
        st.lists(inner, max_size=4).map(lambda rs: AnyOf(tuple(rs))),
        inner.map(Not),
    ),
    max_leaves=12,
)


def _shifted(counts: Any, days: int) -> dict[str, tuple[tuple[int, int], ...]]:
    return {name: tuple((day + days, n) for day, n in by_day) for name, by_day in counts.items()}


_contexts = st.builds(
    lambda base, usage, attrs, shift, counts: CustomerContext(
        customer_id=base.customer_id,
        plan=base.plan,
        attrs={**base.attrs, **attrs},
        usage={**base.usage, **usage},
        feature_hits=base.feature_hits,
        signup_at=None if base.signup_at is None else base.signup_at + shift,
        last_order_at=None if base.last_order_at is None else base.last_order_at + shift,
        answered={key: at + shift for key, at in base.answered.items()},
        events={**_shifted(base.events, shift // DAY), **counts},
        feature_counts=_shifted(base.feature_counts, shift // DAY),
    ),
    st.sampled_from(_CONTEXTS),
    st.dictionaries(st.sampled_from(["storage_gb", "users", "seats"]), st.integers(0, 50)),
    st.dictionaries(
        st.sampled_from(["industry", "company_size", "beta"]),
        st.one_of(st.booleans(), st.integers(-5, 300), st.sampled_from(["fintech", "retail"])),
    ),
    st.integers(-40 * DAY, 40 * DAY),
    st.dictionaries(
        st.sampled_from(["login", "project_created"]),
        st.lists(st.tuples(st.integers(TODAY - 95, TODAY + 2), st.integers(1, 10)), max_size=5).map(
            lambda days: tuple(sorted(days))
        ),
    ),
)


@given(_rules, _contexts)
def test_compiled_rule_trees_decide_like_evaluate(rule: Rule, context: CustomerContext) -> None:
    """Any tree of rules, any customer: compiled and reference evaluation agree."""
    expected = targeting.evaluate(rule, context, now=NOW).eligible
    assert targeting.compile_rule(rule)(context, NOW) is expected
