"""`GET /api/v1/widget/plans`: the plan ladder for the widget's pricing table, with the
customer's plan, interval and currency, from the offer snapshot and the customer's facts."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from plugin.billing.catalog import Price, Product, Tier
from plugin.ratelimit import RateLimiter
from plugin.storage import Database
from plugin.storage import catalog as catalog_store
from tests.factories import ADMIN, PLANS, PRICES, customer_headers, seed_catalog, subscribe
from tests.support import NOW

# Basic in euros too (its yearly price saves 2,400, not a whole number of months), Pro's
# monthly price only.
EURO_PRICES = [
    Price("price_basic_monthly_eur", "prod_basic", "eur", 2700, "month"),
    Price("price_basic_annual_eur", "prod_basic", "eur", 30000, "year"),
    Price("price_pro_monthly_eur", "prod_pro", "eur", 8900, "month"),
]
EURO_PLAN_PRICES = {
    "basic": ["price_basic_monthly_eur", "price_basic_annual_eur"],
    "pro": ["price_pro_monthly_eur"],
}
# Prices a pricing table cannot show as one amount a period, or at all.
UNUSABLE_PRICES = [
    Price(
        "price_custom_tiered", "prod_custom", "usd", None, "month", billing_scheme="tiered",
        tiers_mode="volume", tiers=(Tier(up_to=None, unit_amount=Decimal(500)),),
    ),
    Price("price_custom_metered", "prod_custom", "usd", 10, "month", usage_type="metered"),
    Price("price_custom_retired", "prod_custom", "usd", 49900, "month", active=False),
    Price("price_custom_setup", "prod_custom", "usd", 100000),  # one-time
]  # fmt: skip
CUSTOM_PLAN = {
    "id": "custom", "name": "Custom", "tier": 4, "prices": [p.id for p in UNUSABLE_PRICES],
    "limits": {"users": None}, "features": ["reports", "sso", "audit_log", "sla"],
}  # fmt: skip


def _ladder_body(*extra: dict[str, Any]) -> dict[str, Any]:
    """The factories' ladder with the euro prices, highest tier first: the answer's order is
    the tiers', not the order the admin sent."""
    ladder: list[dict[str, Any]] = PLANS["plans"]
    plans = [
        {**plan, "prices": plan["prices"] + EURO_PLAN_PRICES.get(plan["id"], [])} for plan in ladder
    ]
    return {"plans": [*reversed(plans), *extra]}


@pytest.fixture
async def pricing(client: httpx.AsyncClient, db: Database) -> httpx.AsyncClient:
    """The factories' catalog with euro prices and prices no table can show; the ladder;
    Acme on Basic monthly (USD), Emma on Basic monthly in euros."""
    await seed_catalog(db)
    async with db.transaction() as conn:
        await catalog_store.upsert_product(conn, product=Product("prod_custom", "Custom"), now=NOW)
        for price in EURO_PRICES + UNUSABLE_PRICES:
            await catalog_store.upsert_price(conn, price=price, now=NOW)
    placed = await client.put("/api/v1/admin/plans", json=_ladder_body(), headers=ADMIN)
    assert placed.status_code == 200, placed.text
    for customer, price_id in (
        ("acme", "price_basic_monthly"),
        ("emma", "price_basic_monthly_eur"),
    ):
        body = {"stripe_customer": f"cus_{customer}"}
        await client.put(f"/api/v1/customers/{customer}", json=body, headers=ADMIN)
        await subscribe(
            db, stripe_customer=f"cus_{customer}", price_id=price_id,
            prices=PRICES + EURO_PRICES,
        )  # fmt: skip
    return client


async def ladder_for(client: httpx.AsyncClient, customer: str) -> dict[str, Any]:
    response = await client.get("/api/v1/widget/plans", headers=customer_headers(customer))
    assert response.status_code == 200, response.text
    document: dict[str, Any] = response.json()
    return document


