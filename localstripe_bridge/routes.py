"""A small router that runs in front of localstripe's own.

localstripe registers its routes on an application the bridge does not own, and aiohttp matches
routes in registration order, so a bridge route added afterwards could never win over
localstripe's `/v1/subscriptions/{id}`. This router is consulted first, by a middleware that sits
inside localstripe's error, auth and save-to-disk middleware (so bridged requests are
authenticated, rendered and persisted exactly like localstripe's); unmatched requests fall through
to localstripe.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping

from aiohttp import web
from aiohttp.typedefs import Handler as NextHandler

Handler = Callable[[web.Request, Mapping[str, str]], Awaitable[web.StreamResponse]]


class Router:
    def __init__(self) -> None:
        self._routes: list[tuple[str, re.Pattern[str], Handler]] = []

    def add(self, method: str, template: str, handler: Handler) -> None:
        """`template` is a path such as `/v1/prices/{id}`; `{name}` matches one path segment."""
        pattern = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", template)
        self._routes.append((method, re.compile(f"^{pattern}$"), handler))

    def match(self, method: str, path: str) -> tuple[Handler, dict[str, str]] | None:
        for route_method, pattern, handler in self._routes:
            found = pattern.match(path)
            if found and route_method == method:
                return handler, found.groupdict()
        return None

    @web.middleware
    async def middleware(self, request: web.Request, handler: NextHandler) -> web.StreamResponse:
        matched = self.match(request.method, request.path)
        if matched is None:
            return await handler(request)
        bridged, path_params = matched
        return await bridged(request, path_params)
