"""Deterministic test data through the public storage functions: the demo catalog of
docs/contract.md (fixed ids, no random strings), plans, offers and customers."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import httpx

from plugin.billing.catalog import Price, Product
from plugin.storage import Database
from plugin.storage import catalog as catalog_store
from tests.support import ADMIN_KEY, NOW, WIDGET_SECRET

ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}

PRODUCTS = {
    "prod_basic": "Basic",
    "prod_pro": "Pro",
    "prod_enterprise": "Enterprise",
    "prod_reports": "Advanced Reports",
}
PRICES = [
    Price("price_basic_monthly", "prod_basic", "usd", 2900, "month"),
    Price("price_basic_annual", "prod_basic", "usd", 29000, "year"),
    Price("price_pro_monthly", "prod_pro", "usd", 9900, "month"),
    Price("price_pro_annual", "prod_pro", "usd", 99000, "year"),
    Price("price_enterprise_monthly", "prod_enterprise", "usd", 29900, "month"),
    Price("price_reports_monthly", "prod_reports", "usd", 1900, "month"),
    Price("price_reports_setup", "prod_reports", "usd", 5000),  # one-time
]
PLANS = {
    "plans": [
        {
            "id": "basic",
            "name": "Basic",
            "tier": 1,
            "prices": ["price_basic_monthly", "price_basic_annual"],
            "limits": {"users": 5, "storage_gb": 10, "integrations": 3},
            "features": ["reports"],
        },
        {
            "id": "pro",
            "name": "Pro",
            "tier": 2,
            "prices": ["price_pro_monthly", "price_pro_annual"],
            "limits": {"users": 25, "storage_gb": 100, "integrations": 10},
            "features": ["reports", "sso"],
        },
        {
            "id": "enterprise",
            "name": "Enterprise",
            "tier": 3,
            "prices": ["price_enterprise_monthly"],
            "limits": {"users": None, "storage_gb": 1000, "integrations": None},
            "features": ["reports", "sso", "audit_log"],
        },
    ]
}


async def seed_catalog(db: Database) -> None:
    async with db.transaction() as conn:
        for product_id, name in PRODUCTS.items():
            await catalog_store.upsert_product(
                conn, product=Product(id=product_id, name=name), now=NOW
            )
        for price in PRICES:
            await catalog_store.upsert_price(conn, price=price, now=NOW)


async def seed_plans(client: httpx.AsyncClient) -> None:
    response = await client.put("/api/v1/admin/plans", json=PLANS, headers=ADMIN)
    assert response.status_code == 200, response.text


def offer_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": "offer_basic_to_pro",
        "name": "Basic to Pro when storage is nearly full",
        "kind": "upgrade",
        "status": "active",
        "placements": ["storage_banner"],
        "target_prices": ["price_pro_monthly"],
        "targeting": {
            "all": [
                {"plan": {"in": ["basic"]}},
                {"usage": {"metric": "storage_gb", "at_least_percent": 80}},
            ]
        },
        "variants": [{"key": "control", "copy": {"title": "Running out of space?"}}],
    }
    body.update(overrides)
    return body


def customer_headers(customer_id: str, *, now: int = NOW, **claims: Any) -> dict[str, str]:
    from plugin.auth import issue_customer_token

    token = issue_customer_token(secret=WIDGET_SECRET, customer_id=customer_id, now=now, **claims)
    return {"Authorization": f"Bearer {token}"}


async def subscribe(
    db: Database,
    *,
    stripe_customer: str,
    price_id: str,
    subscription_id: str | None = None,
    prices: Sequence[Price] = PRICES,
) -> None:
    """Put a live subscription for `price_id` (one of `prices`) in the mirror, as Stripe's
    webhooks would."""
    from plugin.billing.mirror import MirrorItem, MirrorSubscription
    from plugin.storage import subscriptions as subscription_store

    price = next(p for p in prices if p.id == price_id)
    sub_id = subscription_id or f"sub_{stripe_customer.removeprefix('cus_')}"
    subscription = MirrorSubscription(
        id=sub_id,
        customer_id=stripe_customer,
        status="active",
        currency=price.currency,
        items=(
            MirrorItem(
                id=f"si_{sub_id.removeprefix('sub_')}",
                price_id=price.id,
                product_id=price.product_id,
                quantity=1,
                unit_amount=price.unit_amount,
                currency=price.currency,
                interval=price.interval,
            ),
        ),
        current_period_start=NOW - 10 * 86_400,
        current_period_end=NOW + 20 * 86_400,
        trial_end=None,
        cancel_at_period_end=False,
        canceled_at=None,
    )
    async with db.transaction() as conn:
        await subscription_store.upsert(conn, subscription=subscription, now=NOW)


async def add_trial_offer_and_pro_customer(client: httpx.AsyncClient, db: Database) -> None:
    """The 14-day Enterprise trial for Pro customers who hit the gated audit log, and "pro1",
    a Pro customer (who has not hit it yet)."""
    body = offer_body(
        id="offer_enterprise_trial",
        kind="trial",
        trial_days=14,
        placements=["feature_gate"],
        target_prices=["price_enterprise_monthly"],
        targeting={
            "all": [
                {"plan": {"in": ["pro"]}},
                {"feature_hit": {"feature": "audit_log", "within_days": 7}},
            ]
        },
    )
    assert (await client.post("/api/v1/admin/offers", json=body, headers=ADMIN)).status_code == 201
    await client.put("/api/v1/customers/pro1", json={"stripe_customer": "cus_pro1"}, headers=ADMIN)
    await subscribe(db, stripe_customer="cus_pro1", price_id="price_pro_monthly")
