"""Eligibility evaluations per second for one customer against 50 active offers, single core,
as a ratio to a baseline measured in the same run.

    python3 bench/eligibility.py [--customers 5000] [--repeat 3]

- `bare loop`: the least any evaluator must do in Python: walk 50 offers and, per offer, test
  status, placement and the customer's plan with one set lookup each. No caps, no schedule, no
  experiments, no reasons.
- `plugin.offers.eligibility.evaluate`: everything Uplift decides per request: status, placement,
  schedule window, frequency caps and cooldowns, the targeting tree, the sticky experiment arm
  (a SHA-256 per unassigned offer), the global cap, priority order, and a reason per offer.

Customers vary: plans, usage, attributes, histories (impressions, declines, a recorded arm on
half of the offers). Medians of `--repeat` runs; the spec asks for "well under a millisecond".
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from plugin.offers import eligibility
from plugin.offers.eligibility import CustomerState
from plugin.offers.model import Copy, Offer, OfferVariant
from plugin.offers.schedule import FrequencyCap, OfferHistory, Window
from plugin.offers.targeting import (
    AllOf,
    AnyOf,
    AttributeIn,
    AttributeRange,
    CustomerContext,
    FeatureHit,
    PlanIs,
    PlanState,
    Rule,
    Tenure,
    UsageAtLeast,
)
from plugin.timespan import DAY

NOW = 1_795_305_600
PLANS = ("basic", "pro", "enterprise")
PLACEMENTS = ("banner", "settings", "post_order", "limits")


def make_offers(count: int = 50) -> list[Offer]:
    rules: list[Rule] = [
        AllOf((PlanIs(("basic",)), UsageAtLeast("storage_gb", 80))),
        AllOf((PlanIs(("basic", "pro"), "month"), Tenure(30))),
        AnyOf((AttributeIn("industry", ("fintech", "saas")), AttributeRange("company_size", 50))),
        AllOf((PlanIs(("pro",)), FeatureHit("sso", 14))),
        AllOf((Tenure(7), AnyOf((UsageAtLeast("users", 90), UsageAtLeast("storage_gb", 95))))),
    ]
    variants = (
        OfferVariant("control", Copy(title="Upgrade", body="More of everything.")),
        OfferVariant("bold", Copy(title="Upgrade today", body="Save 20 %."), weight=1),
    )
    return [
        Offer(
            id=f"offer_{i:02d}",
            name=f"Offer {i}",
            kind="upgrade",
            variants=variants,
            target_prices=("price_pro_monthly",),
            placements=(PLACEMENTS[i % 4], PLACEMENTS[(i + 1) % 4]),
            status="active",
            priority=i % 7,
            targeting=rules[i % len(rules)],
            window=Window(starts_at=NOW - DAY, ends_at=NOW + 7 * DAY) if i % 3 == 0 else Window(),
            frequency=FrequencyCap(max_impressions=3, dismiss_cooldown=3600),
            holdout_bp=500,
        )
        for i in range(count)
    ]


def make_customers(count: int, offers: list[Offer]) -> list[CustomerState]:
    states = []
    for n in range(count):
        plan = PLANS[n % 3]
        context = CustomerContext(
            customer_id=f"cust_{n:06d}",
            plan=PlanState(
                plan=plan,
                interval="month" if n % 4 else "year",
                limits={"storage_gb": 10 * (n % 3 + 1), "users": 5 * (n % 3 + 1)},
            ),
            attrs={"industry": ("fintech", "retail", "saas")[n % 3], "company_size": n % 300},
            usage={"storage_gb": n % 31, "users": n % 17},
            feature_hits={"sso": NOW - (n % 20) * DAY},
            signup_at=NOW - (n % 90) * DAY,
        )
        histories = {
            o.id: OfferHistory(impressions=(NOW - 3600 * (n % 5),), declines=n % 2)
            for o in offers[n % 7 :: 7]
        }
        assignments = {o.id: "control" for o in offers[::2]}
        states.append(
            CustomerState(
                context,
                histories=histories,
                recent_impressions=(NOW - 7200,),
                assignments=assignments,
            )
        )
    return states


def bare_loop(offers: list[Offer], states: list[CustomerState]) -> float:
    started = time.perf_counter()
    for n, state in enumerate(states):
        placement = PLACEMENTS[n % 4]
        plan = state.context.plan.plan
        found = []
        for offer in offers:
            if offer.status == "active" and placement in offer.placements and plan != "enterprise":
                found.append(offer)
    return len(states) / (time.perf_counter() - started)


def uplift(offers: list[Offer], states: list[CustomerState]) -> float:
    for offer in offers:
        offer.forget_arms()  # every run hashes the arms it needs, as the first one did
    started = time.perf_counter()
    for n, state in enumerate(states):
        eligibility.evaluate(offers, state, placement=PLACEMENTS[n % 4], now=NOW, max_per_day=5)
    return len(states) / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--customers", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    offers = make_offers()
    states = make_customers(args.customers, offers)
    runs: dict[str, list[float]] = {"bare loop": [], "plugin.offers.eligibility.evaluate": []}
    for _ in range(args.repeat):
        runs["bare loop"].append(bare_loop(offers, states))
        runs["plugin.offers.eligibility.evaluate"].append(uplift(offers, states))
    base = statistics.median(runs["bare loop"])
    print(f"50 active offers, {args.customers} customers, median of {args.repeat} runs")
    print(f"{'variant':30} {'customers/s':>12} {'us/customer':>12} {'vs bare loop':>13}")
    for name, rates in runs.items():
        rate = statistics.median(rates)
        print(f"{name:30} {rate:12.0f} {1e6 / rate:12.1f} {rate / base:12.3f}x")


if __name__ == "__main__":
    main()
