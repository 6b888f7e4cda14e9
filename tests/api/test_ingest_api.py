"""What the SaaS backend sends (customers, usage, feature hits) and reads (entitlements)."""

from __future__ import annotations

import httpx
import pytest

from plugin.storage import Database
from tests.factories import ADMIN, seed_catalog, seed_plans, subscribe


@pytest.fixture
async def admin(client: httpx.AsyncClient, db: Database) -> httpx.AsyncClient:
    await seed_catalog(db)
    await seed_plans(client)
    return client


async def test_entitlements_come_from_the_plan_and_reported_usage(
    admin: httpx.AsyncClient, db: Database
) -> None:
    """Plan, limits, features and usage in one answer: the SaaS gates features from one source."""
    put = await admin.put(
        "/api/v1/customers/acme",
        json={"stripe_customer": "cus_acme", "attrs": {"industry": "fintech"}, "signup_at": 1},
        headers=ADMIN,
    )
    assert put.status_code == 200
    await subscribe(db, stripe_customer="cus_acme", price_id="price_basic_monthly")
    usage = await admin.post(
        "/api/v1/usage",
        json={"customer": "acme", "metric": "storage_gb", "value": 8},
        headers={**ADMIN, "Idempotency-Key": "u1"},
    )
    assert usage.json()["value"] == 8
    hit = await admin.post(
        "/api/v1/feature-events", json={"customer": "acme", "feature": "sso"}, headers=ADMIN
    )
    assert hit.status_code == 201
    entitlements = (await admin.get("/api/v1/customers/acme/entitlements", headers=ADMIN)).json()
    assert entitlements == {
        "object": "entitlements",
        "customer": "acme",
        "plan": {"id": "basic", "name": "Basic", "tier": 1},
        "interval": "month",
        "limits": {"integrations": 3, "storage_gb": 10, "users": 5},
        "features": ["reports"],
        "usage": {"storage_gb": 8},
        "trial": None,
    }


async def test_customer_without_subscription_has_no_plan(admin: httpx.AsyncClient) -> None:
    """A known customer with nothing in Stripe is on no plan; an unknown one is a 404."""
    await admin.put("/api/v1/customers/free", json={}, headers=ADMIN)
    entitlements = (await admin.get("/api/v1/customers/free/entitlements", headers=ADMIN)).json()
    assert entitlements["plan"] is None
    assert entitlements["features"] == []
    missing = await admin.get("/api/v1/customers/nobody/entitlements", headers=ADMIN)
    assert missing.status_code == 404


async def test_usage_reports_are_idempotent(admin: httpx.AsyncClient) -> None:
    """A retried report is answered from the first; the same key with another body is a 422."""
    key = {**ADMIN, "Idempotency-Key": "report-1"}
    body = {"customer": "acme", "metric": "users", "value": 2, "mode": "increment"}
    first = await admin.post("/api/v1/usage", json=body, headers=key)
    second = await admin.post("/api/v1/usage", json=body, headers=key)
    assert first.json()["value"] == second.json()["value"] == 2
    assert second.headers["Idempotent-Replayed"] == "true"
    other = await admin.post("/api/v1/usage", json={**body, "value": 3}, headers=key)
    assert other.status_code == 422
    more = await admin.post(
        "/api/v1/usage", json=body, headers={**ADMIN, "Idempotency-Key": "report-2"}
    )
    assert more.json()["value"] == 4
    no_key = await admin.post("/api/v1/usage", json=body, headers=ADMIN)
    assert no_key.status_code == 400


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/api/v1/usage", {"customer": "a", "metric": "m", "value": -1}, "value"),
        ("/api/v1/usage", {"customer": "a", "metric": "m", "value": 1.5}, "value"),
        ("/api/v1/usage", {"customer": "a", "metric": "m", "value": 1, "mode": "add"}, "mode"),
        ("/api/v1/feature-events", {"customer": "a"}, "feature"),
        ("/api/v1/feature-events", {"customer": "a", "feature": "x", "extra": 1}, "extra"),
    ],
)
async def test_bad_reports_are_refused(
    admin: httpx.AsyncClient, path: str, body: dict[str, object], field: str
) -> None:
    """Wrong types, negative usage and unknown fields are 422s naming the field."""
    response = await admin.post(path, json=body, headers={**ADMIN, "Idempotency-Key": "k"})
    assert response.status_code == 422
    assert response.json()["error"]["field"] == field


async def test_a_stripe_customer_belongs_to_one_customer(admin: httpx.AsyncClient) -> None:
    """Two SaaS customers cannot claim the same Stripe customer."""
    await admin.put("/api/v1/customers/a", json={"stripe_customer": "cus_x"}, headers=ADMIN)
    taken = await admin.put("/api/v1/customers/b", json={"stripe_customer": "cus_x"}, headers=ADMIN)
    assert taken.status_code == 409
    assert taken.json()["error"]["field"] == "stripe_customer"


