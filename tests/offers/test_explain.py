"""Why a customer does or does not see an offer (explain), and what keeps each customer of a
population out (audience): both agree with what the widget's eligibility shows."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from plugin.billing.catalog import Plan, Price
from plugin.offers import audience, eligibility, experiments, explain
from plugin.offers.eligibility import CustomerState
from plugin.offers.relevance import Ladder, owned
from plugin.offers.schedule import FrequencyCap, OfferHistory, Window
from plugin.offers.targeting import (
    AllOf,
    AnyOf,
    AttributeIn,
    CustomerContext,
    EventCount,
    FeatureHit,
    Not,
    PlanIs,
    PlanState,
    Rule,
    Tenure,
    UsageAtLeast,
)
from plugin.timespan import DAY
from tests.offers.test_eligibility import BASIC, offer
from tests.support import NOW

PRO = PlanState(plan="pro", interval="month", limits={"storage_gb": 100})
_PLANS = (
    Plan("basic", "Basic", 1, ("price_basic_monthly",)),
    Plan("pro", "Pro", 2, ("price_pro_monthly",)),
)
# tests/offers/test_eligibility.py's offers upgrade to price_pro_monthly: Pro customers own it.
LADDER = Ladder(
    prices={
        plan.prices[0]: Price(plan.prices[0], f"prod_{plan.id}", "usd", 1000 * plan.tier, "month")
        for plan in _PLANS
    },
    plan_by_price={plan.prices[0]: plan for plan in _PLANS},
    plans={plan.id: plan for plan in _PLANS},
)


def widget_shows(
    offers: list[Any], state: CustomerState, *, placement: str, max_per_day: int | None
) -> list[str]:
    """What the widget shows: the offers that sell the customer something (relevance), then
    `eligibility.evaluate` (plugin/api/widget.py)."""
    sold = [o for o in offers if owned(o, state.context.plan, LADDER) is None]
    result = eligibility.evaluate(
        sold, state, placement=placement, now=NOW, max_per_day=max_per_day
    )
    return [s.offer.id for s in result.shown]


def _state(customer: str = "cust_1", **context: Any) -> CustomerState:
    values: dict[str, Any] = {"plan": BASIC, "usage": {"storage_gb": 7}}
    values.update(context)
    return CustomerState(CustomerContext(customer_id=customer, **values))


def _gates(found: explain.Explanation) -> list[tuple[str, bool, str]]:
    return [(g.gate, g.passed, g.detail) for g in found.gates]


def test_a_usage_rule_below_its_threshold_says_the_numbers_it_read() -> None:
    target = offer("o", targeting=AllOf((PlanIs(("basic",)), UsageAtLeast("storage_gb", 80))))
    found = explain.explain(target, _state(), placement="banner", now=NOW, ladder=LADDER)
    assert not found.eligible
    assert not found.shown
    usage = next(g for g in found.gates if g.gate == "usage")
    assert (usage.passed, usage.detail, usage.rule) == (
        False,
        "usage storage_gb 7 of 10 = 70 % < 80 %",
        "targeting.all[1]",
    )
    plan = next(g for g in found.gates if g.gate == "plan")
    assert plan.passed
    assert found.gates[-1].gate == "targeting"
    assert not found.gates[-1].passed


def test_every_gate_is_reported_even_after_one_fails() -> None:
    """A paused offer outside its window, declined in its cooldown, for the wrong plan: each
    gate says so, in the widget's order."""
    target = offer(
        "o",
        status="paused",
        window=Window(ends_at=NOW - 1),
        targeting=PlanIs(("pro",)),
    )
    history = OfferHistory(last_declined_at=NOW - DAY, declines=1)
    state = CustomerState(_state().context, histories={"o": history})
    found = explain.explain(target, state, placement="elsewhere", now=NOW, ladder=LADDER)
    names = [(g.gate, g.passed) for g in found.gates]
    assert names == [
        ("status", False),
        ("placement", False),
        ("schedule", False),
        ("owned", True),
        ("accepted", True),
        ("cap", True),
        ("cooldown", False),
        ("plan", False),
        ("targeting", False),
    ]
    assert found.arm is None


