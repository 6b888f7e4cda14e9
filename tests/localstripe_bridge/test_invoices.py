"""One-off invoices of pending items: create, finalize, pay off-session, void; item deletes."""

from __future__ import annotations

import httpx
import pytest
import stripe  # noqa: TID251 -- tests drive the emulator exactly as stripe-python does

from tests.localstripe_bridge.support import STRIPE_PYTHON_HTTPX_WARNING, Catalog

pytestmark = STRIPE_PYTHON_HTTPX_WARNING


async def _subscribed(client: stripe.StripeClient, customer: str, price: str) -> str:
    sub = await client.v1.subscriptions.create_async(
        {"customer": customer, "items": [{"price": price}]}
    )
    return sub.id


async def _use_card(client: stripe.StripeClient, customer: str, card: str) -> None:
    attached = await client.v1.payment_methods.attach_async(card, {"customer": customer})
    await client.v1.customers.update_async(
        customer, {"invoice_settings": {"default_payment_method": attached.id}}
    )


async def _item(
    client: stripe.StripeClient, customer: str, amount: int, subscription: str | None = None
) -> stripe.InvoiceItem:
    params: stripe.params.InvoiceItemCreateParams = {
        "customer": customer,
        "amount": amount,
        "currency": "usd",
        "description": f"item {amount}",
    }
    if subscription is not None:
        params["subscription"] = subscription
    return await client.v1.invoice_items.create_async(params)


async def _invoice_of_pending(
    client: stripe.StripeClient, customer: str, subscription: str
) -> stripe.Invoice:
    return await client.v1.invoices.create_async(
        {
            "customer": customer,
            "subscription": subscription,
            "pending_invoice_items_behavior": "include",
            "auto_advance": False,
        }
    )


async def test_invoice_holds_only_the_subscriptions_pending_items(
    stripe_client: stripe.StripeClient, catalog: Catalog, customer: str
) -> None:
    """`include` + `subscription` bills that subscription's pending items, not its plan; other
    pending items stay pending; `exclude` (the default) makes an empty draft."""
    sub = await _subscribed(stripe_client, customer, catalog.monthly)
    await _item(stripe_client, customer, -500, sub)
    await _item(stripe_client, customer, 1500, sub)
    other = await _item(stripe_client, customer, 700)

    invoice = await _invoice_of_pending(stripe_client, customer, sub)
    assert (invoice.status, invoice.subtotal) == ("draft", 1000)
    assert sorted(line.amount for line in invoice.lines.data) == [-500, 1500]
    assert invoice.hosted_invoice_url is None
    latest = (await stripe_client.v1.subscriptions.retrieve_async(sub)).latest_invoice
    assert latest != invoice.id

    pending = await stripe_client.v1.invoice_items.list_async(
        {"customer": customer, "pending": True}
    )
    assert [item.id for item in pending.data] == [other.id]
    empty = await stripe_client.v1.invoices.create_async({"customer": customer})
    assert (empty.subtotal, empty.lines.data) == (0, [])


async def test_finalized_invoice_is_paid_off_session(
    stripe_client: stripe.StripeClient, catalog: Catalog, customer: str
) -> None:
    """Finalize opens the invoice with a payment page; paying charges the default card."""
    sub = await _subscribed(stripe_client, customer, catalog.monthly)
    await _item(stripe_client, customer, 1234, sub)
    draft = await _invoice_of_pending(stripe_client, customer, sub)

    opened = await stripe_client.v1.invoices.finalize_invoice_async(
        str(draft.id), {"auto_advance": False}
    )
    assert (opened.status, opened.amount_due) == ("open", 1234)
    assert opened.hosted_invoice_url
    paid = await stripe_client.v1.invoices.pay_async(str(draft.id), {"off_session": True})
    assert (paid.status, paid.amount_paid) == ("paid", 1234)


async def test_declined_card_is_a_402_and_the_invoice_can_be_voided(
    stripe_client: stripe.StripeClient, catalog: Catalog, customer: str
) -> None:
    """A declined off-session payment raises card_declined; the open invoice can be voided, and
    the subscription is left as it was."""
    sub = await _subscribed(stripe_client, customer, catalog.monthly)
    await _use_card(stripe_client, customer, "pm_card_chargeCustomerFail")
    await _item(stripe_client, customer, 2000, sub)
    draft = await _invoice_of_pending(stripe_client, customer, sub)
    await stripe_client.v1.invoices.finalize_invoice_async(str(draft.id))

    with pytest.raises(stripe.CardError) as declined:
        await stripe_client.v1.invoices.pay_async(str(draft.id), {"off_session": True})
    assert declined.value.code == "card_declined"
    still = await stripe_client.v1.invoices.retrieve_async(str(draft.id))
    assert (still.status, still.amount_paid) == ("open", 0)

    voided = await stripe_client.v1.invoices.void_invoice_async(str(draft.id))
    assert voided.status == "void"
    after = await stripe_client.v1.subscriptions.retrieve_async(sub)
    assert (after.status, after.items.data[0].price.id) == ("active", catalog.monthly)
    with pytest.raises(stripe.InvalidRequestError):
        await stripe_client.v1.invoices.void_invoice_async(str(draft.id))


