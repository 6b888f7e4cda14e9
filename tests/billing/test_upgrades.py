"""Accepting quotes against the local Stripe: what the emulator recorded is the outcome."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from plugin import storage
from plugin.api.errors import status_of
from plugin.billing import quotes, quoting, upgrades
from plugin.billing.stripe_gateway import StripeGateway
from plugin.errors import Conflict, StripeUnavailable, UpliftError, ValidationFailed
from plugin.storage import Database
from tests.support import (
    STRIPE_TEST_KEY,
    Subscribed,
    free_port,
    pay_with_3ds,
    subscribed_customer,
)

DAY = 86400


@pytest.fixture
async def stripe_http(emulator_url: str) -> Any:
    """Raw reads of what the emulator recorded (all invoices of a customer) and the customer's
    side of 3-D Secure, which no Uplift code path performs."""
    async with httpx.AsyncClient(
        base_url=emulator_url, headers={"Authorization": f"Bearer {STRIPE_TEST_KEY}"}, timeout=10
    ) as http:
        yield http


async def _paid_upgrade_invoices(http: httpx.AsyncClient, world: Subscribed) -> list[Any]:
    found = (await http.get("/v1/invoices", params={"customer": world.customer_id})).json()
    return [
        invoice
        for invoice in found["data"]
        if invoice["metadata"].get("uplift_quote") and invoice["status"] == "paid"
    ]


async def _quote(
    db: Database, gateway: StripeGateway, world: Subscribed, *, to_price: str, now: int, **kw: Any
) -> quotes.QuoteRecord:
    return await quoting.quote(
        db,
        gateway,
        customer_id=world.customer_id,
        subscription_id=world.subscription_id,
        to_price=to_price,
        to_quantity=kw.pop("to_quantity", 1),
        now=now,
        **kw,
    )


async def test_upgrade_charges_exactly_the_quote_and_switches_the_plan(
    db: Database, gateway: StripeGateway, stripe_http: httpx.AsyncClient
) -> None:
    """Accepting an upgrade quote charges its amount to the cent in one paid invoice whose lines
    are the quoted lines, then moves the same subscription item to the new price."""
    world = await subscribed_customer(gateway, name="upgrade-ok")
    now = world.period_start + 10 * DAY + 12345
    quote = await _quote(db, gateway, world, to_price=world.pro, now=now)
    assert quote.amount_due_now > 0

    upgrade = await upgrades.accept(
        db,
        gateway,
        quote_id=quote.id,
        customer_id=world.customer_id,
        idempotency_key="idem-upgrade-ok",
        now=now + 30,
    )

    assert (upgrade.status, upgrade.amount_paid) == ("succeeded", quote.amount_due_now)
    assert upgrade.invoice_id is not None
    invoice = await gateway.retrieve_invoice(upgrade.invoice_id)
    assert (invoice.status, invoice.amount_paid) == ("paid", quote.amount_due_now)
    assert sorted(line.amount for line in invoice.lines) == sorted(
        line.amount for line in quote.lines
    )
    subscription = await gateway.retrieve_subscription(world.subscription_id)
    [item] = subscription.items
    assert (item.id, item.price_id, item.quantity) == (world.item_id, world.pro, 1)
    assert subscription.status == "active"
    assert upgrade.mrr_delta == 9900 - 2900
    history = await storage.upgrades.history(db, upgrade.id)
    assert [event.status for event in history] == ["processing", "succeeded"]


async def test_declined_card_charges_nothing_and_keeps_the_plan(
    db: Database, gateway: StripeGateway, stripe_http: httpx.AsyncClient
) -> None:
    """A declined off-session payment voids the invoice, leaves the plan untouched and records
    `failed` with the decline reason."""
    world = await subscribed_customer(
        gateway, name="upgrade-declined", card="pm_card_chargeCustomerFail"
    )
    now = world.period_start + 3 * DAY
    quote = await _quote(db, gateway, world, to_price=world.pro, now=now)

    upgrade = await upgrades.accept(
        db,
        gateway,
        quote_id=quote.id,
        customer_id=world.customer_id,
        idempotency_key="idem-declined",
        now=now,
    )

    assert upgrade.status == "failed"
    assert upgrade.failure_reason
    assert upgrade.invoice_id is not None
    invoice = await gateway.retrieve_invoice(upgrade.invoice_id)
    assert (invoice.status, invoice.amount_paid) == ("void", 0)
    assert await _paid_upgrade_invoices(stripe_http, world) == []
    [item] = (await gateway.retrieve_subscription(world.subscription_id)).items
    assert item.price_id == world.basic


async def test_3ds_card_waits_for_the_customer_then_switches_on_invoice_paid(
    db: Database, gateway: StripeGateway, stripe_http: httpx.AsyncClient
) -> None:
    """A card needing 3-D Secure leaves the upgrade `requires_action` with the invoice's payment
    page and the plan unchanged; once the customer pays, `on_invoice_paid` switches it."""
    world = await subscribed_customer(
        gateway, name="upgrade-3ds", card="pm_card_authenticationRequired"
    )
    now = world.period_start + 5 * DAY
    quote = await _quote(db, gateway, world, to_price=world.pro, now=now)

    upgrade = await upgrades.accept(
        db,
        gateway,
        quote_id=quote.id,
        customer_id=world.customer_id,
        idempotency_key="idem-3ds",
        now=now,
    )
    assert upgrade.status == "requires_action"
    assert upgrade.hosted_invoice_url
    assert upgrade.invoice_id is not None
    [item] = (await gateway.retrieve_subscription(world.subscription_id)).items
    assert item.price_id == world.basic

    # Before the customer acts, a paid-event replay changes nothing.
    await upgrades.on_invoice_paid(db, gateway, invoice_id=upgrade.invoice_id, now=now + 1)
    assert (await storage.upgrades.get(db, upgrade.id)) == upgrade

    # The customer authenticates on the hosted page (the emulator's test route for it).
    await pay_with_3ds(stripe_http, upgrade.invoice_id)

    await upgrades.on_invoice_paid(db, gateway, invoice_id=upgrade.invoice_id, now=now + 60)
    await upgrades.on_invoice_paid(db, gateway, invoice_id=upgrade.invoice_id, now=now + 61)
    done = await storage.upgrades.get(db, upgrade.id)
    assert done is not None
    assert (done.status, done.amount_paid) == ("succeeded", quote.amount_due_now)
    [item] = (await gateway.retrieve_subscription(world.subscription_id)).items
    assert (item.id, item.price_id) == (world.item_id, world.pro)
    assert len(await _paid_upgrade_invoices(stripe_http, world)) == 1


async def test_accepting_twice_charges_once(
    db: Database, gateway: StripeGateway, stripe_http: httpx.AsyncClient
) -> None:
    """A repeated accept of the same quote (same or another Idempotency-Key) returns the one
    upgrade; the same key for a different quote is refused with 422."""
    world = await subscribed_customer(gateway, name="upgrade-twice")
    now = world.period_start + 7 * DAY
    quote = await _quote(db, gateway, world, to_price=world.pro, now=now)
    args: dict[str, Any] = {"quote_id": quote.id, "customer_id": world.customer_id, "now": now}

    first = await upgrades.accept(db, gateway, idempotency_key="idem-twice", **args)
    again = await upgrades.accept(db, gateway, idempotency_key="idem-twice", **args)
    other_key = await upgrades.accept(db, gateway, idempotency_key="idem-twice-2", **args)

    assert first.status == "succeeded"
    assert again == first == other_key
    assert len(await _paid_upgrade_invoices(stripe_http, world)) == 1

    second_quote = await _quote(db, gateway, world, to_price=world.basic, now=now + 1)
    with pytest.raises(ValidationFailed):
        await upgrades.accept(
            db,
            gateway,
            quote_id=second_quote.id,
            customer_id=world.customer_id,
            idempotency_key="idem-twice",
            now=now + 1,
        )


async def _race(
    db: Database, gateway: StripeGateway, world: Subscribed, quote_id: str, *, now: int, key: str
) -> None:
    """Five accepts of one quote at once: every one ends as the same upgrade or a 409 while it
    is in flight."""
    results = await asyncio.gather(
        *(
            upgrades.accept(
                db,
                gateway,
                quote_id=quote_id,
                customer_id=world.customer_id,
                idempotency_key=f"{key}-{n}",
                now=now,
            )
            for n in range(5)
        ),
        return_exceptions=True,
    )
    finished = [r for r in results if isinstance(r, upgrades.UpgradeRecord)]
    assert finished
    assert all(isinstance(r, upgrades.UpgradeRecord | Conflict) for r in results)
    assert {r.id for r in finished} == {finished[0].id}


async def test_concurrent_accepts_charge_once(
    db: Database, gateway: StripeGateway, stripe_http: httpx.AsyncClient
) -> None:
    """Five accepts of one quote racing: one upgrade row, one paid invoice, one switch; the
    others get that upgrade or a 409 while it is in flight."""
    world = await subscribed_customer(gateway, name="upgrade-race")
    now = world.period_start + 2 * DAY
    quote = await _quote(db, gateway, world, to_price=world.pro, now=now)

    await _race(db, gateway, world, quote.id, now=now, key="idem-race")
    assert len(await storage.upgrades.list_for_customer(db, world.customer_id)) == 1
    paid = await _paid_upgrade_invoices(stripe_http, world)
    assert [invoice["amount_paid"] for invoice in paid] == [quote.amount_due_now]
    [item] = (await gateway.retrieve_subscription(world.subscription_id)).items
    assert item.price_id == world.pro


async def test_expired_quote_is_gone(db: Database, gateway: StripeGateway) -> None:
    """A quote accepted at or after its expiry (10 minutes by default) is a 410; nothing runs."""
    world = await subscribed_customer(gateway, name="upgrade-expired")
    now = world.period_start + DAY
    quote = await _quote(db, gateway, world, to_price=world.pro, now=now)
    assert quote.expires_at == now + 600

    with pytest.raises(UpliftError) as gone:
        await upgrades.accept(
            db,
            gateway,
            quote_id=quote.id,
            customer_id=world.customer_id,
            idempotency_key="idem-expired",
            now=now + 600,
        )
    assert (status_of(gone.value), gone.value.code) == (410, "quote_expired")
    assert await storage.upgrades.by_quote(db, quote.id) is None


async def test_stale_quote_is_a_conflict_with_a_fresh_quote(
    db: Database, gateway: StripeGateway
) -> None:
    """If the subscription changed after the quote, accepting is a 409 carrying a fresh quote
    for the same change; nothing is charged and the fresh quote can be accepted."""
    world = await subscribed_customer(gateway, name="upgrade-stale", quantity=2)
    now = world.period_start + 4 * DAY
    quote = await _quote(db, gateway, world, to_price=world.pro, now=now, to_quantity=2)
    await gateway.update_subscription(
        world.subscription_id,
        {"items": [{"id": world.item_id, "quantity": 3}], "proration_behavior": "none"},
        idempotency_key="test:upgrade-stale:seat-change",
    )

    with pytest.raises(quotes.StaleQuote) as stale:
        await upgrades.accept(
            db,
            gateway,
            quote_id=quote.id,
            customer_id=world.customer_id,
            idempotency_key="idem-stale",
            now=now + 60,
        )
    assert status_of(stale.value) == 409
    fresh = stale.value.fresh
    assert fresh is not None
    assert stale.value.body()["error"]["fresh_quote_id"] == fresh.id
    assert (fresh.state.quantity, fresh.proration_date) == (3, now + 60)
    assert await storage.upgrades.by_quote(db, quote.id) is None

    upgrade = await upgrades.accept(
        db,
        gateway,
        quote_id=fresh.id,
        customer_id=world.customer_id,
        idempotency_key="idem-stale-fresh",
        now=now + 90,
    )
    assert (upgrade.status, upgrade.amount_paid) == ("succeeded", fresh.amount_due_now)


async def test_quantity_decrease_with_immediate_timing_credits_the_balance(
    db: Database, gateway: StripeGateway, stripe_http: httpx.AsyncClient
) -> None:
    """A downgrade applied now (not the default) charges nothing: the negative proration total
    becomes a credit on the customer's balance, and the plan switches."""
    world = await subscribed_customer(gateway, name="downgrade-now", quantity=3)
    now = world.period_start + 15 * DAY
    quote = await _quote(
        db, gateway, world, to_price=world.basic, to_quantity=1, now=now, downgrade_timing="now"
    )
    assert (quote.timing, quote.amount_due_now) == ("now", 0)
    assert quote.invoice_total < 0

    upgrade = await upgrades.accept(
        db,
        gateway,
        quote_id=quote.id,
        customer_id=world.customer_id,
        idempotency_key="idem-downgrade-now",
        now=now,
    )

    assert (upgrade.status, upgrade.amount_paid) == ("succeeded", 0)
    customer = await gateway.retrieve_customer(world.customer_id)
    assert customer.balance == quote.invoice_total
    [item] = (await gateway.retrieve_subscription(world.subscription_id)).items
    assert (item.price_id, item.quantity) == (world.basic, 1)


