"""CORS for the widget API only; and `Vary: Origin` exactly as Starlette's CORSMiddleware
adds it, for the answers that skip it (the widget offers fast path)."""

from __future__ import annotations

from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class WidgetCorsMiddleware:
    """CORS for `/api/v1/widget/*` only, for the origins in `UPLIFT_ALLOWED_ORIGINS`: the widget
    runs on the SaaS's pages, everything else (admin, ingest, webhooks) is server to server and
    gets no CORS headers at all. CORS is not access control (docs/reliability.md rule 10): the
    customer token in `Authorization` is, so no credentials (cookies) are allowed."""

    PREFIX = "/api/v1/widget/"

    def __init__(self, app: ASGIApp, *, allowed_origins: list[str]) -> None:
        self.app = app
        self.cors = CORSMiddleware(
            app,
            allow_origins=allowed_origins,
            allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "Content-Type", "Idempotency-Key"],
            max_age=600,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith(self.PREFIX):
            if any(name == b"origin" for name, _ in scope["headers"]):
                await self.cors(scope, receive, send)
            else:
                # No Origin (not a browser's cross-origin call): all CORSMiddleware would do
                # is add `Vary: Origin`, which `_vary_origin` does without its per-request
                # header objects (a visible share of the offers endpoint).
                await self.app(scope, receive, _vary_origin(send))
        else:
            await self.app(scope, receive, send)


def _vary_origin(send: Send) -> Send:
    """`send`, adding `Origin` to the response's `Vary` as Starlette's CORSMiddleware does for
    a request without an Origin header (`add_vary_origin`, on the message's header list)."""

    async def sender(message: Message) -> None:
        if message["type"] == "http.response.start":
            add_vary_origin(message.setdefault("headers", []))
        await send(message)

    return sender


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
