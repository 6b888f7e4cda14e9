"""The answers the OpenAPI document describes are the answers the server sends: every route of
the route table documents its success answer (a model of plugin/api/answers.py) and its errors,
and real answers, from every route, validate against both the model and the document's schema,
key for key in the order they are sent. The widget's offers, the webhook intake and the error
documents are built outside the models (hot paths, plugin/errors.py); here they are held to
them."""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, get_args

import httpx
import jsonschema_rs
import pytest
from pydantic import BaseModel
from starlette.applications import Starlette
from starlette.routing import Route

from plugin.api import TABLE, openapi, routes
from plugin.api.answers import ErrorOut, SeriesMetric
from plugin.api.errors import INTERNAL_ERROR_BODY, answer
from plugin.app import create_app
from plugin.billing.catalog import Price, Product
from plugin.billing.quotes import StaleQuote
from plugin.billing.stripe_gateway import StripeGateway
from plugin.billing.upgrades import ChangeConflict
from plugin.clock import FixedClock
from plugin.email import links
from plugin.email.worker import link_key, unsubscribe_key
from plugin.errors import RateLimited, UpliftError, ValidationFailed
from plugin.metrics.revenue import SERIES
from plugin.settings import Settings
from plugin.storage import Database
from plugin.storage import catalog as catalog_store
from plugin.storage import outbound as outbound_store
from plugin.storage.quotes import QuoteRecord, SubscriptionState
from tests.factories import ADMIN, customer_headers
from tests.support import (
    WEBHOOK_SECRET,
    WIDGET_SECRET,
    Subscribed,
    mirror_basic,
    mirrored_customer,
    sign_webhook,
    subscribed_customer,
)
from tests.webhooks.factories import body as event_body
from tests.webhooks.factories import event

DAY = 86_400
DOCUMENT = openapi.document()
OPERATIONS = {(op.method, op.path): op for op in openapi.OPERATIONS}
ROUTES = [route for route in routes() if isinstance(route, Route)]


def _schema(method: str, path: str, status: int) -> dict[str, Any]:
    """The documented response for `status`, or a failure naming what is missing."""
    responses: dict[str, Any] = DOCUMENT["paths"][path][method.lower()]["responses"]
    assert str(status) in responses, f"{method} {path} answered {status}, not documented"
    found: dict[str, Any] = responses[str(status)]
    return found


def _conforms(content: bytes, model: type[BaseModel], schema: dict[str, Any]) -> None:
    """`content` validates against `model` (strict: no value converted) and the document's
    `schema`, and the model gives back exactly the document sent: the same keys, in the same
    order, with the same values."""
    sent = json.loads(content)
    parsed = model.model_validate_json(content)
    again = parsed.model_dump(mode="json", by_alias=True, exclude_unset=True)
    assert json.dumps(again) == json.dumps(sent)
    jsonschema_rs.validator_for({**schema, "components": DOCUMENT["components"]}).validate(sent)


def _route(method: str, path: str) -> str | None:
    """The route template that serves `path`: as Starlette routes, a full match (path and
    method) before the first partial one (`POST …/offers/preview` is not `…/{offer_id}`)."""
    matching = [r.path for r in ROUTES if r.path_regex.match(path)]
    return next((p for p in matching if (method, p) in OPERATIONS), next(iter(matching), None))


@dataclass
class Answers:
    """Checks every answer the client receives against the document, and records which
    (method, path, status) were seen."""

    seen: set[tuple[str, str, int]] = field(default_factory=set)

    async def check(self, response: httpx.Response) -> None:
        await response.aread()
        method, status = response.request.method, response.status_code
        path = _route(method, response.request.url.path)
        if path is None or (method, path) not in OPERATIONS:  # no route (404), no method (405)
            assert status in (404, 405), response.text
            _conforms(response.content, ErrorOut, {"$ref": "#/components/schemas/ErrorOut"})
            return
        self.seen.add((method, path, status))
        documented = _schema(method, path, status)
        for name, header in documented.get("headers", {}).items():
            assert not header["required"] or name in response.headers, f"{name} on {status}"
        if status == 304:
            assert response.content == b""
            return
        media = response.headers["content-type"].partition(";")[0]
        assert media in documented["content"], f"{method} {path} {status} as {media}"
        if media == "application/json":
            op = OPERATIONS[method, path]
            model = op.answer if status == op.status and op.answer is not None else ErrorOut
            _conforms(response.content, model, documented["content"][media]["schema"])