async def test_downgrade_waits_for_the_period_end(db: Database, gateway: StripeGateway) -> None:
    """By default a downgrade charges and refunds nothing and is applied at the period end."""
    world = await subscribed_customer(gateway, name="downgrade-later", quantity=2)
    now = world.period_start + 6 * DAY
    quote = await _quote(db, gateway, world, to_price=world.basic, to_quantity=1, now=now)
    assert (quote.timing, quote.lines, quote.amount_due_now) == ("period_end", (), 0)

    upgrade = await upgrades.accept(
        db,
        gateway,
        quote_id=quote.id,
        customer_id=world.customer_id,
        idempotency_key="idem-downgrade-later",
        now=now,
    )
    assert (upgrade.status, upgrade.effective_at) == ("scheduled", world.period_end)
    assert await upgrades.apply_due(db, gateway, now=world.period_end - 1) == []
    [item] = (await gateway.retrieve_subscription(world.subscription_id)).items
    assert item.quantity == 2

    applied = await upgrades.apply_due(db, gateway, now=world.period_end)
    assert [a.id for a in applied] == [upgrade.id]
    [item] = (await gateway.retrieve_subscription(world.subscription_id)).items
    assert (item.price_id, item.quantity) == (world.basic, 1)
    done = await storage.upgrades.get(db, upgrade.id)
    assert done is not None
    assert done.status == "succeeded"


