"""Every answer of the admin API and of the widget API (customer tokens), errors included, is
`Cache-Control: no-store`, whichever layer makes it (a fast path, the body limit, the router,
the exception handlers, the server-error layer); public answers keep their own caching."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from plugin.app import MAX_BODY_BYTES, create_app
from plugin.clock import FixedClock
from plugin.ratelimit import RateLimiter
from plugin.settings import Settings
from plugin.storage import Database
from tests.factories import ADMIN, customer_headers
from tests.support import started

Case = Callable[[httpx.AsyncClient, Starlette], Awaitable[httpx.Response]]
WRONG = {"Authorization": "Bearer uplift_sk_wrong"}
ACME = customer_headers("acme")
BROWSER = {"Origin": "https://app.example.com"}  # through CORS and the router, not a fast path


def _get(path: str, headers: dict[str, str] | None = None) -> Case:
    async def send(http: httpx.AsyncClient, app: Starlette) -> httpx.Response:
        return await http.get(path, headers=headers)

    return send


def _post(path: str, headers: dict[str, str], **kwargs: object) -> Case:
    async def send(http: httpx.AsyncClient, app: Starlette) -> httpx.Response:
        return await http.post(path, headers=headers, **kwargs)  # type: ignore[arg-type]

    return send


async def _admin_throttled(http: httpx.AsyncClient, app: Starlette) -> httpx.Response:
    for _ in range(10):
        assert (await http.get("/api/v1/admin/plans", headers=WRONG)).status_code == 401
    return await http.get("/api/v1/admin/plans", headers=ADMIN)


async def _widget_throttled(http: httpx.AsyncClient, app: Starlette) -> httpx.Response:
    app.state.services.customer_limiter = RateLimiter(rate=0.001, burst=1)
    assert (await http.get("/api/v1/widget/offers", headers=ACME)).status_code == 200
    return await http.get("/api/v1/widget/offers", headers=ACME)


async def _offers_twice(http: httpx.AsyncClient, app: Starlette) -> httpx.Response:
    first = await http.get("/api/v1/widget/offers?placement=storage_banner", headers=ACME)
    assert first.status_code == 200
    return await http.get("/api/v1/widget/offers?placement=storage_banner", headers=ACME)


ADMIN_CASES: dict[str, tuple[Case, int]] = {
    "plans": (_get("/api/v1/admin/plans", ADMIN), 200),
    "no-key": (_get("/api/v1/admin/plans"), 401),
    "wrong-key": (_get("/api/v1/admin/plans", WRONG), 401),
    "throttled": (_admin_throttled, 429),
    "unknown-offer": (_get("/api/v1/admin/offers/offer_nope", ADMIN), 404),
    "no-such-route": (_get("/api/v1/admin/nope", ADMIN), 404),
    "wrong-method": (_post("/api/v1/admin/metrics", ADMIN), 405),
    "invalid-field": (_get("/api/v1/admin/webhook-events?limit=0", ADMIN), 422),
    "not-json": (_post("/api/v1/admin/offers", ADMIN, content=b"x"), 415),
    "too-large": (
        _post("/api/v1/admin/offers", ADMIN, content=b" " * (MAX_BODY_BYTES + 1)),
        413,
    ),
    "entitlements": (_get("/api/v1/customers/acme/entitlements", ADMIN), 200),
    "ingest-no-key": (_post("/api/v1/feature-events", {}, json={}), 401),
}

WIDGET_CASES: dict[str, tuple[Case, int]] = {
    "offers": (_get("/api/v1/widget/offers?placement=storage_banner", ACME), 200),
    "offers-kept": (_offers_twice, 200),
    "offers-from-a-browser": (_get("/api/v1/widget/offers", {**ACME, **BROWSER}), 200),
    "offers-no-token": (_get("/api/v1/widget/offers"), 401),
    "offers-bad-token": (_get("/api/v1/widget/offers", {"Authorization": "Bearer nope"}), 401),
    "offers-no-token-from-a-browser": (_get("/api/v1/widget/offers", BROWSER), 401),
    "offers-bad-placement": (_get("/api/v1/widget/offers?placement=", ACME), 422),
    "plans": (_get("/api/v1/widget/plans", ACME), 200),
    "plans-no-token": (_get("/api/v1/widget/plans"), 401),
    "throttled": (_widget_throttled, 429),
    "event-no-token": (_post("/api/v1/widget/events", {}, json={}), 401),
    "event-unknown-offer": (
        _post(
            "/api/v1/widget/events",
            ACME,
            json={"offer_id": "offer_nope", "variant": "control", "type": "click"},
        ),
        404,
    ),
    "quote-no-token": (_post("/api/v1/widget/quotes", {}, json={"offer_id": "x"}), 401),
    "accept-no-token": (_post("/api/v1/widget/accept", {}, json={"quote_id": "x"}), 401),
    "upgrade-not-found": (_get("/api/v1/widget/upgrades/upg_nope", ACME), 404),
}


def _assert_no_store(response: httpx.Response, status: int) -> None:
    assert response.status_code == status, response.text
    assert response.headers.get_list("cache-control") == ["no-store"]


@pytest.mark.parametrize("case", list(ADMIN_CASES), ids=list(ADMIN_CASES))
async def test_admin_answers_are_never_stored(
    shop: httpx.AsyncClient, app: Starlette, case: str
) -> None:
    """Admin-key routes (the admin API and the ingest routes): success or error, no-store."""
    send, status = ADMIN_CASES[case]
    _assert_no_store(await send(shop, app), status)


@pytest.mark.parametrize("case", list(WIDGET_CASES), ids=list(WIDGET_CASES))
async def test_widget_answers_are_never_stored(
    shop: httpx.AsyncClient, app: Starlette, case: str
) -> None:
    """Customer-token routes, on the offers fast path and through the whole stack alike."""
    send, status = WIDGET_CASES[case]
    _assert_no_store(await send(shop, app), status)


async def test_an_unconfigured_widget_api_answer_is_never_stored(
    settings: Settings, clock: FixedClock, db: Database
) -> None:
    """Without UPLIFT_WIDGET_SECRET the widget API's 503 is no-store too."""
    app = create_app(settings.model_copy(update={"widget_secret": None}), clock=clock)
    async with started(app) as http:
        _assert_no_store(await http.get("/api/v1/widget/offers", headers=ACME), 503)


async def _explode(request: Request) -> Response:
    raise RuntimeError("boom")


async def test_a_server_error_on_the_api_is_never_stored(app: Starlette) -> None:
    """A 500 is sent by the server-error layer outside the middleware; it is no-store too."""
    app.router.routes.append(Route("/api/v1/admin/probe-explode", _explode))
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app, raise_app_exceptions=False),
            base_url="http://uplift.test",
        ) as http,
    ):
        _assert_no_store(await http.get("/api/v1/admin/probe-explode"), 500)


@pytest.mark.parametrize(
    ("path", "cache_control"),
    [
        ("/healthz", []),
        ("/readyz", []),
        ("/api/v1/openapi.json", []),
        ("/widget/uplift.js", ["public, max-age=300"]),
        ("/widget/uplift-modal.js", ["public, max-age=300"]),
        ("/api/v1/widget/locales/fr", ["public, max-age=300"]),
        ("/admin", ["no-cache"]),
        ("/nope", []),
    ],
)
async def test_public_answers_keep_their_caching(
    client: httpx.AsyncClient, path: str, cache_control: list[str]
) -> None:
    """Answers that are the same for everyone are not touched."""
    response = await client.get(path)
    assert response.headers.get_list("cache-control") == cache_control
