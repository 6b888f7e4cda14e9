"""Admin API for plans, offers, results and audit: every kind end to end, and bad input."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from plugin.storage import Database
from tests.factories import ADMIN, PLANS, offer_body, seed_catalog, seed_plans


@pytest.fixture
async def admin(client: httpx.AsyncClient, db: Database) -> httpx.AsyncClient:
    await seed_catalog(db)
    await seed_plans(client)
    return client


async def test_plan_ladder_is_replaced_and_read_back(admin: httpx.AsyncClient) -> None:
    """PUT sets the whole ladder; GET lists it in tier order."""
    listed = (await admin.get("/api/v1/admin/plans", headers=ADMIN)).json()
    assert listed["object"] == "list"
    assert [p["id"] for p in listed["data"]] == ["basic", "pro", "enterprise"]
    assert listed["data"][2]["limits"]["users"] is None


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"plans": [{**PLANS["plans"][0], "prices": ["price_nope"]}]}, 422, "plans[0].prices[0]"),
        ({"plans": [PLANS["plans"][0], {**PLANS["plans"][1], "tier": 1}]}, 422, None),
        ({"plans": [{**PLANS["plans"][0], "colour": "red"}]}, 422, "plans[0].colour"),
        ({"plans": [{**PLANS["plans"][0], "tier": "1"}]}, 422, "plans[0].tier"),
        ({"plans": [{**PLANS["plans"][0], "limits": {"users": -1}}]}, 422, "plans[0].limits.users"),
    ],
    ids=["unknown price", "duplicate tier", "unknown field", "tier as text", "negative limit"],
)
async def test_bad_ladders_are_refused_and_change_nothing(
    admin: httpx.AsyncClient, body: dict[str, Any], status: int, field: str | None
) -> None:
    """A refused ladder leaves the stored one as it was."""
    response = await admin.put("/api/v1/admin/plans", json=body, headers=ADMIN)
    assert response.status_code == status
    assert response.json()["error"].get("field") == field
    listed = (await admin.get("/api/v1/admin/plans", headers=ADMIN)).json()
    assert len(listed["data"]) == 3


KINDS: list[dict[str, Any]] = [
    {},
    {"id": "offer_annual", "kind": "interval_switch", "target_prices": ["price_pro_annual"]},
    {"id": "offer_reports", "kind": "cross_sell", "target_prices": ["price_reports_monthly"]},
    {
        "id": "offer_post_order",
        "kind": "post_order",
        "placements": ["post_order"],
        "target_prices": ["price_reports_monthly"],
        "discount": {"percent_off": 30, "duration_months": 3},
        "targeting": {"order": {"within_minutes": 30}},
    },
    {
        "id": "offer_bundle",
        "kind": "bundle",
        "target_prices": ["price_reports_monthly", "price_basic_monthly"],
        "discount": {"amount_off": 500},
    },
    {
        "id": "offer_trial",
        "kind": "trial",
        "trial_days": 14,
        "target_prices": ["price_enterprise_monthly"],
        "targeting": {
            "all": [
                {"plan": {"in": ["pro"]}},
                {"feature_hit": {"feature": "audit_log", "within_days": 7}},
            ]
        },
    },
    {
        "id": "offer_retention",
        "kind": "retention",
        "target_prices": [],
        "placements": ["downgrade"],
        "discount": {"percent_off": 20, "duration_months": 3},
    },
]


@pytest.mark.parametrize("overrides", KINDS, ids=[k.get("kind", "upgrade") for k in KINDS])
async def test_each_offer_kind_round_trips_through_the_api(
    admin: httpx.AsyncClient, overrides: dict[str, Any]
) -> None:
    """Create, read, list, patch and archive an offer of every kind; each change is audited."""
    body = offer_body(**overrides)
    created = await admin.post("/api/v1/admin/offers", json=body, headers=ADMIN)
    assert created.status_code == 201, created.text
    offer = created.json()
    assert offer["object"] == "offer"
    assert offer["kind"] == body["kind"]
    assert offer["targeting"] == body["targeting"]
    offer_id = offer["id"]

    fetched = await admin.get(f"/api/v1/admin/offers/{offer_id}", headers=ADMIN)
    assert fetched.json() == offer

    patched = await admin.patch(
        f"/api/v1/admin/offers/{offer_id}", json={"priority": 7, "status": "paused"}, headers=ADMIN
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["priority"] == 7
    assert patched.json()["version"] > offer["version"]

    archived = await admin.delete(f"/api/v1/admin/offers/{offer_id}", headers=ADMIN)
    assert archived.json()["status"] == "archived"

    listed = (await admin.get("/api/v1/admin/offers?status=archived", headers=ADMIN)).json()
    assert [o["id"] for o in listed["data"]] == [offer_id]
    audit = (await admin.get("/api/v1/admin/audit", headers=ADMIN)).json()
    assert [e["action"] for e in audit["data"]][:3] == [
        "offer.archive",
        "offer.update",
        "offer.create",
    ]
    assert audit["data"][0]["actor"] == "bootstrap"


@pytest.mark.parametrize("overrides", KINDS, ids=[k.get("kind", "upgrade") for k in KINDS])
async def test_what_get_returns_can_be_sent_back_unchanged(
    admin: httpx.AsyncClient, overrides: dict[str, Any]
) -> None:
    """GET's document, read-only fields and all, is accepted by PATCH (nothing changes but the
    version and time) and by POST under another id (a copy); the read-only fields are ignored."""
    created = await admin.post("/api/v1/admin/offers", json=offer_body(**overrides), headers=ADMIN)
    offer = (await admin.get(f"/api/v1/admin/offers/{created.json()['id']}", headers=ADMIN)).json()
    forged = {**offer, "version": 999, "created_at": 1, "updated_at": 1}
    patched = await admin.patch(f"/api/v1/admin/offers/{offer['id']}", json=forged, headers=ADMIN)
    assert patched.status_code == 200, patched.text
    moving = {"version", "updated_at"}
    assert {k: v for k, v in patched.json().items() if k not in moving} == {
        k: v for k, v in offer.items() if k not in moving
    }
    assert patched.json()["version"] == offer["version"] + 1
    audit = (await admin.get("/api/v1/admin/audit", headers=ADMIN)).json()["data"][0]
    assert not {"object", "version", "created_at", "updated_at"} & set(audit["detail"]["changed"])
    copy = await admin.post(
        "/api/v1/admin/offers", json={**forged, "id": offer["id"] + "_copy"}, headers=ADMIN
    )
    assert copy.status_code == 201, copy.text
    assert (copy.json()["version"], copy.json()["created_at"]) != (999, 1)
    assert copy.json()["variants"] == offer["variants"]


async def test_offer_ids_are_generated_when_absent(admin: httpx.AsyncClient) -> None:
    """An offer posted without an id gets one."""
    body = offer_body()
    del body["id"]
    created = await admin.post("/api/v1/admin/offers", json=body, headers=ADMIN)
    assert created.status_code == 201
    assert created.json()["id"].startswith("offer_")


async def test_html_in_copy_is_stored_as_text(admin: httpx.AsyncClient) -> None:
    """Markup in copy comes back byte for byte; it is data, never interpreted."""
    title = "<script>alert('x')</script> Upgrade"
    body = offer_body(variants=[{"key": "control", "copy": {"title": title}}])
    created = await admin.post("/api/v1/admin/offers", json=body, headers=ADMIN)
    assert created.json()["variants"][0]["copy"]["title"] == title


BAD_OFFERS: list[tuple[str, dict[str, Any], int, str | None]] = [
    ("wrong type", {"priority": "high"}, 422, "priority"),
    ("unknown field", {"colour": "red"}, 422, "colour"),
    ("percent over 100", {"discount": {"percent_off": 150}}, 422, "discount.percent_off"),
    ("negative amount", {"discount": {"amount_off": -100}}, 422, "discount.amount_off"),
    ("unknown price", {"target_prices": ["price_nope"]}, 422, "target_prices[0]"),
    (
        "one-time price",
        {"kind": "cross_sell", "target_prices": ["price_reports_setup"]},
        422,
        "target_prices[0]",
    ),
    ("unknown plan", {"targeting": {"plan": {"in": ["platinum"]}}}, 422, "targeting.plan.in[0]"),
    (
        "bad targeting",
        {"targeting": {"usage": {"metric": "gb"}}},
        422,
        "targeting.usage.at_least_percent",
    ),
    (
        "schedule backwards",
        {"schedule": {"starts_at": 200, "ends_at": 100}},
        422,
        "schedule.ends_at",
    ),
    (
        "oversized title",
        {"variants": [{"key": "a", "copy": {"title": "x" * 500}}]},
        422,
        "variants[0].copy.title",
    ),
    ("no variants", {"variants": []}, 422, "variants"),
    (
        "two targets on an upgrade",
        {"target_prices": ["price_pro_monthly", "price_pro_annual"]},
        422,
        "target_prices",
    ),
    ("trial without days", {"kind": "trial"}, 422, "trial_days"),
    (
        "discounted trial",
        {"kind": "trial", "trial_days": 14, "discount": {"percent_off": 10}},
        422,
        "discount",
    ),
]


@pytest.mark.parametrize(
    ("overrides", "status", "field"), [c[1:] for c in BAD_OFFERS], ids=[c[0] for c in BAD_OFFERS]
)
async def test_bad_offers_are_refused_and_change_nothing(
    admin: httpx.AsyncClient, overrides: dict[str, Any], status: int, field: str | None
) -> None:
    """Bad input gets the right status and the offending field; nothing is stored or audited."""
    response = await admin.post("/api/v1/admin/offers", json=offer_body(**overrides), headers=ADMIN)
    assert response.status_code == status, response.text
    assert response.json()["error"].get("field") == field
    assert (await admin.get("/api/v1/admin/offers", headers=ADMIN)).json()["data"] == []
    audit = (await admin.get("/api/v1/admin/audit", headers=ADMIN)).json()["data"]
    assert [e["action"] for e in audit] == ["plans.replace"]


async def test_duplicate_ids_conflict_and_bad_patches_change_nothing(
    admin: httpx.AsyncClient,
) -> None:
    """409 for a taken id; a PATCH that would make the offer invalid leaves it as it was."""
    first = await admin.post("/api/v1/admin/offers", json=offer_body(), headers=ADMIN)
    again = await admin.post("/api/v1/admin/offers", json=offer_body(), headers=ADMIN)
    assert again.status_code == 409
    bad = await admin.patch(
        "/api/v1/admin/offers/offer_basic_to_pro", json={"kind": "bundle"}, headers=ADMIN
    )
    assert bad.status_code == 422
    renamed = await admin.patch(
        "/api/v1/admin/offers/offer_basic_to_pro", json={"id": "offer_other"}, headers=ADMIN
    )
    assert renamed.json()["error"]["field"] == "id"
    after = await admin.get("/api/v1/admin/offers/offer_basic_to_pro", headers=ADMIN)
    assert after.json() == first.json()
    missing = await admin.get("/api/v1/admin/offers/offer_nope", headers=ADMIN)
    assert missing.status_code == 404


@pytest.mark.parametrize(
    ("headers", "status"),
    [({}, 401), ({"Authorization": "Bearer uplift_sk_wrong"}, 401)],
    ids=["no key", "wrong key"],
)
async def test_admin_routes_need_an_admin_key(
    admin: httpx.AsyncClient, headers: dict[str, str], status: int
) -> None:
    """Without a valid admin key nothing is read or written."""
    for method, path in [
        ("GET", "/api/v1/admin/offers"),
        ("POST", "/api/v1/admin/offers"),
        ("GET", "/api/v1/admin/plans"),
        ("GET", "/api/v1/admin/audit"),
    ]:
        response = await admin.request(method, path, json=offer_body(), headers=headers)
        assert response.status_code == status
    assert (await admin.get("/api/v1/admin/offers", headers=ADMIN)).json()["data"] == []


async def test_lists_page_like_stripe(admin: httpx.AsyncClient) -> None:
    """`limit` and `starting_after` walk the list; `has_more` says when to stop."""
    for i in range(3):
        await admin.post("/api/v1/admin/offers", json=offer_body(id=f"offer_{i}"), headers=ADMIN)
    first = (await admin.get("/api/v1/admin/offers?limit=2", headers=ADMIN)).json()
    assert [o["id"] for o in first["data"]] == ["offer_0", "offer_1"]
    assert first["has_more"] is True
    rest = (
        await admin.get("/api/v1/admin/offers?limit=2&starting_after=offer_1", headers=ADMIN)
    ).json()
    assert [o["id"] for o in rest["data"]] == ["offer_2"]
    assert rest["has_more"] is False
    bad = await admin.get("/api/v1/admin/offers?limit=0", headers=ADMIN)
    assert bad.json()["error"]["field"] == "limit"


@pytest.mark.parametrize(
    "cursor",
    [
        "audit_227637584226944578032894",
        "audit_",
        "offer_1",
        "audit_\uff11",
    ],  # a full-width digit: isdigit() but not ASCII
)
async def test_bad_audit_cursors_are_422_not_500(admin: httpx.AsyncClient, cursor: str) -> None:
    """A cursor too large for SQLite's integers (found by fuzzing) is refused, not a crash."""
    response = await admin.get(f"/api/v1/admin/audit?starting_after={cursor}", headers=ADMIN)
    assert response.status_code == 422
    assert response.json()["error"]["field"] == "starting_after"