async def test_webhook_hooks_ignore_invoices_without_an_upgrade(
    db: Database, gateway: StripeGateway
) -> None:
    """The invoice hooks do nothing for an invoice no upgrade references: the upgrades there
    are, their histories and the customer's list stay exactly as they were."""
    world = await subscribed_customer(gateway, name="hooks-ignore")
    now = world.period_start + 10 * DAY
    quote = await _quote(db, gateway, world, to_price=world.pro, now=now)
    done = await upgrades.accept(
        db,
        gateway,
        quote_id=quote.id,
        customer_id=world.customer_id,
        idempotency_key="idem-hooks-ignore",
        now=now + 30,
    )

    async def seen() -> tuple[object, ...]:
        return (
            await storage.upgrades.get(db, done.id),
            await storage.upgrades.history(db, done.id),
            await storage.upgrades.list_for_customer(db, world.customer_id),
            await storage.upgrades.by_invoice(db, "in_unknown"),
        )

    before = await seen()
    await upgrades.on_invoice_paid(db, gateway, invoice_id="in_unknown", now=now + 60)
    await upgrades.on_invoice_payment_failed(
        db, gateway, invoice_id="in_unknown", reason="card_declined", now=now + 60
    )
    await upgrades.on_invoice_action_required(
        db, gateway, invoice_id="in_unknown", hosted_invoice_url=None, now=now + 60
    )
    assert await seen() == before
    assert before[3] is None
    listed = await storage.upgrades.list_for_customer(db, world.customer_id)
    assert [u.status for u in listed] == ["succeeded"]


