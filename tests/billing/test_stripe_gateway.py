"""The gateway against the local Stripe: what Uplift creates, it reads back the same."""

from __future__ import annotations

import pytest

from plugin import storage
from plugin.billing.catalog import Price
from plugin.billing.catalog_sync import sync_catalog
from plugin.billing.stripe_gateway import StripeGateway
from plugin.errors import StripeRejected
from plugin.storage import Database
from tests.support import NOW, STRIPE_TEST_KEY, run_uplift, subscribed_customer, uplift_env


async def test_customer_product_prices_and_subscription_round_trip(
    gateway: StripeGateway,
) -> None:
    """A customer with a card subscribes to one of two prices; everything reads back."""
    customer = await gateway.create_customer(
        {"email": "ada@example.com", "name": "Ada", "metadata": {"uplift_id": "ada"}},
        idempotency_key="test:roundtrip:customer",
    )
    customer = await gateway.set_default_payment_method(
        customer_id=customer.id, payment_method="pm_card_visa", idempotency_key="test:roundtrip:pm"
    )
    product = await gateway.create_product(
        {"name": "Pro"}, idempotency_key="test:roundtrip:product"
    )
    monthly = await gateway.create_price(
        {
            "product": product.id,
            "currency": "usd",
            "unit_amount": 9900,
            "recurring": {"interval": "month"},
            "lookup_key": "rt_pro_monthly",
        },
        idempotency_key="test:roundtrip:price:monthly",
    )
    annual = await gateway.create_price(
        {
            "product": product.id,
            "currency": "usd",
            "unit_amount": 99000,
            "recurring": {"interval": "year"},
        },
        idempotency_key="test:roundtrip:price:annual",
    )
    subscription = await gateway.create_subscription(
        {"customer": customer.id, "items": [{"price": monthly.id, "quantity": 2}]},
        idempotency_key="test:roundtrip:subscription",
    )

    assert await gateway.retrieve_customer(customer.id) == customer
    assert customer.email == "ada@example.com"
    assert customer.metadata == {"uplift_id": "ada"}
    assert customer.default_payment_method is not None
    assert await gateway.retrieve_price(monthly.id) == monthly
    assert monthly == Price(
        id=monthly.id,
        product_id=product.id,
        currency="usd",
        unit_amount=9900,
        interval="month",
        interval_count=1,
        lookup_key="rt_pro_monthly",
    )
    assert annual.interval == "year"
    assert annual.unit_amount == 99000

    again = await gateway.retrieve_subscription(subscription.id)
    assert again == subscription
    assert again.customer_id == customer.id
    assert again.status == "active"
    [item] = again.items
    assert (item.price_id, item.quantity) == (monthly.id, 2)
    assert item.current_period_start < item.current_period_end


async def test_same_idempotency_key_returns_the_first_result(gateway: StripeGateway) -> None:
    """A retried create with the same key does not create a second object."""
    first = await gateway.create_customer(
        {"email": "once@example.com"}, idempotency_key="test:idempotent:customer"
    )
    second = await gateway.create_customer(
        {"email": "once@example.com"}, idempotency_key="test:idempotent:customer"
    )
    assert second.id == first.id


async def test_stripe_refusals_become_gateway_errors(gateway: StripeGateway) -> None:
    """A request Stripe refuses is a `StripeRejected` with Stripe's reason, not a stripe type."""
    with pytest.raises(StripeRejected) as caught:
        await gateway.retrieve_customer("cus_does_not_exist")
    assert caught.value.http_status == 404


async def test_catalog_sync_mirrors_products_and_prices(
    gateway: StripeGateway, db: Database
) -> None:
    """`catalog sync` stores every Stripe product and price with its amount and interval."""
    product = await gateway.create_product(
        {"name": "Sync Add-on"}, idempotency_key="test:sync:product"
    )
    price = await gateway.create_price(
        {
            "product": product.id,
            "currency": "jpy",
            "unit_amount": 1900,
            "recurring": {"interval": "month"},
        },
        idempotency_key="test:sync:price",
    )
    await sync_catalog(db, gateway, now=NOW)
    stored = await storage.catalog.get_price(db, price.id)
    assert stored == price
    assert product in await storage.catalog.list_products(db)


