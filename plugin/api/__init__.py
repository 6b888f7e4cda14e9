"""The whole route table in one place.

One `Route` per path, dispatching on the method, so a wrong method gets a 405 whose `Allow`
header lists every method the path has (one `Route` per method would list only the first's).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from plugin.api import (
    admin,
    dashboard,
    health,
    ingest,
    offers,
    openapi,
    purchases,
    revenue,
    static,
    widget,
)
from plugin.webhooks import endpoint

Endpoint = Callable[[Request], Awaitable[Response]]

TABLE: tuple[tuple[str, str, Endpoint], ...] = (
    ("GET", "/healthz", health.healthz),
    ("GET", "/readyz", health.readyz),
    ("GET", "/api/v1/openapi.json", openapi.openapi),
    ("GET", "/widget/uplift.js", static.widget_script),
    ("POST", "/webhooks/stripe", endpoint.stripe_webhook),
    ("GET", "/api/v1/admin/webhook-events", admin.list_webhook_events),
    ("POST", "/api/v1/admin/webhook-events/{event_id}/replay", admin.replay_webhook_event),
    ("GET", "/api/v1/admin/plans", offers.list_plans),
    ("PUT", "/api/v1/admin/plans", offers.replace_plans),
    ("GET", "/api/v1/admin/offers", offers.list_offers),
    ("POST", "/api/v1/admin/offers", offers.create_offer),
    ("GET", "/api/v1/admin/offers/{offer_id}", offers.get_offer),
    ("PATCH", "/api/v1/admin/offers/{offer_id}", offers.update_offer),
    ("DELETE", "/api/v1/admin/offers/{offer_id}", offers.archive_offer),
    ("GET", "/api/v1/admin/offers/{offer_id}/results", offers.offer_results),
    ("GET", "/api/v1/admin/audit", offers.list_audit),
    ("GET", "/api/v1/admin/upgrades", revenue.list_upgrades),
    ("GET", "/api/v1/admin/metrics", revenue.get_metrics),
    ("GET", "/api/v1/admin/metrics/timeseries", revenue.get_timeseries),
    ("GET", "/admin", dashboard.admin_page),
    ("GET", "/admin/static/{name}", dashboard.admin_asset),
    ("PUT", "/api/v1/customers/{customer_id}", ingest.put_customer),
    ("GET", "/api/v1/customers/{customer_id}/entitlements", ingest.get_entitlements),
    ("POST", "/api/v1/usage", ingest.post_usage),
    ("POST", "/api/v1/feature-events", ingest.post_feature_event),
    ("GET", "/api/v1/widget/offers", widget.list_offers),
    ("POST", "/api/v1/widget/events", widget.post_event),
    ("POST", "/api/v1/widget/quotes", purchases.create_quote),
    ("POST", "/api/v1/widget/accept", purchases.accept_quote),
    ("GET", "/api/v1/widget/upgrades/{upgrade_id}", purchases.get_upgrade),
)


def _by_method(handlers: dict[str, Endpoint]) -> Endpoint:
    async def dispatch(request: Request) -> Response:
        # Starlette answers HEAD on GET routes; the GET handler serves it.
        return await handlers["GET" if request.method == "HEAD" else request.method](request)

    return dispatch


def routes() -> list[BaseRoute]:
    by_path: dict[str, dict[str, Endpoint]] = {}
    for method, path, handler in TABLE:
        by_path.setdefault(path, {})[method] = handler
    return [Route(path, _by_method(h), methods=list(h)) for path, h in by_path.items()]
