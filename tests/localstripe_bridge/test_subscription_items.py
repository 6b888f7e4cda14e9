"""Subscriptions with several items: items added to a live subscription, changed one at a time,
removed, and billed together."""

from __future__ import annotations

import httpx
import pytest
import stripe  # noqa: TID251 -- tests drive the emulator exactly as stripe-python does

from tests.localstripe_bridge.support import STRIPE_PYTHON_HTTPX_WARNING, Catalog

pytestmark = STRIPE_PYTHON_HTTPX_WARNING

IGNORED = "Localstripe-Bridge-Ignored"


def _ignored(obj: stripe.StripeObject) -> str | None:
    assert obj.last_response is not None
    return obj.last_response.headers.get(IGNORED)


async def _with_addon(
    client: stripe.StripeClient, catalog: Catalog, customer: str
) -> tuple[stripe.Subscription, stripe.SubscriptionItem]:
    """A monthly subscription (1000) with the premium price (3000, quantity 2) added to it."""
    sub = await client.v1.subscriptions.create_async(
        {"customer": customer, "items": [{"price": catalog.monthly}]}
    )
    added = await client.v1.subscription_items.create_async(
        {
            "subscription": sub.id,
            "price": catalog.premium,
            "quantity": 2,
            "metadata": {"source": "test"},
            "proration_behavior": "none",
        }
    )
    return sub, added


async def test_added_item_joins_the_subscription_and_its_next_invoice(
    stripe_client: stripe.StripeClient, catalog: Catalog, customer: str
) -> None:
    """An item created on a subscription is one of its items (shown, listed, same period) and
    its next invoice bills every item; `proration_behavior=none` is emulated, not ignored."""
    sub, added = await _with_addon(stripe_client, catalog, customer)
    assert (added.subscription, added.price.id, added.quantity) == (sub.id, catalog.premium, 2)
    assert added.metadata.to_dict() == {"source": "test"}
    assert _ignored(added) is None
    first = sub.items.data[0]
    assert (added.current_period_start, added.current_period_end) == (
        first.current_period_start,
        first.current_period_end,
    )

    again = await stripe_client.v1.subscriptions.retrieve_async(sub.id)
    assert [(i.id, i.price.id) for i in again.items.data] == [
        (first.id, catalog.monthly),
        (added.id, catalog.premium),
    ]
    listed = await stripe_client.v1.subscription_items.list_async({"subscription": sub.id})
    assert [i.id for i in listed.data] == [first.id, added.id]

    upcoming = await stripe_client.v1.invoices.create_preview_async({"subscription": sub.id})
    billed = sorted(
        (line.pricing.price_details.price, line.amount)
        for line in upcoming.lines.data
        if line.pricing is not None and line.pricing.price_details is not None
    )
    assert billed == sorted([(catalog.monthly, 1000), (catalog.premium, 6000)])
    assert upcoming.subtotal == 7000
    # The first invoice, paid before the addition, is not changed by it.
    paid = await stripe_client.v1.invoices.retrieve_async(str(sub.latest_invoice))
    assert paid.amount_paid == 1000


async def test_added_item_follows_stripes_rules(
    stripe_client: stripe.StripeClient, catalog: Catalog, customer: str, http: httpx.AsyncClient
) -> None:
    """A price the subscription already has, an unknown price, a missing price or an ended
    subscription are 400s; another billing interval is `not_emulated`; prorations other than
    `none` are named as ignored; nothing is added by a refused request."""
    sub, added = await _with_addon(stripe_client, catalog, customer)
    refusals: list[tuple[dict[str, str], str, bool]] = [
        ({"price": catalog.premium}, "price", False),
        ({"price": "price_missing"}, "price", False),
        ({}, "price", False),
        ({"price": catalog.annual}, "price", True),
    ]
    for extra, param, emulated_not in refusals:
        response = await http.post("/v1/subscription_items", data={"subscription": sub.id, **extra})
        assert response.status_code == 400, extra
        error = response.json()["error"]
        assert (error["param"], error.get("code") == "not_emulated") == (param, emulated_not)

    third = await stripe_client.v1.prices.create_async(
        {"product": catalog.product, "currency": "usd", "unit_amount": 500,
         "recurring": {"interval": "month"}}
    )  # fmt: skip
    prorated = await stripe_client.v1.subscription_items.create_async(
        {"subscription": sub.id, "price": third.id, "proration_behavior": "always_invoice"}
    )
    assert _ignored(prorated) is None  # emulated: the addition's debit is invoiced at once
    invoice = (await stripe_client.v1.subscriptions.retrieve_async(sub.id)).latest_invoice
    billed = await stripe_client.v1.invoices.retrieve_async(str(invoice))
    assert billed.billing_reason == "subscription_update"
    assert [str(line.description).split(" after ")[0] for line in billed.lines.data] == [
        "Remaining time on Emulator Pro"
    ]
    listed = await stripe_client.v1.subscription_items.list_async({"subscription": sub.id})
    assert [i.id for i in listed.data] == [sub.items.data[0].id, added.id, prorated.id]

    await stripe_client.v1.subscriptions.cancel_async(sub.id)
    ended = await http.post(
        "/v1/subscription_items",
        data={"subscription": sub.id, "price": catalog.monthly},
    )
    assert (ended.status_code, ended.json()["error"]["param"]) == (400, "subscription")


