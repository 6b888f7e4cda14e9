"""Invoice events drive recorded upgrades: the webhook path ends in
`plugin.billing.upgrades`' hooks.

Against the local Stripe: a 3-D Secure card leaves the upgrade `requires_action`; once the
customer pays, Stripe's `invoice.paid` arrives at `POST /webhooks/stripe` (signed by the test:
the emulator never sends it) and the worker completes the upgrade.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from plugin import storage
from plugin.billing import quoting, upgrades
from plugin.billing.stripe_gateway import StripeGateway
from plugin.clock import FixedClock
from plugin.settings import Settings
from plugin.storage import Database
from tests.support import STRIPE_TEST_KEY, pay_with_3ds, subscribed_customer
from tests.webhooks import factories as f
from tests.webhooks.support import deliver, running_app

DAY = 86400


@pytest.fixture
async def stripe_http(emulator_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        base_url=emulator_url, headers={"Authorization": f"Bearer {STRIPE_TEST_KEY}"}, timeout=10
    ) as http:
        yield http


async def test_invoice_paid_event_completes_a_3ds_upgrade(
    db: Database,
    gateway: StripeGateway,
    stripe_http: httpx.AsyncClient,
    settings: Settings,
    clock: FixedClock,
    emulator_url: str,
) -> None:
    """An upgrade waiting for 3-D Secure succeeds when its invoice's `invoice.paid` event is
    delivered and processed; a redelivery of the event changes nothing."""
    world = await subscribed_customer(
        gateway, name="webhook-3ds", card="pm_card_authenticationRequired"
    )
    now = world.period_start + 5 * DAY
    quote = await quoting.quote(
        db,
        gateway,
        customer_id=world.customer_id,
        subscription_id=world.subscription_id,
        to_price=world.pro,
        to_quantity=1,
        now=now,
    )
    upgrade = await upgrades.accept(
        db,
        gateway,
        quote_id=quote.id,
        customer_id=world.customer_id,
        idempotency_key="webhook-3ds",
        now=now,
    )
    assert upgrade.status == "requires_action"
    assert upgrade.invoice_id is not None

    await pay_with_3ds(stripe_http, upgrade.invoice_id)
    invoice = (await stripe_http.get(f"/v1/invoices/{upgrade.invoice_id}")).json()
    assert invoice["status"] == "paid"
    waiting = await storage.upgrades.get(db, upgrade.id)
    assert waiting is not None
    assert waiting.status == "requires_action"  # until Uplift hears of the payment

    clock.set(now + 60)
    with_emulator = Settings(**{**settings.model_dump(), "stripe_api_base": emulator_url})
    event = f.event("invoice.paid", invoice, id="evt_3ds_paid", created=now + 60)
    async with running_app(with_emulator, clock) as (app, http):
        await deliver(http, app, event, timestamp=now + 60)
        await deliver(http, app, event, timestamp=now + 61)

    done = await storage.upgrades.get(db, upgrade.id)
    assert done is not None
    assert (done.status, done.amount_paid) == ("succeeded", quote.amount_due_now)
    [item] = (await gateway.retrieve_subscription(world.subscription_id)).items
    assert item.price_id == world.pro
