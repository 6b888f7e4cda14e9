"""Pure ASGI middleware: body size limit, access log, security headers; and the route order.

Pure ASGI rather than `BaseHTTPMiddleware` so request bodies stream through untouched (the
webhook endpoint must verify the exact raw bytes) and no extra task is spawned per request.
"""

from __future__ import annotations

import itertools
import json
import logging
import secrets
import time

from starlette.requests import ClientDisconnect, Request
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from plugin.api.errors import answer, to_response
from plugin.errors import BadRequest, PayloadTooLarge, UpliftError
from plugin.logs import get_logger, info_fast

log = get_logger("http")


async def _send_error(send: Send, error: UpliftError) -> None:
    status, document, _ = answer(error)
    body = json.dumps(document).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class BodyLimitMiddleware:
    """Refuse bodies over `max_bytes` with 413 before the application reads them.

    A declared Content-Length over the limit is refused up front; a chunked body is counted
    as it streams, and the application sees `PayloadTooLarge` from `receive()` once it passes.
    """

    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        refusal = self.refusal(scope)
        if refusal is not None:
            await _send_error(send, refusal)
            return
        await self.app(scope, self.limited(receive), send)

    def refusal(self, scope: Scope) -> UpliftError | None:
        """The error for a declared Content-Length that is not a number or over the limit."""
        for name, value in scope["headers"]:
            if name == b"content-length":
                if not value.isdigit():
                    return BadRequest("Content-Length is not a number.")
                if int(value) > self.max_bytes:
                    return self._too_large()
        return None

    def limited(self, receive: Receive) -> Receive:
        """`receive`, raising `PayloadTooLarge` once the body read so far passes the limit."""
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise self._too_large()
            return message

        return limited_receive

    def _too_large(self) -> PayloadTooLarge:
        return PayloadTooLarge(f"The request body is larger than {self.max_bytes} bytes.")


NO_STORE = (b"cache-control", b"no-store")


def private_path(path: str) -> bool:
    """Whether `path`'s answers are for one caller only: everything under `/api/` (the admin
    API and the ingest routes behind the admin key, the widget API behind a customer token,
    and any unknown path there) but the public OpenAPI document. Their answers, errors
    included, are `Cache-Control: no-store`: an offer list, an upgrade, a 401 or a 429 is
    about one key or one customer, and no browser or shared cache on the way may keep it."""
    return path.startswith("/api/") and path != "/api/v1/openapi.json"


class AccessLogMiddleware:
    """One log line per request: method, path (never the query string, which could carry a
    token a careless integrator put there), status, duration. Adds `X-Request-Id` and
    `X-Content-Type-Options: nosniff` to every response, and `Cache-Control: no-store` in
    place of any other to every answer on a `private_path`. This is the outermost layer of
    ours, so the fast paths' answers, the body limit's and the router's all pass here; the
    500 of the server-error layer outside it gets its no-store from `create_app`'s handler."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        # A random per-process prefix and a counter: unique across processes and restarts,
        # without uuid4's system call on every request (it showed in the offers profile).
        self._prefix = secrets.token_hex(6)
        self._counter = itertools.count(1)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request_id = f"{self._prefix}{next(self._counter):08x}"
        status = 500
        private = private_path(scope["path"])

        async def send_with_headers(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                if private:
                    headers = [h for h in message.get("headers", ()) if h[0] != b"cache-control"]
                    headers.append(NO_STORE)
                else:
                    headers = list(message.get("headers", []))
                headers.append((b"x-request-id", request_id.encode()))
                headers.append((b"x-content-type-options", b"nosniff"))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        finally:
            fields = {
                "method": scope["method"],
                "path": scope["path"],
                "status": status,
                "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                "request_id": request_id,
            }
            if log.isEnabledFor(logging.INFO) and not info_fast(log, "request", fields):
                # `log.info` would walk the stack for the caller's file and line on every
                # request (a visible share of a fast endpoint); the access log knows its own.
                log.handle(
                    log.makeRecord(
                        log.name, logging.INFO, __file__, 0, "request", (), None, extra=fields
                    )
                )  # fmt: skip


def _is_get(scope: Scope, path: str) -> bool:
    """An HTTP GET (or HEAD) of exactly `path`."""
    return scope["type"] == "http" and scope["path"] == path and scope["method"] in ("GET", "HEAD")


class WidgetScriptMiddleware:
    """`GET /widget/uplift.js` answered at once, without the router and the exception layer in
    between: every page of the SaaS loads the script. Placed inside the access log, so the
    request is logged and gets the same headers as any other; any other method or path goes
    on through the whole stack (a POST still gets its 405).

    The answer comes from the route's own handler (plugin/api/static.py), which depends on
    nothing but the file (read once per process) and three request values: the query string
    (`?v=`), `Accept-Encoding` and `If-None-Match`. So its response messages are kept per
    combination of those (the first `KEPT` combinations; others call the handler each time)
    and replayed."""

    PATH = "/widget/uplift.js"
    KEPT = 64

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._answers: dict[tuple[bytes, bytes, bytes], tuple[Message, ...]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not _is_get(scope, self.PATH):
            await self.app(scope, receive, send)
            return
        encoding = match = None
        for name, value in scope["headers"]:
            if name == b"accept-encoding" and encoding is None:
                encoding = value
            elif name == b"if-none-match" and match is None:
                match = value
        key = (scope.get("query_string", b""), encoding or b"", match or b"")
        answer = self._answers.get(key)
        if answer is None:
            from plugin.api.static import widget_script  # the route's own handler

            messages: list[Message] = []

            async def keep(message: Message) -> None:
                messages.append(message)

            response = await widget_script(Request(scope, receive))
            await response(scope, receive, keep)
            answer = tuple(messages)
            if len(self._answers) < self.KEPT:
                self._answers[key] = answer
        for message in answer:
            # Copies: a layer outside may change a message or its header list in place.
            if "headers" in message:
                message = {**message, "headers": list(message["headers"])}
            else:
                message = dict(message)
            await send(message)


class WidgetOffersMiddleware:
    """`GET /api/v1/widget/offers` handed straight to its handler (plugin/api/widget.py): every
    page view of the SaaS asks it, and the layers in between cost about as much as the
    handler's own work on a customer whose answer is kept. Placed right inside the access
    log (which sees it as before), it does itself what the skipped layers would do for a
    request with neither an `Origin` nor a `Content-Length` header: CORS adds `Vary: Origin`
    (`add_vary_origin`), the body limit has nothing to check, the script's layer passes it on,
    and the router and exception layer would call this handler and make an `UpliftError` its
    JSON answer. Anything else goes on through the whole stack: a browser's cross-origin
    request (CORS proper), a request declaring a body (the limit), other methods (a POST
    still gets its 405) and paths. tests/api/test_widget_fast_path.py compares the answers."""

    PATH = "/api/v1/widget/offers"

    def __init__(self, app: ASGIApp) -> None:
        from plugin.api.widget import list_offers  # the route's own handler

        self.app = app
        self._handler = list_offers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not _is_get(scope, self.PATH) or any(
            name == b"origin" or name == b"content-length" for name, _ in scope["headers"]
        ):
            await self.app(scope, receive, send)
            return
        try:
            response = await self._handler(Request(scope, receive))
        except UpliftError as error:
            response = to_response(error)
        add_vary_origin(response.raw_headers)
        await response(scope, receive, send)


def add_vary_origin(headers: list[tuple[bytes, bytes]]) -> None:
    """Add `Origin` to the `Vary` of a response's header list, in place, exactly as
    Starlette's CORSMiddleware does for a request without an Origin header: one `vary`
    header, in the first one's place, its values joined with ", "."""
    found = [i for i, (name, _) in enumerate(headers) if name == b"vary"]
    value = b", ".join([*(headers[i][1] for i in found), b"Origin"])
    for i in reversed(found[1:]):
        del headers[i]
    if found:
        headers[found[0]] = (b"vary", value)
    else:
        headers.append((b"vary", value))


