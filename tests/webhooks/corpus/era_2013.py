"""A subscription from before subscription items: one plan and a quantity on the subscription.

Stripe keeps rendering this shape to endpoints pinned to the API versions of that time.
"""

from __future__ import annotations

from typing import Any

from tests.webhooks.corpus import CUSTOMER, PERIOD, Case, Mirror, envelope

# source: https://docs.stripe.com/changelog/2014-01-31/customers-support-multiple-subscriptions
# (subscriptions became their own objects, each with one `plan` and a `quantity`)
VERSION = "2014-01-31"


def _plan() -> dict[str, Any]:
    # source: https://docs.stripe.com/changelog/2018-02-05/plans-link-individual-products-several-fields-moved
    # (before 2018-02-05 a plan carried its own `name` and no `product`)
    return {
        "id": "gold",
        "object": "plan",
        "amount": 2000,
        "currency": "usd",
        "interval": "month",
        "interval_count": 1,
        "name": "Gold",
        "livemode": False,
        "metadata": {},
        "trial_period_days": None,
    }


def _subscription(status: str, quantity: int) -> dict[str, Any]:
    return {
        "id": "sub_2013",
        "object": "subscription",
        "customer": CUSTOMER,
        # assumed: no `items` list, which came with multiple plans per subscription later
        "plan": _plan(),
        "quantity": quantity,
        "status": status,
        "start": PERIOD[0],
        "current_period_start": PERIOD[0],
        "current_period_end": PERIOD[1],
        "trial_start": None,
        "trial_end": None,
        "cancel_at_period_end": False,
        "canceled_at": None,
        "ended_at": None,
    }


def cases() -> list[Case]:
    def event(type: str, status: str, quantity: int, n: int) -> dict[str, Any]:
        obj = _subscription(status, quantity)
        return envelope(VERSION, type, obj, id=f"evt_2013_{n}", legacy_request=True)

    item = ("sub_2013:plan",)
    return [
        Case(
            "no-items-created",
            VERSION,
            event("customer.subscription.created", "active", 2, 1),
            Mirror("active", 4000, item, products=(None,)),
            frozenset({"no-items", "legacy-plan", "seats"}),
        ),
        Case(
            "no-items-updated-past-due",
            VERSION,
            event("customer.subscription.updated", "past_due", 1, 2),
            Mirror("past_due", 2000, item, products=(None,)),
            frozenset({"no-items", "past_due"}),
        ),
        Case(
            "no-items-deleted",
            VERSION,
            event("customer.subscription.deleted", "canceled", 1, 3),
            Mirror("canceled", 0, item, products=(None,)),
            frozenset({"no-items", "canceled"}),
        ),
    ]
