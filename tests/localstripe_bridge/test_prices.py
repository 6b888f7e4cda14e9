"""Prices through stripe-python: the emulator answers the Prices API like Stripe."""

from __future__ import annotations

import uuid
from decimal import Decimal

import httpx
import pytest
import stripe  # noqa: TID251 -- tests drive the emulator exactly as stripe-python does

from tests.localstripe_bridge.support import STRIPE_PYTHON_HTTPX_WARNING, Catalog

pytestmark = STRIPE_PYTHON_HTTPX_WARNING


def _key(name: str) -> str:
    """A lookup key no other test in this session uses (the emulator is shared)."""
    return f"{name}_{uuid.uuid4().hex[:8]}"


async def test_created_price_reads_back_price_shaped(stripe_client: stripe.StripeClient) -> None:
    """A recurring price has Stripe's fields and reads back unchanged."""
    product = await stripe_client.v1.products.create_async({"name": "Reports"})
    key = _key("reports_monthly")
    price = await stripe_client.v1.prices.create_async(
        {
            "product": product.id,
            "currency": "USD",
            "unit_amount": 1900,
            "recurring": {"interval": "month", "interval_count": 3},
            "lookup_key": key,
            "nickname": "Quarterly",
            "metadata": {"tier": "2"},
        }
    )
    assert price.id.startswith("price_")
    assert price.object == "price"
    assert (price.product, price.currency, price.unit_amount) == (product.id, "usd", 1900)
    assert price.unit_amount_decimal == Decimal("1900")  # stripe-python 16 parses decimals
    assert price.type == "recurring"
    assert price.billing_scheme == "per_unit"
    assert price.recurring is not None
    assert (price.recurring.interval, price.recurring.interval_count) == ("month", 3)
    assert price.recurring.usage_type == "licensed"
    assert (price.lookup_key, price.nickname, price.active) == (key, "Quarterly", True)
    assert price.metadata.to_dict() == {"tier": "2"}
    assert price.livemode is False

    again = await stripe_client.v1.prices.retrieve_async(price.id)
    assert again.to_dict() == price.to_dict()


async def test_price_with_product_data_creates_its_product(
    stripe_client: stripe.StripeClient,
) -> None:
    """`product_data[name]` makes a new product, as on Stripe."""
    price = await stripe_client.v1.prices.create_async(
        {"currency": "eur", "unit_amount": 500, "product_data": {"name": "Inline"}}
    )
    product = await stripe_client.v1.products.retrieve_async(str(price.product))
    assert product.name == "Inline"


async def test_one_time_price_has_no_recurring_and_is_not_a_plan(
    stripe_client: stripe.StripeClient, catalog: Catalog
) -> None:
    """Without `recurring` the price is one_time, and the Plans API does not list it."""
    price = await stripe_client.v1.prices.create_async(
        {"product": catalog.product, "currency": "usd", "unit_amount": 4900}
    )
    assert (price.type, price.recurring) == ("one_time", None)
    plans = await stripe_client.v1.plans.list_async({"product": catalog.product, "limit": 100})
    assert price.id not in {plan.id for plan in plans.data}
    assert catalog.monthly in {plan.id for plan in plans.data}


async def test_price_update_changes_only_what_is_sent(stripe_client: stripe.StripeClient) -> None:
    """Update sets active/nickname/lookup_key and merges metadata; "" deletes a key."""
    price = await stripe_client.v1.prices.create_async(
        {
            "product_data": {"name": "Updatable"},
            "currency": "usd",
            "unit_amount": 100,
            "recurring": {"interval": "week"},
            "metadata": {"keep": "1", "drop": "2"},
        }
    )
    key = _key("updated")
    updated = await stripe_client.v1.prices.update_async(
        price.id,
        {"active": False, "lookup_key": key, "metadata": {"drop": "", "new": "3"}},
    )
    assert (updated.active, updated.lookup_key) == (False, key)
    assert updated.metadata.to_dict() == {"keep": "1", "new": "3"}
    assert updated.unit_amount == 100