def test_every_route_documents_its_answers() -> None:
    """Each route of the route table documents its success status with the media types it is
    served as (JSON: a component made from its answer model), and each error status with the
    error shape (the unsubscribe page, for a person, answers its errors as a page)."""
    assert {(row.method, row.path) for row in TABLE} == set(OPERATIONS)
    components = DOCUMENT["components"]["schemas"]
    for row in TABLE:
        op = OPERATIONS[row.method, row.path]
        success = _schema(row.method, row.path, op.status)
        assert success["content"], f"{row.method} {row.path}"
        if op.answer is not None:
            ref = success["content"]["application/json"]["schema"]["$ref"]
            assert ref == f"#/components/schemas/{op.answer.__name__}"
            assert op.answer.__name__ in components
        else:
            assert "application/json" not in success["content"]
        statuses = DOCUMENT["paths"][row.path][row.method.lower()]["responses"]
        for status in openapi.error_statuses(op):
            content = statuses[str(status)]["content"]
            if row.path.startswith("/email/unsubscribe/"):  # a page for a person, errors too
                assert set(content) == {"text/html"}
                continue
            schema = content["application/json"]["schema"]
            assert schema == {"$ref": "#/components/schemas/ErrorOut"}
        assert "default" not in statuses  # every status is named, so an undocumented one shows


def test_timeseries_metrics_are_the_series_the_metrics_compute() -> None:
    """The answer model's metric names are plugin.metrics.revenue.SERIES."""
    assert get_args(SeriesMetric) == SERIES


def _quote(quote_id: str) -> QuoteRecord:
    return QuoteRecord(
        id=quote_id, customer_id="cus_x", offer_id=None, variant=None, execution="uplift",
        timing="now", state=SubscriptionState("sub_x", "si_x", "price_a", 1, 0, DAY),
        to_price="price_b", to_quantity=1, proration_date=0, currency="usd", lines=(),
        invoice_total=0, amount_due_now=0, mrr_delta=0, created_at=0, expires_at=600,
    )  # fmt: skip


@pytest.mark.parametrize(
    "error",
    [
        ValidationFailed("variants[0].copy.title: too long", field="variants[0].copy.title"),
        RateLimited("Slow down.", retry_after=3),
        StaleQuote(_quote("qt_old"), _quote("qt_fresh")),
        StaleQuote(_quote("qt_old"), None, applied_by="upg_1"),
        ChangeConflict("Another change is in flight.", code="change_in_progress", upgrade_id="u"),
        UpliftError("No status maps to this."),  # answered as the internal error
    ],
    ids=lambda e: type(e).__name__,
)
def test_error_documents_are_the_error_model(error: UpliftError) -> None:
    """Every error document, with the keys some errors add (`fresh_quote_id`, `upgrade_id`),
    is an `ErrorOut`; an error no status maps to answers with the internal error's body."""
    status, document, _ = answer(error)
    if status == 500:
        assert document == INTERNAL_ERROR_BODY
    content = json.dumps(document).encode()
    _conforms(content, ErrorOut, {"$ref": "#/components/schemas/ErrorOut"})


# Real answers ---------------------------------------------------------------------------------


@dataclass
class World:
    http: httpx.AsyncClient
    db: Database
    clock: FixedClock
    answers: Answers
    acme: Subscribed  # Visa: upgrades Basic → Pro
    bea: Subscribed  # Visa: buys the add-on
    cid: Subscribed  # a card that needs 3-D Secure
    dee: Subscribed  # a card that is declined
    addon: str  # the add-on's price, 19.00 a month


