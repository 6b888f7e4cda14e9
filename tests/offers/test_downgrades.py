"""What a move down the plan ladder takes away (plugin/offers/downgrades.py)."""

from __future__ import annotations

import pytest

from plugin.billing.catalog import Plan
from plugin.offers.downgrades import FeatureLoss, LimitLoss, find_plan, lost

BASIC = Plan(
    "basic",
    "Basic",
    1,
    limits={"users": 5, "storage_gb": 10, "integrations": 3},
    features=("reports",),
)
PRO = Plan(
    "pro",
    "Pro",
    2,
    limits={"users": 25, "storage_gb": 100, "integrations": 10},
    features=("reports", "sso", "api"),
)
ENTERPRISE = Plan(
    "enterprise", "Enterprise", 3, limits={"users": None, "storage_gb": 1000, "integrations": None},
    features=("reports", "sso", "api", "audit_log"),
)  # fmt: skip
LADDER = (BASIC, PRO, ENTERPRISE)


def test_limits_below_the_current_plan_are_lost_and_usage_over_them_comes_first() -> None:
    """Each metric the lower plan caps lower is listed with the usage reported; the ones the
    customer already exceeds are marked `over` and listed first, then the rest by name."""
    down = lost(PRO, BASIC, usage={"storage_gb": 42, "users": 4}, last_used={})
    assert down is not None
    assert down.limits == (
        LimitLoss("storage_gb", used=42, current_limit=100, new_limit=10, over=True),
        LimitLoss("integrations", used=None, current_limit=10, new_limit=3, over=False),
        LimitLoss("users", used=4, current_limit=25, new_limit=5, over=False),
    )


def test_usage_exactly_at_the_new_limit_is_not_over() -> None:
    """A plan's limit is what it allows: 10 GB used of a 10 GB cap still fits."""
    down = lost(PRO, BASIC, usage={"storage_gb": 10}, last_used={})
    assert down is not None
    assert {limit.metric: limit.over for limit in down.limits}["storage_gb"] is False


def test_an_unlimited_metric_becoming_capped_is_lost() -> None:
    """From unlimited (None) to any cap is a loss; the current limit says unlimited."""
    down = lost(ENTERPRISE, PRO, usage={"users": 30}, last_used={})
    assert down is not None
    assert down.limits[0] == LimitLoss("users", 30, current_limit=None, new_limit=25, over=True)
    assert "integrations" in [limit.metric for limit in down.limits]


def test_metrics_the_lower_plan_does_not_cap_lower_are_not_listed() -> None:
    """Same cap, a higher cap, no cap (None) or no entry at all: nothing is lost there."""
    current = Plan("mid", "Mid", 2, limits={"a": 10, "b": 10, "c": 10, "d": 10})
    lower = Plan("low", "Low", 1, limits={"a": 10, "b": 20, "c": None})
    down = lost(current, lower, usage={"a": 50, "b": 50, "c": 50, "d": 50}, last_used={})
    assert down is not None
    assert down.limits == ()


def test_features_missing_from_the_lower_plan_are_lost_used_ones_first() -> None:
    """Features of the current plan the lower one lacks, the most recently used first, then
    the never-used ones in the ladder's order; without counts, uses are unknown (None)."""
    down = lost(ENTERPRISE, BASIC, usage={}, last_used={"audit_log": 300, "api": 100, "x": 999})
    assert down is not None
    assert down.features == (
        FeatureLoss("audit_log", uses=None, last_used_at=300),
        FeatureLoss("api", uses=None, last_used_at=100),
        FeatureLoss("sso", uses=None, last_used_at=None),
    )


def test_hit_counts_are_reported_when_known() -> None:
    """Given counts, a lost feature says how often it was used (0 when never)."""
    down = lost(PRO, BASIC, usage={}, last_used={"sso": 100}, uses={"sso": 3})
    assert down is not None
    assert down.features == (
        FeatureLoss("sso", uses=3, last_used_at=100),
        FeatureLoss("api", uses=0, last_used_at=None),
    )


@pytest.mark.parametrize(
    ("current", "target"),
    [(BASIC, BASIC), (BASIC, PRO), (None, BASIC)],
    ids=["same tier", "higher tier", "current plan unknown"],
)
def test_only_a_lower_tier_is_a_downgrade(current: Plan | None, target: Plan) -> None:
    """The same tier, a higher one, or a customer on no known plan: nothing to list."""
    assert lost(current, target, usage={"storage_gb": 42}, last_used={"sso": 1}) is None


def test_document_is_the_widget_apis_shape() -> None:
    """Plan ids and names, then limits and features as plain JSON values."""
    down = lost(PRO, BASIC, usage={"storage_gb": 42}, last_used={"sso": 100})
    assert down is not None
    document = down.document()
    assert document["from_plan"] == "pro"
    assert (document["to_plan"], document["to_plan_name"]) == ("basic", "Basic")
    assert document["limits"][0] == {
        "metric": "storage_gb", "used": 42, "current_limit": 100, "new_limit": 10, "over": True,
    }  # fmt: skip
    assert document["features"][0] == {"feature": "sso", "uses": None, "last_used_at": 100}


@pytest.mark.parametrize(
    ("ref", "found"),
    [("basic", BASIC), ("Basic", BASIC), ("PRO", PRO), ("gold", None), ("", None)],
    ids=["id", "name", "name in another case", "unknown", "empty"],
)
def test_a_plan_is_found_by_id_or_name(ref: str, found: Plan | None) -> None:
    """An id first, else a name regardless of case; nothing else."""
    assert find_plan(LADDER, ref) == found


def test_an_id_wins_over_another_plans_name_and_a_shared_name_finds_nothing() -> None:
    """A plan whose id is another plan's name is found by its id; two plans with one name
    make that name ambiguous, so it names neither."""
    odd = Plan("Pro", "Legacy", 0)
    assert find_plan((PRO, odd), "Pro") == odd
    twins = (Plan("a", "Team", 1), Plan("b", "team", 2))
    assert find_plan(twins, "Team") is None