async def test_stripe_outage_at_accept_is_503_stripe_unavailable_and_charges_nothing(
    db: Database, gateway: StripeGateway
) -> None:
    """With Stripe unreachable, accepting answers `stripe_unavailable` (503, retry later),
    charges nothing, and leaves the quote acceptable once Stripe is back."""
    world = await subscribed_customer(gateway, name="stripe-outage")
    now = world.period_start + 10 * DAY
    quote = await _quote(db, gateway, world, to_price=world.pro, now=now)
    unreachable = StripeGateway(
        api_key=STRIPE_TEST_KEY, api_base=f"http://127.0.0.1:{free_port()}", max_retries=0
    )
    try:
        with pytest.raises(StripeUnavailable) as outage:
            await upgrades.accept(
                db,
                unreachable,
                quote_id=quote.id,
                customer_id=world.customer_id,
                idempotency_key="idem-outage",
                now=now + 30,
            )
    finally:
        await unreachable.close()
    assert (status_of(outage.value), outage.value.code) == (503, "stripe_unavailable")
    assert await storage.upgrades.by_quote(db, quote.id) is None  # the claim was released
    later = await upgrades.accept(
        db,
        gateway,
        quote_id=quote.id,
        customer_id=world.customer_id,
        idempotency_key="idem-outage",
        now=now + 60,
    )
    assert (later.status, later.amount_paid) == ("succeeded", quote.amount_due_now)