@pytest.fixture
async def world(
    settings: Settings,
    db: Database,
    gateway: StripeGateway,
    emulator_url: str,
    request: pytest.FixtureRequest,
) -> AsyncIterator[World]:
    """Four Basic customers of the emulator and a Pro one of the mirror only, an add-on price,
    an Enterprise price only in the catalog, and an app on the emulator whose client checks
    every answer."""
    name = "answers-" + hashlib.sha256(request.node.nodeid.encode()).hexdigest()[:10]
    start = await subscribed_customer(gateway, name=f"{name}-clock")
    clock = FixedClock(start.period_start + 10 * DAY + 1234)
    now = clock.now()
    acme, bea, cid, dee = [
        await mirrored_customer(gateway, db, f"{name}-{who}", card=card, now=now)
        for who, card in (
            ("acme", "pm_card_visa"),
            ("bea", "pm_card_visa"),
            ("cid", "pm_card_authenticationRequired"),
            ("dee", "pm_card_chargeCustomerFail"),
        )
    ]
    product = await gateway.create_product({"name": "Reports"}, idempotency_key=f"{name}:reports")
    addon = await gateway.create_price(
        {"product": product.id, "currency": "usd", "unit_amount": 1900,
         "recurring": {"interval": "month"}},
        idempotency_key=f"{name}:reports:price",
    )  # fmt: skip
    async with db.transaction() as conn:
        await catalog_store.upsert_product(conn, product=product, now=now)
        await catalog_store.upsert_price(conn, price=addon, now=now)
        await catalog_store.upsert_product(conn, product=Product("prod_ent", "Ent"), now=now)
        await catalog_store.upsert_price(
            conn, price=Price("price_answers_ent", "prod_ent", "usd", 29900, "month"), now=now
        )
    # Pat is on Pro in the mirror only: enough for a trial and the downgrade screen.
    await mirror_basic(
        db, subscription_id="sub_answers_pat", customer_id="cus_answerspat",
        item_id="si_answers_pat", price=acme.pro, period_start=acme.period_start,
        period_end=acme.period_end, now=now,
    )  # fmt: skip
    app: Starlette = create_app(
        settings.model_copy(update={"stripe_api_base": emulator_url}), clock=clock
    )
    answers = Answers()
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url="http://uplift.test",
            event_hooks={"response": [answers.check]},
        ) as http,
    ):
        yield World(http, db, clock, answers, acme, bea, cid, dee, addon.id)


def _as(world: World, customer: str, **headers: str) -> dict[str, str]:
    return {**customer_headers(customer, now=world.clock.now()), **headers}


async def _operations(w: World) -> None:
    http = w.http
    public = ("/healthz", "/readyz", "/api/v1/openapi.json", "/widget/uplift.js", "/admin")
    for path in (*public, "/widget/uplift-modal.js"):
        assert (await http.get(path)).status_code == 200
    for name in ("admin.js", "admin.css"):
        served = await http.get(f"/admin/static/{name}")
        again = {"If-None-Match": served.headers["etag"]}
        assert (await http.get(f"/admin/static/{name}", headers=again)).status_code == 304
    assert (await http.get("/admin/static/nothing.js")).status_code == 404
    served = await http.get("/api/v1/widget/locales/ko")
    again = {"If-None-Match": served.headers["etag"]}
    assert (await http.get("/api/v1/widget/locales/ko", headers=again)).status_code == 304
    assert (await http.get("/api/v1/widget/locales/xx")).status_code == 404
    assert (await http.get("/no/such/route")).status_code == 404
    assert (await http.post("/healthz")).status_code == 405


