"""Finding customers and reading one whole, as the console's customer screens do."""

from __future__ import annotations

import httpx
import pytest
from starlette.applications import Starlette

from plugin.storage import Database
from tests.factories import ADMIN, customer_headers, offer_body, seed_catalog, seed_plans, subscribe

LIST = "/api/v1/admin/customers"


@pytest.fixture
async def admin(client: httpx.AsyncClient, db: Database) -> httpx.AsyncClient:
    await seed_catalog(db)
    await seed_plans(client)
    people = {
        "acme": ("cus_acme", {"email": "Ops@Acme.example", "company": "Acme"}),
        "globex": ("cus_globex", {"email": "it@globex.example"}),
        "initech": (None, {"email": "bill@initech.example", "seats": 40}),
        "acme_labs": (None, {}),
    }
    for customer, (stripe_customer, attrs) in people.items():
        body = {"stripe_customer": stripe_customer, "attrs": attrs}
        put = await client.put(f"/api/v1/customers/{customer}", json=body, headers=ADMIN)
        assert put.status_code == 200
    return client


async def _ids(admin: httpx.AsyncClient, query: str = "") -> list[str]:
    answer = await admin.get(f"{LIST}{query}", headers=ADMIN)
    assert answer.status_code == 200, answer.text
    return [c["id"] for c in answer.json()["data"]]


async def test_customers_are_found_by_id_stripe_id_or_any_attribute(
    admin: httpx.AsyncClient,
) -> None:
    assert await _ids(admin) == ["acme", "acme_labs", "globex", "initech"]
    assert await _ids(admin, "?q=acme") == ["acme", "acme_labs"]
    assert await _ids(admin, "?q=cus_glo") == ["globex"]
    assert await _ids(admin, "?q=ops@acme") == ["acme"]  # letter case ignored
    assert await _ids(admin, "?q=example") == ["acme", "globex", "initech"]
    assert await _ids(admin, "?q=%25") == []  # a LIKE wildcard is a plain character
    assert await _ids(admin, "?q=acme_") == ["acme_labs"]


async def test_customer_lists_page_with_a_cursor(admin: httpx.AsyncClient) -> None:
    first = (await admin.get(f"{LIST}?limit=3", headers=ADMIN)).json()
    assert ([c["id"] for c in first["data"]], first["has_more"]) == (
        ["acme", "acme_labs", "globex"],
        True,
    )
    rest = (await admin.get(f"{LIST}?limit=3&starting_after=globex", headers=ADMIN)).json()
    assert ([c["id"] for c in rest["data"]], rest["has_more"]) == (["initech"], False)


async def test_a_customer_is_read_whole(
    admin: httpx.AsyncClient, db: Database, app: Starlette
) -> None:
    await subscribe(db, stripe_customer="cus_acme", price_id="price_basic_monthly")
    usage = {"customer": "acme", "metric": "storage_gb", "value": 9}
    await admin.post("/api/v1/usage", json=usage, headers={**ADMIN, "Idempotency-Key": "u1"})
    for _ in range(2):
        await admin.post("/api/v1/feature-events", json={"customer": "acme", "feature": "sso"},
                         headers=ADMIN)  # fmt: skip
    await admin.post("/api/v1/admin/offers", json=offer_body(), headers=ADMIN)
    offers = await admin.get(
        "/api/v1/widget/offers?placement=storage_banner", headers=customer_headers("acme")
    )
    assert offers.json()["data"]
    await app.state.services.exposures.flush()  # the first exposure records the variant
    detail = await admin.get(f"{LIST}/acme", headers=ADMIN)
    assert detail.status_code == 200
    body = detail.json()
    assert body["object"] == "customer_detail"
    assert body["customer"]["attrs"] == {"company": "Acme", "email": "Ops@Acme.example"}
    assert (body["plan"], body["interval"], body["currency"]) == (
        {"id": "basic", "name": "Basic", "tier": 1},
        "month",
        "usd",
    )
    assert body["usage"] == {"storage_gb": 9}
    assert body["limits"]["storage_gb"] == 10
    assert [(f["feature"], f["hits"]) for f in body["features"]] == [("sso", 2)]
    assert [(o["offer_id"], o["variant"]) for o in body["offers"]] == [
        ("offer_basic_to_pro", "control")
    ]
    assert body["upgrades"] == []
    bare = (await admin.get(f"{LIST}/acme_labs", headers=ADMIN)).json()
    assert (bare["plan"], bare["offers"], bare["features"]) == (None, [], [])


@pytest.mark.parametrize(
    ("path", "status", "code"),
    [
        (f"{LIST}/nobody", 404, "customer_not_found"),
        (f"{LIST}?limit=0", 422, "invalid_field"),
        (f"{LIST}?q={'x' * 201}", 422, "invalid_field"),
    ],
    ids=["unknown", "bad-limit", "long-query"],
)
async def test_bad_customer_requests_are_clear_errors(
    admin: httpx.AsyncClient, path: str, status: int, code: str
) -> None:
    response = await admin.get(path, headers=ADMIN)
    assert (response.status_code, response.json()["error"]["code"]) == (status, code)
    assert (await admin.get(path)).status_code == 401
