"""An offer's audience (how many customers it reaches now, what keeps the others out) and the
explanation for one customer, as the admin API answers them: the same verdicts the widget
gives those customers."""

from __future__ import annotations

import httpx
import pytest

from plugin.storage import Database
from tests.factories import (
    ADMIN,
    customer_headers,
    offer_body,
    seed_catalog,
    seed_plans,
    subscribe,
)

OFFER = "/api/v1/admin/offers/offer_basic_to_pro"
# customer -> (price subscribed to, storage used)
CUSTOMERS = {
    "near_limit": ("price_basic_monthly", 9),
    "at_limit": ("price_basic_monthly", 10),
    "far_from_it": ("price_basic_monthly", 2),
    "on_pro": ("price_pro_monthly", 90),
    "no_plan": (None, 9),
}


@pytest.fixture
async def admin(client: httpx.AsyncClient, db: Database) -> httpx.AsyncClient:
    await seed_catalog(db)
    await seed_plans(client)
    for customer, (price, used) in CUSTOMERS.items():
        stripe_customer = "cus_" + customer.replace("_", "")
        body = {"stripe_customer": stripe_customer}
        assert (
            await client.put(f"/api/v1/customers/{customer}", json=body, headers=ADMIN)
        ).status_code == 200
        if price is not None:
            await subscribe(db, stripe_customer=stripe_customer, price_id=price)
        usage = {"customer": customer, "metric": "storage_gb", "value": used}
        headers = {**ADMIN, "Idempotency-Key": f"u_{customer}"}
        assert (await client.post("/api/v1/usage", json=usage, headers=headers)).status_code == 200
    created = await client.post("/api/v1/admin/offers", json=offer_body(), headers=ADMIN)
    assert created.status_code == 201
    return client


async def test_the_audience_counts_who_the_widget_shows_the_offer_to(
    admin: httpx.AsyncClient,
) -> None:
    answer = (await admin.get(f"{OFFER}/audience", headers=ADMIN)).json()
    assert answer["object"] == "offer_audience"
    assert answer["considered"] == 5
    assert answer["eligible"] == {
        "total": 2,
        "held_out": 0,
        "by_placement": {"storage_banner": 2},
    }
    # on_pro is on Pro already: the widget never offers it an upgrade to Pro (`owned`).
    assert {k: v for k, v in answer["excluded"].items() if v} == {
        "owned": 1,
        "plan": 1,
        "usage": 1,
    }
    shown = []
    for customer in CUSTOMERS:
        offers = await admin.get(
            "/api/v1/widget/offers?placement=storage_banner", headers=customer_headers(customer)
        )
        if any(o["offer_id"] == "offer_basic_to_pro" for o in offers.json()["data"]):
            shown.append(customer)
    assert sorted(shown) == ["at_limit", "near_limit"]


async def test_the_explanation_names_every_gate_and_the_fact_it_read(
    admin: httpx.AsyncClient,
) -> None:
    far = await admin.get(
        f"{OFFER}/explain?customer=far_from_it&placement=storage_banner", headers=ADMIN
    )
    assert far.status_code == 200
    body = far.json()
    assert (body["object"], body["eligible"], body["shown"], body["variant"]) == (
        "offer_explanation",
        False,
        False,
        None,
    )
    usage = next(g for g in body["gates"] if g["gate"] == "usage")
    assert usage == {
        "gate": "usage",
        "passed": False,
        "detail": "usage storage_gb 2 of 10 = 20 % < 80 %",
        "rule": "targeting.all[1]",
    }
    near = (await admin.get(f"{OFFER}/explain?customer=near_limit", headers=ADMIN)).json()
    assert (near["eligible"], near["shown"], near["variant"]) == (True, True, "control")
    assert all(g["passed"] for g in near["gates"])
    assert near["placement"] is None


async def test_a_read_only_key_may_read_audience_and_explanations(
    admin: httpx.AsyncClient,
) -> None:
    made = await admin.post(
        "/api/v1/admin/keys", json={"name": "csm", "role": "read_only"}, headers=ADMIN
    )
    reader = {"Authorization": f"Bearer {made.json()['key']}"}
    assert (await admin.get(f"{OFFER}/audience", headers=reader)).status_code == 200
    explained = await admin.get(f"{OFFER}/explain?customer=on_pro", headers=reader)
    assert explained.status_code == 200
    # The console's POSTs that only compute are reads too; a write is still refused.
    draft = {"offer": offer_body(id="offer_reader_draft")}
    counted = await admin.post("/api/v1/admin/offers/audience", json=draft, headers=reader)
    assert counted.status_code == 200, counted.text
    previewed = await admin.post(
        "/api/v1/admin/offers/preview", json={**draft, "customer": "near_limit"}, headers=reader
    )
    assert previewed.status_code == 200, previewed.text
    refused = await admin.post("/api/v1/admin/offers", json=draft["offer"], headers=reader)
    assert (refused.status_code, refused.json()["error"]["code"]) == (403, "admin_key_read_only")


