"""A customer as targeting sees them, assembled from what Uplift stores.

Sources, in order of trust: the customer record (`PUT /api/v1/customers/{id}`), then the
token's claims (the SaaS backend signed them seconds ago) for what the record lacks; the plan
from the mirrored Stripe subscription, mapped through the admin's plan ladder; usage, feature
hits and engagement counts as reported; the last order from Stripe's webhooks. All of it is
one statement (`storage.customers.targeting_facts`), read through the process's facts cache
(plugin/customers/facts.py): this runs on every offers request.
"""

from __future__ import annotations

import asyncio
import dataclasses
from dataclasses import dataclass
from typing import NamedTuple

from plugin.auth import CustomerIdentity
from plugin.billing.catalog import Interval, Plan
from plugin.customers import facts as facts_cache
from plugin.customers.answers import KeptAnswers
from plugin.offers.eligibility import CustomerState
from plugin.offers.snapshot import Snapshot
from plugin.offers.targeting import CustomerContext, PlanState
from plugin.storage import Database
from plugin.storage import customers as customer_store
from plugin.storage import offers as offer_store
from plugin.timespan import DAY

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
    feature_uses: dict[str, int] = dataclasses.field(default_factory=dict)  # feature -> hits
    # Where the offers endpoint may keep its answers for this customer, as they stand (None:
    # these facts are not cached). Emptied with the facts: a committed write naming the
    # customer, a new offer snapshot, another token.
    answers: KeptAnswers | None = dataclasses.field(default=None, compare=False)
    currency: str | None = None  # what the live subscription bills in


class CurrentPlan(NamedTuple):
    plan: Plan | None
    interval: Interval | None
    subscription_id: str | None
    currency: str | None  # the plan price's, which is the one the subscription bills in


NO_PLAN = CurrentPlan(None, None, None, None)


def current_plan(items: list[tuple[str, str, str, str | None]], snapshot: Snapshot) -> CurrentPlan:
    """The highest tier among live subscription items."""
    best = NO_PLAN
    for subscription_id, status, price_id, interval in items:
        if status not in LIVE_STATUSES:
            continue
        plan = snapshot.plan_by_price.get(price_id)
        if plan is not None and (best.plan is None or plan.tier > best.plan.tier):
            price = snapshot.prices.get(price_id)
            currency = price.currency if price is not None else None
            best = CurrentPlan(plan, _INTERVALS.get(interval), subscription_id, currency)
    return best


def _same(kept: CustomerIdentity, identity: CustomerIdentity) -> bool:
    """Whether what was made for `kept` holds for `identity`: the same customer and claims.
    Not the expiry (checked on every request before this): a SaaS that signs a fresh token
    per page view keeps its customers' contexts and answers from one view to the next."""
    return kept is identity or (
        kept.customer_id == identity.customer_id
        and kept.stripe_customer == identity.stripe_customer
        and kept.attrs == identity.attrs
    )


def kept_answers(
    db: Database, *, identity: CustomerIdentity, snapshot: Snapshot
) -> KeptAnswers | None:
    """`view(...).answers` when it can be had without reading or building anything: the
    customer's facts are cached and their answers were kept for this snapshot and token.
    The offers endpoint looks here first."""
    cache: facts_cache.FactsCache | None = getattr(db, "facts", None)
    if cache is None:
        return None
    key = (identity.customer_id, identity.stripe_customer)
    entry = cache.peek(key, now=asyncio.get_running_loop().time())
    if entry is None or not _made_for(entry.made, snapshot, identity):
        return None
    return entry.answers


def _made_for(
    made: facts_cache.Made | None, snapshot: Snapshot, identity: CustomerIdentity
) -> bool:
    return made is not None and made.snapshot is snapshot and _same(made.identity, identity)


async def view(
    db: Database, *, identity: CustomerIdentity, snapshot: Snapshot, now: int
) -> CustomerView:
    facts, entry = await facts_cache.read(db, identity, now - offer_store.HISTORY_DAYS * DAY)
    made = entry.made if entry is not None else None
    if made is None or not _made_for(made, snapshot, identity):
        context, current = _context(facts, identity, snapshot)
        made = facts_cache.Made(
            snapshot, identity, context, current.plan, current.subscription_id, current.currency
        )
        if entry is not None:
            entry.made = made
            entry.answers = KeptAnswers()
    if entry is not None:
        state = entry.offer_state(now)
    else:
        state = offer_store.summarise(facts.events, facts.assignments, now=now)
    return CustomerView(
        made.context,
        facts.stripe_customer,
        made.plan,
        made.subscription_id,
        state,
        facts.feature_uses,
        entry.answers if entry is not None else None,
        made.currency,
    )


def _context(
    facts: customer_store.TargetingFacts, identity: CustomerIdentity, snapshot: Snapshot
) -> tuple[CustomerContext, CurrentPlan]:
    record = facts.record
    attrs = {**identity.attrs, **(record.attrs if record else {})}
    signup_at = record.signup_at if record else None
    if signup_at is None and type(identity.attrs.get("signup_at")) is int:
        signup_at = identity.attrs["signup_at"]
    orders = [t for t in (record.last_order_at if record else None, facts.last_order_at) if t]
    current = current_plan(facts.items, snapshot)
    plan = current.plan
    context = CustomerContext(
        customer_id=identity.customer_id,
        plan=PlanState(
            plan=plan.id if plan else None,
            interval=current.interval,
            limits=plan.limits if plan else {},
            currency=current.currency,
        ),
        attrs=attrs,
        usage=facts.usage,
        feature_hits=facts.feature_hits,
        events=facts.event_counts,
        feature_counts=facts.feature_counts,
        signup_at=signup_at,
        last_order_at=max(orders) if orders else None,
        answered=facts.answered,
    )
    return context, current


def customer_context(
    facts: customer_store.TargetingFacts, identity: CustomerIdentity, snapshot: Snapshot
) -> CustomerContext:
    """The customer's targeting context from their facts and token (`view` makes the same)."""
    return _context(facts, identity, snapshot)[0]


async def recorded(
    db: Database, *, customer_id: str, snapshot: Snapshot, now: int
) -> CustomerState | None:
    """One customer as targeting sees them from their record alone (no token: the admin API
    asks), or None when Uplift has no record of them."""
    async with db.read() as conn:
        facts = await customer_store.targeting_facts(
            conn,
            customer_id=customer_id,
            token_stripe_customer=None,
            since=now - offer_store.HISTORY_DAYS * DAY,
        )
    if facts.record is None:
        return None
    identity = CustomerIdentity(customer_id=customer_id, expires_at=now)
    state = offer_store.summarise(facts.events, facts.assignments, now=now)
    return CustomerState(
        context=customer_context(facts, identity, snapshot),
        histories=state.histories,
        recent_impressions=state.recent_impressions,
        assignments=state.assignments,
    )