async def _catalog(w: World) -> None:
    """Plans, customers, usage, offers, the audit log."""
    http, worlds = w.http, (w.acme, w.bea, w.cid, w.dee)
    plans = {
        "plans": [
            {"id": "basic", "name": "Basic", "tier": 1, "prices": [x.basic for x in worlds],
             "limits": {"storage_gb": 10, "users": 5}, "features": ["reports"]},
            {"id": "pro", "name": "Pro", "tier": 2,
             "prices": [p for x in worlds for p in (x.pro, x.pro_annual)],
             "limits": {"storage_gb": 100, "users": None}, "features": ["reports", "sso"]},
            {"id": "enterprise", "name": "Enterprise", "tier": 3, "prices": ["price_answers_ent"]},
        ]
    }  # fmt: skip
    assert (await http.put("/api/v1/admin/plans", json=plans, headers=ADMIN)).status_code == 200
    assert (await http.get("/api/v1/admin/plans", headers=ADMIN)).status_code == 200
    bad = {"plans": [{"id": "x", "name": "X", "tier": 1, "prices": ["price_nope"]}]}
    assert (await http.put("/api/v1/admin/plans", json=bad, headers=ADMIN)).status_code == 422

    for who, x in (("acme", w.acme), ("bea", w.bea), ("cid", w.cid), ("dee", w.dee)):
        customer = {"stripe_customer": x.customer_id, "attrs": {"industry": "saas", "seats": 3,
                    "beta": True}, "signup_at": w.clock.now() - 90 * DAY}  # fmt: skip
        put = await http.put(f"/api/v1/customers/{who}", json=customer, headers=ADMIN)
        assert put.status_code == 200, put.text
    taken = {"stripe_customer": w.acme.customer_id}
    assert (await http.put("/api/v1/customers/zed", json=taken, headers=ADMIN)).status_code == 409
    pat = {"stripe_customer": "cus_answerspat"}
    assert (await http.put("/api/v1/customers/pat", json=pat, headers=ADMIN)).status_code == 200
    made = await http.post("/api/v1/admin/keys", json={"name": "answers"}, headers=ADMIN)
    assert made.status_code == 201, made.text
    assert (await http.get("/api/v1/admin/keys", headers=ADMIN)).status_code == 200
    revoked = await http.delete(f"/api/v1/admin/keys/{made.json()['id']}", headers=ADMIN)
    assert revoked.status_code == 200
    assert (await http.delete("/api/v1/admin/keys/ak_none", headers=ADMIN)).status_code == 404
    merged = {"attrs": {"beta": None, "region": "eu"}}
    patched = await http.patch("/api/v1/customers/acme", json=merged, headers=ADMIN)
    assert patched.status_code == 200, patched.text
    assert (await http.patch("/api/v1/customers/nobody", json={}, headers=ADMIN)).status_code == 404

    usage = {"customer": "acme", "metric": "storage_gb", "value": 9}
    key = {**ADMIN, "Idempotency-Key": "usage-1"}
    for _ in range(2):  # the second is a replay
        assert (await http.post("/api/v1/usage", json=usage, headers=key)).status_code == 200
    reused = await http.post("/api/v1/usage", json={**usage, "value": 1}, headers=key)
    assert reused.status_code == 422
    assert (await http.post("/api/v1/usage", json=usage, headers=ADMIN)).status_code == 400
    hit = {"customer": "pat", "feature": "audit_log"}
    assert (await http.post("/api/v1/feature-events", json=hit, headers=ADMIN)).status_code == 201
    event = {"customer": "acme", "event": "login", "count": 3}
    key = {**ADMIN, "Idempotency-Key": "event-1"}
    for _ in range(2):  # the second is a replay
        assert (await http.post("/api/v1/events", json=event, headers=key)).status_code == 200
    reused = await http.post("/api/v1/events", json={**event, "count": 1}, headers=key)
    assert reused.status_code == 422
    assert (await http.post("/api/v1/events", json=event, headers=ADMIN)).status_code == 400
    for who in ("acme", "nobody"):
        await http.get(f"/api/v1/customers/{who}/entitlements", headers=ADMIN)

    copy = {"title": "Running out of space?", "body": "10x the storage", "cta": "Upgrade"}
    offers = [
        {"id": "offer_answers_pro", "name": "Basic to Pro", "kind": "upgrade", "status": "active",
         "placements": ["billing"], "target_prices": [w.acme.pro],
         "targeting": {"all": [{"plan": {"in": ["basic"]}},
                               {"usage": {"metric": "storage_gb", "at_least_percent": 80}}]},
         "schedule": {"starts_at": None, "ends_at": w.clock.now() + 3 * DAY},
         "variants": [{"key": "control", "copy": copy}]},
        {"id": "offer_answers_reports", "name": "Reports", "kind": "cross_sell",
         "status": "active", "placements": ["billing"], "target_prices": [w.addon],
         "discount": {"percent_off": 30, "duration_months": 3},
         "targeting": {"plan": {"in": ["basic"]}},
         "variants": [{"key": "control", "copy": {"title": "Add reports?"}}]},
        {"id": "offer_answers_trial", "name": "Try Enterprise", "kind": "trial",
         "status": "active", "placements": ["feature_gate"], "trial_days": 14,
         "target_prices": ["price_answers_ent"], "targeting": {"plan": {"in": ["pro"]}},
         "variants": [{"key": "control", "copy": {"title": "Try it"}}]},
        {"id": "offer_answers_stay", "name": "Stay", "kind": "retention", "status": "active",
         "placements": ["downgrade"], "discount": {"percent_off": 20, "duration_months": 3},
         "variants": [{"key": "control", "copy": {"title": "Before you go"}}]},
    ]  # fmt: skip
    for offer in offers:
        created = await http.post("/api/v1/admin/offers", json=offer, headers=ADMIN)
        assert created.status_code == 201, created.text
    again = await http.post("/api/v1/admin/offers", json=offers[0], headers=ADMIN)
    assert again.status_code == 409
    refused = await http.post("/api/v1/admin/offers", content=b"{", headers=ADMIN)
    assert refused.status_code == 415
    broken = {**ADMIN, "Content-Type": "application/json"}
    assert (
        await http.post("/api/v1/admin/offers", content=b"{", headers=broken)
    ).status_code == 400
    huge = b'{"name": "' + b"x" * (1 << 20) + b'"}'
    assert (
        await http.post("/api/v1/admin/offers", content=huge, headers=broken)
    ).status_code == 413
    one = "/api/v1/admin/offers/offer_answers_stay"
    patched = await http.patch(one, json={"priority": 5}, headers=ADMIN)
    assert patched.status_code == 200, patched.text
    assert (await http.get(one, headers=ADMIN)).status_code == 200
    assert (await http.get("/api/v1/admin/offers/offer_nope", headers=ADMIN)).status_code == 404
    listed = await http.get("/api/v1/admin/offers?limit=2&status=active", headers=ADMIN)
    assert listed.json()["has_more"] is True
    assert (await http.get("/api/v1/admin/offers?status=gone", headers=ADMIN)).status_code == 422
    audit = await http.get("/api/v1/admin/audit?limit=1", headers=ADMIN)
    assert audit.json()["has_more"] is True
    after = f"/api/v1/admin/audit?starting_after={audit.json()['data'][0]['id']}"
    assert (await http.get(after, headers=ADMIN)).status_code == 200
    assert (await http.get("/api/v1/admin/plans", headers={"Authorization": "Bearer no"})
            ).status_code == 401  # fmt: skip