class StripeWebhookMiddleware:
    """`POST /webhooks/stripe` handed straight to intake (plugin/webhooks/endpoint.py), without the
    layers in between, the router, the exception layer, the route's request wrapper and a
    response object per delivery: Stripe's deliveries come in bursts, and those layers cost
    about as much as verifying and parsing one. Placed right inside the access log, so the
    request is logged and gets the same headers as any other; the body limit is applied here
    with `BodyLimitMiddleware`'s own checks (a declared length refused before anything, a
    chunked body over the limit raising from `receive`, here as in the handler). It reads
    the header, then the body, then answers with the route's own bytes and headers; an
    `UpliftError` becomes its JSON answer as the app's handler would make it, anything else (a
    client gone mid-body) goes up to the server-error layer as before. Other methods go on
    through the whole stack (a GET still gets its 405)."""

    PATH = "/webhooks/stripe"

    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        from starlette.responses import Response

        from plugin.webhooks import endpoint  # the route's own steps

        self.app = app
        self._limit = BodyLimitMiddleware(app, max_bytes=max_bytes)
        self._endpoint = endpoint
        # The route answers `Response(body, media_type="application/json")`; same headers.
        self._headers = {
            body: Response(body, media_type="application/json").raw_headers
            for body in (endpoint.RECEIVED, endpoint.DUPLICATE)
        }

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != self.PATH or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        refusal = self._limit.refusal(scope)
        if refusal is not None:
            await _send_error(send, refusal)
            return
        header = None
        for name, value in scope["headers"]:
            if name == b"stripe-signature":  # the first, as `request.headers.get` takes
                header = value.decode("latin-1")
                break
        try:
            header = self._endpoint.require_signature_header(header)
            payload = await _read_body(self._limit.limited(receive))
            body = await self._endpoint.accept(scope["app"].state, header=header, payload=payload)
        except UpliftError as error:
            await to_response(error)(scope, receive, send)
            return
        headers = list(self._headers[body])
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})


async def _read_body(receive: Receive) -> bytes:
    """The whole request body, as Starlette's `Request.body()` reads it."""
    chunks = []
    while True:
        message = await receive()
        if message["type"] == "http.request":
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                return b"".join(chunks)
        elif message["type"] == "http.disconnect":
            raise ClientDisconnect


# The paths that carry nearly all traffic: the widget's offers on every page view of the SaaS,
# the script itself, and Stripe's deliveries.
HOT_PATHS = ("/api/v1/widget/offers", "/widget/uplift.js", "/webhooks/stripe")


def hot_routes_first(routes: list[BaseRoute]) -> list[BaseRoute]:
    """The same routes with the hot paths' routes moved to the front, in their own order.

    Starlette tries routes one by one with a regular expression each; the offers route sat
    two dozen routes in. Moving a route with a literal path ahead changes what matches only if
    an earlier route also matched that exact path, which `routes()` does not have (one route a
    path; tests/test_contract.py checks every documented path answers)."""
    hot = [r for r in routes if getattr(r, "path", None) in HOT_PATHS]
    hot.sort(key=lambda r: HOT_PATHS.index(getattr(r, "path", "")))
    return hot + [r for r in routes if r not in hot]
