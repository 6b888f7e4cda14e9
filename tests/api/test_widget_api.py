"""The widget's API: offers chosen for the token's customer, events that drive caps."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from plugin.clock import FixedClock
from plugin.offers import experiments
from plugin.ratelimit import RateLimiter
from plugin.storage import Database
from plugin.storage import offers as offer_store
from tests.factories import (
    ADMIN,
    add_trial_offer_and_pro_customer,
    customer_headers,
    offer_body,
    subscribe,
)
from tests.support import NOW


async def offers_for(
    client: httpx.AsyncClient, customer: str, placement: str = "storage_banner"
) -> list[dict[str, Any]]:
    response = await client.get(
        f"/api/v1/widget/offers?placement={placement}", headers=customer_headers(customer)
    )
    assert response.status_code == 200, response.text
    data: list[dict[str, Any]] = response.json()["data"]
    return data


async def test_targeted_customer_sees_the_offer_with_display_prices(
    shop: httpx.AsyncClient,
) -> None:
    """Basic customer near the storage limit gets Basic→Pro, priced from the catalog."""
    (offer,) = await offers_for(shop, "acme")
    assert offer["offer_id"] == "offer_basic_to_pro"
    assert offer["variant"] == "control"
    assert offer["copy"]["title"] == "Running out of space?"
    assert offer["prices"] == [
        {
            "price": "price_pro_monthly",
            "currency": "usd",
            "unit_amount": 9900,
            "display": "$99.00",
            "interval": "month",
            "interval_count": 1,
        }
    ]


async def test_usage_offer_says_how_much_of_the_plan_limit_is_used(
    shop: httpx.AsyncClient,
) -> None:
    """An offer targeted on usage carries the customer's usage against their plan's limit
    (what the banner says); an offer with no usage rule carries none."""
    (offer,) = await offers_for(shop, "acme")
    assert offer["usage"] == {"metric": "storage_gb", "used": 9, "limit": 10}
    body = offer_body(
        id="offer_annual", kind="interval_switch", target_prices=["price_basic_annual"],
        targeting={"plan": {"in": ["basic"]}}, placements=["billing"],
    )  # fmt: skip
    assert (await shop.post("/api/v1/admin/offers", json=body, headers=ADMIN)).status_code == 201
    (annual,) = await offers_for(shop, "acme", placement="billing")
    assert annual["usage"] is None


async def test_others_see_nothing(shop: httpx.AsyncClient, db: Database) -> None:
    """Another placement, a customer below the threshold or already on Pro: no offer."""
    assert await offers_for(shop, "acme", placement="settings") == []
    assert await offers_for(shop, "stranger") == []
    await shop.put("/api/v1/customers/big", json={"stripe_customer": "cus_big"}, headers=ADMIN)
    await subscribe(db, stripe_customer="cus_big", price_id="price_pro_monthly")
    assert await offers_for(shop, "big") == []


async def test_first_exposure_records_a_sticky_arm(
    shop: httpx.AsyncClient, db: Database, app: Starlette
) -> None:
    """The arm is written once, on first exposure (after the response, in a batch); later
    requests only read."""
    await offers_for(shop, "acme")
    await offers_for(shop, "acme")
    await app.state.services.exposures.flush()
    async with db.read() as conn:
        state = await offer_store.customer_state(conn, customer_id="acme", now=NOW)
        counts = await offer_store.arm_counts(
            conn, offer_id="offer_basic_to_pro", arms=["control", experiments.HOLDOUT]
        )
    assert state.assignments == {"offer_basic_to_pro": "control"}
    assert [(c.arm, c.exposed) for c in counts] == [("control", 1), ("holdout", 0)]


async def test_decline_starts_a_cooldown(shop: httpx.AsyncClient, clock: FixedClock) -> None:
    """After "No thanks" the offer rests for the decline cooldown (7 days by default)."""
    event = {"offer_id": "offer_basic_to_pro", "variant": "control", "type": "decline"}
    response = await shop.post(
        "/api/v1/widget/events", json=event, headers=customer_headers("acme")
    )
    assert response.status_code == 201, response.text
    assert await offers_for(shop, "acme") == []
    clock.advance(7 * 86_400)
    headers = customer_headers("acme", now=clock.now())
    response = await shop.get("/api/v1/widget/offers?placement=storage_banner", headers=headers)
    assert [o["offer_id"] for o in response.json()["data"]] == ["offer_basic_to_pro"]


async def test_impression_cap_limits_showings(shop: httpx.AsyncClient) -> None:
    """With at most 2 impressions a day, the third request shows nothing."""
    await shop.patch(
        "/api/v1/admin/offers/offer_basic_to_pro",
        json={"frequency": {"max_impressions": 2}},
        headers=ADMIN,
    )
    event = {"offer_id": "offer_basic_to_pro", "variant": "control", "type": "impression"}
    for _ in range(2):
        assert len(await offers_for(shop, "acme")) == 1
        await shop.post("/api/v1/widget/events", json=event, headers=customer_headers("acme"))
    assert await offers_for(shop, "acme") == []


async def test_results_count_the_funnel(shop: httpx.AsyncClient) -> None:
    """Exposed → clicked per arm, with the holdout alongside."""
    await offers_for(shop, "acme")
    for kind in ("impression", "click"):
        await shop.post(
            "/api/v1/widget/events",
            json={"offer_id": "offer_basic_to_pro", "variant": "control", "type": kind},
            headers=customer_headers("acme"),
        )
    results = (
        await shop.get("/api/v1/admin/offers/offer_basic_to_pro/results", headers=ADMIN)
    ).json()
    control = results["arms"][0]
    assert (control["arm"], control["exposed"], control["clicked"], control["paid"]) == (
        "control",
        1,
        1,
        0,
    )
    assert results["arms"][1]["arm"] == "holdout"
    assert results["warning"].startswith("fewer than 100 exposures")


@pytest.mark.parametrize(
    ("event", "status", "field"),
    [
        ({"offer_id": "offer_nope", "variant": "control", "type": "click"}, 404, None),
        ({"offer_id": "offer_basic_to_pro", "variant": "zzz", "type": "click"}, 422, "variant"),
        ({"offer_id": "offer_basic_to_pro", "variant": "control", "type": "accept"}, 422, "type"),
    ],
    ids=["unknown offer", "unknown variant", "accept is not a widget event"],
)
async def test_bad_events_are_refused(
    shop: httpx.AsyncClient, event: dict[str, str], status: int, field: str | None
) -> None:
    """Events name an active offer and its variant; accepts go through quotes, not here."""
    response = await shop.post(
        "/api/v1/widget/events", json=event, headers=customer_headers("acme")
    )
    assert response.status_code == status
    assert response.json()["error"].get("field") == field


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer not.a.token"},
        customer_headers("acme", now=NOW - 3600),  # expired
        ADMIN,  # an admin key is not a customer token
    ],
    ids=["none", "garbage", "expired", "admin key"],
)
async def test_widget_needs_a_valid_customer_token(
    shop: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    """Unsigned, expired or tampered tokens get 401."""
    response = await shop.get("/api/v1/widget/offers", headers=headers)
    assert response.status_code == 401


async def test_post_order_offer_shows_only_right_after_an_order(
    shop: httpx.AsyncClient, db: Database, clock: FixedClock
) -> None:
    """A Stripe order (from the webhooks' orders) opens a 30-minute window for the cross-sell."""
    from plugin.storage import orders as order_store

    body = offer_body(
        id="offer_reports_post_order",
        kind="post_order",
        placements=["post_order"],
        target_prices=["price_reports_monthly"],
        discount={"percent_off": 30, "duration_months": 3},
        targeting={"order": {"within_minutes": 30}},
        variants=[{"key": "control", "copy": {"title": "Add Advanced Reports?"}}],
    )
    assert (await shop.post("/api/v1/admin/offers", json=body, headers=ADMIN)).status_code == 201
    assert await offers_for(shop, "acme", placement="post_order") == []
    async with db.transaction() as conn:
        await order_store.record(
            conn, key="sub_acme", customer_id="cus_acme", subscription_id="sub_acme",
            checkout_session_id=None, invoice_id="in_1", currency="usd", amount_total=2900,
            created_at=NOW - 60, now=NOW,
        )  # fmt: skip
    (offer,) = await offers_for(shop, "acme", placement="post_order")
    assert offer["prices"][0]["discounted_amount"] == 1330  # $19 less 30 %
    assert offer["prices"][0]["discounted_display"] == "$13.30"
    assert offer["prices"][0]["discount_months"] == 3
    clock.advance(31 * 60)
    response = await shop.get(
        "/api/v1/widget/offers?placement=post_order",
        headers=customer_headers("acme", now=clock.now()),
    )
    assert response.json()["data"] == []


async def test_trial_offer_follows_a_gated_feature_hit(
    shop: httpx.AsyncClient, db: Database
) -> None:
    """Pro customers who hit a gated feature get the Enterprise trial; others do not."""
    await add_trial_offer_and_pro_customer(shop, db)
    assert await offers_for(shop, "pro1", placement="feature_gate") == []
    await shop.post(
        "/api/v1/feature-events", json={"customer": "pro1", "feature": "audit_log"}, headers=ADMIN
    )
    (offer,) = await offers_for(shop, "pro1", placement="feature_gate")
    assert (offer["kind"], offer["trial_days"]) == ("trial", 14)
    await shop.post(
        "/api/v1/feature-events", json={"customer": "acme", "feature": "audit_log"}, headers=ADMIN
    )
    assert await offers_for(shop, "acme", placement="feature_gate") == []  # Basic, not Pro


async def test_interval_switch_is_not_offered_to_annual_customers(
    shop: httpx.AsyncClient, db: Database
) -> None:
    """Monthly customers see "switch to annual"; customers already on annual do not."""
    body = offer_body(
        id="offer_basic_annual",
        kind="interval_switch",
        placements=["billing"],
        target_prices=["price_basic_annual"],
        targeting={"plan": {"in": ["basic"]}},
    )
    assert (await shop.post("/api/v1/admin/offers", json=body, headers=ADMIN)).status_code == 201
    assert [o["offer_id"] for o in await offers_for(shop, "acme", placement="billing")] == [
        "offer_basic_annual"
    ]
    await shop.put(
        "/api/v1/customers/yearly", json={"stripe_customer": "cus_yearly"}, headers=ADMIN
    )
    await subscribe(db, stripe_customer="cus_yearly", price_id="price_basic_annual")
    assert await offers_for(shop, "yearly", placement="billing") == []


async def test_a_customer_hammering_the_api_gets_429_with_retry_after(
    shop: httpx.AsyncClient, app: Starlette
) -> None:
    """After the burst, requests are refused with Retry-After; other customers go on."""
    # A bucket of 5 that refills once in 1000 s: no test timing can refill it.
    app.state.services.customer_limiter = RateLimiter(rate=0.001, burst=5)
    headers = customer_headers("acme")
    for _ in range(5):
        assert (await shop.get("/api/v1/widget/offers?placement=x", headers=headers)).is_success
    limited = await shop.get("/api/v1/widget/offers?placement=x", headers=headers)
    assert limited.status_code == 429
    assert 990 <= int(limited.headers["Retry-After"]) <= 1000
    assert limited.json()["error"]["code"] == "rate_limited"
    other = await shop.get("/api/v1/widget/offers?placement=x", headers=customer_headers("bob"))
    assert other.status_code == 200


async def _downgrade_answer(
    client: httpx.AsyncClient, customer: str, to_plan: str
) -> httpx.Response:
    return await client.get(
        f"/api/v1/widget/offers?placement=downgrade&to_plan={to_plan}",
        headers=customer_headers(customer),
    )


async def test_downgrade_lists_the_limits_and_features_that_would_be_lost(
    shop: httpx.AsyncClient, db: Database
) -> None:
    """`?to_plan=` a lower tier: the answer says, from the ladder and the customer's facts,
    which limits shrink (with usage, `over` first) and which features go (used ones first)."""
    await add_trial_offer_and_pro_customer(shop, db)
    await shop.post(
        "/api/v1/usage",
        json={"customer": "pro1", "metric": "storage_gb", "value": 42},
        headers={**ADMIN, "Idempotency-Key": "pro1-storage"},
    )
    for _ in range(2):
        await shop.post(
            "/api/v1/feature-events", json={"customer": "pro1", "feature": "sso"}, headers=ADMIN
        )
    response = await _downgrade_answer(shop, "pro1", "basic")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["data"] == []
    assert body["downgrade"] == {
        "from_plan": "pro",
        "from_plan_name": "Pro",
        "to_plan": "basic",
        "to_plan_name": "Basic",
        "limits": [
            {"metric": "storage_gb", "used": 42, "current_limit": 100, "new_limit": 10,
             "over": True},
            {"metric": "integrations", "used": None, "current_limit": 10, "new_limit": 3,
             "over": False},
            {"metric": "users", "used": None, "current_limit": 25, "new_limit": 5, "over": False},
        ],
        "features": [{"feature": "sso", "uses": 2, "last_used_at": NOW}],
    }  # fmt: skip


async def test_downgrade_comes_with_the_retention_offer(shop: httpx.AsyncClient) -> None:
    """The list rides along with the placement's offers, which are chosen as without it."""
    body = offer_body(
        id="offer_stay", kind="retention", placements=["downgrade"], target_prices=[],
        targeting={"plan": {"in": ["basic"]}},
        variants=[{"key": "control", "copy": {"title": "Before you go"}}],
    )  # fmt: skip
    assert (await shop.post("/api/v1/admin/offers", json=body, headers=ADMIN)).status_code == 201
    with_plan = (await _downgrade_answer(shop, "acme", "basic")).json()
    assert [o["offer_id"] for o in with_plan["data"]] == ["offer_stay"]
    assert with_plan["downgrade"] is None  # Basic is Acme's own plan
    without = await offers_for(shop, "acme", placement="downgrade")
    assert without == with_plan["data"]


@pytest.mark.parametrize(
    ("customer", "to_plan"),
    [("acme", "basic"), ("acme", "pro"), ("stranger", "basic")],
    ids=["same plan", "higher plan", "no known plan"],
)
async def test_downgrade_is_null_unless_the_plan_is_a_lower_tier(
    shop: httpx.AsyncClient, customer: str, to_plan: str
) -> None:
    """The same tier, a higher one, or a customer on no plan of the ladder: `downgrade: null`.
    Without `to_plan` the key is absent (the answer every page view gets is unchanged)."""
    response = await _downgrade_answer(shop, customer, to_plan)
    assert response.status_code == 200, response.text
    assert response.json()["downgrade"] is None
    plain = await shop.get(
        "/api/v1/widget/offers?placement=downgrade", headers=customer_headers(customer)
    )
    assert "downgrade" not in plain.json()


async def test_downgrade_plan_may_be_named_by_its_display_name(
    shop: httpx.AsyncClient, db: Database
) -> None:
    """Pages that pass the plan's name ("Basic", any case) get the same answer as with its id:
    `confirmDowngrade({toPlan})` took a display name before it took an id."""
    await add_trial_offer_and_pro_customer(shop, db)
    by_id = (await _downgrade_answer(shop, "pro1", "basic")).json()["downgrade"]
    by_name = (await _downgrade_answer(shop, "pro1", "BASIC")).json()["downgrade"]
    assert by_id is not None
    assert by_name == by_id


@pytest.mark.parametrize("to_plan", ["gold", "", "x" * 500], ids=["unknown", "empty", "long"])
async def test_unknown_downgrade_plan_is_refused_with_the_field_named(
    shop: httpx.AsyncClient, db: Database, app: Starlette, to_plan: str
) -> None:
    """A `to_plan` that names no plan of the ladder is a 422 on `to_plan`, and the refused
    request records nothing (no first exposure for the offers it would have shown)."""
    response = await shop.get(
        f"/api/v1/widget/offers?placement=storage_banner&to_plan={to_plan}",
        headers=customer_headers("acme"),
    )
    assert response.status_code == 422
    error = response.json()["error"]
    assert (error["code"], error["field"]) == ("unknown_plan", "to_plan")
    assert "to_plan" in error["message"]
    assert len(error["message"]) < 200
    await app.state.services.exposures.flush()
    async with db.read() as conn:
        state = await offer_store.customer_state(conn, customer_id="acme", now=NOW)
    assert state.assignments == {}