async def _widget(w: World) -> None:
    """Offers (with prices, discounts, usage, a countdown; the downgrade screen), the plan
    ladder, events, and the trial."""
    http = w.http
    shown = await http.get("/api/v1/widget/offers?placement=billing", headers=_as(w, "acme"))
    offers = {o["offer_id"]: o for o in shown.json()["data"]}
    assert offers["offer_answers_pro"]["usage"] is not None
    assert offers["offer_answers_pro"]["countdown_seconds"] is not None
    assert "discounted_amount" in offers["offer_answers_reports"]["prices"][0]
    kept = await http.get("/api/v1/widget/offers?placement=billing", headers=_as(w, "acme"))
    assert kept.json() == shown.json()  # the kept answer, counted down
    for placement, to_plan in (("downgrade", "basic"), ("downgrade", "enterprise")):
        screen = await http.get(
            f"/api/v1/widget/offers?placement={placement}&to_plan={to_plan}", headers=_as(w, "pat")
        )
        assert "downgrade" in screen.json()
    unknown = await http.get("/api/v1/widget/offers?to_plan=nope", headers=_as(w, "pat"))
    assert unknown.status_code == 422
    assert (await http.get("/api/v1/widget/offers", headers=ADMIN)).status_code == 401
    for who in ("acme", "pat", "nobody"):  # Basic, Pro, no subscription
        ladder = await http.get("/api/v1/widget/plans", headers=_as(w, who))
        assert ladder.json()["object"] == "plan_ladder", ladder.text

    for kind in ("impression", "click"):
        seen = {"offer_id": "offer_answers_pro", "variant": "control", "type": kind}
        made = await http.post("/api/v1/widget/events", json=seen, headers=_as(w, "acme"))
        assert made.status_code == 201, made.text
    missing = {"offer_id": "offer_nope", "variant": "control", "type": "click"}
    assert (await http.post("/api/v1/widget/events", json=missing, headers=_as(w, "acme"))
            ).status_code == 404  # fmt: skip

    trial = {"offer_id": "offer_answers_trial"}
    quoted = await http.post("/api/v1/widget/quotes", json=trial, headers=_as(w, "pat"))
    assert quoted.status_code == 201, quoted.text
    assert quoted.json()["kind"] == "trial"
    accept = {"quote_id": quoted.json()["quote_id"]}
    granted = await http.post(
        "/api/v1/widget/accept", json=accept, headers=_as(w, "pat", **{"Idempotency-Key": "t"})
    )
    assert granted.json()["object"] == "trial", granted.text
    assert (await http.get("/api/v1/customers/pat/entitlements", headers=ADMIN)).json()["trial"]


