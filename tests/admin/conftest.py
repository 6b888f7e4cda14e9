"""One simulated shop per module: the demo catalog and offers in the emulator and in a fresh
database, a real `uplift serve` on it, and plugin.demo.simulate's synthetic customers driven
through the widget API (the emulator's webhooks posted to it and processed), plus one webhook
event that failed, for the dashboard's list of failures.

Module-scoped because the simulation takes seconds; the tests only read what it made. The shop
has an emulator of its own: its webhook endpoint receives every event of that emulator, and the
session's emulator carries every other test's objects. A module that needs other settings for
its server overrides the `shop_settings` fixture (e.g. outbound webhooks to a receiver on
loopback need `outbound_allow_private_networks`).
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from localstripe_bridge.process import EmulatorProcess
from plugin import storage
from plugin.billing.catalog_sync import sync_catalog
from plugin.billing.stripe_gateway import StripeGateway
from plugin.clock import SystemClock
from plugin.demo.run import seed_stripe, seed_uplift
from plugin.demo.simulate import Report, World, simulate
from plugin.storage import stripe_events as store
from plugin.storage.stripe_events import NewEvent
from tests.support import (
    ADMIN_KEY,
    STRIPE_TEST_KEY,
    WIDGET_SECRET,
    free_port,
    stop,
    uplift_env,
    wait_until_ready,
)

CUSTOMERS = 6
FAILED_EVENT = "evt_admin_failed_once"


@dataclass(frozen=True)
class Shop:
    url: str
    database_url: str
    report: Report
    log: Path
    prices: dict[str, str]  # the seeded prices by lookup key (basic_monthly, pro_annual, …)

    def api(self, path: str, **headers: str) -> httpx.Response:
        return httpx.get(
            self.url + path, headers={"Authorization": f"Bearer {ADMIN_KEY}", **headers}, timeout=30
        )

    def json(self, path: str) -> Any:
        response = self.api(path)
        assert response.status_code == 200, response.text
        return response.json()


async def _seed(database_url: str, stripe_url: str, *, port: int) -> tuple[dict[str, str], str]:
    """Seed the emulator and the database; returns the prices and the webhook secret of the
    endpoint registered for the server about to listen on `port`."""
    clock = SystemClock()
    gateway = StripeGateway(api_key=STRIPE_TEST_KEY, api_base=stripe_url)
    db = await storage.connect(database_url)
    try:
        await storage.migrations.apply(db, now=clock.now())
        seed = await seed_stripe(gateway)
        await sync_catalog(db, gateway, now=clock.now())
        await seed_uplift(db, seed, now=clock.now())
        await store.insert(
            db,
            event=NewEvent(
                id=FAILED_EVENT, type="invoice.paid", object_id="in_missing",
                created=clock.now() - 3600, livemode=False, payload="{}",
                received_at=clock.now() - 3600,
            ),
        )  # fmt: skip
        await store.fail(
            db, event_id=FAILED_EVENT, error="No such invoice: 'in_missing'", now=clock.now()
        )
        endpoint = await gateway.create_webhook_endpoint(
            {"url": f"http://127.0.0.1:{port}/webhooks/stripe", "enabled_events": ["*"]},
            idempotency_key="uplift:admin-shop:webhook-endpoint",
        )
    finally:
        await db.close()
        await gateway.close()
    assert endpoint.secret is not None
    return seed.prices, endpoint.secret


@pytest.fixture(scope="module")
def shop_settings() -> dict[str, str]:
    """Settings of the module's server beyond the shop's own, as `uplift_env` takes them
    (`{"outbound_allow_private_networks": "true"}` is UPLIFT_OUTBOUND_ALLOW_PRIVATE_NETWORKS);
    none unless a module overrides this fixture."""
    return {}


@pytest.fixture(scope="module")
def shop(
    tmp_path_factory: pytest.TempPathFactory,
    request: pytest.FixtureRequest,
    shop_settings: dict[str, str],
) -> Iterator[Shop]:
    with EmulatorProcess() as emulator:
        yield from _shop(emulator, tmp_path_factory, request, shop_settings)


def _shop(
    emulator: EmulatorProcess,
    tmp_path_factory: pytest.TempPathFactory,
    request: pytest.FixtureRequest,
    settings: dict[str, str],
) -> Iterator[Shop]:
    workdir = tmp_path_factory.mktemp("admin")
    database_url = f"sqlite+aiosqlite:///{workdir / 'admin.db'}"
    port = free_port()
    prices, webhook_secret = asyncio.run(_seed(database_url, emulator.url, port=port))
    log = workdir / "serve.log"
    with log.open("w") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "plugin", "serve", "--port", str(port)],
            env=uplift_env(
                database_url=database_url, stripe_api_key=STRIPE_TEST_KEY,
                stripe_api_base=emulator.url, widget_secret=WIDGET_SECRET,
                admin_key=ADMIN_KEY, stripe_webhook_secrets=webhook_secret, **settings,
            ),
            stdout=sink, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_ready(url, process)
        world = World(
            uplift_url=url, stripe_url=emulator.url, stripe_key=STRIPE_TEST_KEY,
            admin_key=ADMIN_KEY, widget_secret=WIDGET_SECRET, webhook_secret=webhook_secret,
            prices=prices,
        )  # fmt: skip
        run = request.module.__name__.rsplit(".", 1)[-1]
        report = asyncio.run(simulate(world, customers=CUSTOMERS, run=run, clock=SystemClock()))
        yield Shop(url, database_url, report, log, prices)
    finally:
        stop(process)
