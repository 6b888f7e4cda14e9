"""The whole route table in one place."""

from __future__ import annotations

from starlette.routing import BaseRoute, Route

from plugin.api import health


def routes() -> list[BaseRoute]:
    return [
        Route("/healthz", health.healthz, methods=["GET"]),
        Route("/readyz", health.readyz, methods=["GET"]),
    ]