async def _purchases(w: World) -> None:
    """A plan change and add-ons: succeeded, waiting for 3-D Secure, declined; the admin's
    view of them, and the metrics."""
    http = w.http
    change = {"offer_id": "offer_answers_pro"}
    quoted = await http.post("/api/v1/widget/quotes", json=change, headers=_as(w, "acme"))
    assert quoted.json()["kind"] == "change", quoted.text
    accept = {"quote_id": quoted.json()["quote_id"]}
    no_key = await http.post("/api/v1/widget/accept", json=accept, headers=_as(w, "acme"))
    assert no_key.status_code == 400
    key = _as(w, "acme", **{"Idempotency-Key": "change"})
    upgrade = await http.post("/api/v1/widget/accept", json=accept, headers=key)
    assert upgrade.json()["status"] == "succeeded", upgrade.text
    mine = f"/api/v1/widget/upgrades/{upgrade.json()['id']}"
    assert (await http.get(mine, headers=_as(w, "acme"))).status_code == 200
    assert (await http.get(mine, headers=_as(w, "bea"))).status_code == 404

    addon = {"offer_id": "offer_answers_reports"}
    outcomes = {}
    for who in ("bea", "cid", "dee"):
        quote = await http.post("/api/v1/widget/quotes", json=addon, headers=_as(w, who))
        assert (quote.json()["kind"], quote.json()["discount"] is None) == ("add", False), quote
        accepted = await http.post(
            "/api/v1/widget/accept",
            json={"quote_id": quote.json()["quote_id"]},
            headers=_as(w, who, **{"Idempotency-Key": f"addon-{who}"}),
        )
        outcomes[who] = accepted.json()["status"]
    assert outcomes == {"bea": "succeeded", "cid": "requires_action", "dee": "failed"}
    twice = await http.post("/api/v1/widget/quotes", json=addon, headers=_as(w, "bea"))
    assert twice.status_code == 409
    nothing = await http.post(
        "/api/v1/widget/quotes", json={"offer_id": "offer_nope"}, headers=_as(w, "bea")
    )
    assert nothing.status_code == 404

    # A quote left too long has expired.
    usage = {"customer": "dee", "metric": "storage_gb", "value": 9}
    await http.post("/api/v1/usage", json=usage, headers={**ADMIN, "Idempotency-Key": "dee"})
    late = await http.post("/api/v1/widget/quotes", json=change, headers=_as(w, "dee"))
    assert late.status_code == 201, late.text
    w.clock.advance(11 * 60)
    expired = await http.post(
        "/api/v1/widget/accept",
        json={"quote_id": late.json()["quote_id"]},
        headers=_as(w, "dee", **{"Idempotency-Key": "late"}),
    )
    assert expired.status_code == 410, expired.text

    for query in ("", "?status=succeeded", "?offer=offer_answers_reports&limit=1", "?status=x"):
        await http.get(f"/api/v1/admin/upgrades{query}", headers=ADMIN)
    period = f"from={w.clock.now() - DAY}&to={w.clock.now() + DAY}"
    report = await http.get(f"/api/v1/admin/metrics?{period}", headers=ADMIN)
    assert report.json()["by_offer"], report.text
    csv = {**ADMIN, "Accept": "text/csv"}
    assert (await http.get(f"/api/v1/admin/metrics?{period}", headers=csv)).status_code == 200
    for metric in ("mrr", "upgrades", "nope"):
        series = f"/api/v1/admin/metrics/timeseries?metric={metric}&interval=day&{period}"
        await http.get(series, headers=ADMIN)
    await http.get(f"/api/v1/admin/metrics/timeseries?metric=mrr&{period}", headers=csv)
    for kind in ("mrr", "feature:nope", "bad"):
        await http.get(f"/api/v1/admin/metrics/cohorts?kind={kind}&{period}", headers=ADMIN)
    await http.get(f"/api/v1/admin/metrics/cohorts?{period}", headers=csv)
    draft = (await http.get("/api/v1/admin/offers/offer_answers_pro", headers=ADMIN)).json()
    for who in ("acme", "nobody"):
        preview = {"offer": draft, "customer": who}
        await http.post("/api/v1/admin/offers/preview", json=preview, headers=ADMIN)
    await http.post("/api/v1/admin/offers/preview", json={"offer": {}}, headers=ADMIN)
    await http.post("/api/v1/admin/offers/audience", json={"offer": draft}, headers=ADMIN)
    await http.post("/api/v1/admin/offers/audience", json={"offer": {}}, headers=ADMIN)
    for query in ("", "?q=acme", "?limit=1", "?limit=0", "/acme", "/pat", "/nobody"):
        await http.get(f"/api/v1/admin/customers{query}", headers=ADMIN)
    for offer_id in ("offer_answers_pro", "offer_answers_reports", "offer_nope"):
        await http.get(f"/api/v1/admin/offers/{offer_id}/results", headers=ADMIN)
        await http.get(f"/api/v1/admin/offers/{offer_id}/audience", headers=ADMIN)
        await http.post(f"/api/v1/admin/offers/{offer_id}/clone", headers=ADMIN)
        await http.post(f"/api/v1/admin/offers/{offer_id}/clone", json={"id": "bad"}, headers=ADMIN)
        for query in ("customer=acme", "customer=acme&placement=settings", "customer=nobody", ""):
            await http.get(f"/api/v1/admin/offers/{offer_id}/explain?{query}", headers=ADMIN)
    archived = await http.delete("/api/v1/admin/offers/offer_answers_stay", headers=ADMIN)
    assert archived.json()["status"] == "archived"


