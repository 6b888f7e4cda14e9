"""Outbound webhook endpoints over the admin API: register, list, change, delete, rotate the
secret, and look at (and retry) deliveries.

The secret is shown twice in an endpoint's life: in the answer that creates it and in the one
that rotates it; a rotated-out secret keeps signing for 24 hours beside the new one. A URL
that is not allowed (not http(s), credentials in it, a loopback/private/reserved address) is a
422 when it is registered or changed, and is checked again at every delivery
(plugin/outbound/addresses.py). Every change is written to the audit log.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse

from plugin.api.admin import require_admin
from plugin.api.answers import (
    DeletedOut,
    WebhookAttemptOut,
    WebhookDeliveryListOut,
    WebhookDeliveryOut,
    WebhookEndpointListOut,
    WebhookEndpointOut,
    WebhookEndpointSecretOut,
)
from plugin.api.bodies import read_model
from plugin.api.paging import limit_param, list_response
from plugin.api.schemas import WebhookEndpointIn, WebhookEndpointPatch
from plugin.errors import NotFound, ValidationFailed
from plugin.outbound import addresses, signing
from plugin.services import services
from plugin.storage import Connection
from plugin.storage import audit as audit_store
from plugin.storage import outbound as store

NO_STORE = {"Cache-Control": "no-store"}
MAX_ENDPOINTS = 50


def endpoint_document(record: store.EndpointRecord) -> WebhookEndpointOut:
    return WebhookEndpointOut(
        object="webhook_endpoint",
        id=record.id,
        url=record.url,
        description=record.description,
        events=record.events,
        enabled=record.enabled,
        disabled_reason=record.disabled_reason,
        failing_since=record.failing_since,
        created=record.created_at,
        updated=record.updated_at,
    )


def _with_secret(record: store.EndpointRecord) -> JSONResponse:
    answer = WebhookEndpointSecretOut(
        **endpoint_document(record).model_dump(), secret=record.secret
    )
    return JSONResponse(answer.document(), headers=NO_STORE)


async def _checked_url(request: Request, url: str) -> str:
    """The URL, if a delivery may go there (the same check as at delivery)."""
    target = addresses.parse(url.strip())
    allow = services(request).settings.outbound_allow_private_networks
    await addresses.resolve(target, allow_private=allow)
    return url.strip()


def _events(events: list[str]) -> list[str]:
    return ["*"] if "*" in events else sorted(set(events))


async def list_endpoints(request: Request) -> JSONResponse:
    """Every endpoint, oldest first (an operator's few: not paged)."""
    await require_admin(request)
    records = await store.list_endpoints(services(request).db)
    answer = WebhookEndpointListOut(
        object="list", data=[endpoint_document(r) for r in records], has_more=False
    )
    return JSONResponse(answer.document())


async def create_endpoint(request: Request) -> JSONResponse:
    admin = await require_admin(request)
    ctx = services(request)
    body = await read_model(request, WebhookEndpointIn)
    url = await _checked_url(request, body.url)
    if len(await store.list_endpoints(ctx.db)) >= MAX_ENDPOINTS:
        raise ValidationFailed(
            f"At most {MAX_ENDPOINTS} webhook endpoints; delete one first.",
            code="too_many_endpoints",
        )
    now = ctx.clock.now()
    async with ctx.db.transaction() as conn:
        record = await store.create_endpoint(
            conn,
            url=url,
            description=body.description,
            events=_events(list(body.events)),
            enabled=body.enabled,
            secret=signing.new_secret(),
            now=now,
        )
        await _audit(conn, admin.key_id, "webhook_endpoint.create", record, now)
    response = _with_secret(record)
    response.status_code = 201
    return response


async def get_endpoint(request: Request) -> JSONResponse:
    await require_admin(request)
    async with services(request).db.read() as conn:
        record = await _found(conn, request)
    return JSONResponse(endpoint_document(record).document())


async def update_endpoint(request: Request) -> JSONResponse:
    """Change what is sent (a JSON merge patch of url, events, description, enabled: a null
    description removes it; url, events and enabled cannot be removed). Enabling an endpoint
    Uplift disabled clears the reason and the failure streak."""
    admin = await require_admin(request)
    ctx = services(request)
    body = await read_model(request, WebhookEndpointPatch)
    changes: dict[str, Any] = body.model_dump(exclude_unset=True)
    for name in ("url", "events", "enabled"):
        if name in changes and changes[name] is None:  # merge patch: null removes, and these stay
            raise ValidationFailed(f"{name} cannot be removed.", field=name)
    if "description" in changes and changes["description"] is None:
        changes["description"] = ""
    if "url" in changes:
        changes["url"] = await _checked_url(request, changes["url"])
    if "events" in changes:
        changes["events"] = _events(changes["events"])
    now = ctx.clock.now()
    async with ctx.db.transaction() as conn:
        await _found(conn, request)
        record = await store.update_endpoint(
            conn, request.path_params["endpoint_id"], now=now, **changes
        )
        assert record is not None  # noqa: S101 -- found in this transaction
        await _audit(conn, admin.key_id, "webhook_endpoint.update", record, now)
    return JSONResponse(endpoint_document(record).document())


async def delete_endpoint(request: Request) -> JSONResponse:
    admin = await require_admin(request)
    ctx = services(request)
    now = ctx.clock.now()
    async with ctx.db.transaction() as conn:
        record = await _found(conn, request)
        await store.delete_endpoint(conn, record.id, now=now)
        await _audit(conn, admin.key_id, "webhook_endpoint.delete", record, now)
    return JSONResponse(
        DeletedOut(object="webhook_endpoint", id=record.id, deleted=True).document()
    )


async def rotate_secret(request: Request) -> JSONResponse:
    """A new secret, shown here once; the old one keeps signing beside it for 24 hours."""
    admin = await require_admin(request)
    ctx = services(request)
    now = ctx.clock.now()
    async with ctx.db.transaction() as conn:
        found = await _found(conn, request)
        record = await store.rotate_secret(
            conn,
            found.id,
            secret=signing.new_secret(),
            overlap_until=now + signing.ROTATION_OVERLAP,
            now=now,
        )
        assert record is not None  # noqa: S101 -- found in this transaction
        await _audit(conn, admin.key_id, "webhook_endpoint.rotate_secret", record, now)
    return _with_secret(record)


async def list_deliveries(request: Request) -> JSONResponse:
    """The endpoint's deliveries, newest first, each with every attempt (status code, latency,
    error); `status` filters, `starting_after` a delivery id pages."""
    await require_admin(request)
    ctx = services(request)
    params = request.query_params
    status = params.get("status")
    if status is not None and status not in ("pending", "succeeded", "failed"):
        raise ValidationFailed("status must be pending, succeeded or failed.", field="status")
    limit = limit_param(params.get("limit"))
    async with ctx.db.read() as conn:
        record = await _found(conn, request)
        before = None
        after = params.get("starting_after")
        if after is not None:
            before = await store.delivery_seq(conn, endpoint_id=record.id, delivery_id=after[:64])
            if before is None:
                raise ValidationFailed(
                    "starting_after must be a delivery of this endpoint.", field="starting_after"
                )
    rows = await store.deliveries(
        ctx.db, endpoint_id=record.id, status=status, before_seq=before, limit=limit + 1
    )
    return list_response(WebhookDeliveryListOut, [delivery_document(d) for d in rows], limit=limit)


async def retry_delivery(request: Request) -> JSONResponse:
    """Try a delivery again now (a failed one gets a fresh 3 days)."""
    admin = await require_admin(request)
    ctx = services(request)
    delivery_id = request.path_params["delivery_id"][:64]
    now = ctx.clock.now()
    async with ctx.db.transaction() as conn:
        record = await _found(conn, request)
        if not record.enabled:
            raise ValidationFailed(
                "The endpoint is disabled; enable it first.", code="endpoint_disabled"
            )
        if not await store.retry(conn, endpoint_id=record.id, delivery_id=delivery_id, now=now):
            raise NotFound(
                f"No delivery {delivery_id!r} to this endpoint.", code="delivery_not_found"
            )
        await audit_store.record(
            conn,
            actor=admin.key_id,
            action="webhook_delivery.retry",
            target=delivery_id,
            detail={"endpoint": record.id},
            now=now,
        )
    worker = getattr(request.app.state, "outbound_worker", None)
    if worker is not None:
        worker.wake()
    (delivery,) = await store.deliveries(
        ctx.db, endpoint_id=record.id, status=None, before_seq=None, limit=1, only=delivery_id
    )
    return JSONResponse(delivery_document(delivery).document(), status_code=202)


def delivery_document(record: store.DeliveryRecord) -> WebhookDeliveryOut:
    return WebhookDeliveryOut(
        object="webhook_delivery",
        id=record.id,
        event_id=record.event_id,
        event_type=record.event_type,
        endpoint=record.endpoint_id,
        status=record.status,
        attempts=[
            WebhookAttemptOut(
                at=a.at, status_code=a.status_code, latency_ms=a.latency_ms, error=a.error
            )
            for a in record.attempts
        ],
        next_attempt_at=record.next_attempt_at,
        created=record.created_at,
        updated=record.updated_at,
    )


async def _found(conn: Connection, request: Request) -> store.EndpointRecord:
    endpoint_id = request.path_params["endpoint_id"]
    record = await store.get_endpoint(conn, endpoint_id[:64])
    if record is None:
        raise NotFound(
            f"No webhook endpoint {endpoint_id[:64]!r}.", code="webhook_endpoint_not_found"
        )
    return record


async def _audit(
    conn: Connection, actor: str, action: str, record: store.EndpointRecord, now: int
) -> None:
    await audit_store.record(
        conn,
        actor=actor,
        action=action,
        target=record.id,
        detail={"url": record.url, "events": record.events, "enabled": record.enabled},
        now=now,
    )
