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
    ("too deep", _nested({"tenure": {"min_days": 1}}, 9), "targeting" + ".not" * 9),
    ("too many", {"all": [{"tenure": {"min_days": 1}}] * 100}, "targeting.all[63]"),
]


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
_contexts = st.builds(
    lambda base, usage, attrs, shift: CustomerContext(
        customer_id=base.customer_id,
        plan=base.plan,
        attrs={**base.attrs, **attrs},
        usage={**base.usage, **usage},
        feature_hits=base.feature_hits,
        signup_at=None if base.signup_at is None else base.signup_at + shift,
        last_order_at=None if base.last_order_at is None else base.last_order_at + shift,
        answered={key: at + shift for key, at in base.answered.items()},
    ),
    st.sampled_from(_CONTEXTS),
    st.dictionaries(st.sampled_from(["storage_gb", "users", "seats"]), st.integers(0, 50)),
    st.dictionaries(
        st.sampled_from(["industry", "company_size", "beta"]),
        st.one_of(st.booleans(), st.integers(-5, 300), st.sampled_from(["fintech", "retail"])),
    ),
    st.integers(-40 * DAY, 40 * DAY),
)


@given(_rules, _contexts)
def test_compiled_rule_trees_decide_like_evaluate(rule: Rule, context: CustomerContext) -> None:
    """Any tree of rules, any customer: compiled and reference evaluation agree."""
    expected = targeting.evaluate(rule, context, now=NOW).eligible
    assert targeting.compile_rule(rule)(context, NOW) is expected
