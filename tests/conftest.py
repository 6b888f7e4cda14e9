"""Shared fixtures: real collaborators only.

- `emulator`: the local Stripe (localstripe behind localstripe_bridge) as a subprocess on a
  free loopback port, one per test session.
- `settings` / `db`: a fresh SQLite file per test, migrated.
- `app` / `client`: the ASGI app under httpx with its lifespan entered explicitly.
- `serve`: a real `uplift serve` subprocess for end-to-end tests.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest
from starlette.applications import Starlette

from plugin import storage
from plugin.app import create_app
from plugin.clock import FixedClock
from plugin.settings import Settings
from plugin.storage import Database
from plugin.stripe_gateway import StripeGateway

if TYPE_CHECKING:
    from localstripe_bridge.process import EmulatorProcess

from tests.support import (
    ADMIN_KEY,
    NOW,
    STRIPE_TEST_KEY,
    WEBHOOK_SECRET,
    WIDGET_SECRET,
    free_port,
    stop,
    uplift_env,
    wait_until_ready,
)

pytest_plugins = ["tests.browser"]  # chromium_path, browser, open_page, artifacts


@pytest.fixture(scope="session")
def emulator() -> Iterator[EmulatorProcess]:
    from localstripe_bridge.process import EmulatorProcess

    with EmulatorProcess() as emu:
        yield emu


@pytest.fixture
def emulator_url(emulator: EmulatorProcess) -> str:
    return emulator.url


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(NOW)


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'uplift.db'}"


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(
        database_url=database_url,
        stripe_api_key=STRIPE_TEST_KEY,
        widget_secret=WIDGET_SECRET,
        admin_key=ADMIN_KEY,
        stripe_webhook_secrets=[WEBHOOK_SECRET],
    )


@pytest.fixture
async def db(settings: Settings) -> AsyncIterator[Database]:
    database = await storage.connect(settings.database_url)
    await storage.migrations.apply(database, now=NOW)
    try:
        yield database
    finally:
        await database.close()


@pytest.fixture
def app(settings: Settings, clock: FixedClock, db: Database) -> Starlette:
    # Depends on `db` so the schema is migrated before the app's own connections open.
    return create_app(settings, clock=clock)


@pytest.fixture
async def client(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    # ASGITransport does not run the lifespan (httpx #350), so enter it here.
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://uplift.test"
        ) as http,
    ):
        yield http


@pytest.fixture
async def gateway(emulator: EmulatorProcess) -> AsyncIterator[StripeGateway]:
    stripe = StripeGateway(api_key=STRIPE_TEST_KEY, api_base=emulator.url, max_retries=0)
    try:
        yield stripe
    finally:
        await stripe.close()


class Served:
    """A running `uplift serve`: its URL, its process, and the file its output goes to."""

    def __init__(self, url: str, process: subprocess.Popen[str], output: Path) -> None:
        self.url = url
        self.process = process
        self.output = output

    def log(self) -> str:
        return self.output.read_text(encoding="utf-8")


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Callable[..., Served]]:
    """Start `uplift serve` with the given settings (keyword = UPLIFT_ variable, lower case)."""
    started: list[Served] = []

    def start(*extra: str, **values: str) -> Served:
        port = free_port()
        values.setdefault("database_url", f"sqlite+aiosqlite:///{tmp_path / 'served.db'}")
        values.setdefault("stripe_api_key", STRIPE_TEST_KEY)
        output = tmp_path / f"serve-{port}.log"
        # Output goes to a file, not a pipe nobody drains, so a chatty server never blocks.
        with output.open("w") as sink:
            process = subprocess.Popen(
                [sys.executable, "-m", "plugin", "serve", "--port", str(port), *extra],
                env=uplift_env(**values),
                stdout=sink,
                stderr=subprocess.STDOUT,
                text=True,
            )
        served = Served(f"http://127.0.0.1:{port}", process, output)
        started.append(served)
        wait_until_ready(served.url, process)
        return served

    yield start
    for served in started:
        stop(served.process)
