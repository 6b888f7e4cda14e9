"""`GET /widget/uplift.js` and CORS on the widget API, through the ASGI app."""

from __future__ import annotations

import gzip
import hashlib
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from plugin.api.static import WIDGET_PATH
from plugin.app import create_app
from plugin.clock import FixedClock
from plugin.settings import Settings
from plugin.storage import Database
from tests.factories import customer_headers

ALLOWED = "https://app.example.com"
SOURCE = WIDGET_PATH.read_bytes()
VERSION = hashlib.sha256(SOURCE).hexdigest()[:12]


@pytest.fixture
async def http(
    settings: Settings, clock: FixedClock, db: Database
) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings.model_copy(update={"allowed_origins": [ALLOWED]}), clock=clock)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client,
    ):
        yield client


async def test_script_is_served_gzipped_when_accepted(http: httpx.AsyncClient) -> None:
    """With `Accept-Encoding: gzip` the body is the gzipped file, as JavaScript, cached 5 min."""
    response = await http.get("/widget/uplift.js", headers={"Accept-Encoding": "gzip"})
    assert response.status_code == 200
    assert response.headers["content-encoding"] == "gzip"
    assert response.headers["content-type"] == "text/javascript; charset=utf-8"
    assert response.headers["cache-control"] == "public, max-age=300"
    assert response.headers["vary"] == "Accept-Encoding"
    assert response.content == SOURCE  # httpx decoded the gzip body
    assert int(response.headers["content-length"]) == len(gzip.compress(SOURCE, 9, mtime=0))


async def test_script_is_served_plain_without_gzip(http: httpx.AsyncClient) -> None:
    """A client that does not accept gzip (or refuses it with q=0) gets the plain file."""
    for accept in ("identity", "gzip;q=0"):
        response = await http.get("/widget/uplift.js", headers={"Accept-Encoding": accept})
        assert "content-encoding" not in response.headers
        assert response.content == SOURCE