async def _webhooks(w: World) -> None:
    """A delivery, its redelivery, a forged one; the event store and a replay."""
    http, now = w.http, w.clock.now()
    payload = event_body(
        event("customer.created", {"id": "cus_answers", "object": "customer"},
              id="evt_answers_1", created=now)
    )  # fmt: skip
    signed = {"Stripe-Signature": sign_webhook(payload, WEBHOOK_SECRET, now)}
    for duplicate in (False, True):
        delivered = await http.post("/webhooks/stripe", content=payload, headers=signed)
        assert delivered.json() == {"received": True, "duplicate": duplicate}
    forged = {"Stripe-Signature": sign_webhook(payload, "whsec_not_ours", now)}
    assert (await http.post("/webhooks/stripe", content=payload, headers=forged)).status_code == 400
    listed = await http.get("/api/v1/admin/webhook-events?limit=10", headers=ADMIN)
    assert [e["id"] for e in listed.json()["data"]] == ["evt_answers_1"]
    for event_id, status in (("evt_answers_1", 200), ("evt_nope", 404)):
        replay = f"/api/v1/admin/webhook-events/{event_id}/replay"
        assert (await http.post(replay, headers=ADMIN)).status_code == status
    bad = await http.get("/api/v1/admin/webhook-events?status=lost", headers=ADMIN)
    assert bad.status_code == 422


async def _endpoint(w: World) -> str:
    """An outbound webhook endpoint (on a port nobody listens on), made before the purchases
    so their events have deliveries to it."""
    http = w.http
    hooks = "/api/v1/admin/webhook-endpoints"
    made = await http.post(hooks, json={"url": "http://127.0.0.1:9/hook"}, headers=ADMIN)
    assert made.status_code == 201, made.text
    refused = await http.post(hooks, json={"url": "ftp://example.com/"}, headers=ADMIN)
    assert refused.status_code == 422
    endpoint = f"{hooks}/{made.json()['id']}"
    assert (await http.get(hooks, headers=ADMIN)).status_code == 200
    assert (await http.get(endpoint, headers=ADMIN)).status_code == 200
    assert (await http.get(f"{hooks}/we_none", headers=ADMIN)).status_code == 404
    patch = {"description": "CRM", "events": ["upgrade.succeeded", "offer.declined", "*"]}
    assert (await http.patch(endpoint, json=patch, headers=ADMIN)).status_code == 200
    bad = await http.patch(endpoint, json={"url": "http://user:pw@example.com/"}, headers=ADMIN)
    assert bad.status_code == 422
    removed = await http.patch(endpoint, json={"description": None}, headers=ADMIN)
    assert removed.json()["description"] == ""
    for name in ("url", "events", "enabled"):
        kept = await http.patch(endpoint, json={name: None}, headers=ADMIN)
        assert (kept.status_code, kept.json()["error"]["field"]) == (422, name)
    assert (await http.post(f"{endpoint}/rotate-secret", headers=ADMIN)).status_code == 200
    return endpoint