async def test_changing_one_item_keeps_the_others(
    stripe_client: stripe.StripeClient, catalog: Catalog, customer: str
) -> None:
    """An update naming one item changes that item in place and leaves the others, in order;
    an interval change of one item among several is `not_emulated`."""
    sub, added = await _with_addon(stripe_client, catalog, customer)
    first = sub.items.data[0]
    more = await stripe_client.v1.subscriptions.update_async(
        sub.id,
        {"items": [{"id": first.id, "quantity": 3}], "proration_behavior": "none"},
    )
    assert [(i.id, i.price.id, i.quantity) for i in more.items.data] == [
        (first.id, catalog.monthly, 3),
        (added.id, catalog.premium, 2),
    ]
    item = await stripe_client.v1.subscription_items.update_async(added.id, {"quantity": 1})
    assert (item.id, item.price.id, item.quantity) == (added.id, catalog.premium, 1)

    with pytest.raises(stripe.InvalidRequestError) as refused:
        await stripe_client.v1.subscriptions.update_async(
            sub.id, {"items": [{"id": first.id, "price": catalog.annual}]}
        )
    assert refused.value.code == "not_emulated"
    after = await stripe_client.v1.subscriptions.retrieve_async(sub.id)
    assert [(i.id, i.price.id, i.quantity) for i in after.items.data] == [
        (first.id, catalog.monthly, 3),
        (added.id, catalog.premium, 1),
    ]


async def test_preview_of_one_item_bills_the_others_as_they_are(
    stripe_client: stripe.StripeClient, catalog: Catalog, customer: str
) -> None:
    """A preview changing one item still bills the subscription's other items."""
    sub, _ = await _with_addon(stripe_client, catalog, customer)
    preview = await stripe_client.v1.invoices.create_preview_async(
        {
            "subscription": sub.id,
            "subscription_details": {
                "items": [{"id": sub.items.data[0].id, "quantity": 2}],
                "proration_behavior": "none",
            },
        }
    )
    plans = {
        line.pricing.price_details.price
        for line in preview.lines.data
        if line.parent is not None
        and line.parent.type == "subscription_item_details"
        and line.pricing is not None
        and line.pricing.price_details
    }
    assert plans == {catalog.monthly, catalog.premium}


async def test_an_added_item_can_be_deleted_but_not_the_last(
    stripe_client: stripe.StripeClient, catalog: Catalog, customer: str
) -> None:
    """Deleting an added item removes it from the subscription; the last item stays."""
    sub, added = await _with_addon(stripe_client, catalog, customer)
    deleted = await stripe_client.v1.subscription_items.delete_async(
        added.id, {"proration_behavior": "none"}
    )
    assert deleted.deleted is True
    after = await stripe_client.v1.subscriptions.retrieve_async(sub.id)
    assert [i.id for i in after.items.data] == [sub.items.data[0].id]
    with pytest.raises(stripe.InvalidRequestError):
        await stripe_client.v1.subscription_items.delete_async(sub.items.data[0].id)
    with pytest.raises(stripe.InvalidRequestError):
        await stripe_client.v1.subscription_items.retrieve_async(added.id)