async def test_a_clone_is_a_new_draft_with_everything_else_the_same(
    admin: httpx.AsyncClient,
) -> None:
    created = await admin.post("/api/v1/admin/offers", json=offer_body(), headers=ADMIN)
    original = created.json()
    copied = await admin.post("/api/v1/admin/offers/offer_basic_to_pro/clone", headers=ADMIN)
    assert copied.status_code == 201
    copy = copied.json()
    assert copy["id"] != original["id"]
    assert copy["id"].startswith("offer_")
    assert (copy["status"], copy["name"]) == ("draft", f"{original['name']} (copy)")
    same = {"kind", "placements", "target_prices", "targeting", "variants", "frequency"}
    assert {k: copy[k] for k in same} == {k: original[k] for k in same}
    named = await admin.post(
        "/api/v1/admin/offers/offer_basic_to_pro/clone",
        json={"id": "offer_pro_again", "name": "Pro, again"},
        headers=ADMIN,
    )
    assert (named.status_code, named.json()["id"], named.json()["name"]) == (
        201,
        "offer_pro_again",
        "Pro, again",
    )
    again = await admin.post(
        "/api/v1/admin/offers/offer_basic_to_pro/clone",
        json={"id": "offer_pro_again"},
        headers=ADMIN,
    )
    assert (again.status_code, again.json()["error"]["code"]) == (409, "offer_exists")
    audit = (await admin.get("/api/v1/admin/audit", headers=ADMIN)).json()["data"]
    assert audit[0]["action"] == "offer.clone"
    assert audit[0]["detail"]["from"] == "offer_basic_to_pro"
    original_now = await admin.get("/api/v1/admin/offers/offer_basic_to_pro", headers=ADMIN)
    assert original_now.json() == original


