"""Subscriptions whose items name a price, updates with modern parameters, and previews."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest
import stripe  # noqa: TID251 -- tests drive the emulator exactly as stripe-python does

from tests.localstripe_bridge.support import STRIPE_PYTHON_HTTPX_WARNING, Catalog

pytestmark = STRIPE_PYTHON_HTTPX_WARNING

IGNORED = "Localstripe-Bridge-Ignored"


async def _subscribe(
    client: stripe.StripeClient, customer: str, price: str, quantity: int = 1
) -> stripe.Subscription:
    return await client.v1.subscriptions.create_async(
        {"customer": customer, "items": [{"price": price, "quantity": quantity}]}
    )


def _ignored(obj: stripe.StripeObject) -> str | None:
    assert obj.last_response is not None
    return obj.last_response.headers.get(IGNORED)


async def test_price_backs_a_subscription_item(
    stripe_client: stripe.StripeClient, catalog: Catalog, customer: str
) -> None:
    """An item given `price` subscribes to it, is paid at once, and reads back Price-shaped."""
    sub = await _subscribe(stripe_client, customer, catalog.monthly, quantity=2)
    assert sub.status == "active"
    [item] = sub.items.data
    assert sub["items"].data[0].id == item.id
    assert item.price.id == catalog.monthly
    assert (item.price.object, item.price.unit_amount, item.quantity) == ("price", 1000, 2)
    assert item.subscription == sub.id
    assert item.current_period_start == sub.start_date
    assert item.current_period_end > item.current_period_start

    invoice = await stripe_client.v1.invoices.retrieve_async(str(sub.latest_invoice))
    assert (invoice.status, invoice.amount_paid) == ("paid", 2000)
    [line] = invoice.lines.data
    assert line.pricing is not None
    assert line.pricing.price_details is not None
    assert line.pricing.price_details.price == catalog.monthly

    again = await stripe_client.v1.subscriptions.retrieve_async(sub.id)
    assert again.items.data[0].to_dict() == item.to_dict()


async def test_item_period_counts_the_interval_count(
    stripe_client: stripe.StripeClient, catalog: Catalog, customer: str
) -> None:
    """A price billed every 3 months gives the item a 3-month period (UTC calendar months)."""
    quarterly = await stripe_client.v1.prices.create_async(
        {
            "product": catalog.product,
            "currency": "usd",
            "unit_amount": 2500,
            "recurring": {"interval": "month", "interval_count": 3},
        }
    )
    sub = await _subscribe(stripe_client, customer, quarterly.id)
    [item] = sub.items.data
    start = datetime.fromtimestamp(item.current_period_start, UTC)
    end = datetime.fromtimestamp(item.current_period_end, UTC)
    assert (end.year * 12 + end.month) - (start.year * 12 + start.month) == 3
    assert end.time() == start.time()


async def test_billing_mode_is_accepted_and_echoed(
    stripe_client: stripe.StripeClient, catalog: Catalog, customer: str
) -> None:
    """`billing_mode[type]` on create is echoed; without it the mode is flexible (API default)."""
    classic = await stripe_client.v1.subscriptions.create_async(
        {"customer": customer, "items": [{"price": catalog.monthly}],
         "billing_mode": {"type": "classic"}}
    )  # fmt: skip
    default = await _subscribe(stripe_client, customer, catalog.monthly)
    assert classic.billing_mode.type == "classic"
    assert default.billing_mode.type == "flexible"


async def test_update_params_localstripe_crashes_on_are_emulated(
    stripe_client: stripe.StripeClient, catalog: Catalog, customer: str
) -> None:
    """proration_behavior, billing_cycle_anchor and payment_behavior answer 200, not 500, and
    are acted on (nothing is reported as ignored)."""
    sub = await _subscribe(stripe_client, customer, catalog.monthly)
    updated = await stripe_client.v1.subscriptions.update_async(
        sub.id,
        {
            "items": [{"id": sub.items.data[0].id, "price": catalog.premium}],
            "proration_behavior": "always_invoice",
            "billing_cycle_anchor": {"type": "unchanged"},
            "payment_behavior": "pending_if_incomplete",
        },
    )
    assert updated.items.data[0].price.id == catalog.premium
    assert _ignored(updated) is None
    assert updated.latest_invoice != sub.latest_invoice


async def test_string_billing_cycle_anchor_is_accepted_too(
    http: httpx.AsyncClient, stripe_client: stripe.StripeClient, catalog: Catalog, customer: str
) -> None:
    """Before 2026-09-30.endive the anchor was a string; both forms are accepted. `now`
    starts a new period at once and invoices it."""
    sub = await _subscribe(stripe_client, customer, catalog.monthly)
    response = await http.post(f"/v1/subscriptions/{sub.id}", data={"billing_cycle_anchor": "now"})
    assert response.status_code == 200
    assert IGNORED not in response.headers
    body = response.json()
    assert body["latest_invoice"] != sub.latest_invoice
    assert body["billing_cycle_anchor"] >= sub.start_date


@pytest.mark.parametrize(
    ("form", "param"),
    [
        ({"proration_behavior": "sometimes"}, "proration_behavior"),
        ({"billing_cycle_anchor[type]": "later"}, "billing_cycle_anchor"),
        ({"payment_behavior": "whenever"}, "payment_behavior"),
        ({"collection_method": "send_invoice"}, "collection_method"),
        ({"items[0][price]": "price_missing"}, "items[0][id]"),
    ],
)
async def test_bad_update_input_is_a_stripe_400(
    http: httpx.AsyncClient,
    stripe_client: stripe.StripeClient,
    catalog: Catalog,
    customer: str,
    form: dict[str, str],
    param: str,
) -> None:
    """Invalid or unsupported update parameters are a 400 naming the parameter, never a 500."""
    sub = await _subscribe(stripe_client, customer, catalog.monthly)
    response = await http.post(f"/v1/subscriptions/{sub.id}", data=form)
    assert response.status_code == 400
    assert response.json()["error"]["param"] == param


async def test_changing_the_price_keeps_the_item_id_quantity_and_metadata(
    stripe_client: stripe.StripeClient, catalog: Catalog, customer: str
) -> None:
    """As on Stripe, an item changed in place keeps its id, quantity and metadata."""
    sub = await stripe_client.v1.subscriptions.create_async(
        {
            "customer": customer,
            "items": [{"price": catalog.monthly, "quantity": 2, "metadata": {"seat": "a"}}],
        }
    )
    item_id = sub.items.data[0].id
    upgraded = await stripe_client.v1.subscriptions.update_async(
        sub.id, {"items": [{"id": item_id, "price": catalog.premium}]}
    )
    [item] = upgraded.items.data
    assert (item.id, item.price.id, item.quantity) == (item_id, catalog.premium, 2)
    assert item.metadata.to_dict() == {"seat": "a"}

    more = await stripe_client.v1.subscriptions.update_async(
        sub.id, {"items": [{"id": item_id, "quantity": 3}]}
    )
    assert (more.items.data[0].id, more.items.data[0].quantity) == (item_id, 3)
    assert more.items.data[0].price.id == catalog.premium
    listed = await stripe_client.v1.subscription_items.list_async({"subscription": sub.id})
    assert [i.id for i in listed.data] == [item_id]
    fetched = await stripe_client.v1.subscription_items.retrieve_async(item_id)
    assert fetched.quantity == 3


async def test_interval_change_invoices_the_item_it_kept(
    stripe_client: stripe.StripeClient, catalog: Catalog, customer: str
) -> None:
    """Monthly → annual is invoiced at once (localstripe) and the invoice line names the item."""
    sub = await _subscribe(stripe_client, customer, catalog.monthly)
    item_id = sub.items.data[0].id
    annual = await stripe_client.v1.subscriptions.update_async(
        sub.id, {"items": [{"id": item_id, "price": catalog.annual}]}
    )
    assert annual.latest_invoice != sub.latest_invoice
    invoice = await stripe_client.v1.invoices.retrieve_async(str(annual.latest_invoice))
    details = [
        line.parent.subscription_item_details
        for line in invoice.lines.data
        if line.parent is not None and line.parent.type == "subscription_item_details"
    ]
    # The unused-time credit and the new period both belong to the item.
    assert [d.subscription_item for d in details if d is not None] == [item_id, item_id]


async def test_subscription_item_route_updates_the_item(
    stripe_client: stripe.StripeClient, catalog: Catalog, customer: str
) -> None:
    """`POST /v1/subscription_items/{id}` with a price changes the item like an update does."""
    sub = await _subscribe(stripe_client, customer, catalog.monthly)
    item_id = sub.items.data[0].id
    item = await stripe_client.v1.subscription_items.update_async(
        item_id, {"price": catalog.premium, "proration_behavior": "always_invoice"}
    )
    assert (item.id, item.price.id) == (item_id, catalog.premium)
    assert _ignored(item) is None


async def test_items_the_emulator_cannot_hold_are_refused_not_misapplied(
    stripe_client: stripe.StripeClient, catalog: Catalog, customer: str
) -> None:
    """Two items, an added item, or a deleted item are a 400 `not_emulated`, not a silent
    replacement of the one item localstripe supports."""
    with pytest.raises(stripe.InvalidRequestError) as two:
        await stripe_client.v1.subscriptions.create_async(
            {"customer": customer,
             "items": [{"price": catalog.monthly}, {"price": catalog.premium}]}
        )  # fmt: skip
    assert two.value.code == "not_emulated"

    sub = await _subscribe(stripe_client, customer, catalog.monthly)
    item_id = sub.items.data[0].id
    added: list[stripe.params.SubscriptionUpdateParamsItem] = [{"price": catalog.premium}]
    swapped: list[stripe.params.SubscriptionUpdateParamsItem] = [
        {"id": item_id, "deleted": True},
        {"price": catalog.premium},
    ]
    for items in (added, swapped):
        with pytest.raises(stripe.InvalidRequestError) as refused:
            await stripe_client.v1.subscriptions.update_async(sub.id, {"items": items})
        assert refused.value.code == "not_emulated"
    with pytest.raises(stripe.InvalidRequestError):
        await stripe_client.v1.subscription_items.delete_async(item_id)
    unchanged = await stripe_client.v1.subscriptions.retrieve_async(sub.id)
    assert unchanged.items.data[0].price.id == catalog.monthly


async def test_items_need_an_active_recurring_existing_price(
    stripe_client: stripe.StripeClient, catalog: Catalog, customer: str
) -> None:
    """A one-time, inactive or unknown price on an item is a 400 naming `items[0][price]`."""
    one_time = await stripe_client.v1.prices.create_async(
        {"product": catalog.product, "currency": "usd", "unit_amount": 100}
    )
    inactive = await stripe_client.v1.prices.create_async(
        {"product": catalog.product, "currency": "usd", "unit_amount": 100,
         "recurring": {"interval": "month"}, "active": False}
    )  # fmt: skip
    for price in (one_time.id, inactive.id, "price_missing"):
        with pytest.raises(stripe.InvalidRequestError) as refused:
            await _subscribe(stripe_client, customer, price)
        assert refused.value.param == "items[0][price]"


async def test_create_preview_simulates_a_price_change(
    stripe_client: stripe.StripeClient, catalog: Catalog, customer: str
) -> None:
    """create_preview takes `subscription_details[items][i][price]` and Stripe's proration
    parameters, needs no `customer` when given the subscription, and changes nothing."""
    sub = await _subscribe(stripe_client, customer, catalog.monthly)
    item_id = sub.items.data[0].id
    preview = await stripe_client.v1.invoices.create_preview_async(
        {
            "subscription": sub.id,
            "subscription_details": {
                "items": [{"id": item_id, "price": catalog.premium}],
                "proration_behavior": "create_prorations",
                "proration_date": sub.start_date + 60,
            },
        }
    )
    assert preview.id is not None
    assert preview.id.startswith("upcoming_")
    assert preview.customer == customer
    prices = {
        line.pricing.price_details.price
        for line in preview.lines.data
        if line.pricing and line.pricing.price_details
    }
    assert catalog.premium in prices
    assert _ignored(preview) is None
    after = await stripe_client.v1.subscriptions.retrieve_async(sub.id)
    assert after.items.data[0].price.id == catalog.monthly


async def test_preview_of_a_new_subscription_takes_a_price(
    stripe_client: stripe.StripeClient, catalog: Catalog, customer: str
) -> None:
    """Previewing a subscription that does not exist yet prices its items in full."""
    preview = await stripe_client.v1.invoices.create_preview_async(
        {
            "customer": customer,
            "subscription_details": {"items": [{"price": catalog.annual, "quantity": 2}]},
        }
    )
    assert preview.total == 20000


async def test_preview_leaves_pending_invoice_items_pending(
    stripe_client: stripe.StripeClient, catalog: Catalog, customer: str
) -> None:
    """A plain preview shows pending invoice items without consuming them (localstripe did)."""
    sub = await _subscribe(stripe_client, customer, catalog.monthly)
    pending = await stripe_client.v1.invoice_items.create_async(
        {"customer": customer, "amount": -300, "currency": "usd"}
    )
    preview = await stripe_client.v1.invoices.create_preview_async(
        {"customer": customer, "subscription": sub.id}
    )
    assert -300 in {line.amount for line in preview.lines.data}
    still = await stripe_client.v1.invoice_items.list_async({"customer": customer})
    assert pending.id in {item.id for item in still.data}


async def test_upcoming_translates_price_items(
    http: httpx.AsyncClient, stripe_client: stripe.StripeClient, catalog: Catalog, customer: str
) -> None:
    """The pre-2025 GET /v1/invoices/upcoming takes `subscription_items[i][price]` too."""
    sub = await _subscribe(stripe_client, customer, catalog.monthly)
    response = await http.get(
        "/v1/invoices/upcoming",
        params={
            "subscription": sub.id,
            "subscription_items[0][id]": sub.items.data[0].id,
            "subscription_items[0][price]": catalog.premium,
            "subscription_proration_behavior": "none",
        },
    )
    assert response.status_code == 200, response.text
    lines = response.json()["lines"]["data"]
    assert catalog.premium in {line["pricing"]["price_details"]["price"] for line in lines}
    assert IGNORED not in response.headers


async def test_cancel_ends_the_subscription(
    stripe_client: stripe.StripeClient, catalog: Catalog, customer: str
) -> None:
    """DELETE /v1/subscriptions/{id} cancels, and the subscription still reads back."""
    sub = await _subscribe(stripe_client, customer, catalog.monthly)
    canceled = await stripe_client.v1.subscriptions.cancel_async(sub.id)
    assert canceled.status == "canceled"
    assert canceled.items.data[0].price.id == catalog.monthly


async def test_default_payment_method_must_be_the_customers_default(
    stripe_client: stripe.StripeClient, catalog: Catalog, customer: str
) -> None:
    """The emulator charges the customer's default method, so only that one is accepted."""
    sub = await stripe_client.v1.subscriptions.create_async(
        {"customer": customer, "items": [{"price": catalog.monthly}],
         "default_payment_method": "pm_card_visa"}
    )  # fmt: skip
    assert _ignored(sub) == "default_payment_method"
    with pytest.raises(stripe.InvalidRequestError) as other:
        await stripe_client.v1.subscriptions.update_async(
            sub.id, {"default_payment_method": "pm_card_mastercard"}
        )
    assert (other.value.code, other.value.param) == ("not_emulated", "default_payment_method")
