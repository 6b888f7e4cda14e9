"""Fixtures of the widget's browser tests: the host pages' server and `shop`, a running
Uplift on the Stripe emulator with Acme's subscription, plans, usage and offers."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import expect

from plugin import storage
from plugin.auth import issue_customer_token
from plugin.billing.stripe_gateway import StripeGateway
from tests.conftest import Served
from tests.support import (
    ADMIN_KEY,
    WIDGET_SECRET,
    Subscribed,
    mirror_world,
    subscribed_customer,
)
from tests.widget.shop import PagesServer, Shop, ShopFactory, upgrade_offer

expect.set_options(timeout=15_000)


@pytest.fixture
def pages_server() -> Iterator[PagesServer]:
    pages = PagesServer()
    yield pages
    pages.stop()


@pytest.fixture
async def shop(
    gateway: StripeGateway,
    emulator_url: str,
    serve: Callable[..., Served],
    pages_server: PagesServer,
    tmp_path: Path,
    artifacts: Path,
    request: pytest.FixtureRequest,
) -> ShopFactory:
    """Seeds like tests/api/test_purchase_api.py (emulator customer and subscription, the
    catalog and the mirror in the database), starts `uplift serve` on it, then plans, Acme,
    its usage and the offers through the admin API."""

    async def open_shop(
        *,
        card: str = "pm_card_visa",
        offers: Callable[[Subscribed], list[dict[str, Any]]] | None = None,
    ) -> Shop:
        name = "browser-" + hashlib.sha256(request.node.nodeid.encode()).hexdigest()[:12]
        world = await subscribed_customer(gateway, name=name, card=card)
        now = world.period_start
        database_url = f"sqlite+aiosqlite:///{tmp_path / 'browser.db'}"
        db = await storage.connect(database_url)
        try:
            await storage.migrations.apply(db, now=now)
            await mirror_world(gateway, db, world, now=now)
        finally:
            await db.close()
        served = serve(
            database_url=database_url,
            stripe_api_base=emulator_url,
            widget_secret=WIDGET_SECRET,
            admin_key=ADMIN_KEY,
            allowed_origins=pages_server.url,
        )
        pages_server.uplift_origin = served.url
        shop = Shop(
            uplift=served.url,
            pages=pages_server.url,
            world=world,
            token=issue_customer_token(secret=WIDGET_SECRET, customer_id="acme", now=now),
            artifacts=artifacts,
        )
        plans = {
            "plans": [
                {"id": "basic", "name": "Basic", "tier": 1, "prices": [world.basic],
                 "limits": {"storage_gb": 10}},
                {"id": "pro", "name": "Pro", "tier": 2, "prices": [world.pro, world.pro_annual],
                 "limits": {"storage_gb": 100}},
            ]
        }  # fmt: skip
        assert shop.admin("PUT", "/api/v1/admin/plans", json=plans).status_code == 200
        acme = {"stripe_customer": world.customer_id}
        assert shop.admin("PUT", "/api/v1/customers/acme", json=acme).status_code in (200, 201)
        usage = {"customer": "acme", "metric": "storage_gb", "value": 9}
        seeded = shop.admin(
            "POST", "/api/v1/usage", json=usage, headers={"Idempotency-Key": "seed"}
        )
        assert seeded.status_code < 300, seeded.text
        for offer in (offers or (lambda w: [upgrade_offer(w)]))(world):
            created = shop.admin("POST", "/api/v1/admin/offers", json=offer)
            assert created.status_code == 201, created.text
        return shop

    return open_shop
