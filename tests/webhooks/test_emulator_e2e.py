"""End to end: the local Stripe posts its signed webhooks to a running `uplift serve`, and the
subscription mirror ends up matching the emulator's own state.

Every event here is the emulator's own (localstripe_bridge sends the events Stripe sends for each
change, signed for the registered endpoint); the test only makes changes and watches Uplift.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from plugin import storage
from plugin.billing.mirror import MirrorSubscription
from plugin.clock import FixedClock, SystemClock
from plugin.settings import Settings
from plugin.storage import Database
from tests.conftest import Served
from tests.support import ADMIN_KEY, NOW, STRIPE_TEST_KEY, sign_webhook
from tests.webhooks import factories as f
from tests.webhooks.support import deliver, running_app

if TYPE_CHECKING:
    from localstripe_bridge.process import EmulatorProcess

pytestmark = pytest.mark.e2e

WALL = SystemClock()  # a real server and a real emulator: events carry the real time
DEADLINE = 20.0  # localstripe posts each event about a second after the change


@pytest.fixture
async def stripe_http(emulator: EmulatorProcess) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        base_url=emulator.url,
        headers={"Authorization": f"Bearer {STRIPE_TEST_KEY}"},
        timeout=10,
    ) as client:
        yield client


async def _stripe(http: httpx.AsyncClient, method: str, path: str, **form: Any) -> dict[str, Any]:
    response = await http.request(method, path, data=form or None)
    assert response.status_code == 200, response.text
    document: dict[str, Any] = response.json()
    return document


async def _poll(check: Callable[[], Any], what: str) -> Any:
    """Poll `check` (async) until it returns something truthy, within DEADLINE."""
    deadline = time.monotonic() + DEADLINE
    while time.monotonic() < deadline:
        found = await check()
        if found:
            return found
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def _expected(sub: dict[str, Any]) -> dict[str, Any]:
    """What the mirror should hold, read from the emulator's own subscription."""
    [item] = sub["items"]["data"]
    return {
        "status": sub["status"],
        "customer": sub["customer"],
        "items": [
            (item["id"], item["price"]["id"], item["quantity"], item["price"]["unit_amount"])
        ],
        "period": (item["current_period_start"], item["current_period_end"]),
        "cancel_at_period_end": sub["cancel_at_period_end"],
        "trial_end": sub["trial_end"],
    }


def _mirrored(sub: MirrorSubscription) -> dict[str, Any]:
    return {
        "status": sub.status,
        "customer": sub.customer_id,
        "items": [(i.id, i.price_id, i.quantity, i.unit_amount) for i in sub.items],
        "period": (sub.current_period_start, sub.current_period_end),
        "cancel_at_period_end": sub.cancel_at_period_end,
        "trial_end": sub.trial_end,
    }


async def test_mirror_follows_the_emulator(
    stripe_http: httpx.AsyncClient, serve: Callable[..., Served], database_url: str
) -> None:
    """Subscription created (and its first invoice paid), updated and deleted in the emulator:
    Uplift's mirror, ledger and orders follow, event by event, from the emulator's events."""
    # The secret exists only once the endpoint does, and the server needs it to start; so the
    # endpoint is created first (pointing nowhere yet), then moved to the server's address.
    endpoint = await _stripe(
        stripe_http,
        "POST",
        "/v1/webhook_endpoints",
        url="http://127.0.0.1:9/not-yet",
        **{"enabled_events[]": "*"},
    )
    secret = endpoint["secret"]
    served = serve(
        database_url=database_url,
        stripe_api_base=str(stripe_http.base_url).rstrip("/"),
        stripe_webhook_secrets=secret,
        admin_key=ADMIN_KEY,
    )
    await _stripe(
        stripe_http,
        "POST",
        f"/v1/webhook_endpoints/{endpoint['id']}",
        url=f"{served.url}/webhooks/stripe",
    )
    db: Database = await storage.connect(database_url)
    try:
        product = await _stripe(stripe_http, "POST", "/v1/products", name="E2E Pro")
        price = await _stripe(
            stripe_http,
            "POST",
            "/v1/prices",
            product=product["id"],
            currency="usd",
            unit_amount=4900,
            **{"recurring[interval]": "month"},
        )
        customer = await _stripe(stripe_http, "POST", "/v1/customers", email="e2e@example.com")
        await _stripe(
            stripe_http, "POST", "/v1/payment_methods/pm_card_visa/attach", customer=customer["id"]
        )
        await _stripe(
            stripe_http,
            "POST",
            f"/v1/customers/{customer['id']}",
            **{"invoice_settings[default_payment_method]": "pm_card_visa"},
        )
        sub = await _stripe(
            stripe_http,
            "POST",
            "/v1/subscriptions",
            customer=customer["id"],
            **{"items[0][price]": price["id"], "items[0][quantity]": "1"},
        )
        sub_id = sub["id"]

        # 1. customer.subscription.created, sent and signed by the emulator.
        async def created() -> MirrorSubscription | None:
            return await storage.subscriptions.get(db, sub_id)

        mirrored = await _poll(created, "the emulator's customer.subscription.created")
        current = await _stripe(stripe_http, "GET", f"/v1/subscriptions/{sub_id}")
        assert _mirrored(mirrored) == _expected(current)
        assert mirrored.mrr() == 4900

        # 2. customer.subscription.updated, sent by the emulator after the change.
        await _stripe(
            stripe_http,
            "POST",
            f"/v1/subscriptions/{sub_id}",
            **{
                "items[0][id]": current["items"]["data"][0]["id"],
                "items[0][quantity]": "3",
                "proration_behavior": "none",
            },
        )
        current = await _stripe(stripe_http, "GET", f"/v1/subscriptions/{sub_id}")

        async def quantity_three() -> MirrorSubscription | None:
            found = await storage.subscriptions.get(db, sub_id)
            return found if found and found.items[0].quantity == 3 else None

        mirrored = await _poll(quantity_three, "the emulator's customer.subscription.updated")
        assert _mirrored(mirrored) == _expected(current)
        movements = await storage.mrr.list_movements(db, subscription_id=sub_id)
        assert [(m.kind, m.amount) for m in movements] == [("new", 4900), ("expansion", 9800)]

        # 3. invoice.paid for the first invoice (billing_reason subscription_create): an order.
        async def ordered() -> Any:
            return await storage.orders.get(db, sub_id)

        order = await _poll(ordered, "the order from the emulator's invoice.paid")
        assert (order.customer_id, order.invoice_id) == (customer["id"], sub["latest_invoice"])

        # 4. customer.subscription.deleted, sent by the emulator.
        await _stripe(stripe_http, "DELETE", f"/v1/subscriptions/{sub_id}")

        async def canceled() -> MirrorSubscription | None:
            found = await storage.subscriptions.get(db, sub_id)
            return found if found and found.status == "canceled" else None

        mirrored = await _poll(canceled, "the emulator's customer.subscription.deleted")
        assert mirrored.mrr() == 0
        movements = await storage.mrr.list_movements(db, subscription_id=sub_id)
        assert [m.kind for m in movements] == ["new", "expansion", "churn"]

        async with httpx.AsyncClient(timeout=10) as admin:
            listed = await admin.get(
                f"{served.url}/api/v1/admin/webhook-events?status=failed",
                headers={"Authorization": f"Bearer {ADMIN_KEY}"},
            )
        assert listed.json()["data"] == []
    finally:
        await db.close()
        await _stripe(stripe_http, "DELETE", f"/v1/webhook_endpoints/{endpoint['id']}")