async def test_customer_credit_pays_part_and_the_charge_still_equals_the_quote(
    db: Database, gateway: StripeGateway, stripe_http: httpx.AsyncClient
) -> None:
    """A credit on the customer balance is applied to the quote as Stripe applies it to the
    invoice: the card is charged the quote's amount due, and the credit is used up."""
    world = await subscribed_customer(gateway, name="upgrade-credit")
    credited = await stripe_http.post(f"/v1/customers/{world.customer_id}", data={"balance": -1000})
    assert credited.status_code == 200
    now = world.period_start + 12 * DAY
    quote = await _quote(db, gateway, world, to_price=world.pro, now=now)
    assert quote.amount_due_now == quote.invoice_total - 1000

    upgrade = await upgrades.accept(
        db,
        gateway,
        quote_id=quote.id,
        customer_id=world.customer_id,
        idempotency_key="idem-credit",
        now=now,
    )

    assert (upgrade.status, upgrade.amount_paid) == ("succeeded", quote.amount_due_now)
    assert (await gateway.retrieve_customer(world.customer_id)).balance == 0


async def test_resume_finishes_an_upgrade_a_crash_left_processing(
    db: Database, gateway: StripeGateway, stripe_http: httpx.AsyncClient
) -> None:
    """An upgrade claimed but never executed (the process died) stays `processing`: a new
    accept is a 409, and `resume` completes it, once, however often it is called."""
    world = await subscribed_customer(gateway, name="upgrade-resume")
    now = world.period_start + 8 * DAY
    quote = await _quote(db, gateway, world, to_price=world.pro, now=now)
    claimed, _ = await storage.upgrades.claim(
        db,
        upgrade=storage.upgrades.NewUpgrade(
            id="up_crashed",
            quote_id=quote.id,
            idempotency_key="idem-resume",
            customer_id=world.customer_id,
            offer_id=None,
            variant=None,
            execution="uplift",
            subscription_id=world.subscription_id,
            subscription_item_id=world.item_id,
            from_price=world.basic,
            from_quantity=1,
            to_price=world.pro,
            to_quantity=1,
            currency="usd",
            amount_quoted=quote.amount_due_now,
            mrr_delta=quote.mrr_delta,
            status="processing",
            effective_at=now,
        ),
        now=now,
    )
    assert claimed is not None
    with pytest.raises(Conflict):
        await upgrades.accept(
            db,
            gateway,
            quote_id=quote.id,
            customer_id=world.customer_id,
            idempotency_key="idem-resume",
            now=now + 5,
        )

    first = await upgrades.resume(db, gateway, upgrade_id=claimed.id, now=now + 10)
    second = await upgrades.resume(db, gateway, upgrade_id=claimed.id, now=now + 20)

    assert (first.status, first.amount_paid) == ("succeeded", quote.amount_due_now)
    assert second == first
    paid = await _paid_upgrade_invoices(stripe_http, world)
    assert [invoice["amount_paid"] for invoice in paid] == [quote.amount_due_now]


