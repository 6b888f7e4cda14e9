"""The events Stripe sends for what a request did, signed and delivered to webhook endpoints.

localstripe announces only some changes (never `customer.subscription.updated`,
`invoice.finalized`, `invoice.paid`, `invoice.payment_action_required`), with `api_version:
2017-08-15`, no `previous_attributes`, no `request`. Here:

- Every event localstripe (or the bridge, e.g. `price.*`) schedules goes through `_intercept`,
  which replaces localstripe's sender. Inside a request it is held until the request ends;
  outside one (a SEPA payment settling later) it is published at once.
- The middleware, innermost but for the bridge's router, snapshots every subscription and
  invoice of the customers a `POST`/`DELETE /v1/…` names (in its path or body) before the handler
  runs and again after, and event_diffs.py turns the differences and the held events into
  Stripe's events for the request, in Stripe's order. It does not know what the route did, so
  it works for every route, bridged or localstripe's.
- Each event is stored (`GET /v1/events/{id}`), gets `api_version` (the endpoint's own if it was
  created with one, else the version stripe-python 16 pins), `pending_webhooks` and `request`
  (`id`, the `Idempotency-Key`), and is queued for the enabled endpoints subscribed to its type
  *when it is created*. One queue: events go out in creation order about a second after they
  happen (as localstripe's did), each to its endpoints in registration order, signed as
  localstripe signs: `Stripe-Signature: t=…,v1=hex(HMAC-SHA256(secret, "{t}.{body}"))`. One
  attempt, no retries.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import secrets
import string
from collections.abc import Coroutine
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import aiohttp
from aiohttp import web
from aiohttp.typedefs import Handler
from localstripe import webhooks
from localstripe.resources import Event, Store, store

from localstripe_bridge import event_diffs

log = logging.getLogger("localstripe_bridge.events")

# The API version stripe-python 16 pins; the bridge's payloads are that version's shape.
DEFAULT_API_VERSION = "2026-10-28.endive"
DELIVERY_DELAY = 1.0  # seconds between an event and its delivery, as localstripe waits
DELIVERY_TIMEOUT = 10.0
_ALPHABET = string.ascii_letters + string.digits


def _now() -> int:
    return int(datetime.now(UTC).timestamp())  # noqa: TID251 -- the emulator's own clock


def _random_id(prefix: str) -> str:
    return prefix + "".join(secrets.choice(_ALPHABET) for _ in range(14))


@dataclass
class _Request:
    """The API request being handled: its id and key, and localstripe's events held for it."""

    id: str
    idempotency_key: str | None
    held: list[Any] = field(default_factory=list)
    open: bool = True


@dataclass(frozen=True)
class _Delivery:
    due: float  # loop time
    type: str
    bodies: list[tuple[str, dict[str, Any]]]  # (webhook id, payload), in registration order


class _Outbox:
    """One FIFO queue and one worker: events go out in the order they were created, each to its
    endpoints one after the other in the order they were registered, as localstripe posts."""

    def __init__(self) -> None:
        self._queue: asyncio.Queue[_Delivery] | None = None
        self._worker: asyncio.Task[None] | None = None
        self._session: aiohttp.ClientSession | None = None
        self.last_created = 0

    def put(self, delivery: _Delivery) -> None:
        if self._queue is None or self._worker is None or self._worker.done():
            self._queue = asyncio.Queue()
            self._worker = asyncio.get_running_loop().create_task(self._work(self._queue))
        self._queue.put_nowait(delivery)

    async def _work(self, queue: asyncio.Queue[_Delivery]) -> None:
        while True:
            delivery = await queue.get()
            wait = delivery.due - asyncio.get_running_loop().time()
            if wait > 0:
                await asyncio.sleep(wait)
            for webhook_id, body in delivery.bodies:
                try:
                    await self._deliver(webhook_id, delivery.type, body)
                except Exception:  # one bad delivery must not stop the others
                    log.exception("webhook %s: delivering %s failed", webhook_id, delivery.type)

    async def _deliver(self, webhook_id: str, event_type: str, body: dict[str, Any]) -> None:
        hook = webhooks._webhooks.get(webhook_id)
        if hook is None or not _subscribed(hook, event_type):
            return  # disabled or deleted meanwhile
        payload = json.dumps(body, indent=2, sort_keys=True).encode()
        # Stripe signs with the time of the attempt (https://docs.stripe.com/webhooks/signature).
        timestamp = _now()
        signed = b"%d.%s" % (timestamp, payload)
        signature = hmac.new(hook.secret.encode(), signed, hashlib.sha256).hexdigest()
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "Stripe-Signature": f"t={timestamp},v1={signature}",
            "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
        }
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=DELIVERY_TIMEOUT)
            )
        try:
            async with self._session.post(hook.url, data=payload, headers=headers) as response:
                log.info("webhook %s: %s → %d", webhook_id, event_type, response.status)
        except (aiohttp.ClientError, TimeoutError) as exc:
            log.info("webhook %s: %s failed: %s", webhook_id, event_type, exc)

    async def close(self) -> None:
        if self._worker is not None:
            self._worker.cancel()
            await asyncio.gather(self._worker, return_exceptions=True)
        self._worker = self._queue = None
        if self._session is not None:
            await self._session.close()
            self._session = None


