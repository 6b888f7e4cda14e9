"""Subscription changes billed as Stripe bills them: every worked example of
tests/data/proration-examples.jsonl reproduced by the emulator, pending updates, discounts on
proration invoices, the minimum charge amount, and Uplift's engine quoting exactly what the
emulator bills for a monthly -> annual switch."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path
from typing import Any

import httpx
import pytest
import stripe  # noqa: TID251 -- tests drive the emulator exactly as stripe-python does

from localstripe_bridge import prorations
from plugin.billing.proration import Change, Item, prorate
from plugin.billing.stripe_gateway import item_switch_params
from tests.localstripe_bridge.support import STRIPE_PYTHON_HTTPX_WARNING, Catalog

pytestmark = STRIPE_PYTHON_HTTPX_WARNING

CASES_FILE = Path(__file__).resolve().parent.parent / "data" / "proration-examples.jsonl"
CASES = [json.loads(line) for line in CASES_FILE.read_text(encoding="utf-8").splitlines() if line]
PENDING_MESSAGE = "When `payment_behavior` is set to `pending_if_incomplete`"


async def _paying_customer(client: stripe.StripeClient, *, balance: int = 0) -> str:
    created = await client.v1.customers.create_async({"name": "Proration", "balance": balance})
    await client.v1.payment_methods.attach_async("pm_card_visa", {"customer": created.id})
    await client.v1.customers.update_async(
        created.id, {"invoice_settings": {"default_payment_method": "pm_card_visa"}}
    )
    return created.id


async def _use_card(client: stripe.StripeClient, customer: str, card: str) -> None:
    attached = await client.v1.payment_methods.attach_async(card, {"customer": customer})
    await client.v1.customers.update_async(
        customer, {"invoice_settings": {"default_payment_method": attached.id}}
    )


async def _price(
    client: stripe.StripeClient, product: str, currency: str, amount: int, interval: str
) -> str:
    created = await client.v1.prices.create_async(
        {
            "product_data": {"name": product},
            "currency": currency,
            "unit_amount": amount,
            "recurring": {"interval": interval},
        }
    )
    return created.id


def _line(line: Any, prices: dict[str, str]) -> dict[str, Any]:
    try:
        price = line.pricing.price_details.price
    except AttributeError:  # an invoice item: the bridge shows its price as localstripe's plan
        price = line["plan"]["id"]
    names = {ours: theirs for theirs, ours in prices.items()}
    return {
        "amount": line.amount,
        "description": line.description,
        "period": {"start": line.period.start, "end": line.period.end},
        "proration": line.proration,
        "price": names.get(price, price),
        "quantity": line.quantity,
    }


def _expected_line(line: dict[str, Any]) -> dict[str, Any]:
    return {key: line[key] for key in ("amount", "description", "period", "proration",
                                        "price", "quantity")}  # fmt: skip


@pytest.mark.parametrize("case", CASES, ids=[case["id"] for case in CASES])
async def test_emulator_bills_every_worked_example(
    stripe_client: stripe.StripeClient, case: dict[str, Any]
) -> None:
    """The change of each example, made on a subscription whose period is the example's
    (`backdate_start_date`), at its `proration_date`: the same lines (amounts, descriptions,
    periods), totals, amount due, balance and next invoice as the example."""
    inputs, expected = case["inputs"], case["expected"]
    assert not inputs["trialing"]  # no example is a trial; trials are not emulated
    old, new = inputs["old"], inputs["new"]
    prices = {old["price"]: await _price(stripe_client, old["product"], inputs["currency"],
                                         old["unit_amount"], old["interval"])}  # fmt: skip
    if new["price"] not in prices:
        prices[new["price"]] = await _price(
            stripe_client, new["product"], inputs["currency"], new["unit_amount"], new["interval"]
        )
    customer = await _paying_customer(stripe_client, balance=inputs["customer_starting_balance"])
    sub = await stripe_client.v1.subscriptions.create_async(
        {
            "customer": customer,
            "items": [{"price": prices[old["price"]], "quantity": old["quantity"]}],
            "backdate_start_date": inputs["period_start"],
        }
    )
    item = sub.items.data[0]
    assert (item.current_period_start, item.current_period_end) == (
        inputs["period_start"],
        inputs["period_end"],
    )
    if inputs["coupon_percent_off"]:
        coupon = await stripe_client.v1.coupons.create_async(
            {"percent_off": inputs["coupon_percent_off"], "duration": inputs["coupon_duration"]}
        )
        await stripe_client.v1.subscriptions.update_async(
            sub.id, {"items": [{"id": item.id, "discounts": [{"coupon": coupon.id}]}]}
        )
    change: dict[str, Any] = {
        "items": [{"id": item.id, "price": prices[new["price"]], "quantity": new["quantity"]}],
        "proration_date": inputs["change_time"],
        "proration_behavior": inputs["proration_behavior"],
    }
    if inputs["billing_cycle_anchor"] == "now":
        change["billing_cycle_anchor"] = {"type": "now"}
    details: Any = {key: change[key] for key in ("items", "proration_date", "proration_behavior")}
    preview = await stripe_client.v1.invoices.create_preview_async(
        {"subscription": sub.id, "subscription_details": details}
    )
    if "upcoming_invoice_amount_due_incl_renewal" in expected:
        assert preview.amount_due == expected["upcoming_invoice_amount_due_incl_renewal"]

    updated = await stripe_client.v1.subscriptions.update_async(sub.id, change)  # type: ignore[arg-type]
    assert updated.items.data[0].price.id == prices[new["price"]]
    assert updated.pending_update is None
    wanted = [_expected_line(line) for line in expected["lines"]]
    if expected["invoice_now"]:
        invoice = await stripe_client.v1.invoices.retrieve_async(str(updated.latest_invoice))
        assert invoice.billing_reason == "subscription_update"
        assert invoice.parent is not None
        assert invoice.parent.subscription_details is not None
        assert invoice.parent.subscription_details.subscription == sub.id
        got = [_line(line, prices) for line in invoice.lines.data]
        for ours, theirs in zip(got, wanted, strict=True):
            if not theirs["proration"]:  # the new period starts at the update, not in 2025
                length = theirs["period"]["end"] - theirs["period"]["start"]
                assert ours["period"]["end"] - ours["period"]["start"] == length
                ours["period"] = theirs["period"]
        assert got == wanted
        assert (invoice.total, invoice.amount_due) == (
            expected["invoice_total"],
            expected["amount_due_now"],
        )
        assert invoice.status == "paid"
        assert invoice.amount_paid == expected["amount_due_now"]
        # The preview made before the update showed this very invoice.
        assert [line.amount for line in preview.lines.data] == [
            line.amount for line in invoice.lines.data
        ]
        after = await stripe_client.v1.customers.retrieve_async(customer)
        assert after.balance == expected["customer_balance_after"]
        return
    assert updated.latest_invoice == sub.latest_invoice
    pending = await stripe_client.v1.invoice_items.list_async(
        {"customer": customer, "pending": True}
    )
    got = [_line(line, prices) for line in reversed(pending.data)]  # listed newest first
    assert got == wanted
    assert sum(line["amount"] for line in got) == expected["pending_invoice_items_total"]
    renewal = await stripe_client.v1.invoices.create_preview_async({"subscription": sub.id})
    assert renewal.total == expected["next_renewal_invoice_total"]
    if "next_renewal_amount_due" in expected:
        assert renewal.amount_due == expected["next_renewal_amount_due"]
    # The change's own preview is that next invoice too.
    assert preview.total == expected["next_renewal_invoice_total"]


async def test_uplifts_quote_of_monthly_to_annual_is_what_the_emulator_bills(
    stripe_client: stripe.StripeClient,
) -> None:
    """Uplift's engine (called from this test only: the bridge never imports Uplift) quotes the
    demo's switch; the emulator, sent exactly Uplift's Stripe-executed update
    (`item_switch_params`), bills those lines and that total, and records it paid."""
    monthly = await _price(stripe_client, "Uplift Pro", "usd", 9900, "month")
    annual = await _price(stripe_client, "Uplift Pro", "usd", 99000, "year")
    customer = await _paying_customer(stripe_client)
    start = 1_743_465_600  # 2025-04-01, a 30-day month
    sub = await stripe_client.v1.subscriptions.create_async(
        {"customer": customer, "items": [{"price": monthly}], "backdate_start_date": start}
    )
    item = sub.items.data[0]
    at = start + 9 * 86400 + 3 * 3600 + 17  # an uneven second
    quote = prorate(
        Change(
            currency="usd",
            old=Item(monthly, "Uplift Pro", 9900),
            new=Item(annual, "Uplift Pro", 99000, interval="year"),
            period_start=item.current_period_start,
            period_end=item.current_period_end,
            change_time=at,
        )
    )
    params = item_switch_params(item_id=item.id, price=annual, prorate_at=at)
    updated = await stripe_client.v1.subscriptions.update_async(sub.id, params)
    invoice = await stripe_client.v1.invoices.retrieve_async(str(updated.latest_invoice))
    assert invoice.billing_reason == "subscription_update"
    assert [(line.amount, line.description) for line in invoice.lines.data] == [
        (line.amount, line.description) for line in quote.lines
    ]
    assert quote.invoice_total is not None
    assert (invoice.total, invoice.amount_due, invoice.amount_paid, invoice.status) == (
        quote.invoice_total,
        quote.amount_due_now,
        quote.amount_due_now,
        "paid",
    )
    assert updated.items.data[0].price.id == annual
    assert updated.billing_cycle_anchor == updated.items.data[0].current_period_start


async def _switch(
    client: stripe.StripeClient, sub: stripe.Subscription, price: str, **extra: Any
) -> stripe.Subscription:
    params: dict[str, Any] = {
        "items": [{"id": sub.items.data[0].id, "price": price}],
        "proration_behavior": "always_invoice",
        "payment_behavior": "pending_if_incomplete",
        **extra,
    }
    return await client.v1.subscriptions.update_async(sub.id, params)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("form", "param"),
    [
        ({"items[0][discounts][0][coupon]": "COUPON"}, "items[0][discounts]"),
        ({"metadata[a]": "b"}, "metadata"),
        ({"discounts[0][coupon]": "COUPON"}, "discounts"),
        ({"cancel_at_period_end": "true"}, "cancel_at_period_end"),
    ],
)
async def test_pending_if_incomplete_takes_only_pending_update_params(
    http: httpx.AsyncClient,
    stripe_client: stripe.StripeClient,
    catalog: Catalog,
    customer: str,
    form: dict[str, str],
    param: str,
) -> None:
    """Stripe's pending updates accept only their documented parameters and refuse the rest
    with a 400 naming it; nothing changes."""
    coupon = await stripe_client.v1.coupons.create_async({"percent_off": 10.0})
    sub = await stripe_client.v1.subscriptions.create_async(
        {"customer": customer, "items": [{"price": catalog.monthly}]}
    )
    data = {
        "items[0][id]": sub.items.data[0].id,
        "items[0][price]": catalog.premium,
        "proration_behavior": "always_invoice",
        "payment_behavior": "pending_if_incomplete",
        **{key: value.replace("COUPON", coupon.id) for key, value in form.items()},
    }
    response = await http.post(f"/v1/subscriptions/{sub.id}", data=data)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert error["param"] == param
    assert error["message"].startswith(PENDING_MESSAGE)
    assert "pending-updates-reference#supported-attributes" in error["message"]
    item_form = {"price": catalog.premium, "payment_behavior": "pending_if_incomplete",
                 "metadata[a]": "b"}  # fmt: skip
    item = await http.post(f"/v1/subscription_items/{sub.items.data[0].id}", data=item_form)
    assert (item.status_code, item.json()["error"]["param"]) == (400, "metadata")
    after = await stripe_client.v1.subscriptions.retrieve_async(sub.id)
    assert after.items.data[0].price.id == catalog.monthly
    assert after.latest_invoice == sub.latest_invoice


async def test_declined_update_waits_as_a_pending_update_until_paid(
    stripe_client: stripe.StripeClient, catalog: Catalog, customer: str
) -> None:
    """A declined always_invoice upgrade leaves the items as they were, the change in
    `pending_update` and the open invoice as `latest_invoice`; paying it applies the change."""
    sub = await stripe_client.v1.subscriptions.create_async(
        {"customer": customer, "items": [{"price": catalog.monthly}]}
    )
    await _use_card(stripe_client, customer, "pm_card_chargeCustomerFail")
    held = await _switch(stripe_client, sub, catalog.premium)
    assert held.items.data[0].price.id == catalog.monthly
    assert held.pending_update is not None
    [pending_item] = held.pending_update.subscription_items or []
    assert (pending_item.id, pending_item.price.id) == (sub.items.data[0].id, catalog.premium)
    period_end = sub.items.data[0].current_period_end
    assert held.pending_update.expires_at <= min(period_end, held.created + 23 * 3600 + 60)
    invoice = await stripe_client.v1.invoices.retrieve_async(str(held.latest_invoice))
    assert (invoice.status, invoice.billing_reason) == ("open", "subscription_update")
    assert held.latest_invoice != sub.latest_invoice

    await _use_card(stripe_client, customer, "pm_card_visa")
    paid = await stripe_client.v1.invoices.pay_async(invoice.id)
    assert paid.status == "paid"
    applied = await stripe_client.v1.subscriptions.retrieve_async(sub.id)
    assert applied.items.data[0].price.id == catalog.premium
    assert applied.pending_update is None


async def test_update_needing_authentication_applies_once_authenticated(
    http: httpx.AsyncClient, stripe_client: stripe.StripeClient, catalog: Catalog, customer: str
) -> None:
    """3-D Secure: the pending update is applied when the customer authenticates."""
    sub = await stripe_client.v1.subscriptions.create_async(
        {"customer": customer, "items": [{"price": catalog.monthly}]}
    )
    await _use_card(stripe_client, customer, "pm_card_authenticationRequired")
    held = await _switch(stripe_client, sub, catalog.premium)
    assert held.pending_update is not None
    invoice = await stripe_client.v1.invoices.retrieve_async(str(held.latest_invoice))
    intent = await stripe_client.v1.payment_intents.retrieve_async(str(invoice["payment_intent"]))
    assert intent.status == "requires_action"
    done = await http.post(
        f"/v1/payment_intents/{intent.id}/_authenticate",
        data={"client_secret": intent.client_secret, "success": "true"},
    )
    assert done.status_code == 200, done.text
    applied = await stripe_client.v1.subscriptions.retrieve_async(sub.id)
    assert (applied.items.data[0].price.id, applied.pending_update) == (catalog.premium, None)
    paid = await stripe_client.v1.invoices.retrieve_async(invoice.id)
    assert paid.status == "paid"


async def test_voiding_the_invoice_discards_the_pending_update(
    stripe_client: stripe.StripeClient, catalog: Catalog, customer: str
) -> None:
    sub = await stripe_client.v1.subscriptions.create_async(
        {"customer": customer, "items": [{"price": catalog.monthly}]}
    )
    await _use_card(stripe_client, customer, "pm_card_chargeCustomerFail")
    held = await _switch(stripe_client, sub, catalog.premium)
    await stripe_client.v1.invoices.void_invoice_async(str(held.latest_invoice))
    after = await stripe_client.v1.subscriptions.retrieve_async(sub.id)
    assert (after.items.data[0].price.id, after.pending_update) == (catalog.monthly, None)


async def test_error_if_incomplete_refuses_a_declined_change(
    stripe_client: stripe.StripeClient, catalog: Catalog, customer: str
) -> None:
    sub = await stripe_client.v1.subscriptions.create_async(
        {"customer": customer, "items": [{"price": catalog.monthly}]}
    )
    await _use_card(stripe_client, customer, "pm_card_chargeCustomerFail")
    with pytest.raises(stripe.CardError):
        await _switch(stripe_client, sub, catalog.premium, payment_behavior="error_if_incomplete")
    after = await stripe_client.v1.subscriptions.retrieve_async(sub.id)
    assert (after.items.data[0].price.id, after.status) == (catalog.monthly, "active")


async def test_proration_lines_are_net_of_the_items_discount_and_once_is_used_once(
    stripe_client: stripe.StripeClient, catalog: Catalog, customer: str
) -> None:
    """proration_discounts=included: a 50 % coupon halves the proration amounts, which list the
    discount with a zero `discount_amounts`; a `once` coupon then no longer discounts."""
    coupon = await stripe_client.v1.coupons.create_async({"percent_off": 50.0, "duration": "once"})
    start = 1_743_465_600
    sub = await stripe_client.v1.subscriptions.create_async(
        {"customer": customer, "items": [{"price": catalog.monthly}], "backdate_start_date": start}
    )
    item_id = sub.items.data[0].id
    await stripe_client.v1.subscriptions.update_async(
        sub.id, {"items": [{"id": item_id, "discounts": [{"coupon": coupon.id}]}]}
    )
    halfway = start + 15 * 86400
    updated = await _switch(stripe_client, sub, catalog.premium, proration_date=halfway)
    invoice = await stripe_client.v1.invoices.retrieve_async(str(updated.latest_invoice))
    assert [line.amount for line in invoice.lines.data] == [-250, 750]
    [discount] = updated.items.data[0].discounts
    for line in invoice.lines.data:
        assert line.discounts == [discount]
        assert [(d.amount, d.discount) for d in line.discount_amounts or []] == [(0, discount)]
    assert invoice.total == 500
    renewal = await stripe_client.v1.invoices.create_preview_async({"subscription": sub.id})
    assert (renewal.subtotal, renewal.total) == (3000, 3000)


async def test_amount_under_the_minimum_charge_goes_to_the_balance(
    stripe_client: stripe.StripeClient, catalog: Catalog
) -> None:
    """A 5-cent upgrade is not charged: the invoice is paid with nothing due and the customer
    owes the 5 cents on the next invoice."""
    customer = await _paying_customer(stripe_client)
    start = 1_743_465_600
    sub = await stripe_client.v1.subscriptions.create_async(
        {"customer": customer, "items": [{"price": catalog.monthly}], "backdate_start_date": start}
    )
    slightly_more = await _price(stripe_client, "Emulator Pro+", "usd", 1010, "month")
    updated = await _switch(stripe_client, sub, slightly_more, proration_date=start + 15 * 86400)
    invoice = await stripe_client.v1.invoices.retrieve_async(str(updated.latest_invoice))
    assert (invoice.total, invoice.amount_due, invoice.amount_paid, invoice.status) == (
        5,
        0,
        0,
        "paid",
    )
    assert "payment_intent" not in invoice or invoice["payment_intent"] is None
    owed = await stripe_client.v1.customers.retrieve_async(customer)
    assert owed.balance == 5
    await stripe_client.v1.invoice_items.create_async(
        {"customer": customer, "amount": 1000, "currency": "usd"}
    )
    one_off = await stripe_client.v1.invoices.create_async(
        {"customer": customer, "pending_invoice_items_behavior": "include"}
    )
    paid = await stripe_client.v1.invoices.pay_async(one_off.id)
    assert (paid.amount_due, paid.amount_paid) == (1005, 1005)
    assert (await stripe_client.v1.customers.retrieve_async(customer)).balance == 0


def test_proration_arithmetic_is_exact() -> None:
    """Per-second factor, one rounding per line (half up on the magnitude), minimums."""
    share = prorations.factor(1596749288, 1599427688, 1598982148)
    assert share == Fraction(22277, 133920)
    assert (prorations.prorated(1000, share), prorations.prorated(3252, share)) == (166, 541)
    assert prorations.round_half_up(Fraction(-5, 2)) == -3
    assert prorations.factor(0, 10, 20) == 0
    assert (
        prorations.unused("Seat", 2, 1744761600) == "Unused time on 2 \u00d7 Seat after 16 Apr 2025"
    )
    assert prorations.period_line("Pro", 1, 20000, "usd", "year", 1) == (
        "1 \u00d7 Pro (at $200.00 / year)"
    )
    assert (prorations.minimum_charge("gbp"), prorations.minimum_charge("jpy")) == (30, 50)
