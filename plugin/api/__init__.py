"""The whole route table in one place.

One `Route` per path, dispatching on the method, so a wrong method gets a 405 whose `Allow`
header lists every method the path has (one `Route` per method would list only the first's).
The hot routes carry their own fast answer (`Row.fast`), which `create_app` hands to the one
fast-path middleware (`fast_routes`): the table is the only place their paths are written.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import NamedTuple

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from plugin.api import (
    admin,
    cohorts,
    customers,
    dashboard,
    email,
    feedback,
    health,
    ingest,
    keys,
    offers,
    openapi,
    purchases,
    revenue,
    static,
    webhook_endpoints,
    widget,
)
from plugin.middleware.fast_path import FastRoute
from plugin.webhooks import endpoint

Endpoint = Callable[[Request], Awaitable[Response]]


class Row(NamedTuple):
    method: str
    path: str
    handler: Endpoint
    # A hot route's own answer, made once per app, run before the rest of the stack
    # (plugin/middleware/fast_path.py); it must answer exactly as `handler` does.
    fast: Callable[[Limits], FastRoute] | None = None


@dataclass(frozen=True, slots=True)
class Limits:
    """What a fast answer must enforce itself, having skipped the layers that do."""

    max_body_bytes: int


TABLE: tuple[Row, ...] = (
    # The hot routes first, by traffic (the router tries routes in this order; each path has
    # one route, so the order changes no match): the widget's offers on every page view, the
    # script on every page, Stripe's deliveries.
    Row("GET", "/api/v1/widget/offers", widget.list_offers, lambda _: widget.offers_fast),
    Row("GET", "/widget/uplift.js", static.widget_script, lambda _: static.ScriptReplay()),
    Row("GET", "/widget/uplift-{part}.js", static.widget_part),
    Row(
        "POST",
        "/webhooks/stripe",
        endpoint.stripe_webhook,
        lambda limits: endpoint.DeliveryFastPath(max_bytes=limits.max_body_bytes),
    ),
    Row("GET", "/healthz", health.healthz),
    Row("GET", "/readyz", health.readyz),
    Row("GET", "/api/v1/openapi.json", openapi.openapi),
    Row("GET", "/api/v1/admin/webhook-events", admin.list_webhook_events),
    Row("POST", "/api/v1/admin/webhook-events/{event_id}/replay", admin.replay_webhook_event),
    Row("GET", "/api/v1/admin/webhook-endpoints", webhook_endpoints.list_endpoints),
    Row("POST", "/api/v1/admin/webhook-endpoints", webhook_endpoints.create_endpoint),
    Row("GET", "/api/v1/admin/webhook-endpoints/{endpoint_id}", webhook_endpoints.get_endpoint),
    Row(
        "PATCH", "/api/v1/admin/webhook-endpoints/{endpoint_id}", webhook_endpoints.update_endpoint
    ),
    Row(
        "DELETE", "/api/v1/admin/webhook-endpoints/{endpoint_id}", webhook_endpoints.delete_endpoint
    ),
    Row(
        "POST",
        "/api/v1/admin/webhook-endpoints/{endpoint_id}/rotate-secret",
        webhook_endpoints.rotate_secret,
    ),
    Row(
        "GET",
        "/api/v1/admin/webhook-endpoints/{endpoint_id}/deliveries",
        webhook_endpoints.list_deliveries,
    ),
    Row(
        "POST",
        "/api/v1/admin/webhook-endpoints/{endpoint_id}/deliveries/{delivery_id}/retry",
        webhook_endpoints.retry_delivery,
    ),
    Row("GET", "/api/v1/admin/keys", keys.list_keys),
    Row("POST", "/api/v1/admin/keys", keys.create_key),
    Row("DELETE", "/api/v1/admin/keys/{key_id}", keys.revoke_key),
    Row("GET", "/api/v1/admin/plans", offers.list_plans),
    Row("PUT", "/api/v1/admin/plans", offers.replace_plans),
    Row("GET", "/api/v1/admin/offers", offers.list_offers),
    Row("POST", "/api/v1/admin/offers", offers.create_offer),
    Row("GET", "/api/v1/admin/offers/{offer_id}", offers.get_offer),
    Row("PATCH", "/api/v1/admin/offers/{offer_id}", offers.update_offer),
    Row("DELETE", "/api/v1/admin/offers/{offer_id}", offers.archive_offer),
    Row("GET", "/api/v1/admin/offers/{offer_id}/results", offers.offer_results),
    Row("POST", "/api/v1/admin/offers/preview", offers.preview_offer),
    Row("POST", "/api/v1/admin/offers/audience", offers.draft_audience),
    Row("POST", "/api/v1/admin/offers/{offer_id}/clone", offers.clone_offer),
    Row("GET", "/api/v1/admin/offers/{offer_id}/audience", offers.offer_audience),
    Row("GET", "/api/v1/admin/offers/{offer_id}/explain", offers.explain_offer),
    Row("GET", "/api/v1/admin/audit", offers.list_audit),
    Row("GET", "/api/v1/admin/upgrades", revenue.list_upgrades),
    Row("GET", "/api/v1/admin/feedback", feedback.list_feedback),
    Row("GET", "/api/v1/admin/email/sends", email.list_sends),
    Row("GET", "/api/v1/admin/email/suppressions", email.list_suppressions),
    Row("PUT", "/api/v1/admin/email/suppressions/{customer_id}", email.put_suppression),
    Row("DELETE", "/api/v1/admin/email/suppressions/{customer_id}", email.delete_suppression),
    Row("GET", "/email/unsubscribe/{token}", email.unsubscribe_page),
    Row("POST", "/email/unsubscribe/{token}", email.unsubscribe),
    Row("GET", "/api/v1/widget/link", email.widget_link),
    Row("GET", "/api/v1/widget/locales/{locale}", static.widget_locale),
    Row("GET", "/api/v1/admin/metrics", revenue.get_metrics),
    Row("GET", "/api/v1/admin/metrics/timeseries", revenue.get_timeseries),
    Row("GET", "/api/v1/admin/metrics/cohorts", cohorts.get_cohorts),
    Row("GET", "/admin", dashboard.admin_page),
    Row("GET", "/admin/static/{name}", dashboard.admin_asset),
    Row("GET", "/api/v1/admin/customers", customers.list_customers),
    Row("GET", "/api/v1/admin/customers/{customer_id}", customers.get_customer),
    Row("PUT", "/api/v1/customers/{customer_id}", ingest.put_customer),
    Row("PATCH", "/api/v1/customers/{customer_id}", ingest.patch_customer),
    Row("GET", "/api/v1/customers/{customer_id}/entitlements", ingest.get_entitlements),
    Row("POST", "/api/v1/usage", ingest.post_usage),
    Row("POST", "/api/v1/feature-events", ingest.post_feature_event),
    Row("POST", "/api/v1/events", ingest.post_event),
    Row("GET", "/api/v1/widget/plans", widget.plan_ladder),
    Row("POST", "/api/v1/widget/events", widget.post_event),
    Row("POST", "/api/v1/widget/quotes", purchases.create_quote),
    Row("POST", "/api/v1/widget/accept", purchases.accept_quote),
    Row("GET", "/api/v1/widget/upgrades/{upgrade_id}", purchases.get_upgrade),
)


def _by_method(handlers: dict[str, Endpoint]) -> Endpoint:
    async def dispatch(request: Request) -> Response:
        # Starlette answers HEAD on GET routes; the GET handler serves it.
        return await handlers["GET" if request.method == "HEAD" else request.method](request)

    return dispatch


def routes() -> list[BaseRoute]:
    by_path: dict[str, dict[str, Endpoint]] = {}
    for row in TABLE:
        by_path.setdefault(row.path, {})[row.method] = row.handler
    return [Route(path, _by_method(h), methods=list(h)) for path, h in by_path.items()]


def fast_routes(limits: Limits) -> dict[tuple[str, str], FastRoute]:
    """The hot routes' own answers by (method, path), fresh for one app; a GET's serves HEAD
    too, as the route does."""
    answers: dict[tuple[str, str], FastRoute] = {}
    for row in TABLE:
        if row.fast is not None:
            answer = row.fast(limits)
            answers[(row.method, row.path)] = answer
            if row.method == "GET":
                answers[("HEAD", row.path)] = answer
    return answers