def _subscribed(hook: Any, event_type: str) -> bool:
    # localstripe's rule: `events is None` is every type; a disabled endpoint has `[]`.
    return hook.events is None or event_type in hook.events


_OUTBOX = _Outbox()
_INDEX = event_diffs.Index()
# The request being handled. Tasks a handler starts inherit it; once the request is over
# (`open` is false) what they schedule is published at once.
_CURRENT: ContextVar[_Request | None] = ContextVar("localstripe_bridge_request", default=None)
_WATCHED = asyncio.Lock()  # one watched request at a time, so that a diff is that request's


def _endpoint_api_version(webhook_id: str) -> str:
    endpoint = store.get(f"webhook_endpoint:{webhook_id}")
    version = getattr(endpoint, "api_version", None)
    return version if isinstance(version, str) and version else DEFAULT_API_VERSION


def _publish(events: list[Any], request: _Request | None) -> None:
    """Stamp `events` (localstripe Event objects, stored) and queue them for their endpoints."""
    loop = asyncio.get_running_loop()
    for event in events:
        # `created` is seconds, as Stripe's; never earlier than the event queued before it.
        event.created = max(int(event.created), _OUTBOX.last_created)
        _OUTBOX.last_created = event.created
        event.api_version = DEFAULT_API_VERSION
        event.request = {
            "id": request.id if request is not None else None,
            "idempotency_key": request.idempotency_key if request is not None else None,
        }
        targets = [
            webhook_id
            for webhook_id, hook in list(webhooks._webhooks.items())
            if _subscribed(hook, event.type)
        ]
        event.pending_webhooks = len(targets)
        body: dict[str, Any] = event._export()
        bodies = [(w, {**body, "api_version": _endpoint_api_version(w)}) for w in targets]
        if bodies:
            _OUTBOX.put(_Delivery(loop.time() + DELIVERY_DELAY, event.type, bodies))


async def _nothing() -> None:
    return None


def _intercept(event: Any) -> Coroutine[Any, Any, None]:
    """Replaces localstripe's `webhooks._send_webhook`, which its `schedule_webhook` (imported
    by name everywhere) calls synchronously and schedules the result of."""
    request = _CURRENT.get()
    if request is not None and request.open:
        request.held.append(event)
    else:
        _publish([event], None)
    return _nothing()


def _new_event(entry: event_diffs.Entry) -> Any:
    """A localstripe Event (so `GET /v1/events` shows it) that the bridge builds itself."""
    event = Event.__new__(Event)
    event.id = _random_id("evt_")
    event.created = _now()
    event.livemode = False
    event.type = entry.type
    data: dict[str, Any] = {"object": entry.object}
    if entry.previous_attributes is not None:
        data["previous_attributes"] = entry.previous_attributes
    event.data = data
    # Stored without `Store.__setitem__`'s save: the request's save-to-disk middleware, outside
    # this one, saves once the request is done.
    dict.__setitem__(store, f"event:{event.id}", event)
    return event


def _events_of(
    request: _Request, before: event_diffs.Snapshot | None, customers: set[str]
) -> list[Any]:
    if before is None:
        return list(request.held)
    after = event_diffs.take(_INDEX, customers)
    events: list[Any] = []
    for entry in event_diffs.plan(before, after, request.held):
        if entry.captured is None:
            events.append(_new_event(entry))
            continue
        if entry.replace_object is not None:
            entry.captured.data["object"] = entry.replace_object
        events.append(entry.captured)
    return events


async def _customers(request: web.Request) -> set[str]:
    body = await request.read() if request.body_exists else b""  # read() is cached
    return event_diffs.customers_named(request.path_qs + "\n" + body.decode(errors="replace"))


@web.middleware
async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    watched = request.method in ("POST", "DELETE") and request.path.startswith("/v1/")
    current = _Request(_random_id("req_"), request.headers.get("Idempotency-Key"))
    async with _WATCHED if watched else _Unlocked():
        customers: set[str] = set()
        before = None
        if watched:
            customers = await _customers(request)
            before = event_diffs.take(_INDEX, customers)
        token = _CURRENT.set(current)
        try:
            response = await handler(request)
        finally:
            _CURRENT.reset(token)
            current.open = False
            try:
                _publish(_events_of(current, before, customers), current)
            except Exception:  # the request's answer matters more than its events
                log.exception("events of %s %s", request.method, request.path)
    if not response.prepared and "Request-Id" not in response.headers:
        response.headers["Request-Id"] = current.id
    return response


class _Unlocked:
    async def __aenter__(self) -> None:
        return None

    async def __aexit__(self, *_: object) -> None:
        return None


class _IndexedStore(Store):  # type: ignore[misc]  # localstripe is untyped
    """localstripe's store, telling the index of every new subscription and invoice key."""

    def __setitem__(self, key: str, value: Any) -> None:
        super().__setitem__(key, value)
        _INDEX.added(key)

    def clear(self) -> None:  # `DELETE /_config/data`
        super().clear()
        _INDEX.rebuild(())


async def _close(_: web.Application) -> None:
    await _OUTBOX.close()


def install(app: web.Application) -> None:
    """Send events through the bridge; register right before the bridge's router middleware,
    after the state file is loaded."""
    webhooks._send_webhook = _intercept
    store.__class__ = _IndexedStore
    _INDEX.rebuild(list(store.keys()))
    app.middlewares.append(middleware)
    app.on_cleanup.append(_close)
