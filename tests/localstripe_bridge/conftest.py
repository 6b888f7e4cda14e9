"""Fixtures for the emulator's own tests: stripe-python and raw HTTP pointed at the session's
emulator (the `emulator` fixture in tests/conftest.py), plus a paying customer and a catalog."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

import httpx
import pytest
import stripe  # noqa: TID251 -- tests drive the emulator exactly as stripe-python does

from tests.localstripe_bridge.support import Catalog
from tests.support import STRIPE_TEST_KEY

if TYPE_CHECKING:
    from localstripe_bridge.process import EmulatorProcess


@pytest.fixture
async def stripe_client(emulator: EmulatorProcess) -> AsyncIterator[stripe.StripeClient]:
    http = stripe.HTTPXClient()
    try:
        yield stripe.StripeClient(
            STRIPE_TEST_KEY,
            base_addresses={"api": emulator.url},
            http_client=http,
            max_network_retries=0,  # see the emulator's first answer, not a retry's
        )
    finally:
        await http.close_async()  # type: ignore[no-untyped-call]  # untyped upstream


@pytest.fixture
async def http(emulator: EmulatorProcess) -> AsyncIterator[httpx.AsyncClient]:
    """Raw requests, for what stripe-python's typed parameters would not let a test send."""
    async with httpx.AsyncClient(
        base_url=emulator.url,
        headers={"Authorization": f"Bearer {STRIPE_TEST_KEY}"},
        timeout=10,
    ) as client:
        yield client


@pytest.fixture
async def catalog(stripe_client: stripe.StripeClient) -> Catalog:
    prices = stripe_client.v1.prices
    product = await stripe_client.v1.products.create_async({"name": "Emulator Pro"})
    monthly = await prices.create_async(
        {
            "product": product.id,
            "currency": "usd",
            "unit_amount": 1000,
            "recurring": {"interval": "month"},
        }
    )
    annual = await prices.create_async(
        {
            "product": product.id,
            "currency": "usd",
            "unit_amount": 10000,
            "recurring": {"interval": "year"},
        }
    )
    premium = await prices.create_async(
        {
            "product": product.id,
            "currency": "usd",
            "unit_amount": 3000,
            "recurring": {"interval": "month"},
        }
    )
    return Catalog(product.id, monthly.id, annual.id, premium.id)


@pytest.fixture
async def customer(stripe_client: stripe.StripeClient) -> str:
    """A customer whose default payment method is a Visa test card."""
    created = await stripe_client.v1.customers.create_async(
        {"email": "emulator@example.com", "name": "Emulator Test"}
    )
    await stripe_client.v1.payment_methods.attach_async("pm_card_visa", {"customer": created.id})
    await stripe_client.v1.customers.update_async(
        created.id, {"invoice_settings": {"default_payment_method": "pm_card_visa"}}
    )
    return created.id
