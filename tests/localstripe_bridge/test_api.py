"""Everyday calls through stripe-python, idempotency, and Stripe-shaped errors."""

from __future__ import annotations

import json
import uuid
from decimal import Decimal

import httpx
import pytest
import stripe  # noqa: TID251 -- tests drive the emulator exactly as stripe-python does
from aiohttp import web
from aiohttp.test_utils import make_mocked_request

from localstripe_bridge import errors
from tests.localstripe_bridge.support import STRIPE_PYTHON_HTTPX_WARNING, Catalog

pytestmark = STRIPE_PYTHON_HTTPX_WARNING


async def test_customer_with_a_default_card_reads_back(stripe_client: stripe.StripeClient) -> None:
    """Create (email, name, metadata), attach pm_card_visa, make it the default, read back."""
    customers = stripe_client.v1.customers
    created = await customers.create_async(
        {"email": "ada@example.com", "name": "Ada", "metadata": {"uplift_id": "ada"}}
    )
    card = await stripe_client.v1.payment_methods.attach_async(
        "pm_card_visa", {"customer": created.id}
    )
    assert card.customer == created.id
    updated = await customers.update_async(
        created.id,
        {"invoice_settings": {"default_payment_method": card.id}, "metadata": {"plan": "pro"}},
    )
    fetched = await customers.retrieve_async(created.id)
    assert fetched.to_dict() == updated.to_dict()
    assert (fetched.email, fetched.name) == ("ada@example.com", "Ada")
    assert fetched.metadata is not None
    assert fetched.metadata.to_dict() == {"uplift_id": "ada", "plan": "pro"}
    assert fetched.invoice_settings is not None
    assert fetched.invoice_settings.default_payment_method == card.id


async def test_customer_balance_is_stripes_sign(stripe_client: stripe.StripeClient) -> None:
    """`balance` reads and writes with Stripe's sign (negative = credit)."""
    customer = await stripe_client.v1.customers.create_async({"balance": -500})
    assert customer.balance == -500
    updated = await stripe_client.v1.customers.update_async(customer.id, {"balance": 250})
    assert updated.balance == 250


async def test_products_list_and_page(stripe_client: stripe.StripeClient) -> None:
    """Products create and list (newest products reachable by auto-paging)."""
    product = await stripe_client.v1.products.create_async(
        {"name": "Listed", "metadata": {"uplift_kind": "addon"}}
    )
    page = await stripe_client.v1.products.list_async({"limit": 1})
    assert product.id in [p.id async for p in page.auto_paging_iter()]


async def test_same_idempotency_key_replays_the_first_response(
    stripe_client: stripe.StripeClient,
) -> None:
    """A retried POST with the same key returns the first object instead of making another."""
    key = f"test-{uuid.uuid4()}"
    first = await stripe_client.v1.customers.create_async(
        {"email": "once@example.com"}, {"idempotency_key": key}
    )
    second = await stripe_client.v1.customers.create_async(
        {"email": "once@example.com"}, {"idempotency_key": key}
    )
    assert second.id == first.id
    assert second.last_response is not None
    assert second.last_response.headers.get("Idempotent-Replayed") == "true"


async def test_reused_idempotency_key_with_other_params_is_refused(
    stripe_client: stripe.StripeClient,
) -> None:
    """Stripe refuses a key reused with different parameters (IdempotencyError)."""
    key = f"test-{uuid.uuid4()}"
    await stripe_client.v1.customers.create_async(
        {"email": "a@example.com"}, {"idempotency_key": key}
    )
    with pytest.raises(stripe.IdempotencyError):
        await stripe_client.v1.customers.create_async(
            {"email": "b@example.com"}, {"idempotency_key": key}
        )


async def test_failed_validation_is_not_saved_under_the_key(
    stripe_client: stripe.StripeClient,
) -> None:
    """A request that failed validation runs again when retried with the same key."""
    key = f"test-{uuid.uuid4()}"
    product_id = f"prod_later_{uuid.uuid4().hex}"
    params: stripe.params.PriceCreateParams = {
        "product": product_id,
        "currency": "usd",
        "unit_amount": 100,
    }
    with pytest.raises(stripe.InvalidRequestError) as refused:
        await stripe_client.v1.prices.create_async(params, {"idempotency_key": key})
    assert refused.value.code == "resource_missing"
    await stripe_client.v1.products.create_async({"id": product_id, "name": "Later"})
    price = await stripe_client.v1.prices.create_async(params, {"idempotency_key": key})
    assert price.product == product_id