async def test_failed_payment_event_fails_the_upgrade_only_once_the_invoice_is_dead(
    db: Database, gateway: StripeGateway
) -> None:
    """`invoice.payment_failed` on a `requires_action` upgrade is noted but not final while the
    invoice is open (the customer can still pay it); once the invoice is void it is `failed`."""
    world = await subscribed_customer(
        gateway, name="upgrade-3ds-fails", card="pm_card_authenticationRequired"
    )
    now = world.period_start + 9 * DAY
    quote = await _quote(db, gateway, world, to_price=world.pro, now=now)
    upgrade = await upgrades.accept(
        db,
        gateway,
        quote_id=quote.id,
        customer_id=world.customer_id,
        idempotency_key="idem-3ds-fails",
        now=now,
    )
    assert upgrade.invoice_id is not None

    await upgrades.on_invoice_payment_failed(
        db, gateway, invoice_id=upgrade.invoice_id, reason="authentication_required", now=now + 1
    )
    still = await storage.upgrades.get(db, upgrade.id)
    assert still is not None
    assert still.status == "requires_action"

    await gateway.void_invoice(upgrade.invoice_id, idempotency_key="test:upgrade-3ds-fails:void")
    await upgrades.on_invoice_payment_failed(
        db, gateway, invoice_id=upgrade.invoice_id, reason="expired", now=now + 2
    )
    failed = await storage.upgrades.get(db, upgrade.id)
    assert failed is not None
    assert (failed.status, failed.failure_reason) == ("failed", "expired")
    history = [event.status for event in await storage.upgrades.history(db, upgrade.id)]
    assert history == ["processing", "requires_action", "requires_action", "failed"]
    [item] = (await gateway.retrieve_subscription(world.subscription_id)).items
    assert item.price_id == world.basic


async def test_stripe_mode_changes_the_same_subscription_in_one_update(
    db: Database, gateway: StripeGateway, stripe_http: httpx.AsyncClient
) -> None:
    """In "stripe" mode Uplift creates no invoice of its own: one update of the existing
    subscription item, and Stripe prorates. (The emulator does not prorate, so the amounts of
    this mode are verified only against real Stripe test mode; here, only the switch.)"""
    world = await subscribed_customer(gateway, name="upgrade-stripe-mode")
    now = world.period_start + 11 * DAY
    quote = await _quote(db, gateway, world, to_price=world.pro, now=now, execution="stripe")

    upgrade = await upgrades.accept(
        db,
        gateway,
        quote_id=quote.id,
        customer_id=world.customer_id,
        idempotency_key="idem-stripe-mode",
        now=now,
    )

    assert (upgrade.execution, upgrade.status) == ("stripe", "succeeded")
    subscription = await gateway.retrieve_subscription(world.subscription_id)
    [item] = subscription.items
    assert (subscription.id, item.id, item.price_id) == (
        world.subscription_id,
        world.item_id,
        world.pro,
    )
    assert await _paid_upgrade_invoices(stripe_http, world) == []
    listed = await stripe_http.get("/v1/subscriptions", params={"customer": world.customer_id})
    assert [sub["id"] for sub in listed.json()["data"]] == [world.subscription_id]


# Add-ons: items added to the customer's existing subscription ------------------------------


async def _addon_price(gateway: StripeGateway, *, name: str, amount: int = 1900) -> str:
    product = await gateway.create_product(
        {"name": f"Advanced Reports {name}"}, idempotency_key=f"test:{name}:addon-product"
    )
    price = await gateway.create_price(
        {
            "product": product.id,
            "currency": "usd",
            "unit_amount": amount,
            "recurring": {"interval": "month"},
        },
        idempotency_key=f"test:{name}:addon-price:{amount}",
    )
    return price.id


