"""Fixtures the API tests share."""

from __future__ import annotations

import httpx
import pytest

from plugin.storage import Database
from tests.factories import ADMIN, offer_body, seed_catalog, seed_plans, subscribe


@pytest.fixture
async def shop(client: httpx.AsyncClient, db: Database) -> httpx.AsyncClient:
    """Acme is on Basic monthly with 9 of 10 GB used; the Basic→Pro offer is active."""
    await seed_catalog(db)
    await seed_plans(client)
    await client.put("/api/v1/customers/acme", json={"stripe_customer": "cus_acme"}, headers=ADMIN)
    await subscribe(db, stripe_customer="cus_acme", price_id="price_basic_monthly")
    await client.post(
        "/api/v1/usage",
        json={"customer": "acme", "metric": "storage_gb", "value": 9},
        headers={**ADMIN, "Idempotency-Key": "seed"},
    )
    created = await client.post("/api/v1/admin/offers", json=offer_body(), headers=ADMIN)
    assert created.status_code == 201, created.text
    return client