async def _outbound(w: World, endpoint: str) -> None:
    """The deliveries the purchases made, one retried, and the endpoint deleted."""
    http = w.http
    await outbound_store.fan_out(w.db, now=w.clock.now())
    listed = await http.get(f"{endpoint}/deliveries?limit=2", headers=ADMIN)
    assert listed.status_code == 200, listed.text
    assert listed.json()["data"], "the purchases announced events"
    first = listed.json()["data"][0]["id"]
    after = await http.get(f"{endpoint}/deliveries?starting_after={first}", headers=ADMIN)
    assert after.status_code == 200
    assert (await http.get(f"{endpoint}/deliveries?status=lost", headers=ADMIN)).status_code == 422
    retried = await http.post(f"{endpoint}/deliveries/{first}/retry", headers=ADMIN)
    assert retried.status_code == 202, retried.text
    nothing = await http.post(f"{endpoint}/deliveries/wd_none/retry", headers=ADMIN)
    assert nothing.status_code == 404
    assert (await http.delete(endpoint, headers=ADMIN)).status_code == 200
    assert (await http.delete(endpoint, headers=ADMIN)).status_code == 404
    await _email(w)
    feedback = await http.get("/api/v1/admin/feedback?kind=decline&limit=5", headers=ADMIN)
    assert feedback.status_code == 200, feedback.text
    assert (await http.get("/api/v1/admin/feedback?kind=x", headers=ADMIN)).status_code == 422


async def _email(w: World) -> None:
    """Suppressions, sends, the unsubscribe page and click, and an email's offer link."""
    http = w.http
    one = "/api/v1/admin/email/suppressions/acme"
    assert (await http.put(one, headers=ADMIN)).status_code == 200
    assert (await http.get("/api/v1/admin/email/suppressions", headers=ADMIN)).status_code == 200
    assert (await http.delete(one, headers=ADMIN)).status_code == 200
    assert (await http.delete(one, headers=ADMIN)).status_code == 404
    long = "/api/v1/admin/email/suppressions/" + "x" * 65
    assert (await http.put(long, headers=ADMIN)).status_code == 400
    assert (await http.get("/api/v1/admin/email/sends", headers=ADMIN)).status_code == 200
    secret = WIDGET_SECRET
    unsubscribe = links.sign_unsubscribe(unsubscribe_key(secret), customer_id="acme")
    assert (await http.get(f"/email/unsubscribe/{unsubscribe}")).status_code == 200
    assert (await http.get("/email/unsubscribe/nope")).status_code == 404
    assert (await http.post(f"/email/unsubscribe/{unsubscribe}")).status_code == 200
    assert (await http.post("/email/unsubscribe/nope")).status_code == 404
    linked = {
        "id": "offer_answers_link", "name": "Linked", "kind": "retention", "status": "active",
        "placements": ["emailed"], "variants": [{"key": "a", "copy": {"title": "Stay"}}],
    }  # fmt: skip
    assert (await http.post("/api/v1/admin/offers", json=linked, headers=ADMIN)).is_success
    now = w.clock.now()
    for expires, status in ((now + 60, 200), (now, 410)):
        token = links.sign_offer_link(
            link_key(secret), offer_id="offer_answers_link", customer_id="acme", expires_at=expires
        )
        opened = await http.get(f"/api/v1/widget/link?token={token}", headers=_as(w, "acme"))
        assert opened.status_code == status, opened.text
    nothing = await http.get("/api/v1/widget/link?token=x", headers=_as(w, "acme"))
    assert nothing.status_code == 404


async def test_real_answers_are_the_documented_answers(world: World) -> None:
    """Through every route of the route table, in the states a customer and an admin meet
    (lists, an upgrade, add-ons paid, waiting for 3-D Secure and declined, a trial, the
    downgrade screen, metrics, webhooks, and errors), each answer is documented for its status
    and validates against its model and the document's schema; every route's success answer is
    among them."""
    await _operations(world)
    await _catalog(world)
    await _widget(world)
    endpoint = await _endpoint(world)
    await _purchases(world)
    await _webhooks(world)
    await _outbound(world, endpoint)
    missing = {
        (op.method, op.path, op.status)
        for op in openapi.OPERATIONS
        if (op.method, op.path, op.status) not in world.answers.seen
    }
    assert not missing
