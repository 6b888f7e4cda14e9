"""A customer as targeting sees them, assembled from what Uplift stores.

Sources, in order of trust: the customer record (`PUT /api/v1/customers/{id}`), then the
token's claims (the SaaS backend signed them seconds ago) for what the record lacks; the plan
from the mirrored Stripe subscription, mapped through the admin's plan ladder; usage and
feature hits as reported; the last order from Stripe's webhooks.
"""

from __future__ import annotations

from dataclasses import dataclass

from plugin.auth import CustomerIdentity
from plugin.catalog import Interval, Plan
from plugin.snapshot import Snapshot
from plugin.storage import Connection, Database
from plugin.storage import customers as customer_store
from plugin.storage import offers as offer_store
from plugin.storage import subscriptions as subscription_store
from plugin.targeting import CustomerContext, PlanState

LIVE_STATUSES = frozenset({"active", "trialing", "past_due"})


@dataclass(frozen=True, slots=True)
class CustomerView:
    context: CustomerContext
    stripe_customer: str | None
    plan: Plan | None
    subscription_id: str | None
    offer_state: offer_store.CustomerOfferState


async def current_plan(
    db: Database, *, stripe_customer: str | None, snapshot: Snapshot
) -> tuple[Plan | None, str | None, str | None]:
    """(plan, interval, subscription id) of the customer's live subscription on the ladder."""
    if stripe_customer is None:
        return None, None, None
    best: tuple[Plan | None, str | None, str | None] = (None, None, None)
    for sub in await subscription_store.list_for_customer(db, customer_id=stripe_customer):
        if sub.status not in LIVE_STATUSES:
            continue
        for item in sub.items:
            plan = snapshot.plan_by_price.get(item.price_id)
            if plan is not None and (best[0] is None or plan.tier > best[0].tier):
                best = (plan, item.interval, sub.id)
    return best


async def view(
    db: Database, *, identity: CustomerIdentity, snapshot: Snapshot, now: int
) -> CustomerView:
    async with db.read() as conn:
        record = await customer_store.get(conn, identity.customer_id)
        usage = await customer_store.usage(conn, identity.customer_id)
        hits = await customer_store.feature_hits(conn, identity.customer_id)
        offer_state = await offer_store.customer_state(
            conn, customer_id=identity.customer_id, now=now
        )
        stripe_customer = (record.stripe_customer if record else None) or identity.stripe_customer
        last_order = await _last_order(conn, record, stripe_customer)
    attrs = {**identity.attrs, **(record.attrs if record else {})}
    signup_at = record.signup_at if record and record.signup_at is not None else None
    if signup_at is None and isinstance(identity.attrs.get("signup_at"), int):
        signup_at = identity.attrs["signup_at"]
    plan, interval, subscription_id = await current_plan(
        db, stripe_customer=stripe_customer, snapshot=snapshot
    )
    context = CustomerContext(
        customer_id=identity.customer_id,
        plan=PlanState(
            plan=plan.id if plan else None,
            interval=_interval(interval),
            limits=plan.limits if plan else {},
        ),
        attrs=attrs,
        usage=usage,
        feature_hits=hits,
        signup_at=signup_at,
        last_order_at=last_order,
    )
    return CustomerView(context, stripe_customer, plan, subscription_id, offer_state)


_INTERVALS: dict[str | None, Interval] = {
    "day": "day",
    "week": "week",
    "month": "month",
    "year": "year",
}


def _interval(value: str | None) -> Interval | None:
    return _INTERVALS.get(value)


async def _last_order(
    conn: Connection, record: customer_store.CustomerRecord | None, stripe_customer: str | None
) -> int | None:
    times = [record.last_order_at] if record and record.last_order_at else []
    if stripe_customer is not None:
        latest = await customer_store.latest_order_at(conn, stripe_customer=stripe_customer)
        if latest is not None:
            times.append(latest)
    return max(times) if times else None
