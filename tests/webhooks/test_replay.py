"""Retries with backoff, `failed` after the last attempt, and the admin API to see and replay."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from plugin import storage
from plugin.clock import FixedClock
from plugin.settings import Settings
from plugin.storage import Database
from plugin.storage import stripe_events as store
from plugin.webhooks import dispatch
from plugin.webhooks.events import Event
from plugin.webhooks.handlers import Context
from plugin.webhooks.worker import Worker
from tests.support import ADMIN_KEY, NOW
from tests.webhooks import factories as f
from tests.webhooks.support import deliver, post_signed, running_app, settle

ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}
CREATED = f.event("customer.subscription.created", f.subscription(), id="evt_r1")


async def _insert(db: Database, document: dict[str, Any]) -> None:
    payload = f.body(document)
    assert await store.insert(
        db,
        event=store.NewEvent(
            id=str(document["id"]),
            type=str(document["type"]),
            object_id=f.SUBSCRIPTION,
            created=NOW,
            livemode=False,
            payload=payload.decode(),
            received_at=NOW,
        ),
    )


class Outage:
    """A handler standing in for one whose dependency is down for the first `failures` calls."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.calls = 0

    async def __call__(self, ctx: Context, event: Event) -> None:
        self.calls += 1
        if self.calls <= self.failures:
            raise ConnectionError(f"dependency down (call {self.calls})")


async def test_failing_handler_succeeds_on_retry_after_backoff(
    db: Database, clock: FixedClock
) -> None:
    """A failed attempt keeps the event pending with the error, due again only after the
    backoff; the next attempt succeeds and clears the error."""
    handler = Outage(failures=1)
    worker = Worker(db=db, gateway=None, clock=clock, table={CREATED["type"]: handler})
    await _insert(db, CREATED)

    assert await worker.run_once() == 1
    stored = await store.get(db, "evt_r1")
    assert stored is not None
    assert (stored.status, stored.attempts) == ("pending", 1)
    assert stored.last_error == "ConnectionError: dependency down (call 1)"
    assert stored.next_attempt_at == NOW + dispatch.backoff(1)

    clock.advance(dispatch.backoff(1) - 1)
    assert await worker.run_once() == 0  # not due yet

    clock.advance(1)
    assert await worker.run_once() == 1
    stored = await store.get(db, "evt_r1")
    assert stored is not None
    assert (stored.status, stored.attempts, stored.last_error) == ("processed", 2, None)
    assert handler.calls == 2


async def _exhaust(db: Database, clock: FixedClock) -> Outage:
    handler = Outage(failures=dispatch.MAX_ATTEMPTS)
    worker = Worker(db=db, gateway=None, clock=clock, table={CREATED["type"]: handler})
    await _insert(db, CREATED)
    for attempt in range(1, dispatch.MAX_ATTEMPTS + 1):
        assert await worker.run_once() == 1
        if attempt < dispatch.MAX_ATTEMPTS:
            clock.advance(dispatch.backoff(attempt))
    return handler


async def test_event_fails_after_the_last_attempt(db: Database, clock: FixedClock) -> None:
    """After MAX_ATTEMPTS failures the event is `failed` with its attempts and last error, and
    nothing retries it any more."""
    handler = await _exhaust(db, clock)
    stored = await store.get(db, "evt_r1")
    assert stored is not None
    assert (stored.status, stored.attempts) == ("failed", dispatch.MAX_ATTEMPTS)
    assert stored.last_error == f"ConnectionError: dependency down (call {dispatch.MAX_ATTEMPTS})"
    clock.advance(10 * 86400)
    worker = Worker(db=db, gateway=None, clock=clock, table={CREATED["type"]: handler})
    assert await worker.run_once() == 0


async def test_failed_event_is_listed_and_replayed(
    db: Database, settings: Settings, clock: FixedClock
) -> None:
    """An operator sees the failed event over the admin API and replays it once the cause is
    fixed (here: a deploy with the real handlers); it is then processed."""
    await _exhaust(db, clock)
    async with running_app(settings, clock) as (app, http):
        await settle(app)
        listed = await http.get("/api/v1/admin/webhook-events?status=failed", headers=ADMIN)
        assert listed.status_code == 200
        document = listed.json()
        assert (document["object"], document["has_more"]) == ("list", False)
        [event] = document["data"]
        assert {k: event[k] for k in ("id", "type", "created", "status", "attempts")} == {
            "id": "evt_r1",
            "type": "customer.subscription.created",
            "created": NOW,
            "status": "failed",
            "attempts": dispatch.MAX_ATTEMPTS,
        }
        assert event["last_error"].startswith("ConnectionError")

        replayed = await http.post("/api/v1/admin/webhook-events/evt_r1/replay", headers=ADMIN)
        assert replayed.status_code == 200
        assert replayed.json()["status"] == "pending"
        await settle(app)

    stored = await store.get(db, "evt_r1")
    assert stored is not None
    assert (stored.status, stored.attempts, stored.last_error) == ("processed", 1, None)
    assert await storage.subscriptions.get(db, f.SUBSCRIPTION) is not None