def test_an_eligible_customer_is_told_their_variant_or_the_holdout() -> None:
    target = offer("o", holdout_bp=5000)
    arms = {
        c: explain.explain(target, _state(c), placement=None, now=NOW, ladder=LADDER).arm
        for c in (f"cust_{n}" for n in range(40))
    }
    assert set(arms.values()) == {"control", experiments.HOLDOUT}
    for customer, arm in arms.items():
        found = explain.explain(target, _state(customer), placement=None, now=NOW, ladder=LADDER)
        assert found.eligible
        assert found.shown == (arm != experiments.HOLDOUT)
        assert found.gates[-1].gate == "experiment"
        assert arm == experiments.assign(target.design, offer_id="o", customer_id=customer)


def test_a_not_rule_reports_the_leaf_it_negates() -> None:
    target = offer("o", targeting=Not(PlanIs(("basic",))))
    found = explain.explain(target, _state(), placement=None, now=NOW, ladder=LADDER)
    leaf = next(g for g in found.gates if g.gate == "plan")
    assert not leaf.passed
    assert leaf.detail.startswith("not (plan 'basic'")
    assert explain.exclusion(target, _state(), now=NOW, ladder=LADDER) == "plan"


def test_an_any_rule_failing_on_different_kinds_is_a_targeting_exclusion() -> None:
    rule = AnyOf((PlanIs(("pro",)), FeatureHit("sso", 7)))
    target = offer("o", targeting=rule)
    assert explain.exclusion(target, _state(), now=NOW, ladder=LADDER) == "targeting"
    same_kind = offer("o", targeting=AnyOf((PlanIs(("pro",)), PlanIs(("enterprise",)))))
    assert explain.exclusion(same_kind, _state(), now=NOW, ladder=LADDER) == "plan"


# One customer, every way: explain, exclusion and the widget's evaluate agree ----------------

_RULES: list[Rule] = [
    PlanIs(("basic",)),
    PlanIs(("pro",)),
    UsageAtLeast("storage_gb", 50),
    AttributeIn("industry", ("saas",)),
    FeatureHit("sso", 7),
    FeatureHit("sso", 7, at_least=2),
    EventCount("login", 5, 30),
    Tenure(30),
]
_rules = st.recursive(
    st.sampled_from(_RULES),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3).map(lambda r: AllOf(tuple(r))),
        st.lists(inner, min_size=1, max_size=3).map(lambda r: AnyOf(tuple(r))),
        inner.map(Not),
    ),
    max_leaves=6,
)


