"""Writes that share a transaction (`Database.write`, plugin/storage/steps.py): made together
they leave the state that one at a time would, a write that fails is undone alone, a caller
gone before its batch began writes nothing, and a server killed mid-load keeps every write it
answered."""

from __future__ import annotations

import asyncio
import signal
import sqlite3  # noqa: TID251 -- the test reads the killed server's file directly
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from plugin.clock import SystemClock
from plugin.storage import Database
from plugin.storage import offers as offer_store
from plugin.storage.steps import Steps, run
from tests.conftest import Served
from tests.factories import ADMIN, customer_headers
from tests.support import ADMIN_KEY, NOW, ON_POSTGRES, WIDGET_SECRET

sqlite_only = pytest.mark.skipif(ON_POSTGRES, reason="SQLite's shared write transactions")


class Refused(Exception):
    pass


def _impression(offer: str, customer: str, arm: str, *, refuse: bool) -> Steps[str]:
    """What a widget event writes: the first exposure, then the event when the arm is the
    customer's; `refuse` raises after both were written."""
    found = yield from offer_store.assign_steps(
        offer_id=offer, customer_id=customer, arm=arm, now=NOW
    )
    if found != arm:
        return found
    yield from offer_store.record_event_steps(
        offer_id=offer, customer_id=customer, arm=arm, event_type="impression", now=NOW
    )
    if refuse:
        raise Refused(customer)
    return found


# (customer, arm, refuse): c0 was shown arm b before; r1 and r2 refuse after writing.
WRITES = [(f"c{n % 12}", "a", False) for n in range(40)]
WRITES[5:5] = [("r1", "a", True)]
WRITES[20:20] = [("r2", "a", True)]


async def _state(db: Database, offer: str) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    async with db.read() as conn:
        assigned = await conn.fetch_all(
            "SELECT customer_id, arm FROM offer_assignments WHERE offer_id = :o", {"o": offer}
        )
        events = await conn.fetch_all(
            "SELECT customer_id, arm FROM offer_events WHERE offer_id = :o", {"o": offer}
        )
    return (
        sorted((r["customer_id"], r["arm"]) for r in assigned),
        sorted((r["customer_id"], r["arm"]) for r in events),
    )


async def test_writes_made_together_leave_the_state_one_at_a_time_would(db: Database) -> None:
    for offer in ("offer_together", "offer_alone"):
        async with db.transaction() as conn:
            await offer_store.assign(conn, offer_id=offer, customer_id="c0", arm="b", now=NOW)
    together = await asyncio.gather(
        *(db.write(_impression("offer_together", c, arm, refuse=r)) for c, arm, r in WRITES),
        return_exceptions=True,
    )
    alone: list[str | BaseException] = []
    for customer, arm, refuse in WRITES:
        try:
            async with db.transaction() as conn:
                alone.append(
                    await run(conn, _impression("offer_alone", customer, arm, refuse=refuse))
                )
        except Refused as exc:
            alone.append(exc)
    assert [repr(r) for r in together] == [repr(r) for r in alone]
    assert await _state(db, "offer_together") == await _state(db, "offer_alone")
    assigned, events = await _state(db, "offer_together")
    assert ("c0", "b") in assigned  # the first recorded arm stays
    assert not {"r1", "r2"} & {customer for customer, _ in assigned}  # undone, alone
    assert len(events) == 40 - 4  # c0's four write nothing; every other one its event


@sqlite_only
async def test_a_caller_gone_before_its_batch_began_writes_nothing(db: Database) -> None:
    async with db.transaction():  # the write lock: the batch cannot begin
        gone = asyncio.ensure_future(db.write(_impression("offer_gone", "c1", "a", refuse=False)))
        await asyncio.sleep(0.05)
        gone.cancel()
    kept = await db.write(_impression("offer_gone", "c2", "a", refuse=False))
    assert kept == "a"
    assert gone.cancelled()
    assert await _state(db, "offer_gone") == ([("c2", "a")], [("c2", "a")])


OFFER = {
    "id": "offer_batched", "name": "Stay", "kind": "retention", "status": "active",
    "placements": ["downgrade"], "variants": [{"key": "a", "copy": {"title": "Before you go"}}],
}  # fmt: skip


@pytest.mark.e2e
@sqlite_only
def test_a_killed_server_keeps_every_write_it_answered(
    serve: Callable[..., Served], new_database_url: Callable[..., str]
) -> None:
    url = new_database_url("killed.db", migrated=False)
    server = serve(database_url=url, admin_key=ADMIN_KEY, widget_secret=WIDGET_SECRET)
    made = httpx.post(f"{server.url}/api/v1/admin/offers", json=OFFER, headers=ADMIN)
    assert made.status_code == 201, made.text
    answered: list[str] = []
    limits = httpx.Limits(max_connections=32, max_keepalive_connections=32)
    client = httpx.Client(base_url=server.url, timeout=10, limits=limits)

    def impression(n: int) -> None:
        customer = f"k{n}"
        event = {"offer_id": OFFER["id"], "variant": "a", "type": "impression"}
        headers = customer_headers(customer, now=SystemClock().now())
        try:
            posted = client.post("/api/v1/widget/events", json=event, headers=headers)
        except httpx.TransportError:
            return  # the server died first: no answer, no promise
        if posted.status_code == 201:
            answered.append(customer)
        if len(answered) == 150:
            server.process.send_signal(signal.SIGKILL)

    with client, ThreadPoolExecutor(max_workers=32) as pool:
        list(pool.map(impression, range(600)))
    server.process.wait(10)
    assert len(answered) >= 150
    with sqlite3.connect(url.removeprefix("sqlite+aiosqlite:///")) as conn:
        stored = {row[0] for row in conn.execute("SELECT customer_id FROM offer_events")}
    assert set(answered) <= stored
