"""`GET /admin`: the admin dashboard, one HTML page with its script and stylesheet.

The page holds no data and needs no credentials to load: the admin types a key into it, the
script keeps the key in sessionStorage (this tab only, gone when it closes) and calls the admin
API with it, exactly as any other API client would. So the page itself is static, and a strict
CSP can forbid everything but this server's own script, style and API: no inline script or
style, no other origin, no framing, no form submission, and Trusted Types required (the
script builds the DOM with createElement and textContent only, so it never needs a policy).

The files live beside the widget (`static/admin/`: the repository's, or a wheel's data files;
plugin.api.static.static_dir), read once per app on first use. The
page learns Stripe's zero- and three-decimal currencies from plugin.billing.money, so the amounts it
formats use the same exponent the server does.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response

from plugin.api.static import static_dir
from plugin.billing import money
from plugin.errors import NotFound

ADMIN_DIR = static_dir("admin")
ASSETS = {
    "admin.js": "text/javascript; charset=utf-8",
    "console.js": "text/javascript; charset=utf-8",
    "admin.css": "text/css; charset=utf-8",
}
CSP = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        # `data:` only for the page's empty icon, which saves the browser a /favicon.ico 404.
        "img-src 'self' data:",
        "connect-src 'self'",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
        "require-trusted-types-for 'script'",
        "trusted-types 'none'",
    ]
)
# (X-Content-Type-Options: nosniff comes with every response, from AccessLogMiddleware.)
HEADERS = {
    "Content-Security-Policy": CSP,
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    # The page is small and changes with each release; revalidate rather than guess.
    "Cache-Control": "no-cache",
}


@dataclass(frozen=True, slots=True)
class File:
    body: bytes
    etag: str


def _load(name: str) -> File:
    body = (ADMIN_DIR / name).read_bytes()
    if name == "index.html":
        body = body.replace(
            b"__ZERO_DECIMAL__", " ".join(sorted(money.ZERO_DECIMAL)).encode()
        ).replace(b"__THREE_DECIMAL__", " ".join(sorted(money.THREE_DECIMAL)).encode())
    return File(body, '"' + hashlib.sha256(body).hexdigest()[:32] + '"')


def _file(request: Request, name: str) -> File:
    cache: dict[str, File] | None = getattr(request.app.state, "admin_files", None)
    if cache is None:
        cache = request.app.state.admin_files = {}
    if name not in cache:
        cache[name] = _load(name)
    return cache[name]


def _respond(request: Request, name: str, media_type: str) -> Response:
    found = _file(request, name)
    headers = {**HEADERS, "ETag": found.etag}
    if found.etag in request.headers.get("if-none-match", ""):
        return Response(status_code=304, headers=headers)
    return Response(found.body, headers=headers, media_type=media_type)


async def admin_page(request: Request) -> Response:
    return _respond(request, "index.html", "text/html; charset=utf-8")


async def admin_asset(request: Request) -> Response:
    name = request.path_params["name"]
    if name not in ASSETS:
        raise NotFound(f"No admin asset named {name[:40]!r}.")
    return _respond(request, name, ASSETS[name])