@st.composite
def _cases(draw: st.DrawFn) -> tuple[Any, CustomerState]:
    target = offer(
        "o",
        status=draw(st.sampled_from(["active", "active", "active", "paused"])),
        window=draw(st.sampled_from([Window(), Window(starts_at=NOW + 1), Window(ends_at=NOW)])),
        frequency=FrequencyCap(
            max_impressions=draw(st.sampled_from([None, 1, 3])),
            dismiss_cooldown=draw(st.sampled_from([0, DAY])),
            max_declines=draw(st.sampled_from([None, 1, 2])),
        ),
        targeting=draw(_rules),
        holdout_bp=draw(st.sampled_from([0, 5000])),
    )
    at = st.one_of(st.none(), st.integers(NOW - 10 * DAY, NOW))
    history = OfferHistory(
        impressions=tuple(draw(st.lists(st.integers(NOW - 2 * DAY, NOW), max_size=3))),
        last_dismissed_at=draw(at),
        last_declined_at=draw(at),
        declines=draw(st.integers(0, 2)),
        accepted_at=draw(st.sampled_from([None, None, NOW - DAY])),
    )
    context = CustomerContext(
        customer_id=draw(st.sampled_from(["cust_1", "cust_2", "cust_3"])),
        plan=draw(st.sampled_from([BASIC, PRO, PlanState(plan=None)])),
        attrs=draw(st.sampled_from([{}, {"industry": "saas"}, {"industry": "retail"}])),
        usage={"storage_gb": draw(st.integers(0, 20))},
        feature_hits=draw(st.sampled_from([{}, {"sso": NOW - DAY}, {"sso": NOW - 30 * DAY}])),
        signup_at=draw(st.sampled_from([None, NOW - 40 * DAY, NOW - DAY])),
        events=draw(
            st.sampled_from(
                [{}, {"login": ((NOW // DAY - 2, 6),)}, {"login": ((NOW // DAY - 40, 6),)}]
            )
        ),
        feature_counts=draw(st.sampled_from([{}, {"sso": ((NOW // DAY, 2),)}])),
    )
    return target, CustomerState(context, histories={"o": history})


@settings(max_examples=300, deadline=None)
@given(_cases())
def test_explain_exclusion_and_eligibility_agree(case: tuple[Any, CustomerState]) -> None:
    target, state = case
    found = explain.explain(target, state, placement="banner", now=NOW, ladder=LADDER)
    gate = explain.exclusion(target, state, now=NOW, ladder=LADDER)
    assert found.eligible == (gate is None)
    shown = widget_shows([target], state, placement="banner", max_per_day=None)
    assert found.shown == bool(shown)
    if gate is not None:
        failed = [g.gate for g in found.gates if not g.passed]
        first = failed[0]
        if first in {"plan", "attribute", "usage", "feature", "event", "tenure", "order"}:
            assert gate in {*failed, "targeting"}
        else:
            assert gate == first
    population = audience.count(
        target, [state], at_placement={}, now=NOW, ladder=LADDER, max_per_day=None
    )
    assert population.considered == 1
    assert population.eligible == found.eligible
    assert population.by_placement["banner"] == found.shown


def test_audience_counts_every_customer_once_by_first_gate() -> None:
    target = offer("o", targeting=AllOf((PlanIs(("basic",)), UsageAtLeast("storage_gb", 80))))
    population = [
        _state("near_limit", usage={"storage_gb": 9}),
        _state("far", usage={"storage_gb": 1}),
        _state("on_pro", plan=PRO),
        CustomerState(
            _state("accepted").context,
            histories={"o": OfferHistory(accepted_at=NOW - DAY)},
        ),
        CustomerState(
            _state("cooling", usage={"storage_gb": 10}).context,
            histories={"o": OfferHistory(last_declined_at=NOW - DAY, declines=1)},
        ),
    ]
    found = audience.count(target, population, at_placement={}, now=NOW, ladder=LADDER)
    assert found.considered == 5
    assert found.eligible == 1
    assert found.by_placement == {"banner": 1, "settings": 1}
    assert {k: v for k, v in found.excluded.items() if v} == {
        "usage": 1,
        "owned": 1,  # on Pro already: the widget never offers it an upgrade to Pro
        "accepted": 1,
        "cooldown": 1,
    }
    assert set(found.excluded) == set(explain.EXCLUSIONS)


def test_an_eligible_customer_crowded_out_at_a_placement_is_not_counted_there() -> None:
    """Three better offers at the banner fill its slots; at settings this one still shows."""
    target = offer("o", priority=0)
    better = [offer(f"better_{n}", priority=10, placements=("banner",)) for n in range(3)]
    found = audience.count(
        target,
        [_state()],
        at_placement={"banner": [*better, target], "settings": [target]},
        now=NOW,
        ladder=LADDER,
    )
    assert found.eligible == 1
    assert found.by_placement == {"banner": 0, "settings": 1}
    widget = eligibility.evaluate([*better, target], _state(), placement="banner", now=NOW)
    assert "o" not in [s.offer.id for s in widget.shown]


def _reference_by_placement(
    target: Any, population: list[CustomerState], offers: list[Any], max_per_day: int | None
) -> dict[str, int]:
    """What the widget itself would show: `widget_shows` over every offer placed."""
    counts = dict.fromkeys(target.placements, 0)
    for state in population:
        for placement in target.placements:
            placed = [o for o in offers if placement in o.placements]
            shown = widget_shows(placed, state, placement=placement, max_per_day=max_per_day)
            counts[placement] += target.id in shown
    return counts


@settings(max_examples=60, deadline=None)
@given(
    st.lists(_cases(), min_size=1, max_size=6),
    st.lists(
        st.tuples(st.integers(-1, 2), st.sampled_from(_RULES), st.sampled_from([0, 5000])),
        max_size=6,
    ),
    st.sampled_from([None, 1, 5]),
)
def test_audience_per_placement_is_what_the_widget_shows(
    cases: list[tuple[Any, CustomerState]],
    others: list[tuple[int, Rule, int]],
    max_per_day: int | None,
) -> None:
    target = offer("target", placements=("banner", "settings"), priority=1)
    offers = [target] + [
        offer(
            f"other_{n}",
            priority=p,
            targeting=rule,
            holdout_bp=held,
            placements=("banner",) if n % 2 else ("banner", "settings"),
        )
        for n, (p, rule, held) in enumerate(others)
    ]
    population = [
        CustomerState(
            state.context,
            histories={"target": state.histories["o"]},
            recent_impressions=state.histories["o"].impressions,
        )
        for _, state in cases
    ]
    at_placement = {p: [o for o in offers if p in o.placements] for p in ("banner", "settings")}
    found = audience.count(
        target,
        population,
        at_placement=at_placement,
        now=NOW,
        ladder=LADDER,
        max_per_day=max_per_day,
    )
    assert found.by_placement == _reference_by_placement(target, population, offers, max_per_day)


def test_an_offer_the_customer_already_has_is_excluded_as_the_widget_drops_it() -> None:
    """An upgrade to Pro that targets everyone: a Pro customer is kept out by `owned` with the
    fact it read, not counted eligible, and the widget does not show it to them either."""
    target = offer("o", targeting=AllOf(()))
    on_pro = _state("on_pro", plan=PRO)
    found = explain.explain(target, on_pro, placement="banner", now=NOW, ladder=LADDER)
    assert not found.eligible
    gate = next(g for g in found.gates if g.gate == "owned")
    assert (gate.passed, gate.detail) == (
        False,
        "already on Pro (tier 2); the offer sells Pro (tier 2)",
    )
    assert explain.exclusion(target, on_pro, now=NOW, ladder=LADDER) == "owned"
    assert widget_shows([target], on_pro, placement="banner", max_per_day=None) == []
    counted = audience.count(target, [on_pro, _state()], at_placement={}, now=NOW, ladder=LADDER)
    assert (counted.eligible, counted.excluded["owned"]) == (1, 1)
    in_euros = _state("in_euros", plan=PlanState(plan="basic", interval="month", currency="eur"))
    assert explain.exclusion(target, in_euros, now=NOW, ladder=LADDER) == "owned"


def test_an_event_rule_is_its_own_gate_with_what_was_counted() -> None:
    """The admin reads the event's count, its window and the bound; the audience counts the
    customer under `event`."""
    target = offer("o", targeting=EventCount("login", 20, 30))
    counted = CustomerState(
        CustomerContext(customer_id="cust_1", plan=BASIC, events={"login": ((NOW // DAY, 4),)})
    )
    found = explain.explain(target, counted, placement=None, now=NOW, ladder=LADDER)
    leaf = next(g for g in found.gates if g.gate == "event")
    assert (leaf.passed, leaf.rule) == (False, "targeting")
    assert leaf.detail == "event 'login' 4 times in the last 30 days; wanted at least 20"
    assert explain.exclusion(target, counted, now=NOW, ladder=LADDER) == "event"