async def test_gateway_adds_an_item_to_the_existing_subscription(gateway: StripeGateway) -> None:
    """`create_subscription_item` adds the price to the same subscription (never a second one);
    a retry under the same idempotency key adds nothing more."""
    world = await subscribed_customer(gateway, name="gateway-add-item")
    addon = await _addon_price(gateway, name="gateway-add-item")
    params: Any = {
        "subscription": world.subscription_id,
        "price": addon,
        "quantity": 1,
        "proration_behavior": "none",
    }
    item = await gateway.create_subscription_item(params, idempotency_key="test:add-item")
    again = await gateway.create_subscription_item(params, idempotency_key="test:add-item")
    assert again == item
    subscription = await gateway.retrieve_subscription(world.subscription_id)
    assert [(i.id, i.price_id) for i in subscription.items] == [
        (world.item_id, world.basic),
        (item.id, addon),
    ]
    assert (item.current_period_start, item.current_period_end) == (
        world.period_start,
        world.period_end,
    )


async def _quote_addon(
    db: Database, gateway: StripeGateway, world: Subscribed, *, prices: tuple[str, ...], now: int
) -> quotes.QuoteRecord:
    return await quoting.quote_addons(
        db,
        gateway,
        customer_id=world.customer_id,
        subscription_id=world.subscription_id,
        prices=prices,
        now=now,
        offer_id=None,
        variant=None,
    )


async def test_addon_is_charged_as_quoted_then_added_to_the_same_subscription(
    db: Database, gateway: StripeGateway, stripe_http: httpx.AsyncClient
) -> None:
    """Accepting an add-on quote charges its amount in one paid invoice whose lines are the
    quoted lines, then adds the price as a second item of the same subscription (the plan item
    untouched); a plan upgrade afterwards changes the plan item and keeps the add-on."""
    world = await subscribed_customer(gateway, name="addon-ok")
    addon = await _addon_price(gateway, name="addon-ok")
    now = world.period_start + 9 * DAY + 777
    quote = await _quote_addon(db, gateway, world, prices=(addon,), now=now)
    assert quote.amount_due_now > 0

    upgrade = await upgrades.accept(
        db,
        gateway,
        quote_id=quote.id,
        customer_id=world.customer_id,
        idempotency_key="idem-addon-ok",
        now=now,
    )

    assert (upgrade.status, upgrade.amount_paid) == ("succeeded", quote.amount_due_now)
    assert (upgrade.subscription_item_id, upgrade.to_price, upgrade.mrr_delta) == (
        world.item_id,
        addon,
        1900,
    )
    assert upgrade.invoice_id is not None
    invoice = await gateway.retrieve_invoice(upgrade.invoice_id)
    assert (invoice.status, invoice.amount_paid) == ("paid", quote.amount_due_now)
    assert [line.amount for line in invoice.lines] == [line.amount for line in quote.lines]
    subscription = await gateway.retrieve_subscription(world.subscription_id)
    assert [(i.price_id, i.quantity) for i in subscription.items] == [
        (world.basic, 1),
        (addon, 1),
    ]
    assert subscription.items[0].id == world.item_id

    upgrade_quote = await _quote(db, gateway, world, to_price=world.pro, now=now + 60)
    upgraded = await upgrades.accept(
        db,
        gateway,
        quote_id=upgrade_quote.id,
        customer_id=world.customer_id,
        idempotency_key="idem-addon-then-pro",
        now=now + 60,
    )
    assert upgraded.status == "succeeded"
    after = await gateway.retrieve_subscription(world.subscription_id)
    assert [(i.id, i.price_id) for i in after.items] == [
        (world.item_id, world.pro),
        (subscription.items[1].id, addon),
    ]


async def test_declined_addon_charges_nothing_and_adds_nothing(
    db: Database, gateway: StripeGateway, stripe_http: httpx.AsyncClient
) -> None:
    """A declined card voids the add-on's invoice and adds no item."""
    world = await subscribed_customer(
        gateway, name="addon-declined", card="pm_card_chargeCustomerFail"
    )
    addon = await _addon_price(gateway, name="addon-declined")
    now = world.period_start + 4 * DAY
    quote = await _quote_addon(db, gateway, world, prices=(addon,), now=now)

    upgrade = await upgrades.accept(
        db,
        gateway,
        quote_id=quote.id,
        customer_id=world.customer_id,
        idempotency_key="idem-addon-declined",
        now=now,
    )

    assert upgrade.status == "failed"
    assert upgrade.invoice_id is not None
    assert (await gateway.retrieve_invoice(upgrade.invoice_id)).status == "void"
    assert await _paid_upgrade_invoices(stripe_http, world) == []
    [item] = (await gateway.retrieve_subscription(world.subscription_id)).items
    assert item.price_id == world.basic


