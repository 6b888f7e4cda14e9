"""Who gets which offer's email now, and what it says to them (pure; `now` passed in).

An offer with an email channel is emailed to a customer when its targeting first holds for
them: the same gates the widget applies (`explain.exclusion`: status, schedule, what they
already own, accepted, caps and cooldowns, then the targeting), not in the experiment's
holdout, with room left in the customer's shared budget of offers per 24 hours (an email counts
as an impression there, as a banner does), never twice for one offer (the caller passes who
had it), never to a suppressed customer, and never without an `email` attribute holding an
address. "First holds" follows from the rules themselves: limit approaching (`usage`), trial
ending (a `trial` offer's timing), N minutes after an order (`order`), a downgrade request
(`feedback` on the retention offer) — each is true from some moment on, and the first pass
after that moment sends.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass

from plugin.billing.catalog import Plan, Price
from plugin.billing.money import Money
from plugin.offers import eligibility, experiments, schedule, targeting
from plugin.offers.eligibility import CustomerState
from plugin.offers.explain import categorize, exclusion
from plugin.offers.model import Offer
from plugin.offers.relevance import Ladder

# A deliverable-looking address: one @, no spaces or angle brackets (the SMTP server decides
# the rest; a bad one bounces and is retried no further than a permanent failure).
_ADDRESS = re.compile(r"^[^@\s<>\"]{1,64}@[^@\s<>\"]{1,255}$")


@dataclass(frozen=True, slots=True)
class Due:
    offer: Offer
    customer_id: str
    variant: str
    address: str


def address_of(state: CustomerState) -> str | None:
    value = state.context.attrs.get("email")
    if isinstance(value, str) and _ADDRESS.match(value.strip()):
        return value.strip()
    return None


def due(
    offers: Iterable[Offer],
    population: Iterable[CustomerState],
    *,
    sent: Mapping[str, Collection[str]],
    suppressed: Collection[str],
    now: int,
    ladder: Ladder,
    max_per_day: int | None = eligibility.MAX_PER_DAY,
) -> Iterator[Due]:
    """The emails to decide now: for each live offer with an email channel, each customer it
    holds for who has not had it (`sent[offer_id]`)."""
    emailed = [o for o in offers if o.email is not None and o.live(now)]
    if not emailed:
        return
    states = list(population)
    budget: dict[str, int] = {}  # emails decided in this pass, per customer
    for offer in emailed:
        had = sent.get(offer.id, ())
        why = categorize(offer.targeting)
        for state in states:
            customer = state.context.customer_id
            if customer in had or customer in suppressed:
                continue
            address = address_of(state)
            if address is None:
                continue
            if exclusion(offer, state, now=now, ladder=ladder, why=why) is not None:
                continue
            arm = state.assignments.get(offer.id) or offer.arm_for(customer)
            if arm == experiments.HOLDOUT or arm not in offer.by_key:
                continue
            left = schedule.remaining_today(max_per_day, state.recent_impressions, now=now)
            if left is not None and left - budget.get(customer, 0) <= 0:
                continue
            budget[customer] = budget.get(customer, 0) + 1
            yield Due(offer, customer, arm, address)


def variables(
    due: Due,
    state: CustomerState,
    *,
    plans: Sequence[Plan],
    prices: Mapping[str, Price],
    link: str,
    unsubscribe_url: str,
) -> dict[str, str]:
    """`model.EMAIL_VARIABLES` for one customer: text, filled in by the sandboxed templates
    (HTML-escaped in the HTML body). `plans` and `prices`: the offer snapshot's."""
    offer, context = due.offer, state.context
    copy = offer.by_key[due.variant].copy
    name = context.attrs.get("name")
    plan = next((p for p in plans if p.id == context.plan.plan), None)
    price = ""
    for price_id in offer.target_prices:
        found = prices.get(price_id)
        if found is not None and found.unit_amount is not None:
            price = Money(found.unit_amount, found.currency).format()
            break
    metric, used, limit = _usage(offer, state)
    return {
        "customer_id": due.customer_id,
        "name": name if isinstance(name, str) else "",
        "email": due.address,
        "title": copy.title,
        "body": copy.body,
        "cta": copy.cta,
        "plan": plan.name if plan is not None else "",
        "price": price,
        "metric": metric,
        "used": used,
        "limit": limit,
        "trial_days": "" if offer.trial_days is None else str(offer.trial_days),
        "link": link,
        "unsubscribe_url": unsubscribe_url,
    }


def _usage(offer: Offer, state: CustomerState) -> tuple[str, str, str]:
    metric = targeting.usage_metric(offer.targeting)
    if metric is None:
        return "", "", ""
    used = state.context.usage.get(metric)
    limit = state.context.plan.limits.get(metric)
    return metric, "" if used is None else str(used), "" if limit is None else str(limit)
