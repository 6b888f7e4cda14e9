"""Three `uplift serve` instances on one PostgreSQL database, as behind a load balancer.

Webhooks (signed as Stripe signs them, a tenth delivered twice, the copy to another instance)
and widget accepts (two quotes of one upgrade, each accepted on every instance at once) are
spread across them, and one instance is SIGKILLed midway. Afterwards: every event stored once
and processed once (only the batch the dead instance held may show a second attempt), every
subscription charged at most once in Stripe, an offer changed on one instance is live on the
others, and frequency caps count impressions recorded on any instance.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import itertools
import os
import signal
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from plugin import storage
from plugin.billing.stripe_gateway import StripeGateway
from plugin.clock import SystemClock
from plugin.webhooks.worker import BATCH
from tests.conftest import Served
from tests.factories import ADMIN, customer_headers
from tests.support import (
    ADMIN_KEY,
    ON_POSTGRES,
    WEBHOOK_SECRET,
    WIDGET_SECRET,
    mirror_basic,
    mirrored_customer,
    sign_webhook,
)
from tests.webhooks import factories as f

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not ON_POSTGRES, reason="several instances need PostgreSQL"),
]

INSTANCES = 3
EVENTS = 300
CUSTOMERS = 4
KILL_AFTER = EVENTS // 3  # acked events before the SIGKILL
DEADLINE = 60.0  # bound on every wait below (a hung run fails instead of hanging)
WALL = SystemClock()
OFFER = "offer_basic_to_pro"
QUOTES = 2  # quotes of the same upgrade per customer, accepted at once


class Balancer:
    """A round-robin load balancer in front of the instances: it skips one that is gone."""

    def __init__(self, servers: list[Served]) -> None:
        self.servers = servers
        self.alive = set(range(len(servers)))
        self._turn = itertools.count()

    def pick(self, avoid: int | None = None) -> int:
        live = sorted(self.alive - {avoid}) or sorted(self.alive)
        return live[next(self._turn) % len(live)]

    def url(self, index: int) -> str:
        return self.servers[index].url

    def kill(self, index: int) -> None:
        """SIGKILL only the process this test started (`uplift serve` runs one process)."""
        self.alive.discard(index)
        process = self.servers[index].process
        with contextlib.suppress(ProcessLookupError):
            os.kill(process.pid, signal.SIGKILL)
        process.wait(5)


async def _send(http: httpx.AsyncClient, lb: Balancer, event: dict[str, Any], first: int) -> int:
    """Stripe's side: re-sign every attempt, retry (on another instance) until a 2xx. Returns
    the instance that acknowledged it."""
    payload = f.body(event)
    target = first
    for _ in range(50):
        if target not in lb.alive:
            target = lb.pick()
        try:
            response = await http.post(
                f"{lb.url(target)}/webhooks/stripe",
                content=payload,
                headers={"Stripe-Signature": sign_webhook(payload, WEBHOOK_SECRET, WALL.now())},
            )
        except httpx.TransportError:
            target = lb.pick(avoid=target)
            await asyncio.sleep(0.05)
            continue
        assert response.status_code < 500, response.text
        if response.status_code == 200:
            return target
    raise AssertionError(f"{event['id']} was never acknowledged")


def _as(customer: str) -> dict[str, str]:
    return customer_headers(customer, now=WALL.now())


async def _offers(http: httpx.AsyncClient, url: str, customer: str) -> list[str]:
    response = await http.get(
        f"{url}/api/v1/widget/offers?placement=storage_banner", headers=_as(customer)
    )
    assert response.status_code == 200, response.text
    return [offer["offer_id"] for offer in response.json()["data"]]


async def _eventually(check: Callable[[], Any], what: str) -> None:
    deadline = time.monotonic() + DEADLINE
    while not await check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.1)


async def _accept_everywhere(
    http: httpx.AsyncClient, lb: Balancer, customer: str
) -> list[httpx.Response]:
    """Two quotes of the same upgrade from two instances, then each quote accepted on every
    instance at once, each accept with its own Idempotency-Key, plus a retry of the first key
    on another instance: different quotes of one subscription racing across instances."""
    bodies = []
    for turn in range(QUOTES):
        quote_at = (lb.pick() + turn) % INSTANCES
        quoted = await http.post(
            f"{lb.url(quote_at)}/api/v1/widget/quotes",
            json={"offer_id": OFFER},
            headers=_as(customer),
        )
        assert quoted.status_code == 201, quoted.text
        bodies.append({"quote_id": quoted.json()["quote_id"]})
    tries = [
        (i, f"{customer}-q{q}-click-{i}", body)
        for q, body in enumerate(bodies)
        for i in range(INSTANCES)
    ]
    tries.append((1, f"{customer}-q0-click-0", bodies[0]))

    async def accept(index: int, key: str, body: dict[str, str]) -> httpx.Response | None:
        try:
            return await http.post(
                f"{lb.url(index)}/api/v1/widget/accept",
                json=body,
                headers={**_as(customer), "Idempotency-Key": key},
            )
        except httpx.TransportError:  # that instance was killed meanwhile
            return None

    answers = await asyncio.gather(*(accept(*attempt) for attempt in tries))
    return [answer for answer in answers if answer is not None]


async def test_three_instances_share_the_work_and_survive_losing_one(
    serve: Callable[..., Served],
    new_database_url: Callable[..., str],
    gateway: StripeGateway,
    emulator_url: str,
    stripe_http: httpx.AsyncClient,
    request: pytest.FixtureRequest,
) -> None:
    url = new_database_url("multi.db", migrated=False)
    settings = {
        "database_url": url,
        "stripe_api_base": emulator_url,
        "stripe_webhook_secrets": WEBHOOK_SECRET,
        "widget_secret": WIDGET_SECRET,
        "admin_key": ADMIN_KEY,
    }
    # Started together: all three run the migrations on an empty database at once.
    servers = await asyncio.gather(
        *(asyncio.to_thread(serve, **settings) for _ in range(INSTANCES))
    )
    lb = Balancer(list(servers))
    db = await storage.connect(url)
    prefix = "multi-" + hashlib.sha256(request.node.nodeid.encode()).hexdigest()[:8]
    try:
        async with httpx.AsyncClient(timeout=30) as http:
            worlds = [
                await mirrored_customer(gateway, db, f"{prefix}-{n}", now=WALL.now())
                for n in range(CUSTOMERS)
            ]
            plans = {
                "plans": [
                    {"id": "basic", "name": "Basic", "tier": 1,
                     "prices": [w.basic for w in worlds], "limits": {"storage_gb": 10}},
                    {"id": "pro", "name": "Pro", "tier": 2,
                     "prices": [p for w in worlds for p in (w.pro, w.pro_annual)],
                     "limits": {"storage_gb": 100}},
                ]
            }  # fmt: skip
            put = await http.put(f"{lb.url(0)}/api/v1/admin/plans", json=plans, headers=ADMIN)
            assert put.status_code == 200, put.text
            customers = [f"acme-{n}" for n in range(CUSTOMERS)] + ["browsing"]
            for n, customer in enumerate(customers):
                # The last one has no Stripe subscription of its own: it only looks at offers.
                world = worlds[min(n, CUSTOMERS - 1)]
                stripe_customer = world.customer_id if n < CUSTOMERS else None
                at = lb.url(n % INSTANCES)
                body = {"stripe_customer": stripe_customer} if stripe_customer else {}
                assert (
                    await http.put(f"{at}/api/v1/customers/{customer}", json=body, headers=ADMIN)
                ).status_code == 200
                usage = {"customer": customer, "metric": "storage_gb", "value": 9}
                headers = {**ADMIN, "Idempotency-Key": f"seed-{customer}"}
                assert (
                    await http.post(f"{at}/api/v1/usage", json=usage, headers=headers)
                ).status_code == 200
            # "browsing" needs a plan: a mirrored Basic subscription without Stripe behind it.
            await mirror_basic(
                db, subscription_id="sub_browsing", customer_id="cus_browsing",
                item_id="si_browsing", price=worlds[0].basic,
                period_start=worlds[0].period_start, period_end=worlds[0].period_end,
                now=WALL.now(),
            )  # fmt: skip
            await http.put(
                f"{lb.url(2)}/api/v1/customers/browsing",
                json={"stripe_customer": "cus_browsing"},
                headers=ADMIN,
            )

            # An offer created on instance 0 goes live on the others (snapshot version poll).
            offer = {
                "id": OFFER, "name": "Basic to Pro", "kind": "upgrade", "status": "active",
                "placements": ["storage_banner"], "target_prices": [worlds[0].pro],
                "targeting": {"all": [{"plan": {"in": ["basic"]}},
                                      {"usage": {"metric": "storage_gb",
                                                 "at_least_percent": 80}}]},
                "frequency": {"max_impressions": 2},
                "variants": [{"key": "control", "copy": {"title": "Running out of space?"}}],
            }  # fmt: skip
            created = await http.post(f"{lb.url(0)}/api/v1/admin/offers", json=offer, headers=ADMIN)
            assert created.status_code == 201, created.text
            for index in (1, 2):

                async def live(index: int = index) -> bool:
                    return await _offers(http, lb.url(index), "browsing") == [OFFER]

                await _eventually(live, f"the new offer on instance {index}")

            # A frequency cap counts impressions recorded through any instance.
            for index in (0, 1):
                shown = {"offer_id": OFFER, "variant": "control", "type": "impression"}
                response = await http.post(
                    f"{lb.url(index)}/api/v1/widget/events", json=shown, headers=_as("browsing")
                )
                assert response.status_code in (200, 201, 202, 204), response.text
            for index in range(INSTANCES):
                assert await _offers(http, lb.url(index), "browsing") == []

            # The burst: webhooks and accepts spread over the instances; one dies midway.
            events = f.burst(EVENTS, "multi")
            deliveries = [(event, n % INSTANCES) for n, event in enumerate(events)]
            deliveries += [  # duplicates, each to another instance than the first copy
                (event, (n + 1) % INSTANCES) for n, event in enumerate(events[: EVENTS // 10])
            ]
            queue: asyncio.Queue[tuple[dict[str, Any], int]] = asyncio.Queue()
            for delivery in deliveries:
                queue.put_nowait(delivery)
            acked: list[str] = []
            enough = asyncio.Event()

            async def sender() -> None:
                while not queue.empty():
                    event, first = queue.get_nowait()
                    await _send(http, lb, event, first)
                    acked.append(event["id"])
                    if len(acked) >= KILL_AFTER:
                        enough.set()

            async def killer() -> None:
                await enough.wait()
                assert len(acked) < len(deliveries)  # midway: the burst is still going
                lb.kill(INSTANCES - 1)

            senders = [asyncio.create_task(sender()) for _ in range(12)]
            kill = asyncio.create_task(killer())
            accepts = await asyncio.gather(
                *(_accept_everywhere(http, lb, f"acme-{n}") for n in range(CUSTOMERS))
            )
            async with asyncio.timeout(DEADLINE):
                await asyncio.gather(*senders)
                await kill

            # Every event processed by the surviving instances.
            async def drained() -> bool:
                async with db.read() as conn:
                    left = await conn.fetch_value(
                        "SELECT count(*) FROM webhook_events WHERE status = 'pending'"
                    )
                return bool(left == 0)

            await _eventually(drained, "the event store to drain")

        async with db.read() as conn:
            stored = await conn.fetch_all("SELECT id, status, attempts FROM webhook_events")
            movements = await conn.fetch_all(
                "SELECT count(*) AS n, count(DISTINCT event_id) AS events FROM mrr_movements"
            )
            orders = await conn.fetch_value(
                "SELECT count(*) FROM orders WHERE key LIKE 'cs_multi_%'"
            )
            upgrades = await conn.fetch_all(
                "SELECT quote_id, count(*) AS n FROM upgrades GROUP BY quote_id"
            )
    finally:
        await db.close()

    # Stored once each; processed once each, apart from what the dead instance was holding.
    assert sorted(row["id"] for row in stored) == sorted(event["id"] for event in events)
    statuses = {row["status"] for row in stored}
    assert statuses <= {"processed", "ignored"}
    retried = [row for row in stored if row["attempts"] > 1]
    assert len(retried) <= BATCH
    assert all(row["attempts"] == 2 for row in retried)
    assert movements == [{"n": EVENTS // 3, "events": EVENTS // 3}]
    assert orders == EVENTS // 3

    # One upgrade per quote, one change per subscription whatever the quote, the same one
    # answered everywhere, and at most one Stripe charge.
    assert all(row["n"] == 1 for row in upgrades)
    for n, answers in enumerate(accepts):
        ids = {a.json()["id"] for a in answers if a.status_code == 200}
        assert len(ids) <= 1, [a.json() for a in answers]
        assert {a.status_code for a in answers} <= {200, 409}
        found = await stripe_http.get("/v1/invoices", params={"customer": worlds[n].customer_id})
        charged = [
            invoice
            for invoice in found.json()["data"]
            if invoice["metadata"].get("uplift_quote") and invoice["status"] == "paid"
        ]
        assert len(charged) <= 1
