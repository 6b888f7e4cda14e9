"""The double charge as it was seen: a real `uplift serve`, a customer with two quotes of the
same upgrade, Q1 accepted and Q2 accepted 0-20 ms later on another connection with another
Idempotency-Key. Whatever the gap, Stripe (the emulator) holds one paid invoice, the plan is
switched once, and the later accept is a 409 that says why."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable

import httpx
import pytest

from plugin import storage
from plugin.billing.stripe_gateway import StripeGateway
from plugin.clock import SystemClock
from tests.conftest import Served
from tests.factories import ADMIN, customer_headers
from tests.support import (
    ADMIN_KEY,
    STRIPE_TEST_KEY,
    WIDGET_SECRET,
    mirrored_customer,
)

pytestmark = pytest.mark.e2e

WALL = SystemClock()
OFFER = "offer_basic_to_pro"
GAPS_MS = (0, 2, 5, 10, 15, 20)


async def _paid(emulator_url: str, customer_id: str) -> list[int]:
    async with httpx.AsyncClient(
        base_url=emulator_url, headers={"Authorization": f"Bearer {STRIPE_TEST_KEY}"}
    ) as stripe_http:
        found = (await stripe_http.get("/v1/invoices", params={"customer": customer_id})).json()
    return [
        invoice["amount_paid"]
        for invoice in found["data"]
        if invoice["metadata"].get("uplift_quote") and invoice["status"] == "paid"
    ]


async def test_two_quotes_accepted_milliseconds_apart_charge_once(
    serve: Callable[..., Served],
    new_database_url: Callable[..., str],
    gateway: StripeGateway,
    emulator_url: str,
    request: pytest.FixtureRequest,
) -> None:
    """For each gap: exactly one accept succeeds, one invoice is paid for its quote's amount,
    the subscription is on Pro, and the other answer is a 409 (`change_in_progress` with the
    winner's upgrade id, or `quote_stale` naming it)."""
    url = new_database_url("races.db", migrated=False)
    served = serve(
        database_url=url, stripe_api_base=emulator_url, widget_secret=WIDGET_SECRET,
        admin_key=ADMIN_KEY,
    )  # fmt: skip
    db = await storage.connect(url)
    prefix = "served-race-" + hashlib.sha256(request.node.nodeid.encode()).hexdigest()[:8]
    try:
        worlds = [
            await mirrored_customer(gateway, db, f"{prefix}-{gap}", now=WALL.now())
            for gap in GAPS_MS
        ]
        # Two client pools: the accepts never share a connection.
        async with (
            httpx.AsyncClient(base_url=served.url, timeout=30) as first,
            httpx.AsyncClient(base_url=served.url, timeout=30) as second,
        ):
            plans = {
                "plans": [
                    {"id": "basic", "name": "Basic", "tier": 1,
                     "prices": [w.basic for w in worlds], "limits": {}},
                    {"id": "pro", "name": "Pro", "tier": 2,
                     "prices": [p for w in worlds for p in (w.pro, w.pro_annual)],
                     "limits": {}},
                ]
            }  # fmt: skip
            assert (
                await first.put("/api/v1/admin/plans", json=plans, headers=ADMIN)
            ).status_code == 200
            offer = {
                "id": OFFER, "name": "Basic to Pro", "kind": "upgrade", "status": "active",
                "placements": ["billing"], "target_prices": [worlds[0].pro],
                "variants": [{"key": "control", "copy": {"title": "Go Pro"}}],
            }  # fmt: skip
            created = await first.post("/api/v1/admin/offers", json=offer, headers=ADMIN)
            assert created.status_code == 201, created.text

            for gap, world in zip(GAPS_MS, worlds, strict=True):
                customer = f"c{gap}"
                put = await first.put(
                    f"/api/v1/customers/{customer}",
                    json={"stripe_customer": world.customer_id},
                    headers=ADMIN,
                )
                assert put.status_code == 200, put.text
                headers = customer_headers(customer, now=WALL.now())
                quoted = []
                for _ in range(2):
                    answer = await first.post(
                        "/api/v1/widget/quotes", json={"offer_id": OFFER}, headers=headers
                    )
                    assert answer.status_code == 201, answer.text
                    quoted.append(answer.json())

                async def accept(
                    client: httpx.AsyncClient,
                    quote: dict[str, object],
                    key: str,
                    delay: float,
                    headers: dict[str, str] = headers,
                ) -> httpx.Response:
                    await asyncio.sleep(delay)
                    return await client.post(
                        "/api/v1/widget/accept",
                        json={"quote_id": quote["quote_id"]},
                        headers={**headers, "Idempotency-Key": key},
                    )

                answers = await asyncio.gather(
                    accept(first, quoted[0], f"{customer}-1", 0),
                    accept(second, quoted[1], f"{customer}-2", gap / 1000),
                )
                ok = [a for a in answers if a.status_code == 200]
                refused = [a for a in answers if a.status_code != 200]
                assert len(ok) == 1, [a.text for a in answers]
                won = ok[0].json()
                assert won["status"] == "succeeded", won
                [loser] = refused
                error = loser.json()["error"]
                assert loser.status_code == 409, loser.text
                assert error["code"] in ("change_in_progress", "quote_stale"), error
                assert error.get("upgrade_id") == won["id"], error
                assert await _paid(emulator_url, world.customer_id) == [won["amount_paid"]]
                assert loser.headers["content-type"].startswith("application/json")
                [item] = (await gateway.retrieve_subscription(world.subscription_id)).items
                assert item.price_id == worlds[0].pro
    finally:
        await db.close()
