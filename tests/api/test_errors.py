"""Every error is JSON in the contract's shape, with the status that fits."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from plugin import storage
from plugin.api.bodies import read_json
from plugin.storage import Database
from tests.support import STRIPE_TEST_KEY


def assert_error_shape(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"}
    assert body["error"]["code"] == code
    assert isinstance(body["error"]["message"], str)
    assert body["error"]["message"]


async def _echo(request: Request) -> JSONResponse:
    return JSONResponse({"got": await read_json(request)})


async def _explode(request: Request) -> Response:
    raise RuntimeError(f"boom with {STRIPE_TEST_KEY}")


@pytest.fixture
async def probe(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    """The real app (middleware, handlers) plus two probe routes that exist only in tests."""
    app.router.routes.extend(
        [Route("/probe/echo", _echo, methods=["POST"]), Route("/probe/explode", _explode)]
    )
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app, raise_app_exceptions=False),
            base_url="http://uplift.test",
        ) as http,
    ):
        yield http


async def test_liveness_answers_ok(client: httpx.AsyncClient) -> None:
    """`/healthz` says the process is up."""
    response = await client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_readiness_reports_the_schema_version(client: httpx.AsyncClient) -> None:
    """`/readyz` is 200 once the database answers and its schema is current."""
    response = await client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {
        "status": "ready",
        "schema_version": storage.migrations.available()[-1].version,
    }


async def test_readiness_is_503_while_migrations_are_pending(
    client: httpx.AsyncClient, db: Database
) -> None:
    """A worker whose schema is behind is not ready, and says what to do."""
    async with db.transaction() as conn:
        await conn.execute("DELETE FROM schema_migrations")
    response = await client.get("/readyz")
    assert_error_shape(response, 503, "not_ready")
    assert "uplift migrate" in response.json()["error"]["message"]


async def test_unknown_route_is_a_json_404(client: httpx.AsyncClient) -> None:
    """A path with no route gets 404 in the error shape, not Starlette's plain text."""
    assert_error_shape(await client.get("/nope"), 404, "not_found")


async def test_wrong_method_is_a_json_405_with_allow(client: httpx.AsyncClient) -> None:
    """A known path with the wrong method gets 405 and says which methods are allowed."""
    response = await client.post("/healthz")
    assert_error_shape(response, 405, "method_not_allowed")
    assert "GET" in response.headers["allow"]


async def test_declared_oversized_body_is_refused_with_413(probe: httpx.AsyncClient) -> None:
    """A Content-Length over 1 MiB is refused before the body is read."""
    response = await probe.post(
        "/probe/echo",
        content=b"1" * ((1 << 20) + 1),
        headers={"content-type": "application/json"},
    )
    assert_error_shape(response, 413, "payload_too_large")


async def test_streamed_oversized_body_is_refused_with_413(probe: httpx.AsyncClient) -> None:
    """A chunked body with no Content-Length is counted as it arrives."""

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(20):
            yield b"1" * 65536

    response = await probe.post(
        "/probe/echo", content=chunks(), headers={"content-type": "application/json"}
    )
    assert_error_shape(response, 413, "payload_too_large")


async def test_body_at_the_limit_is_accepted(probe: httpx.AsyncClient) -> None:
    """The limit is inclusive: exactly 1 MiB is read."""
    body = b'"' + b"x" * ((1 << 20) - 2) + b'"'
    response = await probe.post(
        "/probe/echo", content=body, headers={"content-type": "application/json"}
    )
    assert response.status_code == 200


async def test_malformed_content_length_is_a_400(client: httpx.AsyncClient) -> None:
    """A Content-Length that is not a number is a malformed request."""
    response = await client.post("/healthz", headers={"content-length": "abc"})
    assert_error_shape(response, 400, "bad_request")


async def test_every_response_says_nosniff(client: httpx.AsyncClient) -> None:
    """Browsers must not guess content types from Uplift's responses (said once)."""
    for path in ("/healthz", "/nope", "/widget/uplift.js", "/admin"):
        response = await client.get(path)
        assert response.headers.get_list("x-content-type-options") == ["nosniff"]
        assert response.headers["x-request-id"]


@pytest.mark.parametrize(
    ("content_type", "body", "status", "code"),
    [
        ("text/plain", b"{}", 415, "unsupported_media_type"),
        ("", b"{}", 415, "unsupported_media_type"),
        ("application/json", b"{not json", 400, "invalid_json"),
        ("application/json", b"\xff\xfe", 400, "invalid_json"),
        ("application/json", b"[" * 100_000, 400, "invalid_json"),
    ],
    ids=["text-plain", "no-content-type", "malformed", "invalid-utf8", "deeply-nested"],
)
async def test_bad_json_bodies_get_a_clear_4xx(
    probe: httpx.AsyncClient, content_type: str, body: bytes, status: int, code: str
) -> None:
    """Every bad body is a 4xx in the error shape, never a 500."""
    headers = {"content-type": content_type} if content_type else {}
    response = await probe.post("/probe/echo", content=body, headers=headers)
    assert_error_shape(response, status, code)


async def test_json_with_charset_is_accepted(probe: httpx.AsyncClient) -> None:
    """`application/json; charset=utf-8` is JSON."""
    response = await probe.post(
        "/probe/echo",
        content=b'{"a": 1}',
        headers={"content-type": "application/json; charset=utf-8"},
    )
    assert response.json() == {"got": {"a": 1}}


async def test_unhandled_exception_is_a_generic_json_500(
    probe: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    """The client sees `internal_error` and nothing of the exception, not even a secret in it."""
    caplog.set_level(logging.ERROR, logger="uplift")
    response = await probe.get("/probe/explode")
    assert response.status_code == 500
    assert response.json() == {
        "error": {"code": "internal_error", "message": "Something went wrong on our side."}
    }
    assert STRIPE_TEST_KEY not in response.text
    assert any(record.getMessage() == "unhandled error" for record in caplog.records)