async def test_a_drafts_audience_is_the_saved_offers_as_if_it_were_active(
    admin: httpx.AsyncClient,
) -> None:
    """The console's count while the admin edits: a draft (never saved, or saved paused) counts
    as the active offer with the same rules does, and nothing is saved."""
    active = (await admin.get(f"{OFFER}/audience", headers=ADMIN)).json()
    for draft in (
        offer_body(id="offer_unsaved", status="draft"),
        {**(await admin.get(OFFER, headers=ADMIN)).json(), "status": "paused"},
    ):
        counted = await admin.post(
            "/api/v1/admin/offers/audience", json={"offer": draft}, headers=ADMIN
        )
        assert counted.status_code == 200, counted.text
        body = counted.json()
        assert body["offer_id"] == draft["id"]
        assert (body["considered"], body["eligible"], body["excluded"]) == (
            active["considered"],
            active["eligible"],
            active["excluded"],
        )
    unnamed = {k: v for k, v in offer_body().items() if k != "id"}
    counted = await admin.post(
        "/api/v1/admin/offers/audience", json={"offer": unnamed}, headers=ADMIN
    )
    assert counted.json()["offer_id"] is None
    wider = offer_body(targeting={"plan": {"in": ["basic", "pro"]}})
    counted = await admin.post(
        "/api/v1/admin/offers/audience", json={"offer": wider}, headers=ADMIN
    )
    # Every customer on a known plan but on_pro, who has Pro already (`owned`).
    assert counted.json()["eligible"]["total"] == 3
    assert counted.json()["excluded"]["owned"] == 1
    listed = (await admin.get("/api/v1/admin/offers", headers=ADMIN)).json()["data"]
    assert [o["id"] for o in listed] == ["offer_basic_to_pro"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"offer": {**offer_body(), "name": ""}}, "offer.name"),
        ({"offer": offer_body(targeting={"all": [{"usage": {"metric": "storage_gb",
          "at_least_percent": 0}}]})}, "offer.targeting.all[0].usage.at_least_percent"),
        ({"offer": offer_body(target_prices=["price_nope"])}, "offer.target_prices[0]"),
        ({"offer": offer_body(targeting={"plan": {"in": ["gold"]}})}, "offer.targeting.plan.in[0]"),
        ({"offer": "x"}, "offer"),
        ({}, "offer"),
        ({"offer": offer_body(), "customer": "near_limit"}, "customer"),
    ],
    ids=["no-name", "bad-rule", "unknown-price", "unknown-plan", "not-object", "none", "extra"],
)  # fmt: skip
async def test_a_bad_draft_is_a_422_naming_its_field(
    admin: httpx.AsyncClient, body: dict[str, object], field: str
) -> None:
    response = await admin.post("/api/v1/admin/offers/audience", json=body, headers=ADMIN)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["field"] == field


@pytest.mark.parametrize(
    ("path", "status", "code"),
    [
        ("/api/v1/admin/offers/offer_nope/audience", 404, "offer_not_found"),
        ("/api/v1/admin/offers/offer_nope/explain?customer=near_limit", 404, "offer_not_found"),
        (f"{OFFER}/explain?customer=nobody", 404, "customer_not_found"),
        (f"{OFFER}/explain", 422, "invalid_field"),
        (f"{OFFER}/explain?customer=", 422, "invalid_field"),
        (f"{OFFER}/explain?customer=near_limit&placement={'p' * 65}", 422, "invalid_field"),
    ],
    ids=[
        "audience-unknown-offer",
        "explain-unknown-offer",
        "unknown-customer",
        "no-customer",
        "empty-customer",
        "long-placement",
    ],
)
async def test_bad_audience_and_explain_requests_are_clear_errors(
    admin: httpx.AsyncClient, path: str, status: int, code: str
) -> None:
    response = await admin.get(path, headers=ADMIN)
    assert response.status_code == status
    assert response.json()["error"]["code"] == code
    assert (await admin.get(path)).status_code == 401


