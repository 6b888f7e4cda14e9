"""`GET /api/v1/widget/offers` skips the layers between the access log and its handler; what
it answers must be exactly what those layers (CORS, the body limit, the router, the exception
handlers) would have answered."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.types import Message

from plugin.middleware.fast_path import FastPathMiddleware
from tests.factories import customer_headers

Headers = list[tuple[bytes, bytes]]


def _fast_layer(app: Starlette) -> FastPathMiddleware:
    layer: Any = app.middleware_stack
    while not isinstance(layer, FastPathMiddleware):
        layer = layer.app
    return layer


async def _answer(
    app: Starlette, layer: Any, method: str, query: bytes, headers: Headers
) -> list[Message]:
    """What `layer` sends for the request (the app's layers outside it add the same to both
    answers: the request id, `nosniff`, the access line)."""
    scope = {
        "app": app,
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": "/api/v1/widget/offers",
        "raw_path": b"/api/v1/widget/offers",
        "query_string": query,
        "root_path": "",
        "headers": [(b"host", b"uplift.test"), *headers],
        "client": ("127.0.0.1", 1),
        "server": ("uplift.test", 80),
        "state": {},
    }
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    await layer(scope, receive, send)
    return sent


def _token(customer: str) -> Headers:
    return [(b"authorization", customer_headers(customer)["Authorization"].encode())]


@pytest.mark.parametrize(
    ("method", "query", "headers"),
    [
        ("GET", b"placement=storage_banner", _token("acme")),  # an offer
        ("GET", b"placement=settings", _token("acme")),  # nothing here
        ("GET", b"", _token("stranger")),  # no placement, nothing
        ("HEAD", b"placement=storage_banner", _token("acme")),
        ("GET", b"placement=storage_banner", []),  # 401
        ("GET", b"placement=storage_banner", [(b"authorization", b"Bearer nope")]),  # 401
        ("GET", b"placement=" + b"x" * 65, _token("acme")),  # 422
        ("GET", b"placement=storage_banner&to_plan=nope", _token("acme")),  # 422
    ],
    ids=["offer", "empty", "no-placement", "head", "no-token", "bad-token", "long", "to-plan"],
)
async def test_the_fast_path_answers_as_the_whole_stack_would(
    shop: httpx.AsyncClient, app: Starlette, method: str, query: bytes, headers: Headers
) -> None:
    await shop.get("/api/v1/widget/offers", headers=customer_headers("acme"))  # builds the stack
    fast = _fast_layer(app)
    through_the_stack = await _answer(app, fast.app, method, query, headers)
    skipping_it = await _answer(app, fast, method, query, headers)
    assert skipping_it == through_the_stack
    assert (b"vary", b"Origin") in skipping_it[0]["headers"]


@pytest.mark.parametrize(
    "extra",
    [[(b"origin", b"https://saas.example")], [(b"content-length", b"10000000")]],
    ids=["origin", "declared-body"],
)
async def test_a_browser_or_a_body_takes_the_whole_stack(
    shop: httpx.AsyncClient, app: Starlette, extra: Headers
) -> None:
    """Cross-origin requests get CORS proper; a body over the limit still gets its 413."""
    await shop.get("/api/v1/widget/offers", headers=customer_headers("acme"))
    fast = _fast_layer(app)
    headers = _token("acme") + extra
    query = b"placement=storage_banner"
    assert await _answer(app, fast, "GET", query, headers) == await _answer(
        app, fast.app, "GET", query, headers
    )
