"""The offer snapshot: reloaded when the configuration version moves, without making requests
wait for one another."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest

from plugin import storage
from plugin.offers.model import Copy, Offer, OfferVariant
from plugin.offers.snapshot import OfferSnapshot
from plugin.storage import Connection, Database, ReadWouldWait
from plugin.storage import audit as audit_store
from plugin.storage import offers as offer_store
from tests.factories import seed_catalog
from tests.support import NOW


def _offer(offer_id: str) -> Offer:
    return Offer(
        id=offer_id,
        name=offer_id,
        kind="upgrade",
        variants=(OfferVariant("control", Copy(title="Upgrade")),),
        target_prices=("price_pro_monthly",),
        placements=("banner",),
        status="active",
    )


async def _add_offer(db: Database, offer_id: str) -> None:
    """An admin change as the admin API makes it: the offer and its audit row."""
    async with db.transaction() as conn:
        await offer_store.insert(conn, offer=_offer(offer_id), now=NOW)
        await audit_store.record(
            conn, actor="test", action="offer.create", target=offer_id, detail={}, now=NOW
        )


class GatedReads:
    """The database, with reads that wait at a gate while `held` (a slow version check)."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self.held = False
        self.gate = asyncio.Event()
        self.waiting = asyncio.Event()

    @asynccontextmanager
    async def read(self) -> AsyncIterator[Connection]:
        if self.held:
            self.waiting.set()
            await self.gate.wait()
        async with self._db.read() as conn:
            yield conn

    def fetch_one_now(self, sql: str, params: dict[str, Any]) -> Any:
        """SQLite's read on the loop's thread, busy while the gate is held (so the check
        takes the pool and waits there); PostgreSQL has none: always the pool."""
        fetch = getattr(self._db, "fetch_one_now", None)
        if self.held or fetch is None:
            raise ReadWouldWait("held")
        return fetch(sql, params)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._db, name)


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    database = await storage.connect(database_url)
    await storage.migrations.apply(database, now=NOW)
    await seed_catalog(database)
    try:
        yield database
    finally:
        await database.close()


def _ids(offers: tuple[Offer, ...]) -> set[str]:
    return {o.id for o in offers}


async def test_a_slow_version_check_holds_up_no_other_request(db: Database) -> None:
    await _add_offer(db, "offer_a")
    gated = GatedReads(db)
    snapshots = OfferSnapshot(gated, poll_seconds=0)
    first = await snapshots.get()
    gated.held = True
    checking = asyncio.create_task(snapshots.get())  # due for a look; stuck in the read
    await gated.waiting.wait()
    # Everyone else is answered with the snapshot in hand, at once.
    for _ in range(3):
        assert await asyncio.wait_for(snapshots.get(), timeout=5) is first
    gated.gate.set()
    assert await checking is first  # the version did not move


async def test_a_change_made_elsewhere_is_picked_up_by_the_next_check(db: Database) -> None:
    await _add_offer(db, "offer_a")
    snapshots = OfferSnapshot(db, poll_seconds=0)
    assert _ids((await snapshots.get()).offers) == {"offer_a"}
    await _add_offer(db, "offer_b")  # as another process would, without `invalidate`
    assert _ids((await snapshots.get()).offers) == {"offer_a", "offer_b"}


async def test_an_own_change_during_a_slow_check_is_not_overwritten_by_it(db: Database) -> None:
    await _add_offer(db, "offer_a")
    gated = GatedReads(db)
    snapshots = OfferSnapshot(gated, poll_seconds=0)
    await snapshots.get()
    gated.held = True
    checking = asyncio.create_task(snapshots.get())
    await gated.waiting.wait()
    gated.held = False
    await _add_offer(db, "offer_b")
    snapshots.invalidate()  # what the admin API does after its change
    after = await snapshots.get()
    assert _ids(after.offers) == {"offer_a", "offer_b"}
    gated.gate.set()
    await checking
    assert _ids((await snapshots.get()).offers) == {"offer_a", "offer_b"}


async def test_requests_without_a_snapshot_share_one_load(db: Database) -> None:
    await _add_offer(db, "offer_a")
    snapshots = OfferSnapshot(db)
    loaded = await asyncio.gather(*(snapshots.get() for _ in range(5)))
    assert all(s is loaded[0] for s in loaded)
    assert _ids(loaded[0].offers) == {"offer_a"}


async def test_on_sqlite_the_version_check_needs_no_reader_thread(db: Database) -> None:
    """The once-a-second check reads on the loop's own thread (no hop to a reader thread, so
    no wait for the GIL under load); only a moved version costs a reload through the pool."""
    if db.dialect != "sqlite":
        pytest.skip("SQLite only: PostgreSQL reads through its pool")
    await _add_offer(db, "offer_a")
    counted = GatedReads(db)
    reads = 0
    pool_read = counted.read

    @asynccontextmanager
    async def read() -> AsyncIterator[Connection]:
        nonlocal reads
        reads += 1
        async with pool_read() as conn:
            yield conn

    counted.read = read  # type: ignore[method-assign]
    snapshots = OfferSnapshot(counted, poll_seconds=0)
    first = await snapshots.get()
    reads = 0
    for _ in range(3):
        assert await snapshots.get() is first
    assert reads == 0
    await _add_offer(db, "offer_b")
    assert _ids((await snapshots.get()).offers) == {"offer_a", "offer_b"}