async def test_lookup_key_belongs_to_one_price_unless_transferred(
    stripe_client: stripe.StripeClient, catalog: Catalog
) -> None:
    """A second price with the same lookup key is refused; `transfer_lookup_key` moves it."""
    key = _key("unique")
    first = await stripe_client.v1.prices.create_async(
        {"product": catalog.product, "currency": "usd", "unit_amount": 1, "lookup_key": key}
    )
    with pytest.raises(stripe.InvalidRequestError) as refused:
        await stripe_client.v1.prices.create_async(
            {"product": catalog.product, "currency": "usd", "unit_amount": 2, "lookup_key": key}
        )
    assert refused.value.param == "lookup_key"
    second = await stripe_client.v1.prices.create_async(
        {
            "product": catalog.product,
            "currency": "usd",
            "unit_amount": 2,
            "lookup_key": key,
            "transfer_lookup_key": True,
        }
    )
    found = await stripe_client.v1.prices.list_async({"lookup_keys": [key]})
    assert [p.id for p in found.data] == [second.id]
    assert (await stripe_client.v1.prices.retrieve_async(first.id)).lookup_key is None


async def test_price_list_filters_and_pages_like_stripe(
    stripe_client: stripe.StripeClient, catalog: Catalog
) -> None:
    """Filters by product/type/active/currency; newest first; auto-paging sees every price."""
    prices = stripe_client.v1.prices
    page = await prices.list_async({"product": catalog.product, "limit": 2})
    assert page["object"] == "list"
    assert page.url == "/v1/prices"
    assert [p.id for p in page.data] == [catalog.premium, catalog.annual]
    assert page.has_more is True
    every = [p.id async for p in page.auto_paging_iter()]
    assert every == [catalog.premium, catalog.annual, catalog.monthly]

    yearly = await prices.list_async(
        {"product": catalog.product, "recurring": {"interval": "year"}}
    )
    assert [p.id for p in yearly.data] == [catalog.annual]
    one_time = await prices.list_async({"product": catalog.product, "type": "one_time"})
    assert one_time.data == []
    euros = await prices.list_async({"product": catalog.product, "currency": "eur"})
    assert euros.data == []
    await prices.update_async(catalog.monthly, {"active": False})
    active = await prices.list_async({"product": catalog.product, "active": True})
    assert catalog.monthly not in [p.id for p in active.data]


async def test_price_list_can_expand_products(
    stripe_client: stripe.StripeClient, catalog: Catalog
) -> None:
    """`expand[]=data.product` returns the product objects, as Stripe does."""
    page = await stripe_client.v1.prices.list_async(
        {"product": catalog.product, "expand": ["data.product"]}
    )
    assert all(isinstance(p.product, stripe.Product) for p in page.data)


async def test_unknown_price_is_a_stripe_404(stripe_client: stripe.StripeClient) -> None:
    """Retrieving a missing price raises InvalidRequestError 404 resource_missing."""
    with pytest.raises(stripe.InvalidRequestError) as missing:
        await stripe_client.v1.prices.retrieve_async("price_missing")
    assert missing.value.http_status == 404
    assert missing.value.code == "resource_missing"


@pytest.mark.parametrize(
    ("form", "param"),
    [
        ({"unit_amount": "100", "product_data[name]": "X"}, "currency"),
        ({"currency": "usd", "product_data[name]": "X"}, "unit_amount"),
        ({"currency": "usd", "unit_amount": "abc", "product_data[name]": "X"}, "unit_amount"),
        ({"currency": "usd", "unit_amount": "-1", "product_data[name]": "X"}, "unit_amount"),
        ({"currency": "usd", "unit_amount": "1"}, "product"),
        ({"currency": "usd", "unit_amount": "1", "product": "prod_missing"}, "product"),
        (
            {"currency": "usd", "unit_amount": "1", "product_data[name]": "X",
             "recurring[interval]": "fortnight"},
            "recurring[interval]",
        ),
        (
            {"currency": "usd", "unit_amount": "1", "product_data[name]": "X",
             "recurring[interval]": "year", "recurring[interval_count]": "4"},
            "recurring[interval_count]",
        ),
        ({"currency": "usd", "unit_amount": "1", "product_data[name]": "X", "tiers": "x"},
         "tiers"),
        ({"currency": "usd", "unit_amount": "1", "product_data[name]": "X", "active": "maybe"},
         "active"),
    ],
)  # fmt: skip
async def test_bad_price_input_is_a_stripe_400(
    http: httpx.AsyncClient, form: dict[str, str], param: str
) -> None:
    """Bad or unsupported input gets a 400 invalid_request_error naming the param, never a 500."""
    response = await http.post("/v1/prices", data=form)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert error["param"] == param
    assert error["message"]