def _plans(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {plan["id"]: plan for plan in document["plans"]}


def _price_ids(plan: dict[str, Any]) -> list[str]:
    return [price["price"] for price in plan["prices"]]


async def test_the_ladder_is_listed_by_tier_with_features_and_limits(
    pricing: httpx.AsyncClient,
) -> None:
    """Every plan of the ladder, lowest tier first, with its name, features and limits (null:
    unlimited); Acme's own plan whole: its USD prices in the plan's order, the monthly one
    current, and the yearly saving."""
    document = await ladder_for(pricing, "acme")
    assert document["object"] == "plan_ladder"
    assert [(p["object"], p["id"], p["name"], p["tier"]) for p in document["plans"]] == [
        ("widget_plan", "basic", "Basic", 1),
        ("widget_plan", "pro", "Pro", 2),
        ("widget_plan", "enterprise", "Enterprise", 3),
    ]
    basic, pro, enterprise = document["plans"]
    assert basic == {
        "object": "widget_plan", "id": "basic", "name": "Basic", "tier": 1,
        "features": ["reports"], "limits": {"users": 5, "storage_gb": 10, "integrations": 3},
        "current": True,
        "prices": [
            {"price": "price_basic_annual", "currency": "usd", "unit_amount": 29000,
             "interval": "year", "interval_count": 1, "current": False},
            {"price": "price_basic_monthly", "currency": "usd", "unit_amount": 2900,
             "interval": "month", "interval_count": 1, "current": True},
        ],
        "yearly_saving": {"amount": 5800, "free_months": 2},
    }  # fmt: skip
    assert pro["features"] == ["reports", "sso"]
    assert enterprise["features"] == ["reports", "sso", "audit_log"]
    assert enterprise["limits"] == {"users": None, "storage_gb": 1000, "integrations": None}


@pytest.mark.parametrize(
    ("price_id", "plan", "interval"),
    [
        ("price_basic_monthly", "basic", "month"),
        ("price_basic_annual", "basic", "year"),
        ("price_pro_monthly", "pro", "month"),
    ],
    ids=["basic monthly", "basic annual", "pro monthly"],
)
async def test_the_customers_plan_and_price_are_the_current_ones(
    pricing: httpx.AsyncClient, db: Database, price_id: str, plan: str, interval: str
) -> None:
    """A subscribed customer's plan is `current`, and of its prices the one billed at their
    interval; no other plan or price is."""
    await pricing.put("/api/v1/customers/sub", json={"stripe_customer": "cus_sub"}, headers=ADMIN)
    await subscribe(db, stripe_customer="cus_sub", price_id=price_id)
    document = await ladder_for(pricing, "sub")
    assert (document["currency"], document["current_plan"], document["current_interval"]) == (
        "usd",
        plan,
        interval,
    )
    assert [p["id"] for p in document["plans"] if p["current"]] == [plan]
    current = [x["price"] for p in document["plans"] for x in p["prices"] if x["current"]]
    assert current == [price_id]


async def test_only_prices_in_the_customers_currency_are_listed(pricing: httpx.AsyncClient) -> None:
    """A customer billed in euros sees the euro prices only (a plan with none lists none),
    one billed in dollars the dollar prices only."""
    emma = await ladder_for(pricing, "emma")
    assert (emma["currency"], emma["current_plan"], emma["current_interval"]) == (
        "eur",
        "basic",
        "month",
    )
    by_id = _plans(emma)
    assert _price_ids(by_id["basic"]) == ["price_basic_annual_eur", "price_basic_monthly_eur"]
    assert _price_ids(by_id["pro"]) == ["price_pro_monthly_eur"]
    assert _price_ids(by_id["enterprise"]) == []
    assert [x["current"] for x in by_id["basic"]["prices"]] == [False, True]
    acme = await ladder_for(pricing, "acme")
    assert {x["currency"] for p in acme["plans"] for x in p["prices"]} == {"usd"}
    assert _price_ids(_plans(acme)["pro"]) == ["price_pro_annual", "price_pro_monthly"]


async def test_the_yearly_saving_is_twelve_monthly_payments_less_the_yearly_price(
    pricing: httpx.AsyncClient,
) -> None:
    """Against the plan's monthly price in the same currency: whole months when it is a whole
    number of them (`free_months`), null without both a yearly and a monthly price."""
    acme = _plans(await ladder_for(pricing, "acme"))
    assert acme["basic"]["yearly_saving"] == {"amount": 12 * 2900 - 29000, "free_months": 2}
    assert acme["pro"]["yearly_saving"] == {"amount": 12 * 9900 - 99000, "free_months": 2}
    assert acme["enterprise"]["yearly_saving"] is None  # monthly only
    emma = _plans(await ladder_for(pricing, "emma"))
    assert emma["basic"]["yearly_saving"] == {"amount": 12 * 2700 - 30000, "free_months": None}
    assert emma["pro"]["yearly_saving"] is None  # no yearly price in euros


async def test_a_customer_without_a_subscription_sees_every_currency_and_nothing_current(
    pricing: httpx.AsyncClient,
) -> None:
    """No live subscription: no currency, plan or interval, nothing current, and every
    currency's prices (the saving is the first yearly price's, against its currency's
    monthly one)."""
    document = await ladder_for(pricing, "stranger")
    assert (document["currency"], document["current_plan"], document["current_interval"]) == (
        None,
        None,
        None,
    )
    assert not any(p["current"] for p in document["plans"])
    assert not any(x["current"] for p in document["plans"] for x in p["prices"])
    basic = _plans(document)["basic"]
    assert _price_ids(basic) == [
        "price_basic_annual", "price_basic_annual_eur", "price_basic_monthly",
        "price_basic_monthly_eur",
    ]  # fmt: skip
    assert basic["yearly_saving"] == {"amount": 5800, "free_months": 2}


async def test_a_plan_without_a_usable_price_is_listed_without_prices(
    pricing: httpx.AsyncClient,
) -> None:
    """A plan whose prices are tiered, metered, retired or one-time is still on the ladder,
    with no price and no saving: the table shows it without one."""
    placed = await pricing.put("/api/v1/admin/plans", json=_ladder_body(CUSTOM_PLAN), headers=ADMIN)
    assert placed.status_code == 200, placed.text
    for customer in ("acme", "stranger"):
        custom = _plans(await ladder_for(pricing, customer))["custom"]
        assert (custom["tier"], custom["current"], custom["prices"]) == (4, False, [])
        assert custom["yearly_saving"] is None
        assert custom["features"] == ["reports", "sso", "audit_log", "sla"]


async def test_the_ladder_follows_a_change_of_the_plans(pricing: httpx.AsyncClient) -> None:
    """An admin's change of the ladder is in the next answer, for a customer who has already
    been answered."""
    before = await ladder_for(pricing, "acme")
    assert "custom" not in _plans(before)
    placed = await pricing.put("/api/v1/admin/plans", json=_ladder_body(CUSTOM_PLAN), headers=ADMIN)
    assert placed.status_code == 200, placed.text
    after = await ladder_for(pricing, "acme")
    assert [p["id"] for p in after["plans"]] == ["basic", "pro", "enterprise", "custom"]


@pytest.mark.parametrize(
    ("headers", "code"),
    [
        ({}, "unauthorized"),
        ({"Authorization": "Bearer not.a.token"}, "invalid_token"),
        (customer_headers("acme", now=NOW - 3600), "token_expired"),
        (ADMIN, "invalid_token"),  # an admin key is not a customer token
    ],
    ids=["none", "garbage", "expired", "admin key"],
)
async def test_the_ladder_needs_a_customer_token(
    pricing: httpx.AsyncClient, headers: dict[str, str], code: str
) -> None:
    """Without a valid customer token: a 401 in the error shape, with the Bearer challenge."""
    response = await pricing.get("/api/v1/widget/plans", headers=headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.json()["error"]["code"] == code


async def test_the_ladder_counts_against_the_customers_rate_limit(
    pricing: httpx.AsyncClient, app: Starlette
) -> None:
    """The same budget as the widget's other routes: after the burst, a 429 with Retry-After."""
    app.state.services.customer_limiter = RateLimiter(rate=0.001, burst=1)
    headers = customer_headers("acme")
    assert (await pricing.get("/api/v1/widget/offers", headers=headers)).status_code == 200
    limited = await pricing.get("/api/v1/widget/plans", headers=headers)
    assert limited.status_code == 429
    assert limited.json()["error"]["code"] == "rate_limited"
    assert "retry-after" in limited.headers
