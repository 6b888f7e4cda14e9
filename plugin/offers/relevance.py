"""Whether an offer sells a customer something they can buy. Pure.

The widget never offers what the customer already has, whatever the offer's rules say: an
upgrade or a trial to their tier or below, a switch to the billing interval they are already
on, or a price in another currency than the one their subscription bills in (Stripe cannot mix
currencies on a subscription). It drops those offers before any other gate
(plugin/api/widget.py, `relevant_at`); the audience and the explanations name this gate
`owned` (plugin/offers/explain.py), so that what they count is what the widget shows.

What a price or plan the catalog does not know would sell cannot be told: such an offer is not
held back here (its own rules and the quote decide).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from plugin.billing.catalog import Plan, Price
from plugin.offers.model import Offer
from plugin.offers.targeting import PlanState


@dataclass(frozen=True, slots=True)
class Ladder:
    """What relevance reads of the catalog and the plan ladder (the offer snapshot's)."""

    prices: Mapping[str, Price] = field(default_factory=dict)
    plan_by_price: Mapping[str, Plan] = field(default_factory=dict)
    plans: Mapping[str, Plan] = field(default_factory=dict)  # by id


NO_LADDER = Ladder()  # nothing known: no offer is held back


def owned(offer: Offer, plan: PlanState, ladder: Ladder) -> str | None:
    """Why this customer (on `plan`) cannot be sold `offer`, or None when they can."""
    if plan.currency is not None:
        for price_id in offer.target_prices:
            price = ladder.prices.get(price_id)
            if price is not None and price.currency != plan.currency:
                return (
                    f"the subscription bills in {plan.currency.upper()}; "
                    f"{price_id} is in {price.currency.upper()}"
                )
    if not offer.target_prices:
        return None
    if offer.kind in ("upgrade", "trial"):
        target = ladder.plan_by_price.get(offer.target_prices[0])
        current = ladder.plans.get(plan.plan) if plan.plan is not None else None
        if target is not None and current is not None and target.tier <= current.tier:
            return (
                f"already on {current.name} (tier {current.tier}); "
                f"the offer sells {target.name} (tier {target.tier})"
            )
    if offer.kind == "interval_switch":
        price = ladder.prices.get(offer.target_prices[0])
        if price is not None and price.interval == plan.interval:
            return f"already billed every {price.interval}"
    return None