async def test_unknown_api_is_a_stripe_shaped_404(stripe_client: stripe.StripeClient) -> None:
    """An API the emulator lacks raises InvalidRequestError saying so, not a parse error."""
    with pytest.raises(stripe.InvalidRequestError) as missing:
        await stripe_client.v1.checkout.sessions.create_async(
            {"mode": "subscription", "success_url": "http://127.0.0.1/ok"}
        )
    assert missing.value.http_status == 404
    assert "not emulate" in str(missing.value.user_message)


async def test_parameter_localstripe_lacks_is_a_400_not_a_crash(http: httpx.AsyncClient) -> None:
    """A valid Stripe parameter localstripe's code does not take is a 400 `not_emulated`."""
    response = await http.get("/v1/invoices", params={"status": "open"})
    assert response.status_code == 400
    error = response.json()["error"]
    assert (error["type"], error["code"], error["param"]) == (
        "invalid_request_error",
        "not_emulated",
        "status",
    )


async def test_an_emulator_crash_is_a_stripe_shaped_500() -> None:
    """Any other exception becomes Stripe's `api_error`, which stripe-python can parse."""

    async def crash(request: web.Request) -> web.StreamResponse:
        raise ZeroDivisionError("inside localstripe")

    request = make_mocked_request("GET", "/v1/balance")
    response = await errors.stripe_errors(request, crash)
    assert isinstance(response, web.Response)
    assert response.status == 500
    assert isinstance(response.body, bytes)
    error = json.loads(response.body)["error"]
    assert error["type"] == "api_error"
    assert "ZeroDivisionError: inside localstripe" in error["message"]


async def test_requests_without_a_secret_key_are_unauthorized(emulator_url: str) -> None:
    """The emulator still wants an `sk_` key, in Stripe's error shape."""
    async with httpx.AsyncClient(base_url=emulator_url) as anonymous:
        response = await anonymous.get("/v1/prices")
    assert response.status_code == 401
    assert response.json()["error"]["type"] == "invalid_request_error"


async def test_invoice_item_priced_by_a_price_for_a_period(
    stripe_client: stripe.StripeClient, catalog: Catalog, customer: str
) -> None:
    """`pricing[price]` times quantity is the amount; `period` and `pending` work as on Stripe."""
    setup_fee = await stripe_client.v1.prices.create_async(
        {"product": catalog.product, "currency": "usd", "unit_amount": 1500}
    )
    item = await stripe_client.v1.invoice_items.create_async(
        {
            "customer": customer,
            "pricing": {"price": setup_fee.id},
            "quantity": 2,
            "period": {"start": 1_800_000_000, "end": 1_800_086_400},
        }
    )
    assert (item.amount, item.currency, item.quantity) == (3000, "usd", 2)
    assert (item.period.start, item.period.end) == (1_800_000_000, 1_800_086_400)
    pending = await stripe_client.v1.invoice_items.list_async(
        {"customer": customer, "pending": True}
    )
    assert [i.id for i in pending.data] == [item.id]
    # Like Stripe, a new subscription's first invoice sweeps in pending invoice items.
    sub = await stripe_client.v1.subscriptions.create_async(
        {"customer": customer, "items": [{"price": catalog.monthly}]}
    )
    invoice = await stripe_client.v1.invoices.retrieve_async(str(sub.latest_invoice))
    assert (invoice.status, invoice.amount_paid) == ("paid", 1000 + 3000)
    priced = {
        line.pricing.price_details.price: line.amount
        for line in invoice.lines.data
        if line.pricing and line.pricing.price_details
    }
    assert priced == {catalog.monthly: 1000, setup_fee.id: 3000}
    [fee_line] = [line for line in invoice.lines.data if line.amount == 3000]
    assert fee_line.pricing is not None
    assert (fee_line.quantity, fee_line.pricing.unit_amount_decimal) == (2, Decimal("1500"))
    invoiced = await stripe_client.v1.invoice_items.list_async(
        {"customer": customer, "pending": False}
    )
    assert [i.id for i in invoiced.data] == [item.id]