async def test_the_audience_follows_every_write_at_once(
    admin: httpx.AsyncClient, db: Database
) -> None:
    """The population is kept between requests; each write is in the next answer: usage that
    crosses the threshold, a new customer, a plan change from Stripe, a dismissal."""

    async def eligible() -> tuple[int, int]:
        answer = (await admin.get(f"{OFFER}/audience", headers=ADMIN)).json()
        return answer["considered"], answer["eligible"]["total"]

    assert await eligible() == (5, 2)
    usage = {"customer": "far_from_it", "metric": "storage_gb", "value": 9}
    headers = {**ADMIN, "Idempotency-Key": "u_far_again"}
    assert (await admin.post("/api/v1/usage", json=usage, headers=headers)).status_code == 200
    assert await eligible() == (5, 3)
    await admin.put(
        "/api/v1/customers/newbie", json={"stripe_customer": "cus_newbie"}, headers=ADMIN
    )
    await subscribe(db, stripe_customer="cus_newbie", price_id="price_basic_monthly")
    usage = {"customer": "newbie", "metric": "storage_gb", "value": 10}
    headers = {**ADMIN, "Idempotency-Key": "u_newbie"}
    assert (await admin.post("/api/v1/usage", json=usage, headers=headers)).status_code == 200
    assert await eligible() == (6, 4)
    await subscribe(db, stripe_customer="cus_nearlimit", price_id="price_pro_monthly")
    assert await eligible() == (6, 3)


async def test_a_draft_is_previewed_as_the_widget_would_receive_it(
    admin: httpx.AsyncClient,
) -> None:
    """The preview's document is the widget's own for the saved offer, and nothing is saved."""
    draft = offer_body(
        id="offer_draft_preview",
        status="draft",
        variants=[
            {"key": "control", "copy": {"title": "Running out of space?"}},
            {"key": "bold", "copy": {"title": "Get 10x the space"}},
        ],
    )
    preview = await admin.post(
        "/api/v1/admin/offers/preview",
        json={"offer": draft, "customer": "near_limit", "placement": "storage_banner",
              "variant": "bold"},
        headers=ADMIN,
    )  # fmt: skip
    assert preview.status_code == 200, preview.text
    body = preview.json()
    assert (body["object"], body["eligible"], body["offer"]["variant"]) == (
        "offer_preview",
        True,
        "bold",
    )
    assert body["offer"]["copy"]["title"] == "Get 10x the space"
    assert body["offer"]["usage"] == {"metric": "storage_gb", "used": 9, "limit": 10}
    unsaved = await admin.get("/api/v1/admin/offers/offer_draft_preview", headers=ADMIN)
    assert unsaved.status_code == 404
    # The saved offer, shown by the widget, is the preview's document in its own variant.
    widget = await admin.get(
        "/api/v1/widget/offers?placement=storage_banner", headers=customer_headers("near_limit")
    )
    [shown] = widget.json()["data"]
    same = await admin.post(
        "/api/v1/admin/offers/preview",
        json={"offer": offer_body(), "customer": "near_limit", "placement": "storage_banner"},
        headers=ADMIN,
    )
    assert same.json()["offer"] == shown
    far = await admin.post(
        "/api/v1/admin/offers/preview",
        json={"offer": draft, "customer": "far_from_it"},
        headers=ADMIN,
    )
    assert (far.json()["eligible"], far.json()["offer"]["variant"]) == (False, "control")


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"offer": offer_body(), "customer": "nobody"}, 404, None),
        ({"offer": {**offer_body(), "kind": "nope"}, "customer": "near_limit"}, 422, "offer.kind"),
        (
            {"offer": offer_body(target_prices=["price_nope"]), "customer": "near_limit"},
            422,
            "offer.target_prices[0]",
        ),
        ({"offer": offer_body(), "customer": "near_limit", "variant": "nope"}, 422, "variant"),
        ({"offer": offer_body()}, 422, "customer"),
        ({"offer": "x", "customer": "near_limit"}, 422, "offer"),
    ],
    ids=[
        "unknown-customer",
        "bad-kind",
        "unknown-price",
        "unknown-variant",
        "no-customer",
        "offer-not-object",
    ],
)
async def test_bad_previews_are_clear_errors_and_save_nothing(
    admin: httpx.AsyncClient, body: dict[str, object], status: int, field: str | None
) -> None:
    response = await admin.post("/api/v1/admin/offers/preview", json=body, headers=ADMIN)
    assert response.status_code == status, response.text
    assert response.json()["error"].get("field") == field
    listed = (await admin.get("/api/v1/admin/offers", headers=ADMIN)).json()["data"]
    assert [o["id"] for o in listed] == ["offer_basic_to_pro"]