@pytest.mark.parametrize("signup_at", [10**30, -(10**30), 2**63])
async def test_integers_beyond_2_pow_53_are_422_not_500(
    admin: httpx.AsyncClient, signup_at: int
) -> None:
    """Found by fuzzing: a 30-digit number reached SQLite and overflowed. Now it is a 422."""
    response = await admin.put(
        "/api/v1/customers/big", json={"signup_at": signup_at}, headers=ADMIN
    )
    assert response.status_code == 422
    assert response.json()["error"]["field"] == "signup_at"


async def test_patch_changes_only_what_it_names_and_keeps_the_plan(
    admin: httpx.AsyncClient, db: Database
) -> None:
    """A PATCH of `attrs` alone merges them (null removes a key) and keeps the Stripe customer,
    so entitlements still show the plan; PUT of the same body would have replaced it all."""
    await admin.put(
        "/api/v1/customers/acme",
        json={"stripe_customer": "cus_acme", "attrs": {"industry": "fintech", "seats": 5}},
        headers=ADMIN,
    )
    await subscribe(db, stripe_customer="cus_acme", price_id="price_basic_monthly")
    patched = await admin.patch(
        "/api/v1/customers/acme",
        json={"attrs": {"seats": None, "region": "eu"}},
        headers={**ADMIN, "Content-Type": "application/merge-patch+json"},
    )
    assert patched.status_code == 200, patched.text
    body = patched.json()
    assert (body["stripe_customer"], body["attrs"]) == (
        "cus_acme",
        {"industry": "fintech", "region": "eu"},
    )
    entitlements = (await admin.get("/api/v1/customers/acme/entitlements", headers=ADMIN)).json()
    assert entitlements["plan"]["id"] == "basic"
    cleared = await admin.patch(
        "/api/v1/customers/acme", json={"stripe_customer": None}, headers=ADMIN
    )
    assert cleared.json()["stripe_customer"] is None
    assert cleared.json()["attrs"] == {"industry": "fintech", "region": "eu"}


@pytest.mark.parametrize(
    ("path", "body", "status", "code"),
    [
        ("/api/v1/customers/nobody", {"attrs": {"a": "b"}}, 404, "customer_not_found"),
        ("/api/v1/customers/acme", {"attrs": {"a": ["b"]}}, 422, "invalid_field"),
        ("/api/v1/customers/acme", {"stripe_customer": "cus_other"}, 409, "stripe_customer_taken"),
        ("/api/v1/customers/acme", {"id": "other"}, 422, "invalid_field"),
    ],
    ids=["unknown customer", "bad attribute", "taken stripe customer", "another id"],
)
async def test_patch_refuses_what_it_cannot_apply_and_changes_nothing(
    admin: httpx.AsyncClient, path: str, body: dict[str, object], status: int, code: str
) -> None:
    await admin.put("/api/v1/customers/acme", json={"stripe_customer": "cus_acme"}, headers=ADMIN)
    await admin.put("/api/v1/customers/other", json={"stripe_customer": "cus_other"}, headers=ADMIN)
    refused = await admin.patch(path, json=body, headers=ADMIN)
    assert (refused.status_code, refused.json()["error"]["code"]) == (status, code)
    kept = await admin.patch("/api/v1/customers/acme", json={}, headers=ADMIN)
    assert (kept.json()["stripe_customer"], kept.json()["attrs"]) == ("cus_acme", {})


async def test_patch_keeps_a_customer_within_fifty_attributes(admin: httpx.AsyncClient) -> None:
    many = {f"k{i}": i for i in range(50)}
    await admin.put("/api/v1/customers/full", json={"attrs": many}, headers=ADMIN)
    refused = await admin.patch(
        "/api/v1/customers/full", json={"attrs": {"one_more": 1}}, headers=ADMIN
    )
    assert (refused.status_code, refused.json()["error"]["field"]) == (422, "attrs")
    swapped = await admin.patch(
        "/api/v1/customers/full", json={"attrs": {"k0": None, "one_more": 1}}, headers=ADMIN
    )
    assert swapped.status_code == 200
    assert len(swapped.json()["attrs"]) == 50


async def test_a_customer_as_answered_can_be_sent_back_unchanged(admin: httpx.AsyncClient) -> None:
    """PUT's answer, read-only fields and all, is accepted by PUT and PATCH as it is: `object`,
    `id`, `created` and `updated` are ignored (the id must be the path's)."""
    first = await admin.put(
        "/api/v1/customers/acme",
        json={"stripe_customer": "cus_acme", "attrs": {"seats": 5}, "signup_at": 7},
        headers=ADMIN,
    )
    answered = first.json()
    forged = {**answered, "created": 1, "updated": 1}
    for method in ("PUT", "PATCH"):
        again = await admin.request(method, "/api/v1/customers/acme", json=forged, headers=ADMIN)
        assert again.status_code == 200, (method, again.text)
        assert {k: v for k, v in again.json().items() if k != "updated"} == {
            k: v for k, v in answered.items() if k != "updated"
        }
