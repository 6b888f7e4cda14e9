"""A customer as targeting sees them, assembled from what Uplift stores.

Sources, in order of trust: the customer record (`PUT /api/v1/customers/{id}`), then the
token's claims (the SaaS backend signed them seconds ago) for what the record lacks; the plan
from the mirrored Stripe subscription, mapped through the admin's plan ladder; usage and
feature hits as reported; the last order from Stripe's webhooks. All of it is one statement
(`storage.customers.targeting_facts`): this runs on every offers request.
"""

from __future__ import annotations

from dataclasses import dataclass

from plugin.auth import CustomerIdentity
from plugin.catalog import Interval, Plan
from plugin.snapshot import Snapshot
from plugin.storage import Database
from plugin.storage import customers as customer_store
from plugin.storage import offers as offer_store
from plugin.targeting import CustomerContext, PlanState

LIVE_STATUSES = frozenset({"active", "trialing", "past_due"})
_INTERVALS: dict[str | None, Interval] = {
    "day": "day",
    "week": "week",
    "month": "month",
    "year": "year",
}


@dataclass(frozen=True, slots=True)
class CustomerView:
    context: CustomerContext
    stripe_customer: str | None
    plan: Plan | None
    subscription_id: str | None
    offer_state: offer_store.CustomerOfferState


def current_plan(
    items: list[tuple[str, str, str, str | None]], snapshot: Snapshot
) -> tuple[Plan | None, Interval | None, str | None]:
    """(plan, interval, subscription id) of the highest tier among live subscription items."""
    best: tuple[Plan | None, Interval | None, str | None] = (None, None, None)
    for subscription_id, status, price_id, interval in items:
        if status not in LIVE_STATUSES:
            continue
        plan = snapshot.plan_by_price.get(price_id)
        if plan is not None and (best[0] is None or plan.tier > best[0].tier):
            best = (plan, _INTERVALS.get(interval), subscription_id)
    return best


async def view(
    db: Database, *, identity: CustomerIdentity, snapshot: Snapshot, now: int
) -> CustomerView:
    async with db.read() as conn:
        facts = await customer_store.targeting_facts(
            conn,
            customer_id=identity.customer_id,
            token_stripe_customer=identity.stripe_customer,
            since=now - offer_store.HISTORY_DAYS * 86_400,
        )
    record = facts.record
    attrs = {**identity.attrs, **(record.attrs if record else {})}
    signup_at = record.signup_at if record else None
    if signup_at is None and type(identity.attrs.get("signup_at")) is int:
        signup_at = identity.attrs["signup_at"]
    orders = [t for t in (record.last_order_at if record else None, facts.last_order_at) if t]
    plan, interval, subscription_id = current_plan(facts.items, snapshot)
    context = CustomerContext(
        customer_id=identity.customer_id,
        plan=PlanState(
            plan=plan.id if plan else None,
            interval=interval,
            limits=plan.limits if plan else {},
        ),
        attrs=attrs,
        usage=facts.usage,
        feature_hits=facts.feature_hits,
        signup_at=signup_at,
        last_order_at=max(orders) if orders else None,
    )
    state = offer_store.summarise(facts.events, facts.assignments, now=now)
    return CustomerView(context, facts.stripe_customer, plan, subscription_id, state)
