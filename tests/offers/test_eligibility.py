"""Eligibility: which offers one customer sees, combining every rule, cap and experiment."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from plugin.offers import eligibility, experiments
from plugin.offers.eligibility import CustomerState
from plugin.offers.model import Copy, Offer, OfferVariant
from plugin.offers.schedule import FrequencyCap, OfferHistory, Window
from plugin.offers.targeting import CustomerContext, PlanIs, PlanState, UsageAtLeast
from plugin.timespan import DAY
from tests.support import NOW

BASIC = PlanState(plan="basic", interval="month", limits={"storage_gb": 10})
CUSTOMER = CustomerContext(customer_id="cust_1", plan=BASIC, usage={"storage_gb": 9})


def offer(offer_id: str, **overrides: Any) -> Offer:
    values: dict[str, Any] = {
        "id": offer_id,
        "name": offer_id,
        "kind": "upgrade",
        "variants": (OfferVariant("control", Copy(title="Upgrade")),),
        "target_prices": ("price_pro_monthly",),
        "placements": ("banner", "settings"),
        "status": "active",
        "targeting": PlanIs(("basic",)),
    }
    values.update(overrides)
    return Offer(**values)


def shown_ids(offers: list[Offer], state: CustomerState | None = None, **kw: Any) -> list[str]:
    kw.setdefault("placement", "banner")
    result = eligibility.evaluate(offers, state or CustomerState(CUSTOMER), now=NOW, **kw)
    return [s.offer.id for s in result.shown]


def test_every_gate_must_pass() -> None:
    """Status, placement, schedule, caps and targeting each can keep an offer from showing."""
    offers = [
        offer("shown"),
        offer("draft", status="draft"),
        offer("paused", status="paused"),
        offer("elsewhere", placements=("post_order",)),
        offer("not_yet", window=Window(starts_at=NOW + 60)),
        offer("over", window=Window(ends_at=NOW)),
        offer("declined", frequency=FrequencyCap(max_declines=1)),
        offer("wrong_plan", targeting=PlanIs(("pro",))),
        offer("not_full", targeting=UsageAtLeast("storage_gb", 95)),
    ]
    state = CustomerState(CUSTOMER, histories={"declined": OfferHistory(declines=1)})
    result = eligibility.evaluate(offers, state, placement="banner", now=NOW)
    assert [s.offer.id for s in result.shown] == ["shown"]
    assert result.reasons == {
        "draft": "offer is draft",
        "paused": "offer is paused",
        "elsewhere": "not placed at 'banner'",
        "not_yet": f"starts at {NOW + 60}",
        "over": f"ended at {NOW}",
        "declined": "declined 1 times",
        "wrong_plan": "plan 'basic' is not one of ['pro']",
        "not_full": "storage_gb 9 of 10 is below 95 %",
    }


def test_best_offers_come_first_up_to_the_limit() -> None:
    """Higher priority first, then a stable order; no more than `limit` at once."""
    offers = [offer("b", priority=1), offer("a", priority=1), offer("c", priority=5), offer("d")]
    assert shown_ids(offers, limit=3) == ["c", "a", "b"]
    assert shown_ids(offers, placement=None, limit=10) == ["c", "a", "b", "d"]


def test_global_cap_limits_offers_across_all_offers() -> None:
    """Offers already shown today count against the per-customer daily cap."""
    offers = [offer("a"), offer("b"), offer("c")]
    state = CustomerState(CUSTOMER, recent_impressions=[NOW - 60, NOW - 2 * DAY])
    assert shown_ids(offers, state, max_per_day=2) == ["a"]
    assert shown_ids(offers, state, max_per_day=1) == []


def test_countdown_is_reported_for_offers_that_end() -> None:
    """The widget gets the seconds left for a time-limited offer."""
    result = eligibility.evaluate(
        [offer("ends", window=Window(ends_at=NOW + 3600)), offer("open")],
        CustomerState(CUSTOMER),
        placement="banner",
        now=NOW,
    )
    assert {s.offer.id: s.countdown for s in result.shown} == {"ends": 3600, "open": None}


def test_holdout_customers_see_nothing_but_are_reported() -> None:
    """A customer in the holdout is not shown the offer; the caller records the exposure."""
    held = offer("held", holdout_bp=9_999)
    result = eligibility.evaluate([held], CustomerState(CUSTOMER), placement="banner", now=NOW)
    assert result.shown == ()
    assert result.held_out == (held,)


def test_recorded_assignment_wins_over_a_new_hash() -> None:
    """Sticky: once a customer saw variant B, they keep it even if weights change."""
    variants = (
        OfferVariant("control", Copy(title="A")),
        OfferVariant("bold", Copy(title="B"), weight=0),
    )
    two = offer("exp", variants=variants)
    state = CustomerState(CUSTOMER, assignments={"exp": "bold"})
    result = eligibility.evaluate([two], state, placement="banner", now=NOW)
    assert result.shown[0].variant.key == "bold"
    fresh = eligibility.evaluate([two], CustomerState(CUSTOMER), placement="banner", now=NOW)
    assert fresh.shown[0].variant.key == "control"
    gone = CustomerState(CUSTOMER, assignments={"exp": "deleted"})
    reassigned = eligibility.evaluate([two], gone, placement="banner", now=NOW)
    assert reassigned.shown[0].variant.key == experiments.assign(
        two.design, offer_id="exp", customer_id="cust_1"
    )


def test_accepted_offers_never_show_again() -> None:
    """Once accepted, an offer is gone for that customer."""
    state = CustomerState(CUSTOMER, histories={"a": OfferHistory(accepted_at=NOW - 1)})
    assert shown_ids([offer("a"), replace(offer("b"))], state) == ["b"]


def test_remembered_arms_are_the_hashed_arms_and_new_weights_ask_again() -> None:
    """An offer remembers each customer's arm; an offer with other weights is a new value
    that hashes afresh, as `experiments.assign` would."""
    two = (
        OfferVariant("control", Copy(title="A")),
        OfferVariant("bold", Copy(title="B"), weight=3),
    )
    first = offer("x", variants=two, holdout_bp=1000)
    for n in range(300):
        customer = f"cust_{n}"
        expected = experiments.assign(first.design, offer_id="x", customer_id=customer)
        assert first.arm_for(customer) == expected
        assert first.arm_for(customer) == expected  # remembered
    reweighted = replace(first, variants=(two[0], replace(two[1], weight=1)))
    for n in range(300):
        customer = f"cust_{n}"
        expected = experiments.assign(reweighted.design, offer_id="x", customer_id=customer)
        assert reweighted.arm_for(customer) == expected
