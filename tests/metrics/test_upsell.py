"""The one rule both metric paths use for who can be upsold and what an upgrade is
(plugin.metrics.revenue, "Upsell candidates and upgrades"), case by case."""

from __future__ import annotations

import pytest

from plugin.metrics import revenue
from plugin.metrics.revenue import SubscriptionAtStart as Sub

LADDER = {"price_basic": 1, "price_pro": 2, "price_pro_yearly": 2, "price_enterprise": 3}


@pytest.mark.parametrize(
    ("prices", "tier"),
    [
        (["price_basic"], 1),
        (["price_basic", "price_enterprise"], 3),
        (["price_pro_yearly", "price_reports"], 2),
        (["price_reports"], None),
        ([], None),
    ],
    ids=["one plan", "two plan items: the higher", "plan and add-on", "add-on only", "nothing"],
)
def test_a_subscriptions_tier_is_its_highest_plan_item(prices: list[str], tier: int | None) -> None:
    """Items off the ladder (add-ons) give no tier; of several plan items, the highest counts."""
    assert revenue.tier_of(prices, LADDER) == tier


@pytest.mark.parametrize(
    ("subscriptions", "eligible"),
    [
        ([Sub("c", "s1", 2900, 1)], {"c"}),
        ([Sub("c", "s1", 32800, 3)], set()),
        ([Sub("c", "s1", 0, 1)], set()),
        ([Sub("c", "s1", 2900, 1), Sub("c", "s2", 0, 3)], {"c"}),
        ([Sub("c", "s1", 2900, 1), Sub("c", "s2", 9900, 3)], set()),
        ([Sub("c", "s1", 1900, None)], set()),
        ([Sub("c", "s1", 1900, None), Sub("c", "s2", 9900, 2)], {"c"}),
    ],
    ids=[
        "paying on Basic", "on the top tier", "not paying at start",
        "a churned Enterprise subscription does not count", "a paying Enterprise one does",
        "add-ons only: no plan to upgrade", "an add-on beside a Pro subscription",
    ],
)  # fmt: skip
def test_eligible_customers_pay_below_the_top_tier_at_start(
    subscriptions: list[Sub], eligible: set[str]
) -> None:
    """A customer's tier is the highest over their subscriptions paying at start; below the
    top (3), they can be upsold."""
    assert revenue.eligible_customers(subscriptions, 3) == eligible


@pytest.mark.parametrize(
    ("kind", "before", "after", "upgrade"),
    [
        ("expansion", 1, 2, True),
        ("expansion", 2, 2, False),
        ("expansion", None, 2, False),
        ("contraction", 1, 2, False),
        ("new", None, 2, False),
        ("reactivation", 1, 2, False),
    ],
    ids=["Basic to Pro", "an add-on or more seats", "prices not known", "to a higher tier for less",
         "a first subscription", "back on a higher tier"],
)  # fmt: skip
def test_an_upgrade_is_an_expansion_up_the_ladder(
    kind: str, before: int | None, after: int | None, upgrade: bool
) -> None:
    """Only an expansion that raises the tier is an upgrade, whoever made it."""
    assert revenue.raises_tier(kind, before, after) is upgrade