async def _post(served: Served, payload: bytes, secret: str) -> None:
    async with httpx.AsyncClient(timeout=10) as http:
        response = await http.post(
            f"{served.url}/webhooks/stripe",
            content=payload,
            headers={"Stripe-Signature": sign_webhook(payload, secret, WALL.now())},
        )
    assert response.status_code == 200, response.text
    assert json.loads(response.text)["received"] is True


async def _subscribed(stripe_http: httpx.AsyncClient) -> dict[str, Any]:
    product = await _stripe(stripe_http, "POST", "/v1/products", name="Tie Pro")
    price = await _stripe(
        stripe_http,
        "POST",
        "/v1/prices",
        product=product["id"],
        currency="usd",
        unit_amount=1500,
        **{"recurring[interval]": "month"},
    )
    customer = await _stripe(stripe_http, "POST", "/v1/customers", email="tie@example.com")
    await _stripe(
        stripe_http, "POST", "/v1/payment_methods/pm_card_visa/attach", customer=customer["id"]
    )
    await _stripe(
        stripe_http,
        "POST",
        f"/v1/customers/{customer['id']}",
        **{"invoice_settings[default_payment_method]": "pm_card_visa"},
    )
    return await _stripe(
        stripe_http,
        "POST",
        "/v1/subscriptions",
        customer=customer["id"],
        **{"items[0][price]": price["id"]},
    )


async def test_same_second_snapshots_are_settled_by_asking_stripe(
    stripe_http: httpx.AsyncClient, settings: Settings, clock: FixedClock, db: Database
) -> None:
    """Two events about one subscription in the same second cannot be ordered by `created`;
    the later-arriving one makes Uplift re-read the subscription from Stripe, so a stale
    snapshot delivered second still leaves the mirror as Stripe has it."""
    sub = await _subscribed(stripe_http)
    item_id = sub["items"]["data"][0]["id"]
    with_emulator = Settings(
        **{**settings.model_dump(), "stripe_api_base": str(stripe_http.base_url).rstrip("/")}
    )
    async with running_app(with_emulator, clock) as (app, http):
        stale_snapshot = dict(sub)
        await deliver(
            http, app, f.event("customer.subscription.created", sub, id="evt_tie_1", created=NOW)
        )
        await _stripe(
            stripe_http,
            "POST",
            f"/v1/subscriptions/{sub['id']}",
            **{"items[0][id]": item_id, "items[0][quantity]": "2"},
        )
        # Same second, older content: only Stripe can say which state is current.
        await deliver(
            http,
            app,
            f.event("customer.subscription.updated", stale_snapshot, id="evt_tie_2", created=NOW),
        )
    mirrored = await storage.subscriptions.get(db, sub["id"])
    assert mirrored is not None
    assert [(i.id, i.quantity) for i in mirrored.items] == [(item_id, 2)]
    assert mirrored.mrr() == 3000