async def test_card_needing_3ds_leaves_the_invoice_open_until_authenticated(
    stripe_client: stripe.StripeClient, http: httpx.AsyncClient, catalog: Catalog, customer: str
) -> None:
    """Off-session, pm_card_authenticationRequired fails with
    invoice_payment_intent_requires_action; the invoice stays open with its payment page, and
    is paid once the customer authenticates the payment intent."""
    sub = await _subscribed(stripe_client, customer, catalog.monthly)
    await _use_card(stripe_client, customer, "pm_card_authenticationRequired")
    await _item(stripe_client, customer, 3100, sub)
    draft = await _invoice_of_pending(stripe_client, customer, sub)
    await stripe_client.v1.invoices.finalize_invoice_async(str(draft.id))

    with pytest.raises(stripe.CardError) as needs_action:
        await stripe_client.v1.invoices.pay_async(str(draft.id), {"off_session": True})
    assert needs_action.value.code == "invoice_payment_intent_requires_action"
    still = await stripe_client.v1.invoices.retrieve_async(str(draft.id))
    assert still.status == "open"
    assert still.hosted_invoice_url

    body = needs_action.value.json_body
    assert isinstance(body, dict)
    intent_id = body["error"]["payment_intent"]["id"]
    intent = (await http.get(f"/v1/payment_intents/{intent_id}")).json()
    assert intent["status"] == "requires_action"
    done = await http.post(
        f"/v1/payment_intents/{intent_id}/_authenticate",
        data={"client_secret": intent["client_secret"], "success": "true"},
    )
    assert done.status_code == 200
    paid = await stripe_client.v1.invoices.retrieve_async(str(draft.id))
    assert (paid.status, paid.amount_paid) == ("paid", 3100)


async def test_negative_invoice_credits_the_customer_balance(
    stripe_client: stripe.StripeClient, catalog: Catalog, customer: str
) -> None:
    """Finalizing an invoice whose total is below zero marks it paid, charges nothing and
    leaves the difference on the customer's balance as a credit."""
    sub = await _subscribed(stripe_client, customer, catalog.premium)
    await _item(stripe_client, customer, -2000, sub)
    await _item(stripe_client, customer, 800, sub)
    draft = await _invoice_of_pending(stripe_client, customer, sub)
    final = await stripe_client.v1.invoices.finalize_invoice_async(str(draft.id))
    assert (final.status, final.amount_due, final.amount_paid) == ("paid", 0, 0)
    assert (await stripe_client.v1.customers.retrieve_async(customer)).balance == -1200


async def test_pending_items_can_be_deleted_but_not_once_invoiced(
    stripe_client: stripe.StripeClient, catalog: Catalog, customer: str
) -> None:
    """DELETE removes a pending item; an item on a finalized invoice is refused."""
    sub = await _subscribed(stripe_client, customer, catalog.monthly)
    pending = await _item(stripe_client, customer, 900, sub)
    deleted = await stripe_client.v1.invoice_items.delete_async(pending.id)
    assert deleted.deleted is True
    with pytest.raises(stripe.InvalidRequestError):
        await stripe_client.v1.invoice_items.retrieve_async(pending.id)

    kept = await _item(stripe_client, customer, 901, sub)
    draft = await _invoice_of_pending(stripe_client, customer, sub)
    await stripe_client.v1.invoices.finalize_invoice_async(str(draft.id))
    with pytest.raises(stripe.InvalidRequestError):
        await stripe_client.v1.invoice_items.delete_async(kept.id)


async def test_switch_without_prorations_creates_no_items(
    stripe_client: stripe.StripeClient, catalog: Catalog, customer: str
) -> None:
    """`proration_behavior=none` on a price change leaves no proration item pending (and is not
    reported as ignored: the emulator does what Stripe does)."""
    sub = await stripe_client.v1.subscriptions.create_async(
        {"customer": customer, "items": [{"price": catalog.monthly}]}
    )
    updated = await stripe_client.v1.subscriptions.update_async(
        sub.id,
        {
            "items": [{"id": sub.items.data[0].id, "price": catalog.premium}],
            "proration_behavior": "none",
        },
    )
    assert updated.items.data[0].price.id == catalog.premium
    assert updated.last_response is not None
    assert "proration_behavior" not in updated.last_response.headers.get(
        "Localstripe-Bridge-Ignored", ""
    )
    pending = await stripe_client.v1.invoice_items.list_async(
        {"customer": customer, "pending": True}
    )
    assert pending.data == []
