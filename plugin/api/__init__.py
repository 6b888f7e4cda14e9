"""The whole route table in one place."""

from __future__ import annotations

from starlette.routing import BaseRoute, Route

from plugin.api import admin, health
from webhooks import endpoint


def routes() -> list[BaseRoute]:
    return [
        Route("/healthz", health.healthz, methods=["GET"]),
        Route("/readyz", health.readyz, methods=["GET"]),
        Route("/webhooks/stripe", endpoint.stripe_webhook, methods=["POST"]),
        Route("/api/v1/admin/webhook-events", admin.list_webhook_events, methods=["GET"]),
        Route(
            "/api/v1/admin/webhook-events/{event_id}/replay",
            admin.replay_webhook_event,
            methods=["POST"],
        ),
    ]