async def test_etag_revalidation_answers_304(http: httpx.AsyncClient) -> None:
    """The ETag is strong, stable, and names the representation (gzipped or not); sending
    either back gets a 304 with no body."""
    first = await http.get("/widget/uplift.js")
    etag = first.headers["etag"]
    assert etag.startswith('"')  # strong: no W/ prefix
    assert (await http.get("/widget/uplift.js")).headers["etag"] == etag
    plain = await http.get("/widget/uplift.js", headers={"Accept-Encoding": "identity"})
    assert plain.headers["etag"] == etag.replace("-gzip", "")
    assert plain.headers["etag"] != etag
    revalidated = await http.get(
        "/widget/uplift.js",
        headers={"Accept-Encoding": "identity", "If-None-Match": etag},
    )
    assert revalidated.status_code == 304
    again = await http.get("/widget/uplift.js", headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert again.content == b""
    assert again.headers["etag"] == etag
    other = await http.get("/widget/uplift.js", headers={"If-None-Match": '"something-else"'})
    assert other.status_code == 200


async def test_versioned_url_is_cached_for_a_year(http: httpx.AsyncClient) -> None:
    """`?v=<hash of the file>` is immutable for a year; a stale `v` gets the short cache."""
    current = await http.get(f"/widget/uplift.js?v={VERSION}")
    assert current.headers["cache-control"] == "public, max-age=31536000, immutable"
    stale = await http.get("/widget/uplift.js?v=000000000000")
    assert stale.headers["cache-control"] == "public, max-age=300"


async def test_widget_api_allows_only_configured_origins(http: httpx.AsyncClient) -> None:
    """A preflight from an allowed origin is answered with its headers; any other origin gets
    no `Access-Control-Allow-Origin`, and a browser would refuse to read the response."""
    preflight = {
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization, content-type, idempotency-key",
    }
    allowed = await http.options("/api/v1/widget/accept", headers={"Origin": ALLOWED, **preflight})
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == ALLOWED
    assert "idempotency-key" in allowed.headers["access-control-allow-headers"].lower()
    assert "access-control-allow-credentials" not in allowed.headers

    denied = await http.options(
        "/api/v1/widget/accept", headers={"Origin": "https://evil.example", **preflight}
    )
    assert denied.status_code == 400
    assert "access-control-allow-origin" not in denied.headers

    offers = await http.get(
        "/api/v1/widget/offers", headers={"Origin": ALLOWED, **customer_headers("acme")}
    )
    assert offers.headers["access-control-allow-origin"] == ALLOWED
    evil = await http.get(
        "/api/v1/widget/offers",
        headers={"Origin": "https://evil.example", **customer_headers("acme")},
    )
    assert "access-control-allow-origin" not in evil.headers


async def test_cors_is_only_for_the_widget_api(http: httpx.AsyncClient) -> None:
    """Admin and ingest routes answer no CORS headers, even to an allowed origin."""
    response = await http.get("/api/v1/admin/plans", headers={"Origin": ALLOWED})
    assert "access-control-allow-origin" not in response.headers
    preflight = await http.options(
        "/api/v1/admin/plans",
        headers={"Origin": ALLOWED, "Access-Control-Request-Method": "GET"},
    )
    assert "access-control-allow-origin" not in preflight.headers


async def test_openapi_describes_the_script_as_the_javascript_it_serves(
    http: httpx.AsyncClient,
) -> None:
    """The OpenAPI document gives the script's response the media type it is served with."""
    served = await http.get("/widget/uplift.js")
    document = (await http.get("/api/v1/openapi.json")).json()
    content = document["paths"]["/widget/uplift.js"]["get"]["responses"]["200"]["content"]
    assert list(content) == [served.headers["content-type"].partition(";")[0]]
    assert content["text/javascript"]["schema"] == {"type": "string"}


PARTS = sorted(WIDGET_PATH.parent.glob("uplift-*.js"))


@pytest.mark.parametrize("path", PARTS, ids=lambda p: p.name)
async def test_core_names_each_part_by_an_immutable_url(
    http: httpx.AsyncClient, path: Path
) -> None:
    """The core knows each part by the hash of its bytes; at that `?v=` the part is served as
    JavaScript, cached immutably, readable from any origin (a module script from another origin
    is read only with CORS), gzipped when accepted."""
    part = path.stem.removeprefix("uplift-")
    body = path.read_bytes()  # noqa: ASYNC240 -- a small file, read once
    version = hashlib.sha256(body).hexdigest()[:12]
    assert f'{part}:"{version}"' in SOURCE.decode()
    answer = await http.get(
        f"/widget/uplift-{part}.js?v={version}",
        headers={"Accept-Encoding": "gzip", "Origin": "https://elsewhere.example"},
    )
    assert answer.status_code == 200
    assert answer.content == body
    assert answer.headers["content-type"] == "text/javascript; charset=utf-8"
    assert answer.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert answer.headers["access-control-allow-origin"] == "*"
    assert answer.headers["content-encoding"] == "gzip"
    stale = await http.get(f"/widget/uplift-{part}.js?v=000000000000")
    assert stale.headers["cache-control"] == "public, max-age=300"


async def test_an_unknown_part_is_a_json_404(http: httpx.AsyncClient) -> None:
    answer = await http.get("/widget/uplift-nothing.js")
    assert answer.status_code == 404
    assert answer.json()["error"]["code"] == "unknown_part"


async def test_core_names_each_catalogue_by_an_immutable_url(http: httpx.AsyncClient) -> None:
    """Each language's catalogue is fetched at `?v=<hash of its bytes>`, cached immutably."""
    catalogues = sorted((WIDGET_PATH.parent / "locales").glob("*.json"))
    assert catalogues
    for path in catalogues:
        version = hashlib.sha256(path.read_bytes()).hexdigest()[:12]
        assert f'{path.stem}:"{version}"' in SOURCE.decode()
        answer = await http.get(f"/api/v1/widget/locales/{path.stem}?v={version}")
        assert answer.headers["cache-control"] == "public, max-age=31536000, immutable"