@pytest.mark.parametrize(
    ("path", "body", "status", "code"),
    [
        ("/api/v1/admin/offers/offer_nope/clone", None, 404, "offer_not_found"),
        ("/api/v1/admin/offers/offer_basic_to_pro/clone", {"id": "bad id"}, 422, "invalid_field"),
        ("/api/v1/admin/offers/offer_basic_to_pro/clone", {"name": ""}, 422, "invalid_field"),
        ("/api/v1/admin/offers/offer_basic_to_pro/clone", {"colour": "red"}, 422, "invalid_field"),
        ("/api/v1/admin/offers/offer_basic_to_pro/clone", [], 422, "invalid_field"),
    ],
    ids=["unknown-offer", "bad-id", "empty-name", "unknown-field", "not-an-object"],
)
async def test_bad_clones_are_refused_and_change_nothing(
    admin: httpx.AsyncClient, path: str, body: Any, status: int, code: str
) -> None:
    await admin.post("/api/v1/admin/offers", json=offer_body(), headers=ADMIN)
    before = (await admin.get("/api/v1/admin/offers", headers=ADMIN)).json()["data"]
    kwargs = {} if body is None else {"json": body}
    response = await admin.post(path, headers=ADMIN, **kwargs)
    assert (response.status_code, response.json()["error"]["code"]) == (status, code)
    assert (await admin.get("/api/v1/admin/offers", headers=ADMIN)).json()["data"] == before


