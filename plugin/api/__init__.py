"""The whole route table in one place."""

from __future__ import annotations

from starlette.routing import BaseRoute, Route

from plugin.api import admin, health, ingest, offers, openapi, widget
from webhooks import endpoint


def routes() -> list[BaseRoute]:
    return [
        Route("/healthz", health.healthz, methods=["GET"]),
        Route("/readyz", health.readyz, methods=["GET"]),
        Route("/api/v1/openapi.json", openapi.openapi, methods=["GET"]),
        Route("/webhooks/stripe", endpoint.stripe_webhook, methods=["POST"]),
        Route("/api/v1/admin/webhook-events", admin.list_webhook_events, methods=["GET"]),
        Route(
            "/api/v1/admin/webhook-events/{event_id}/replay",
            admin.replay_webhook_event,
            methods=["POST"],
        ),
        Route("/api/v1/admin/plans", offers.list_plans, methods=["GET"]),
        Route("/api/v1/admin/plans", offers.replace_plans, methods=["PUT"]),
        Route("/api/v1/admin/offers", offers.list_offers, methods=["GET"]),
        Route("/api/v1/admin/offers", offers.create_offer, methods=["POST"]),
        Route("/api/v1/admin/offers/{offer_id}", offers.get_offer, methods=["GET"]),
        Route("/api/v1/admin/offers/{offer_id}", offers.update_offer, methods=["PATCH"]),
        Route("/api/v1/admin/offers/{offer_id}", offers.archive_offer, methods=["DELETE"]),
        Route("/api/v1/admin/offers/{offer_id}/results", offers.offer_results, methods=["GET"]),
        Route("/api/v1/admin/audit", offers.list_audit, methods=["GET"]),
        Route("/api/v1/customers/{customer_id}", ingest.put_customer, methods=["PUT"]),
        Route(
            "/api/v1/customers/{customer_id}/entitlements",
            ingest.get_entitlements,
            methods=["GET"],
        ),
        Route("/api/v1/usage", ingest.post_usage, methods=["POST"]),
        Route("/api/v1/feature-events", ingest.post_feature_event, methods=["POST"]),
        Route("/api/v1/widget/offers", widget.list_offers, methods=["GET"]),
        Route("/api/v1/widget/events", widget.post_event, methods=["POST"]),
    ]
