"""Stripe event payloads shaped like Stripe's (API 2026-10-28), with fixed ids.

Only the fields Uplift reads plus the envelope; `created` defaults to NOW so every signature
verifies against the pinned clock. Pass a distinct `created` whenever ordering matters.
"""

from __future__ import annotations

import json
from typing import Any

from tests.support import NOW

PRODUCT = "prod_pro"
MONTHLY = "price_pro_monthly"
YEARLY = "price_pro_yearly"
CUSTOMER = "cus_alice"
SUBSCRIPTION = "sub_alice"


def event(
    type: str, obj: dict[str, Any], *, id: str, created: int = NOW, **extra: Any
) -> dict[str, Any]:
    return {
        "id": id,
        "object": "event",
        "api_version": "2026-10-28.endive",
        "type": type,
        "created": created,
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
        "data": {"object": obj, **extra},
    }


def body(document: dict[str, Any]) -> bytes:
    return json.dumps(document, separators=(",", ":")).encode()


def price(
    id: str = MONTHLY,
    *,
    unit_amount: int = 9900,
    interval: str | None = "month",
    interval_count: int = 1,
    currency: str = "usd",
    product: str = PRODUCT,
    active: bool = True,
) -> dict[str, Any]:
    return {
        "id": id,
        "object": "price",
        "active": active,
        "currency": currency,
        "product": product,
        "unit_amount": unit_amount,
        "recurring": (
            {"interval": interval, "interval_count": interval_count} if interval else None
        ),
        "lookup_key": None,
        "metadata": {},
        "type": "recurring" if interval else "one_time",
    }


def subscription(
    id: str = SUBSCRIPTION,
    *,
    customer: str = CUSTOMER,
    status: str = "active",
    price_obj: dict[str, Any] | None = None,
    quantity: int = 1,
    item_id: str = "si_alice",
    period: tuple[int, int] = (NOW, NOW + 30 * 86400),
    trial_end: int | None = None,
    cancel_at_period_end: bool = False,
    canceled_at: int | None = None,
) -> dict[str, Any]:
    item_price = price_obj or price()
    return {
        "id": id,
        "object": "subscription",
        "customer": customer,
        "status": status,
        "currency": item_price["currency"],
        "items": {
            "object": "list",
            "data": [
                {
                    "id": item_id,
                    "object": "subscription_item",
                    "price": item_price,
                    "quantity": quantity,
                    "current_period_start": period[0],
                    "current_period_end": period[1],
                    "subscription": id,
                }
            ],
            "has_more": False,
        },
        "trial_end": trial_end,
        "cancel_at_period_end": cancel_at_period_end,
        "canceled_at": canceled_at,
        "metadata": {},
    }


def invoice(
    id: str = "in_first",
    *,
    subscription: str | None = SUBSCRIPTION,
    customer: str = CUSTOMER,
    billing_reason: str = "subscription_create",
    amount_paid: int = 9900,
) -> dict[str, Any]:
    return {
        "id": id,
        "object": "invoice",
        "customer": customer,
        "billing_reason": billing_reason,
        "currency": "usd",
        "amount_paid": amount_paid,
        "total": amount_paid,
        "hosted_invoice_url": f"https://invoice.stripe.test/{id}",
        "parent": {
            "type": "subscription_details",
            "subscription_details": {"subscription": subscription},
        },
    }


def checkout_session(
    id: str = "cs_alice", *, subscription: str | None = SUBSCRIPTION, amount_total: int = 9900
) -> dict[str, Any]:
    return {
        "id": id,
        "object": "checkout.session",
        "customer": CUSTOMER,
        "subscription": subscription,
        "mode": "subscription" if subscription else "payment",
        "currency": "usd",
        "amount_total": amount_total,
        "payment_status": "paid",
    }


def product(id: str = PRODUCT, *, name: str = "Pro", active: bool = True) -> dict[str, Any]:
    return {"id": id, "object": "product", "name": name, "active": active, "metadata": {}}


def burst(count: int, tag: str) -> list[dict[str, Any]]:
    """`count` events: a third new subscriptions, a third checkout orders, a third types Uplift
    ignores; every id carries `tag`, so bursts of different tests never collide."""
    events = []
    for i in range(count):
        if i % 3 == 0:
            obj = subscription(f"sub_{tag}_{i}", customer=f"cus_{tag}_{i}", item_id=f"si_{tag}{i}")
            events.append(event("customer.subscription.created", obj, id=f"evt_{tag}_{i}"))
        elif i % 3 == 1:
            obj = checkout_session(f"cs_{tag}_{i}", subscription=None)
            events.append(event("checkout.session.completed", obj, id=f"evt_{tag}_{i}"))
        else:
            events.append(event("payout.paid", {"id": f"po_{tag}{i}"}, id=f"evt_{tag}_{i}"))
    return events
