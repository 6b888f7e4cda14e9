"""eligibility.stable_until: an answer kept until then is the answer `evaluate` would give."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from plugin.offers import eligibility
from plugin.offers.eligibility import CustomerState, Result
from plugin.offers.model import Copy, Offer, OfferVariant
from plugin.offers.schedule import FrequencyCap, OfferHistory, Window
from plugin.offers.targeting import (
    EVERYONE,
    Answered,
    AnyOf,
    CustomerContext,
    EventCount,
    FeatureHit,
    Not,
    OrderWithin,
    PlanIs,
    PlanState,
    Rule,
    Tenure,
)
from plugin.timespan import DAY
from tests.support import NOW

SCAN = 400  # seconds after `now` checked one by one: every generated change falls inside

# Moments and edges near `now`, some whole days back, so that day-long spans end near it too.
_moments = st.builds(
    lambda days, offset: NOW - days * DAY + offset, st.integers(0, 2), st.integers(-150, 150)
)
_near = st.integers(NOW - 150, NOW + 150)
# Daily counts on the days around today's (NOW is a day's start, so their edges fall on it).
_daily = st.lists(
    st.tuples(st.integers(NOW // DAY - 4, NOW // DAY + 1), st.integers(1, 2)), max_size=4
).map(lambda days: tuple(sorted(days)))
_leaves = st.one_of(
    st.just(EVERYONE),
    st.just(PlanIs(("basic",))),
    st.builds(FeatureHit, st.just("sso"), st.integers(0, 2)),
    st.builds(FeatureHit, st.just("sso"), st.integers(1, 3), st.integers(2, 3)),
    st.builds(EventCount, st.just("login"), st.integers(1, 4), st.integers(1, 3)),
    st.builds(Tenure, st.integers(0, 2)),
    st.builds(OrderWithin, st.integers(0, 3)),
    st.builds(Answered, st.just("offer_nps"), st.none() | st.just("price"), st.integers(0, 2)),
)
_rules: st.SearchStrategy[Rule] = st.one_of(
    _leaves,
    _leaves.map(Not),
    st.lists(_leaves, min_size=1, max_size=3).map(lambda rules: AnyOf(tuple(rules))),
)


def _offer(offer_id: str, **overrides: Any) -> Offer:
    values: dict[str, Any] = {
        "id": offer_id,
        "name": offer_id,
        "kind": "upgrade",
        "variants": (
            OfferVariant("control", Copy(title="Upgrade")),
            OfferVariant("bold", Copy(title="Upgrade now")),
        ),
        "target_prices": ("price_pro_monthly",),
        "placements": ("banner",),
        "status": "active",
    }
    return Offer(**(values | overrides))


@st.composite
def _offers(draw: st.DrawFn) -> list[Offer]:
    offers = []
    for n in range(draw(st.integers(1, 4))):
        starts = draw(st.none() | _near)
        ends = draw(st.none() | _near)
        if starts is not None and ends is not None and ends <= starts:
            starts, ends = None, ends
        offers.append(
            _offer(
                f"offer_{n}",
                priority=draw(st.integers(0, 2)),
                targeting=draw(_rules),
                window=Window(starts, ends),
                frequency=FrequencyCap(
                    max_impressions=draw(st.none() | st.integers(1, 3)),
                    per_seconds=draw(st.integers(1, 120)),
                    dismiss_cooldown=draw(st.integers(0, 120)),
                    decline_cooldown=draw(st.integers(0, 120)),
                    max_declines=draw(st.none() | st.integers(1, 2)),
                ),
                holdout_bp=draw(st.sampled_from([0, 5000])),
            )
        )
    return offers


@st.composite
def _states(draw: st.DrawFn, offers: list[Offer]) -> CustomerState:
    context = CustomerContext(
        customer_id=draw(st.sampled_from(["cust_1", "cust_2", "cust_3"])),
        plan=PlanState(plan="basic", interval="month"),
        feature_hits=draw(st.dictionaries(st.just("sso"), _moments)),
        signup_at=draw(st.none() | _moments),
        last_order_at=draw(st.none() | _moments),
        answered=draw(st.dictionaries(st.sampled_from(["offer_nps", "offer_nps:price"]), _moments)),
        events=draw(st.dictionaries(st.just("login"), _daily)),
        feature_counts=draw(st.dictionaries(st.just("sso"), _daily)),
    )
    histories = {}
    for offer in offers:
        if draw(st.booleans()):
            histories[offer.id] = OfferHistory(
                impressions=tuple(draw(st.lists(_moments, max_size=3))),
                last_dismissed_at=draw(st.none() | _moments),
                last_declined_at=draw(st.none() | _moments),
                declines=draw(st.integers(0, 2)),
                accepted_at=draw(st.none() | _moments) if draw(st.integers(0, 9)) == 0 else None,
            )
    return CustomerState(
        context,
        histories=histories,
        recent_impressions=tuple(draw(st.lists(_moments, max_size=4))),
    )


def _case(
    data: st.DataObject,
) -> tuple[list[Offer], CustomerState, int | None, Callable[[int], Result]]:
    """Offers, a customer, a global cap, and the evaluation at a given second."""
    offers = data.draw(_offers())
    state = data.draw(_states(offers))
    max_per_day = data.draw(st.none() | st.integers(1, 3))

    def at(t: int) -> Result:
        return eligibility.evaluate(
            offers, state, placement="banner", now=t, max_per_day=max_per_day
        )

    return offers, state, max_per_day, at


def _answer(result: Result) -> Any:
    return (
        [(s.offer.id, s.variant.key, s.countdown) for s in result.shown],
        [o.id for o in result.held_out],
    )


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_the_answer_holds_every_second_until_stable_until(data: st.DataObject) -> None:
    """Any offers, any customer: from `now` to the second before `stable_until`, evaluating
    again gives exactly the same answer (shown offers, variants, countdowns, holdout)."""
    offers, state, max_per_day, at = _case(data)

    now = NOW
    result = at(now)
    until = eligibility.stable_until(offers, state, result, now=now, max_per_day=max_per_day)
    assert until is None or until > now
    last = now + SCAN if until is None else min(until, now + SCAN)
    for t in range(now, last):
        assert _answer(at(t)) == _answer(result), f"changed at now + {t - now}, before {until}"
    if until is not None and until > now + SCAN:
        assert _answer(at(until - 1)) == _answer(result)


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_left_to_the_caller_countdowns_only_count_down_until_stable_until(
    data: st.DataObject,
) -> None:
    """With `countdowns=False`: the same answer but for the countdowns, each of them
    `ends_at - t` and above zero, every second until `stable_until`."""
    offers, state, max_per_day, at = _case(data)

    result = at(NOW)
    until = eligibility.stable_until(
        offers, state, result, now=NOW, max_per_day=max_per_day, countdowns=False
    )
    last = NOW + SCAN if until is None else min(until, NOW + SCAN)
    for t in range(NOW, last):
        again = at(t)
        assert [(s.offer.id, s.variant.key) for s in again.shown] == [
            (s.offer.id, s.variant.key) for s in result.shown
        ]
        assert [o.id for o in again.held_out] == [o.id for o in result.held_out]
        for shown in again.shown:
            ends_at = shown.offer.window.ends_at
            if ends_at is not None:
                assert shown.countdown == ends_at - t > 0


def test_a_countdown_changes_the_answer_every_second() -> None:
    offer = _offer("offer_sale", window=Window(ends_at=NOW + 3 * DAY))
    state = CustomerState(CustomerContext(customer_id="cust_1"))
    result = eligibility.evaluate([offer], state, placement="banner", now=NOW)
    assert [s.countdown for s in result.shown] == [3 * DAY]
    assert eligibility.stable_until([offer], state, result, now=NOW, max_per_day=5) == NOW + 1


def test_an_answer_that_depends_on_no_time_holds_until_something_else_changes() -> None:
    offer = _offer("offer_pro", targeting=PlanIs(("basic",)))
    state = CustomerState(
        CustomerContext(customer_id="cust_1", plan=PlanState(plan="basic", interval="month"))
    )
    result = eligibility.evaluate([offer], state, placement="banner", now=NOW)
    assert [s.offer.id for s in result.shown] == ["offer_pro"]
    assert eligibility.stable_until([offer], state, result, now=NOW, max_per_day=None) is None


def test_a_counted_rule_holds_until_its_oldest_needed_day_leaves_the_window() -> None:
    """Three logins yesterday, `at_least` 3 within 2 days: shown until tomorrow's start."""
    offer = _offer("offer_pro", targeting=EventCount("login", 3, 2))
    today = (NOW + 3600) // DAY
    state = CustomerState(
        CustomerContext(customer_id="cust_1", events={"login": ((today - 1, 3),)})
    )
    result = eligibility.evaluate([offer], state, placement="banner", now=NOW + 3600)
    assert [s.offer.id for s in result.shown] == ["offer_pro"]
    until = eligibility.stable_until([offer], state, result, now=NOW + 3600, max_per_day=None)
    assert until == (today + 1) * DAY
    later = eligibility.evaluate([offer], state, placement="banner", now=(today + 1) * DAY)
    assert later.shown == ()


def test_extra_spans_from_the_caller_count_too() -> None:
    """The facts' history window: an impression leaving it changes the facts themselves."""
    state = CustomerState(CustomerContext(customer_id="cust_1"), recent_impressions=(NOW - 10,))
    result = eligibility.evaluate([], state, placement="banner", now=NOW)
    assert eligibility.stable_until([], state, result, now=NOW, max_per_day=None) is None
    assert (
        eligibility.stable_until([], state, result, now=NOW, max_per_day=None, spans=(30 * DAY,))
        == NOW - 10 + 30 * DAY
    )