async def test_replaying_a_processed_event_changes_nothing_twice(
    client: httpx.AsyncClient, app: Starlette, db: Database
) -> None:
    """Handlers are idempotent: replaying a processed event records no second movement."""
    await deliver(client, app, CREATED)
    response = await client.post("/api/v1/admin/webhook-events/evt_r1/replay", headers=ADMIN)
    assert response.status_code == 200
    await settle(app)
    stored = await store.get(db, "evt_r1")
    assert stored is not None
    assert stored.status == "processed"
    assert len(await storage.mrr.list_movements(db)) == 1


async def test_replay_of_an_unknown_event_is_404(client: httpx.AsyncClient) -> None:
    """Replaying an id that is not stored answers 404 in the contract's error shape."""
    response = await client.post("/api/v1/admin/webhook-events/evt_nope/replay", headers=ADMIN)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "webhook_event_not_found"


async def test_list_pages_newest_first(
    client: httpx.AsyncClient, app: Starlette, db: Database
) -> None:
    """`limit` and `starting_after` page through the store newest first, Stripe-style."""
    for n in range(5):
        payload = f.body(f.event("payout.paid", {"id": f"po_{n}"}, id=f"evt_p{n}"))
        assert (await post_signed(client, payload)).status_code == 200
    await settle(app)
    seen: list[str] = []
    after: str | None = None
    while True:
        query = "limit=2" + (f"&starting_after={after}" if after else "")
        page = (await client.get(f"/api/v1/admin/webhook-events?{query}", headers=ADMIN)).json()
        seen += [e["id"] for e in page["data"]]
        if not page["has_more"]:
            break
        after = page["data"][-1]["id"]
    assert seen == [f"evt_p{n}" for n in reversed(range(5))]
    ignored = await client.get("/api/v1/admin/webhook-events?status=ignored", headers=ADMIN)
    assert len(ignored.json()["data"]) == 5
    pending = await client.get("/api/v1/admin/webhook-events?status=pending", headers=ADMIN)
    assert pending.json()["data"] == []


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("status=done", "status"),
        ("limit=0", "limit"),
        ("limit=501", "limit"),
        ("limit=ten", "limit"),
        ("starting_after=evt_missing", "starting_after"),
    ],
)
async def test_list_rejects_bad_parameters(
    client: httpx.AsyncClient, query: str, field: str
) -> None:
    """Bad filters are a 422 naming the field."""
    response = await client.get(f"/api/v1/admin/webhook-events?{query}", headers=ADMIN)
    assert response.status_code == 422
    assert response.json()["error"]["field"] == field


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/v1/admin/webhook-events"),
        ("POST", "/api/v1/admin/webhook-events/evt_r1/replay"),
    ],
)
async def test_admin_routes_need_an_admin_key(
    client: httpx.AsyncClient, method: str, path: str
) -> None:
    """Without a valid admin key: 401, and nothing is replayed."""
    missing = await client.request(method, path)
    wrong = await client.request(method, path, headers={"Authorization": "Bearer uplift_sk_x"})
    assert (missing.status_code, wrong.status_code) == (401, 401)
    assert wrong.json()["error"]["code"] == "invalid_admin_key"


async def test_replay_retries_a_waiting_event_at_once(
    client: httpx.AsyncClient, app: Starlette, db: Database
) -> None:
    """Replaying an event that is waiting out its backoff retries it now, counting the attempt."""
    waiting_event = f.event("customer.subscription.created", f.subscription(), id="evt_wait")
    await _insert(db, waiting_event)
    # As after a first attempt that failed on an outage: due again only in ten minutes.
    await store.retry_later(db, event_id="evt_wait", error="ConnectionError: down", at=NOW + 600)
    waiting = await store.get(db, "evt_wait")
    assert waiting is not None
    assert waiting.status == "pending"
    assert waiting.next_attempt_at > NOW

    response = await client.post("/api/v1/admin/webhook-events/evt_wait/replay", headers=ADMIN)
    assert response.status_code == 200
    await settle(app)
    retried = await store.get(db, "evt_wait")
    assert retried is not None
    assert (retried.status, retried.attempts) == ("processed", waiting.attempts + 1)
