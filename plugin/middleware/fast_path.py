"""The hot routes answered before the rest of the stack.

Three routes carry nearly all traffic: the widget's offers on every page view of the SaaS, the
widget script on every page, and Stripe's deliveries in bursts. For them the layers below this
one (CORS, the body limit, the router, the exception layer, a request wrapper and a response
object per request) cost about as much as the route's own work. The route table marks them
(`plugin/api/__init__.py`, `fast=`); each brings its own answer, which does itself what the
skipped layers would have done for it (its docstring says what) and may hand a request on to
the full stack (`rest`) when it cannot. Everything else goes on untouched.

This middleware sits right inside the access log (`create_app`), so every fast answer is still
logged and gets the same headers as any other; a layer that every request must pass goes above
it. It imports no handler: `create_app` hands it the routes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from starlette.types import ASGIApp, Receive, Scope, Send


class FastRoute(Protocol):
    """A hot route's own answer; `rest` is the full stack below the fast path."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send, rest: ASGIApp) -> None: ...


class FastPathMiddleware:
    """Answers `(method, path)` pairs from `routes` itself, in one dictionary lookup; every other
    request goes on to `app`."""

    def __init__(self, app: ASGIApp, *, routes: Mapping[tuple[str, str], FastRoute]) -> None:
        self.app = app
        self.routes = dict(routes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        route = (
            self.routes.get((scope["method"], scope["path"])) if scope["type"] == "http" else None
        )
        if route is None:
            await self.app(scope, receive, send)
        else:
            await route(scope, receive, send, self.app)
