"""Webhook endpoints (`/v1/webhook_endpoints`) on top of localstripe's own webhook registry.

localstripe can sign and deliver events, but only to webhooks registered through its private
`POST /_config/webhooks/{id}` with a secret the caller makes up; `/v1/webhook_endpoints` is a 404.
Here an endpoint is a stored object (so `--state-file` keeps it) registered with localstripe's
registry under its `we_` id, with a secret generated the way Stripe does and returned only by
the create call.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from typing import Any

from aiohttp import web
from localstripe import webhooks
from localstripe.resources import StripeObject, store

from localstripe_bridge import lists, params
from localstripe_bridge.errors import invalid, missing, no_such
from localstripe_bridge.params import Params
from localstripe_bridge.routes import Router

CREATE_PARAMS = {"url", "enabled_events", "description", "metadata", "api_version"}
UPDATE_PARAMS = {"url", "enabled_events", "description", "metadata", "disabled"}


class WebhookEndpoint(StripeObject):  # type: ignore[misc]  # localstripe is untyped
    object = "webhook_endpoint"
    _id_prefix = "we_"

    def __init__(self, url: str, enabled_events: list[str], **fields: Any) -> None:
        super().__init__()
        self.url = url
        self.enabled_events = enabled_events
        self.status = "enabled"
        self.description = fields.get("description")
        self.metadata = fields.get("metadata") or {}
        self.api_version = fields.get("api_version")
        self.application = None
        self._secret = f"whsec_{secrets.token_hex(24)}"

    def _register(self) -> None:
        """(Re)register with localstripe's in-memory registry, which starts empty every run."""
        # localstripe delivers an event when `events is None or event.type in events`; it has
        # no unregister, so a disabled or deleted endpoint subscribes to no event at all.
        events: list[str] | None = list(self.enabled_events)
        if self.status != "enabled":
            events = []
        elif "*" in self.enabled_events:
            events = None
        webhooks.register_webhook(self.id, self.url, self._secret, events)


def all_endpoints() -> list[WebhookEndpoint]:
    found = [v for k, v in store.items() if k.startswith(f"{WebhookEndpoint.object}:")]
    return list(reversed(found))


def register_stored() -> None:
    """After loading a state file: endpoints in the store must deliver again."""
    for endpoint in all_endpoints():
        endpoint._register()


def _retrieve(endpoint_id: str) -> WebhookEndpoint:
    endpoint = store.get(f"{WebhookEndpoint.object}:{endpoint_id}")
    if not isinstance(endpoint, WebhookEndpoint):
        raise no_such("webhook endpoint", endpoint_id, status=404)
    return endpoint


def _url(data: Params) -> str | None:
    url = params.text(data, "url")
    if url is not None and not url.startswith(("http://", "https://")):
        raise invalid("Invalid URL: URL must be http or https", param="url")
    return url


def _events(data: Params) -> list[str] | None:
    events = params.text_list(data, "enabled_events")
    if events is not None and not all(events):
        raise invalid("Invalid enabled_events: empty event type", param="enabled_events")
    return events


def _export(endpoint: WebhookEndpoint) -> dict[str, Any]:
    body: dict[str, Any] = endpoint._export()
    return body


async def create(request: web.Request, _: Mapping[str, str]) -> web.Response:
    data = await params.read(request)
    params.expand(data)
    params.only(data, CREATE_PARAMS)
    url = _url(data)
    if url is None:
        raise missing("url")
    events = _events(data)
    if not events:
        raise missing("enabled_events")
    endpoint = WebhookEndpoint(
        url,
        events,
        description=params.text(data, "description"),
        metadata=params.metadata(data),
        api_version=params.text(data, "api_version"),
    )
    endpoint._register()
    # Stripe returns the signing secret on create only.
    return web.json_response({**_export(endpoint), "secret": endpoint._secret})


async def get(request: web.Request, path: Mapping[str, str]) -> web.Response:
    return web.json_response(_export(_retrieve(path["id"])))


async def update(request: web.Request, path: Mapping[str, str]) -> web.Response:
    endpoint = _retrieve(path["id"])
    data = await params.read(request)
    params.expand(data)
    params.only(data, UPDATE_PARAMS)
    url = _url(data)
    events = _events(data)
    disabled = params.boolean(data, "disabled")
    description = params.text(data, "description")
    metadata = params.metadata(data)
    if events == []:
        raise missing("enabled_events")
    if url is not None:
        endpoint.url = url
    if events is not None:
        endpoint.enabled_events = events
    if disabled is not None:
        endpoint.status = "disabled" if disabled else "enabled"
    if "description" in data:
        endpoint.description = description or None
    endpoint.metadata = params.merge_metadata(endpoint.metadata, metadata)
    endpoint._register()
    return web.json_response(_export(endpoint))


async def delete(request: web.Request, path: Mapping[str, str]) -> web.Response:
    endpoint = _retrieve(path["id"])
    endpoint.status = "disabled"
    endpoint._register()
    del store[f"{WebhookEndpoint.object}:{endpoint.id}"]
    return web.json_response({"id": endpoint.id, "object": "webhook_endpoint", "deleted": True})


async def list_endpoints(request: web.Request, _: Mapping[str, str]) -> web.Response:
    data = await params.read(request)
    params.only(data, {"limit", "starting_after", "ending_before"})
    shown, has_more = lists.page(all_endpoints(), data, kind="webhook endpoint")
    exported = [_export(endpoint) for endpoint in shown]
    return web.json_response(lists.body("/v1/webhook_endpoints", exported, has_more))


def register(router: Router) -> None:
    router.add("POST", "/v1/webhook_endpoints", create)
    router.add("GET", "/v1/webhook_endpoints", list_endpoints)
    router.add("GET", "/v1/webhook_endpoints/{id}", get)
    router.add("POST", "/v1/webhook_endpoints/{id}", update)
    router.add("DELETE", "/v1/webhook_endpoints/{id}", delete)