def test_catalog_sync_command_reports_counts(emulator_url: str, database_url: str) -> None:
    """The CLI pulls from the configured Stripe and says how much it stored."""
    env = uplift_env(
        database_url=database_url,
        stripe_api_key=STRIPE_TEST_KEY,
        stripe_api_base=emulator_url,
    )
    assert run_uplift("migrate", env=env).returncode == 0
    result = run_uplift("catalog", "sync", env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("synced ")


async def test_one_off_invoice_of_pending_items_round_trips(gateway: StripeGateway) -> None:
    """Items created for a subscription make up a one-off invoice that is finalized and paid
    off-session; every step reads back as the frozen values the domain uses."""
    world = await subscribed_customer(gateway, name="gateway-invoice")
    credit = await gateway.create_invoice_item(
        {
            "customer": world.customer_id,
            "subscription": world.subscription_id,
            "amount": -700,
            "currency": "usd",
            "description": "Unused time",
            "period": {"start": world.period_start, "end": world.period_end},
        },
        idempotency_key="test:gateway-invoice:credit",
    )
    assert (credit.amount, credit.invoice_id, credit.subscription_id) == (
        -700,
        None,
        world.subscription_id,
    )
    await gateway.create_invoice_item(
        {
            "customer": world.customer_id,
            "subscription": world.subscription_id,
            "amount": 2000,
            "currency": "usd",
        },
        idempotency_key="test:gateway-invoice:debit",
    )
    draft = await gateway.create_invoice(
        {
            "customer": world.customer_id,
            "subscription": world.subscription_id,
            "pending_invoice_items_behavior": "include",
        },
        idempotency_key="test:gateway-invoice:invoice",
    )
    assert (draft.status, draft.subtotal, draft.hosted_invoice_url) == ("draft", 1300, None)
    assert draft.subscription_id == world.subscription_id
    opened = await gateway.finalize_invoice(draft.id, idempotency_key="test:gateway-invoice:fin")
    assert (opened.status, opened.amount_due) == ("open", 1300)
    paid = await gateway.pay_invoice(draft.id, idempotency_key="test:gateway-invoice:pay")
    assert (paid.status, paid.amount_paid) == ("paid", 1300)
    assert await gateway.retrieve_invoice(draft.id) == paid


async def test_declined_invoice_payment_is_rejected_with_its_code(gateway: StripeGateway) -> None:
    """A declined off-session payment is a `StripeRejected` carrying Stripe's code; the replay
    under the same key gives the same answer rather than a second attempt."""
    world = await subscribed_customer(
        gateway, name="gateway-declined", card="pm_card_chargeCustomerFail"
    )
    await gateway.create_invoice_item(
        {"customer": world.customer_id, "subscription": world.subscription_id, "amount": 999,
         "currency": "usd"},
        idempotency_key="test:gateway-declined:item",
    )  # fmt: skip
    draft = await gateway.create_invoice(
        {
            "customer": world.customer_id,
            "subscription": world.subscription_id,
            "pending_invoice_items_behavior": "include",
        },
        idempotency_key="test:gateway-declined:invoice",
    )
    await gateway.finalize_invoice(draft.id, idempotency_key="test:gateway-declined:fin")
    for _ in range(2):
        with pytest.raises(StripeRejected) as declined:
            await gateway.pay_invoice(draft.id, idempotency_key="test:gateway-declined:pay")
        assert (declined.value.code, declined.value.http_status) == ("card_declined", 402)
    voided = await gateway.void_invoice(draft.id, idempotency_key="test:gateway-declined:void")
    assert (voided.status, voided.amount_paid) == ("void", 0)


async def test_deleting_an_invoice_item_twice_is_fine(gateway: StripeGateway) -> None:
    """A pending item is deleted; deleting it again (a retry) is not an error."""
    world = await subscribed_customer(gateway, name="gateway-delete")
    item = await gateway.create_invoice_item(
        {"customer": world.customer_id, "amount": 100, "currency": "usd"},
        idempotency_key="test:gateway-delete:item",
    )
    await gateway.delete_invoice_item(item.id)
    await gateway.delete_invoice_item(item.id)


async def test_a_coupon_attached_to_an_item_is_that_items_discount(
    gateway: StripeGateway,
) -> None:
    """An offer's coupon (percent, repeating; or an amount, once) replays under its key and,
    attached with the item change or the added item, shows on that item only."""
    world = await subscribed_customer(gateway, name="gateway-coupon")
    percent = await gateway.create_coupon(
        coupon_id="uplift_test_gateway_pct", name="30 % off for 3 months", percent_off=30,
        amount_off=None, currency="usd", duration_in_months=3,
        metadata={"uplift_quote": "qt_test"}, idempotency_key="test:gateway-coupon:pct",
    )  # fmt: skip
    assert (percent.percent_off, percent.duration, percent.duration_in_months) == (
        30, "repeating", 3,
    )  # fmt: skip
    again = await gateway.create_coupon(
        coupon_id="uplift_test_gateway_pct", name="30 % off for 3 months", percent_off=30,
        amount_off=None, currency="usd", duration_in_months=3,
        metadata={"uplift_quote": "qt_test"}, idempotency_key="test:gateway-coupon:pct",
    )  # fmt: skip
    assert again == percent
    amount = await gateway.create_coupon(
        coupon_id="uplift_test_gateway_amt", name="$5.00 off once", percent_off=None,
        amount_off=500, currency="usd", duration_in_months=None, metadata={},
        idempotency_key="test:gateway-coupon:amt",
    )  # fmt: skip
    assert (amount.amount_off, amount.currency, amount.duration) == (500, "usd", "once")

    changed = await gateway.update_subscription(
        world.subscription_id,
        {"items": [{"id": world.item_id, "price": world.pro}], "proration_behavior": "none"},
        idempotency_key="test:gateway-coupon:switch",
        coupon=percent.id,
    )
    [plan] = changed.items
    assert (plan.id, plan.price_id, len(plan.discount_ids)) == (world.item_id, world.pro, 1)
    added = await gateway.create_subscription_item(
        {"subscription": world.subscription_id, "price": world.basic,
         "proration_behavior": "none"},
        idempotency_key="test:gateway-coupon:add",
        coupon=amount.id,
    )  # fmt: skip
    assert len(added.discount_ids) == 1
    assert added.discount_ids != plan.discount_ids
