"""The population the audience counts is kept between requests and never misses a committed
write: each one re-reads only the customers it names, and a fresh read agrees with it."""

from __future__ import annotations

import asyncio

from plugin import storage
from plugin.customers import facts as facts_cache
from plugin.customers.population import Population
from plugin.offers.snapshot import OfferSnapshot
from plugin.storage import Database
from plugin.storage import customers as customer_store
from plugin.storage import offers as offer_store
from tests.customers.test_facts_cache import _set_usage
from tests.factories import subscribe
from tests.support import NOW


async def _read(
    population: Population, db: Database, now: int = NOW
) -> dict[str, tuple[object, ...]]:
    snapshot = await OfferSnapshot(db).get()
    states = await population.read(
        db, snapshot=snapshot, now=now, loop_time=asyncio.get_running_loop().time()
    )
    return {
        s.context.customer_id: (
            s.context.plan.plan,
            dict(s.context.usage),
            {k: v.impressions for k, v in s.histories.items()},
        )
        for s in states
    }


async def test_writes_are_seen_at_once_and_only_their_customers_read_again(
    tracked: Database,
) -> None:
    kept = Population()
    assert (await _read(kept, tracked)).keys() == {"acme", "other"}
    async with tracked.transaction() as conn:
        await _set_usage(conn, "acme", 2)
    assert (await _read(kept, tracked))["acme"][1] == {"storage_gb": 2}
    async with tracked.transaction() as conn:
        await customer_store.upsert(
            conn, customer_id="newbie", stripe_customer=None, attrs={}, signup_at=None, now=NOW
        )
    assert "newbie" in await _read(kept, tracked)
    await subscribe(tracked, stripe_customer="cus_other", price_id="price_pro_monthly")
    async with tracked.transaction() as conn:
        await offer_store.record_event(
            conn, offer_id="offer_x", customer_id="other", arm="control",
            event_type="impression", now=NOW,
        )  # fmt: skip
    seen = await _read(kept, tracked)
    assert seen["other"][0] == "pro"
    assert seen["other"][2] == {"offer_x": (NOW,)}
    assert (kept.whole_reads, kept.reads) == (1, 4)
    assert seen == await _read(Population(), tracked)


async def test_a_write_from_another_process_reads_everyone_again(
    tracked: Database, database_url: str
) -> None:
    kept = Population()
    await _read(kept, tracked)
    if not database_url.startswith("sqlite"):
        return  # nothing to watch on PostgreSQL: several instances do not keep the population
    other = await storage.connect(database_url)
    try:
        async with other.transaction() as conn:
            await _set_usage(conn, "other", 1)
    finally:
        await other.close()
    await asyncio.sleep(facts_cache.CHECK_EVERY)  # alone on the file, it looks this often
    assert (await _read(kept, tracked))["other"][1] == {"storage_gb": 1}
    assert kept.whole_reads == 2


async def test_history_older_than_the_window_drops_out_as_time_passes(tracked: Database) -> None:
    async with tracked.transaction() as conn:
        await offer_store.record_event(
            conn, offer_id="offer_x", customer_id="acme", arm="control",
            event_type="impression", now=NOW,
        )  # fmt: skip
    kept = Population()
    assert (await _read(kept, tracked))["acme"][2] == {"offer_x": (NOW,)}
    later = NOW + (offer_store.HISTORY_DAYS + 1) * 86_400
    assert (await _read(kept, tracked, now=later))["acme"][2] == {}
    assert await _read(kept, tracked, now=later) == await _read(Population(), tracked, now=later)
