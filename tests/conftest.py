"""Shared fixtures: real collaborators only.

- `emulator`: the local Stripe (localstripe behind localstripe_bridge) as a subprocess on a
  free loopback port, one per test session.
- `database_url` / `settings` / `db`: a fresh database per test, migrated: a SQLite file, or
  with `UPLIFT_TEST_DATABASE=postgres` a PostgreSQL database cloned from a migrated template
  on the cluster at `UPLIFT_TEST_POSTGRES_DSN` (or on a throwaway cluster the session starts
  when that is unset; see tests/postgres.py).
- `app` / `client`: the ASGI app under httpx with its lifespan entered explicitly.
- `serve`: a real `uplift serve` subprocess for end-to-end tests.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import httpx
import pytest
from starlette.applications import Starlette

from plugin import storage
from plugin.app import create_app
from plugin.billing.stripe_gateway import StripeGateway
from plugin.clock import FixedClock
from plugin.settings import Settings
from plugin.storage import Database

if TYPE_CHECKING:
    from localstripe_bridge.process import EmulatorProcess

from tests.postgres import Databases, uplift_url
from tests.support import (
    ADMIN_KEY,
    NOW,
    ON_POSTGRES,
    STRIPE_TEST_KEY,
    WEBHOOK_SECRET,
    WIDGET_SECRET,
    free_port,
    started,
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


T = TypeVar("T")


def _blocking(coroutine: Coroutine[object, object, T]) -> T:
    """Run a coroutine to the end from a synchronous fixture, on a thread of its own, so the
    test's event loop (set or not yet set) is left alone."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


@pytest.fixture(scope="session")
def postgres() -> Iterator[Databases | None]:
    """The PostgreSQL databases of this run, or None when the suite runs on SQLite."""
    if not ON_POSTGRES:
        yield None
        return
    from tests import postgres as cluster

    dsn = os.environ.get("UPLIFT_TEST_POSTGRES_DSN")
    started = None
    if not dsn and not (cluster.BIN / "postgres").exists():
        message = f"no PostgreSQL server in {cluster.BIN} (apt-get install -y postgresql)"
        if os.environ.get("CI", "").lower() not in ("", "0", "false"):
            pytest.fail(message + "; .ci/run installs it")
        pytest.skip(message + "; under CI this fails")
    if not dsn:
        started = Path(tempfile.mkdtemp(prefix="uplift-pg-"))
        dsn = cluster.start(started)
    databases = Databases(dsn)
    try:
        _blocking(databases.prepare(migrate=True))
        yield databases
        _blocking(databases.finish())
    finally:
        if started is not None:
            cluster.stop(started)


@pytest.fixture
def new_database_url(tmp_path: Path, postgres: Databases | None) -> Iterator[Callable[..., str]]:
    """Make more fresh databases (`name` names the SQLite file; `migrated=False` gives an empty
    one), each dropped after the test."""
    made: list[str] = []

    def make(name: str = "uplift.db", *, migrated: bool = True) -> str:
        if postgres is None:
            return f"sqlite+aiosqlite:///{tmp_path / name}"
        dsn = _blocking(postgres.fresh(migrated=migrated))
        made.append(dsn)
        return uplift_url(dsn)

    yield make
    if postgres is not None:
        for dsn in made:
            _blocking(postgres.drop(dsn))


@pytest.fixture(scope="module")
def module_database_url(
    tmp_path_factory: pytest.TempPathFactory, postgres: Databases | None
) -> Iterator[str]:
    """One migrated database for a whole module (tests that share one server)."""
    if postgres is None:
        yield f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('module') / 'uplift.db'}"
        return
    dsn = _blocking(postgres.fresh())
    yield uplift_url(dsn)
    _blocking(postgres.drop(dsn))


@pytest.fixture
def database_url(new_database_url: Callable[..., str]) -> str:
    """A fresh database: an absent SQLite file, or a migrated PostgreSQL clone (applying the
    migrations again is a no-op either way)."""
    return new_database_url()


@pytest.fixture
def empty_database_url(new_database_url: Callable[..., str]) -> str:
    """A fresh database with no schema at all, for tests of the migrations themselves."""
    return new_database_url("empty.db", migrated=False)


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(
        database_url=database_url,
        stripe_api_key=STRIPE_TEST_KEY,
        widget_secret=WIDGET_SECRET,
        admin_key=ADMIN_KEY,
        stripe_webhook_secrets=[WEBHOOK_SECRET],
        # The suite's webhook receivers listen on loopback (tests/outbound/ turns it off to
        # see the refusal).
        outbound_allow_private_networks=True,
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
    async with started(app) as http:
        yield http


@pytest.fixture
async def stripe_http(emulator_url: str) -> AsyncIterator[httpx.AsyncClient]:
    """Raw reads of what the emulator recorded (e.g. every invoice of a customer), which no
    Uplift code path makes."""
    async with httpx.AsyncClient(
        base_url=emulator_url, headers={"Authorization": f"Bearer {STRIPE_TEST_KEY}"}, timeout=10
    ) as http:
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
def serve(tmp_path: Path, new_database_url: Callable[..., str]) -> Iterator[Callable[..., Served]]:
    """Start `uplift serve` with the given settings (keyword = UPLIFT_ variable, lower case).
    Without a `database_url`, every server of the test shares one fresh database."""
    started: list[Served] = []
    shared: list[str] = []

    def start(*extra: str, **values: str) -> Served:
        port = free_port()
        if "database_url" not in values:
            if not shared:
                shared.append(new_database_url("served.db", migrated=False))
            values["database_url"] = shared[0]
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


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """On PostgreSQL (`UPLIFT_TEST_DATABASE=postgres`, dev.py test's second half), run only the
    tests that get their database from the fixtures above (their fixtures reach `postgres`):
    every other test does the same thing whatever the database, and ran in the SQLite half."""
    if not ON_POSTGRES:
        return
    kept: list[pytest.Item] = []
    other: list[pytest.Item] = []
    for item in items:
        (kept if "postgres" in getattr(item, "fixturenames", ()) else other).append(item)
    if other:
        config.hook.pytest_deselected(items=other)
        items[:] = kept
