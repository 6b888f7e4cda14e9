"""Upkeep: period-end changes are applied when due, abandoned upgrades are finished once."""

from __future__ import annotations

import httpx
import pytest

from plugin import storage
from plugin.billing import quoting, upgrades, upkeep
from plugin.billing.quotes import QuoteRecord
from plugin.billing.stripe_gateway import StripeGateway
from plugin.errors import Conflict
from plugin.storage import Database
from plugin.storage.upgrades import UpgradeRecord
from tests.support import Subscribed, pay_with_3ds, subscribed_customer

DAY = 86_400


async def _abandoned(
    db: Database,
    world: Subscribed,
    quote: QuoteRecord,
    *,
    upgrade_id: str,
    key: str,
    at: int,
    verified: bool = True,
) -> UpgradeRecord:
    """An upgrade claimed for `quote` (and, if `verified`, checked, so its steps may have
    reached Stripe) and never finished: the process died right after."""
    claimed, _ = await storage.upgrades.claim(
        db,
        upgrade=storage.upgrades.NewUpgrade(
            id=upgrade_id, quote_id=quote.id, idempotency_key=key,
            customer_id=world.customer_id, offer_id=None, variant=None, execution="uplift",
            subscription_id=world.subscription_id, subscription_item_id=world.item_id,
            from_price=world.basic, from_quantity=1, to_price=world.pro, to_quantity=1,
            currency="usd", amount_quoted=quote.amount_due_now, mrr_delta=quote.mrr_delta,
            status="processing", effective_at=at,
        ),
        now=at,
    )  # fmt: skip
    assert claimed is not None
    if verified:
        await storage.upgrades.verify(db, upgrade_id=claimed.id, now=at)
    return claimed


async def test_due_downgrades_are_applied_and_stuck_upgrades_finished(
    db: Database, gateway: StripeGateway
) -> None:
    """A downgrade scheduled for the period end waits for it; an upgrade left `processing`
    is finished after STUCK_AFTER seconds, and a second pass changes nothing."""
    later = await subscribed_customer(gateway, name="upkeep-downgrade", quantity=2)
    now = later.period_start + 5 * DAY
    quote = await quoting.quote(
        db, gateway, customer_id=later.customer_id, subscription_id=later.subscription_id,
        to_price=later.basic, to_quantity=1, now=now,
    )  # fmt: skip
    scheduled = await upgrades.accept(
        db, gateway, quote_id=quote.id, customer_id=later.customer_id,
        idempotency_key="upkeep-1", now=now,
    )  # fmt: skip
    assert scheduled.status == "scheduled"

    crashed = await subscribed_customer(gateway, name="upkeep-crashed")
    t = crashed.period_start + 5 * DAY
    up = await quoting.quote(
        db, gateway, customer_id=crashed.customer_id, subscription_id=crashed.subscription_id,
        to_price=crashed.pro, to_quantity=1, now=t,
    )  # fmt: skip
    claimed = await _abandoned(
        db, crashed, up, upgrade_id="up_upkeep_crashed", key="upkeep-2", at=t
    )

    too_soon = await upkeep.run_once(db, gateway, now=t + upkeep.STUCK_AFTER - 1)
    assert too_soon == upkeep.Pass(applied=0, resumed=0)

    first = await upkeep.run_once(db, gateway, now=t + upkeep.STUCK_AFTER + 1)
    assert first == upkeep.Pass(applied=0, resumed=1)
    finished = await storage.upgrades.get(db, claimed.id)
    assert finished is not None
    assert (finished.status, finished.amount_paid) == ("succeeded", up.amount_due_now)

    at_period_end = await upkeep.run_once(db, gateway, now=later.period_end)
    assert at_period_end == upkeep.Pass(applied=1, resumed=0)
    [item] = (await gateway.retrieve_subscription(later.subscription_id)).items
    assert (item.price_id, item.quantity) == (later.basic, 1)

    again = await upkeep.run_once(db, gateway, now=later.period_end + 60)
    assert again == upkeep.Pass(applied=0, resumed=0)


async def test_old_abandoned_upgrades_are_left_for_an_operator(
    db: Database, gateway: StripeGateway
) -> None:
    """Past Stripe's 24 h idempotency window a replay could charge twice: leave it alone."""
    world = await subscribed_customer(gateway, name="upkeep-old")
    t = world.period_start + 2 * DAY
    quote = await quoting.quote(
        db, gateway, customer_id=world.customer_id, subscription_id=world.subscription_id,
        to_price=world.pro, to_quantity=1, now=t,
    )  # fmt: skip
    await _abandoned(db, world, quote, upgrade_id="up_upkeep_old", key="upkeep-3", at=t)
    result = await upkeep.run_once(db, gateway, now=t + upkeep.RESUME_WITHIN + 1)
    assert result.resumed == 0
    left = await storage.upgrades.get(db, "up_upkeep_old")
    assert left is not None
    assert left.status == "processing"


