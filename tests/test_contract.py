"""The public surface of docs/contract.md, locked: every route is documented in the OpenAPI
document, every documented route exists, nothing outside the contract is served, and every
setting is in the contract's and the README's tables."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from starlette.routing import Route

from plugin.api import openapi, routes
from plugin.app import create_app
from plugin.demo.site import demo_routes
from plugin.settings import Settings, load_settings

# docs/contract.md's route table, copied: a change there is a change here, on purpose.
CONTRACT = {
    ("GET", "/healthz"),
    ("GET", "/readyz"),
    ("POST", "/webhooks/stripe"),
    ("GET", "/widget/uplift.js"),
    ("GET", "/widget/uplift-{part}.js"),
    ("GET", "/api/v1/widget/offers"),
    ("POST", "/api/v1/widget/quotes"),
    ("POST", "/api/v1/widget/accept"),
    ("GET", "/api/v1/widget/upgrades/{upgrade_id}"),
    ("POST", "/api/v1/widget/events"),
    # Added to the contract (docs/contract.md) by issue 20: the console's customer screens.
    ("GET", "/api/v1/admin/customers"),
    ("GET", "/api/v1/admin/customers/{customer_id}"),
    ("PUT", "/api/v1/customers/{customer_id}"),
    # Added to the contract (docs/contract.md) by issue 20: a merge patch beside PUT's replace.
    ("PATCH", "/api/v1/customers/{customer_id}"),
    ("POST", "/api/v1/usage"),
    ("POST", "/api/v1/feature-events"),
    # Added to the contract (docs/contract.md) by issue 22: product events, for `event` rules.
    ("POST", "/api/v1/events"),
    ("GET", "/api/v1/admin/plans"),
    ("PUT", "/api/v1/admin/plans"),
    ("GET", "/api/v1/admin/offers"),
    ("POST", "/api/v1/admin/offers"),
    ("GET", "/api/v1/admin/offers/{offer_id}"),
    ("PATCH", "/api/v1/admin/offers/{offer_id}"),
    ("DELETE", "/api/v1/admin/offers/{offer_id}"),
    ("GET", "/api/v1/customers/{customer_id}/entitlements"),
    ("GET", "/api/v1/admin/offers/{offer_id}/results"),
    # Added to the contract (docs/contract.md) by issue 20: clones, who an offer reaches, and
    # why not.
    ("POST", "/api/v1/admin/offers/{offer_id}/clone"),
    ("POST", "/api/v1/admin/offers/preview"),
    ("POST", "/api/v1/admin/offers/audience"),
    ("GET", "/api/v1/admin/offers/{offer_id}/audience"),
    ("GET", "/api/v1/admin/offers/{offer_id}/explain"),
    ("GET", "/api/v1/admin/audit"),
    ("GET", "/api/v1/admin/upgrades"),
    ("GET", "/api/v1/admin/metrics"),
    # Added to the contract (docs/contract.md) on purpose: the dashboard's metrics over time.
    ("GET", "/api/v1/admin/metrics/timeseries"),
    # Added to the contract (docs/contract.md) by issue 19: cohorts (NDR curves, adoption).
    ("GET", "/api/v1/admin/metrics/cohorts"),
    ("GET", "/api/v1/admin/webhook-events"),
    ("POST", "/api/v1/admin/webhook-events/{event_id}/replay"),
    # Added to the contract (docs/contract.md) by issue 20: admin keys over the API.
    ("GET", "/api/v1/admin/keys"),
    ("POST", "/api/v1/admin/keys"),
    ("DELETE", "/api/v1/admin/keys/{key_id}"),
    # Issue 21: outbound webhook endpoints and their deliveries.
    ("GET", "/api/v1/admin/webhook-endpoints"),
    ("POST", "/api/v1/admin/webhook-endpoints"),
    ("GET", "/api/v1/admin/webhook-endpoints/{endpoint_id}"),
    ("PATCH", "/api/v1/admin/webhook-endpoints/{endpoint_id}"),
    ("DELETE", "/api/v1/admin/webhook-endpoints/{endpoint_id}"),
    ("POST", "/api/v1/admin/webhook-endpoints/{endpoint_id}/rotate-secret"),
    ("GET", "/api/v1/admin/webhook-endpoints/{endpoint_id}/deliveries"),
    ("POST", "/api/v1/admin/webhook-endpoints/{endpoint_id}/deliveries/{delivery_id}/retry"),
    ("GET", "/api/v1/admin/feedback"),
    # Issue 21: lifecycle email.
    ("GET", "/api/v1/admin/email/sends"),
    ("GET", "/api/v1/admin/email/suppressions"),
    ("PUT", "/api/v1/admin/email/suppressions/{customer_id}"),
    ("DELETE", "/api/v1/admin/email/suppressions/{customer_id}"),
    ("GET", "/email/unsubscribe/{token}"),
    ("POST", "/email/unsubscribe/{token}"),
    ("GET", "/api/v1/widget/link"),
    # Issue 23: the widget's catalogues of words, fetched on first use of a language.
    ("GET", "/api/v1/widget/locales/{locale}"),
    # The widget's pricing table: the plan ladder with the customer's place on it.
    ("GET", "/api/v1/widget/plans"),
    ("GET", "/api/v1/openapi.json"),
    ("GET", "/admin"),
    # Added to the contract (docs/contract.md) on purpose: the dashboard's script and stylesheet
    # (a strict CSP forbids inline ones).
    ("GET", "/admin/static/{name}"),
    ("GET", "/demo"),
}

# Contract routes whose issues have not landed yet; this set only shrinks.
PENDING: set[tuple[str, str]] = set()

# Served only by `uplift demo` (`Settings.demo`): create_app adds plugin.demo.site's routes then.
# They stay out of the OpenAPI document, which describes what `uplift serve` answers to an
# integrator; the demo app is a page about the widget, not an API of Uplift's.
DEMO_ONLY = {("GET", "/demo")}


def _served() -> set[tuple[str, str]]:
    pairs = set()
    for route in routes():
        assert isinstance(route, Route)
        for method in route.methods or ():
            if method != "HEAD":
                pairs.add((method, route.path))
    return pairs


def test_openapi_documents_exactly_the_served_routes() -> None:
    """The OpenAPI operations and the route table name the same (method, path) pairs."""
    documented = {(op.method, op.path) for op in openapi.OPERATIONS}
    assert documented == _served()


def test_served_routes_are_the_contract_minus_what_is_pending() -> None:
    """Nothing outside docs/contract.md is served, and every contract route is served or
    pending."""
    assert _served() == CONTRACT - PENDING - DEMO_ONLY


async def test_demo_app_is_served_only_in_demo_mode(settings: Settings) -> None:
    """`GET /demo` is a 404 on a normal server and the demo page under a strict CSP in demo
    mode; every demo route lives under /demo."""
    demo_paths = {route.path for route in demo_routes() if isinstance(route, Route)}
    assert all(path == "/demo" or path.startswith("/demo/") for path in demo_paths)
    for demo, status in ((False, 404), (True, 200)):
        app = create_app(settings, demo=demo)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            response = await client.get("/demo")
        assert response.status_code == status
    assert response.headers["content-type"].startswith("text/html")
    assert "script-src 'self';" in response.headers["content-security-policy"]


async def test_no_environment_variable_turns_demo_mode_on(
    monkeypatch: pytest.MonkeyPatch, database_url: str
) -> None:
    """The demo hands out widget tokens for any demo customer, so only `uplift demo` can turn
    it on (a `create_app` argument); `UPLIFT_DEMO=1` on a real server changes nothing."""
    monkeypatch.setenv("UPLIFT_DEMO", "1")
    app = create_app(load_settings(database_url=database_url))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        assert (await client.get("/demo")).status_code == 404
        assert (await client.get("/demo/api/session?customer=dana")).status_code == 404


async def test_openapi_document_is_served_without_auth(client: httpx.AsyncClient) -> None:
    """`GET /api/v1/openapi.json` is OpenAPI 3.1 with request schemas from the same models."""
    response = await client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    document = response.json()
    assert document["openapi"] == "3.1.0"
    offer = document["components"]["schemas"]["OfferIn"]
    assert offer["additionalProperties"] is False
    create = document["paths"]["/api/v1/admin/offers"]["post"]
    assert create["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/OfferIn"
    }
    assert create["security"] == [{"adminKey": []}]
    refs = _refs(document)
    assert refs
    assert all(
        ref.removeprefix("#/components/schemas/") in document["components"]["schemas"]
        for ref in refs
    )


def _refs(node: object) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return found + [r for value in node.values() for r in _refs(value)]
    if isinstance(node, list):
        return [r for value in node for r in _refs(value)]
    return []


@pytest.mark.parametrize("document", ["docs/contract.md", "README.md"])
def test_every_setting_is_in_the_documented_settings_table(document: str) -> None:
    """Each `UPLIFT_*` variable the settings read has a row of its own in the table."""
    text = (Path(__file__).resolve().parent.parent / document).read_text(encoding="utf-8")
    rows = [line for line in text.splitlines() if line.startswith("| `UPLIFT_")]
    for name in Settings.model_fields:
        variable = f"`UPLIFT_{name.upper()}`"
        assert any(variable in row.split("|")[1] for row in rows), f"{variable} in {document}"
