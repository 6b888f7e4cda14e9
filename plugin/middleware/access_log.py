"""The access log: the outermost layer of ours."""

from __future__ import annotations

import itertools
import logging
import secrets
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from plugin.logs import get_logger, info_fast

log = get_logger("http")

NO_STORE = (b"cache-control", b"no-store")


PUBLIC_LOCALES = "/api/v1/widget/locales/"


def private_path(path: str) -> bool:
    """Whether `path`'s answers are for one caller only: everything under `/api/` (the admin
    API and the ingest routes behind the admin key, the widget API behind a customer token,
    and any unknown path there) but the public OpenAPI document and the widget's language
    catalogues (the same file for everyone, cached immutably at its versioned URL). Their
    answers, errors included, are `Cache-Control: no-store`: an offer list, an upgrade, a 401 or
    a 429 is about one key or one customer, and no browser or shared cache on the way may keep
    it."""
    if not path.startswith("/api/") or path == "/api/v1/openapi.json":
        return False
    return not (path.startswith(PUBLIC_LOCALES) and "/" not in path[len(PUBLIC_LOCALES) :])


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