async def test_an_old_claim_never_verified_is_released_and_frees_the_subscription(
    db: Database, gateway: StripeGateway
) -> None:
    """A claim whose process died before its checks sent nothing to Stripe: past its quote's
    expiry, upkeep releases it whatever its age, charging nothing, and the subscription can be
    changed again."""
    world = await subscribed_customer(gateway, name="upkeep-unverified")
    t = world.period_start + 2 * DAY
    quote = await quoting.quote(
        db, gateway, customer_id=world.customer_id, subscription_id=world.subscription_id,
        to_price=world.pro, to_quantity=1, now=t,
    )  # fmt: skip
    await _abandoned(
        db, world, quote, upgrade_id="up_unverified_old", key="upkeep-4", at=t, verified=False
    )
    later = t + upkeep.RESUME_WITHIN + 1
    result = await upkeep.run_once(db, gateway, now=later)
    assert result.resumed == 0
    assert await storage.upgrades.get(db, "up_unverified_old") is None
    [item] = (await gateway.retrieve_subscription(world.subscription_id)).items
    assert item.price_id == world.basic

    fresh = await quoting.quote(
        db, gateway, customer_id=world.customer_id, subscription_id=world.subscription_id,
        to_price=world.pro, to_quantity=1, now=later,
    )  # fmt: skip
    upgrade = await upgrades.accept(
        db, gateway, quote_id=fresh.id, customer_id=world.customer_id,
        idempotency_key="upkeep-5", now=later,
    )  # fmt: skip
    assert (upgrade.status, upgrade.amount_paid) == ("succeeded", fresh.amount_due_now)


async def test_an_unpaid_3ds_upgrade_ends_after_a_day_and_frees_the_subscription(
    db: Database, gateway: StripeGateway, stripe_http: httpx.AsyncClient
) -> None:
    """A customer who leaves the 3-D Secure page holds the subscription's one change in flight
    (another accept is a 409) until the payment window ends: upkeep voids the invoice, fails
    the upgrade `expired`, nothing is charged and a new change can be accepted. One paid in
    time is recorded as paid instead."""
    world = await subscribed_customer(
        gateway, name="upkeep-unpaid-3ds", card="pm_card_authenticationRequired"
    )
    t = world.period_start + 3 * DAY

    async def quote_and_accept(key: str, at: int) -> UpgradeRecord:
        quote = await quoting.quote(
            db, gateway, customer_id=world.customer_id, subscription_id=world.subscription_id,
            to_price=world.pro, to_quantity=1, now=at,
        )  # fmt: skip
        return await upgrades.accept(
            db, gateway, quote_id=quote.id, customer_id=world.customer_id,
            idempotency_key=key, now=at,
        )  # fmt: skip

    waiting = await quote_and_accept("upkeep-3ds-1", t)
    assert waiting.status == "requires_action"
    with pytest.raises(Conflict) as held:
        await quote_and_accept("upkeep-3ds-2", t + 60)
    assert held.value.code == "change_in_progress"

    early = await upkeep.run_once(db, gateway, now=t + upgrades.PAYMENT_WINDOW - 1)
    assert early.expired == 0
    late = await upkeep.run_once(db, gateway, now=t + upgrades.PAYMENT_WINDOW + 1)
    assert late.expired == 1
    ended = await storage.upgrades.get(db, waiting.id)
    assert ended is not None
    assert ended.status == "failed"
    assert ended.failure_reason is not None
    assert ended.failure_reason.startswith("expired")
    assert waiting.invoice_id is not None
    assert (await gateway.retrieve_invoice(waiting.invoice_id)).status == "void"
    [item] = (await gateway.retrieve_subscription(world.subscription_id)).items
    assert item.price_id == world.basic

    # Free again: the next attempt is claimed; this time the customer pays within the window.
    later = t + upgrades.PAYMENT_WINDOW + 100
    again = await quote_and_accept("upkeep-3ds-3", later)
    assert again.status == "requires_action"
    assert again.invoice_id is not None
    await pay_with_3ds(stripe_http, again.invoice_id)
    result = await upkeep.run_once(db, gateway, now=later + upgrades.PAYMENT_WINDOW + 1)
    assert result.expired == 0
    done = await storage.upgrades.get(db, again.id)
    assert done is not None
    assert (done.status, done.amount_paid) == ("succeeded", again.amount_quoted)
    [item] = (await gateway.retrieve_subscription(world.subscription_id)).items
    assert item.price_id == world.pro