LOCALIZED = [
    {
        "key": "control",
        "copy": {
            "title": "Running out of space?",
            "locales": {"ko": {"title": "저장 공간이 부족하신가요?", "cta": "업그레이드"},
                        "fr": {"body": "Pro offre 100 Go."}},
        },
    }
]  # fmt: skip


async def test_copy_in_other_languages_round_trips_and_reaches_the_widget(
    admin: httpx.AsyncClient,
) -> None:
    """A variant's copy may carry the same words in other languages (issue 23): stored as
    given (only the fields given), sent back by GET, and in the widget's offer document, for
    the widget to show a customer whose language it is."""
    created = await admin.post(
        "/api/v1/admin/offers", json=offer_body(variants=LOCALIZED), headers=ADMIN
    )
    assert created.status_code == 201, created.text
    copy = created.json()["variants"][0]["copy"]
    assert copy["locales"] == {
        "ko": {"title": "저장 공간이 부족하신가요?", "cta": "업그레이드"},
        "fr": {"body": "Pro offre 100 Go."},
    }
    plain = await admin.post(
        "/api/v1/admin/offers", json=offer_body(id="offer_plain"), headers=ADMIN
    )
    assert "locales" not in plain.json()["variants"][0]["copy"]


@pytest.mark.parametrize(
    ("locales", "field"),
    [
        ({"kor": {"title": "x"}}, "variants[0].copy.locales.kor.[key]"),
        ({"KO": {"title": "x"}}, "variants[0].copy.locales.KO.[key]"),
        ({"ko": {"title": ""}}, "variants[0].copy.locales.ko.title"),
        ({"ko": {"headline": "x"}}, "variants[0].copy.locales.ko.headline"),
        ({chr(97 + i // 26) + chr(97 + i % 26): {"title": "x"} for i in range(21)},
         "variants[0].copy.locales"),
    ],
    ids=["three letters", "upper case", "empty title", "unknown field", "too many"],
)  # fmt: skip
async def test_bad_copy_languages_are_refused(
    admin: httpx.AsyncClient, locales: dict[str, Any], field: str
) -> None:
    variants = [{"key": "control", "copy": {"title": "Hi", "locales": locales}}]
    refused = await admin.post(
        "/api/v1/admin/offers", json=offer_body(variants=variants), headers=ADMIN
    )
    assert refused.status_code == 422, refused.text
    assert refused.json()["error"]["field"] == field