async def test_3ds_addon_is_added_once_the_customer_pays(
    db: Database, gateway: StripeGateway, stripe_http: httpx.AsyncClient
) -> None:
    """A card needing 3-D Secure leaves the add-on `requires_action` with no item added; once
    the customer pays, `on_invoice_paid` adds it, once, however often the event comes."""
    world = await subscribed_customer(
        gateway, name="addon-3ds", card="pm_card_authenticationRequired"
    )
    addon = await _addon_price(gateway, name="addon-3ds")
    now = world.period_start + 6 * DAY
    quote = await _quote_addon(db, gateway, world, prices=(addon,), now=now)
    upgrade = await upgrades.accept(
        db,
        gateway,
        quote_id=quote.id,
        customer_id=world.customer_id,
        idempotency_key="idem-addon-3ds",
        now=now,
    )
    assert upgrade.status == "requires_action"
    assert upgrade.hosted_invoice_url
    assert upgrade.invoice_id is not None
    assert len((await gateway.retrieve_subscription(world.subscription_id)).items) == 1

    await pay_with_3ds(stripe_http, upgrade.invoice_id)

    await upgrades.on_invoice_paid(db, gateway, invoice_id=upgrade.invoice_id, now=now + 60)
    await upgrades.on_invoice_paid(db, gateway, invoice_id=upgrade.invoice_id, now=now + 61)
    done = await storage.upgrades.get(db, upgrade.id)
    assert done is not None
    assert (done.status, done.amount_paid) == ("succeeded", quote.amount_due_now)
    items = (await gateway.retrieve_subscription(world.subscription_id)).items
    assert [i.price_id for i in items] == [world.basic, addon]


async def test_concurrent_addon_accepts_charge_and_add_once(
    db: Database, gateway: StripeGateway, stripe_http: httpx.AsyncClient
) -> None:
    """Five accepts of one bundle quote racing: one upgrade, one paid invoice, each price added
    once."""
    world = await subscribed_customer(gateway, name="addon-race")
    first = await _addon_price(gateway, name="addon-race", amount=1900)
    second = await _addon_price(gateway, name="addon-race", amount=1000)
    now = world.period_start + 2 * DAY
    quote = await _quote_addon(db, gateway, world, prices=(first, second), now=now)
    assert len(quote.lines) == 2

    await _race(db, gateway, world, quote.id, now=now, key="idem-addon-race")
    paid = await _paid_upgrade_invoices(stripe_http, world)
    assert [invoice["amount_paid"] for invoice in paid] == [quote.amount_due_now]
    items = (await gateway.retrieve_subscription(world.subscription_id)).items
    assert [i.price_id for i in items] == [world.basic, first, second]


async def test_addon_added_meanwhile_is_a_conflict_at_accept(
    db: Database, gateway: StripeGateway, stripe_http: httpx.AsyncClient
) -> None:
    """If the price was added to the subscription after the quote, accepting it is a 409 and
    charges nothing."""
    world = await subscribed_customer(gateway, name="addon-meanwhile")
    addon = await _addon_price(gateway, name="addon-meanwhile")
    now = world.period_start + 3 * DAY
    quote = await _quote_addon(db, gateway, world, prices=(addon,), now=now)
    await gateway.create_subscription_item(
        {"subscription": world.subscription_id, "price": addon, "proration_behavior": "none"},
        idempotency_key="test:addon-meanwhile:elsewhere",
    )
    with pytest.raises(quotes.AlreadySubscribed):
        await upgrades.accept(
            db,
            gateway,
            quote_id=quote.id,
            customer_id=world.customer_id,
            idempotency_key="idem-addon-meanwhile",
            now=now + 5,
        )
    assert await _paid_upgrade_invoices(stripe_http, world) == []
