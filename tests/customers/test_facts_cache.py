"""The offers endpoint's cache of customer facts never shows what a committed write changed."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest

from plugin import storage
from plugin.auth import CustomerIdentity
from plugin.billing.catalog import Plan
from plugin.customers import facts as facts_cache
from plugin.customers import view as customers
from plugin.customers.facts import FactsCache, TrackedDatabase
from plugin.customers.view import CustomerView
from plugin.offers import eligibility
from plugin.offers.eligibility import CustomerState
from plugin.offers.exposures import ExposureRecorder
from plugin.offers.model import Copy, Offer, OfferVariant
from plugin.offers.snapshot import OfferSnapshot
from plugin.offers.targeting import UsageAtLeast
from plugin.settings import SQLITE_PREFIX
from plugin.storage import Database
from plugin.storage import customers as customer_store
from plugin.storage import engagement as engagement_store
from plugin.storage import offers as offer_store
from plugin.storage import plans as plan_store
from plugin.storage.steps import run
from tests.factories import seed_catalog, subscribe
from tests.support import NOW

DAY = 86_400

ACME = CustomerIdentity(customer_id="acme", expires_at=NOW + 3600)
OTHER = CustomerIdentity(customer_id="other", expires_at=NOW + 3600)
NEAR_FULL = Offer(
    id="offer_more_storage",
    name="More storage",
    kind="upgrade",
    variants=(OfferVariant("control", Copy(title="Upgrade")),),
    target_prices=("price_pro_monthly",),
    placements=("banner",),
    status="active",
    targeting=UsageAtLeast("storage_gb", 80),
)


async def _setup(db: Database) -> None:
    await seed_catalog(db)
    async with db.transaction() as conn:
        await plan_store.replace(
            conn,
            plans=[
                Plan("basic", "Basic", 1, ("price_basic_monthly",), {"storage_gb": 10}),
                Plan("pro", "Pro", 2, ("price_pro_monthly",), {"storage_gb": 100}),
            ],
            now=NOW,
        )
        for customer, cus in (("acme", "cus_acme"), ("other", "cus_other")):
            await customer_store.upsert(
                conn, customer_id=customer, stripe_customer=cus, attrs={}, signup_at=None, now=NOW
            )
            await _set_usage(conn, customer, 9)
    await subscribe(db, stripe_customer="cus_acme", price_id="price_basic_monthly")
    await subscribe(db, stripe_customer="cus_other", price_id="price_basic_monthly")


async def _set_usage(conn: storage.Connection, customer: str, value: int) -> None:
    await run(conn, customer_store.apply_usage_steps(
        customer_id=customer, metric="storage_gb", value=value, mode="set",
        idempotency_key=f"k-{customer}-{value}", fingerprint=str(value), now=NOW,
    ))  # fmt: skip


async def _open(url: str, *, shared: bool) -> Database:
    return facts_cache.tracked(await storage.connect(url), database_url=url, shared=shared)


def _cache(db: Database) -> FactsCache:
    assert isinstance(db, TrackedDatabase)
    return db.facts


async def _view(db: Database, who: CustomerIdentity = ACME, now: int = NOW) -> CustomerView:
    snapshot = await OfferSnapshot(db).get()
    return await customers.view(db, identity=who, snapshot=snapshot, now=now)


def _sees_offer(view: CustomerView) -> bool:
    state = CustomerState(view.context, assignments=view.offer_state.assignments)
    result = eligibility.evaluate([NEAR_FULL], state, placement="banner", now=NOW)
    return bool(result.shown)


async def test_a_second_look_at_a_customer_is_served_from_memory(tracked: Database) -> None:
    first = await _view(tracked)
    hits = _cache(tracked).hits
    assert await _view(tracked) == first
    assert _cache(tracked).hits == hits + 1


async def test_usage_written_in_this_process_changes_the_offer_at_once(
    tracked: Database,
) -> None:
    """At 9 of 10 GB the offer shows; after usage drops to 2 GB it must not, not even once."""
    assert _sees_offer(await _view(tracked))
    async with tracked.transaction() as conn:
        await _set_usage(conn, "acme", 2)
    view = await _view(tracked)
    assert view.context.usage["storage_gb"] == 2
    assert not _sees_offer(view)


async def test_events_and_feature_hits_written_in_this_process_are_counted_at_once(
    tracked: Database,
) -> None:
    """A cached customer's next look carries the event and feature counts just written
    (`POST /api/v1/events`' and `POST /api/v1/feature-events`' writes)."""
    first = await _view(tracked)
    assert (first.context.events, first.context.feature_counts) == ({}, {})
    assert await _view(tracked) == first  # kept
    await tracked.write(
        engagement_store.record_event_steps(
            customer_id="acme", name="login", count=4, occurred_at=NOW, idempotency_key="e1",
            fingerprint="f", now=NOW,
        )
    )  # fmt: skip
    assert (await _view(tracked)).context.events == {"login": ((NOW // DAY, 4),)}
    await tracked.write(
        customer_store.record_feature_hit_steps(customer_id="acme", feature="sso", now=NOW)
    )
    assert (await _view(tracked)).context.feature_counts == {"sso": ((NOW // DAY, 1),)}


async def test_a_plan_change_mirrored_from_stripe_is_seen_at_once(tracked: Database) -> None:
    """A subscription write names only the Stripe customer; the cache still drops the entry."""
    assert (await _view(tracked)).context.plan.plan == "basic"
    await subscribe(tracked, stripe_customer="cus_acme", price_id="price_pro_monthly")
    assert (await _view(tracked)).context.plan.plan == "pro"


async def test_a_first_exposure_written_in_a_batch_is_seen_after_it_lands(
    tracked: Database,
) -> None:
    assert (await _view(tracked)).offer_state.assignments == {}
    recorder = ExposureRecorder(db=tracked)
    recorder.start()
    try:
        await recorder.record(offer_id="offer_more_storage", customer_id="acme", arm="control",
                              now=NOW)  # fmt: skip
        await recorder.flush()
    finally:
        await recorder.stop()
    view = await _view(tracked)
    assert view.offer_state.assignments == {"offer_more_storage": "control"}


async def test_a_write_for_one_customer_keeps_the_others_cached(tracked: Database) -> None:
    await _view(tracked, OTHER)
    async with tracked.transaction() as conn:
        await _set_usage(conn, "acme", 1)
    hits = _cache(tracked).hits
    await _view(tracked, OTHER)
    assert _cache(tracked).hits == hits + 1


async def test_a_transaction_that_only_takes_a_lock_keeps_everyone_cached(
    tracked: Database,
) -> None:
    """Taking a named lock (admin changes, usage keys) writes nothing: the cache stays."""
    await _view(tracked)
    async with tracked.transaction() as conn:
        await conn.lock("plans")
        assert conn.dialect == (await _dialect(tracked))
    hits = _cache(tracked).hits
    await _view(tracked)
    assert _cache(tracked).hits == hits + 1


async def _dialect(db: Database) -> object:
    async with db.read() as conn:
        return conn.dialect


async def test_facts_read_while_a_write_committed_are_not_kept(tracked: Database) -> None:
    """A read that overlapped a commit may hold the old facts: used once, never kept."""
    cache = _cache(tracked)
    read = cache.begin_read()  # a read begins…
    stale = await _facts_of(tracked)
    async with tracked.transaction() as conn:  # …and a write for the customer commits
        await _set_usage(conn, "acme", 2)
    cache.put(("acme", None), facts_cache.Entry(stale, since=0, read_at=0.0), read=read)
    assert cache.get(("acme", None), now=0.0) is None


async def test_facts_read_while_a_write_about_someone_else_committed_are_kept(
    tracked: Database,
) -> None:
    """While first exposures are written for other customers (a new offer going live), the
    customers read meanwhile are still cached: only a commit naming them spoils their read."""
    cache = _cache(tracked)
    read = cache.begin_read()
    facts = await _facts_of(tracked)
    async with tracked.transaction() as conn:
        await _set_usage(conn, "other", 2)
    cache.put(("acme", None), facts_cache.Entry(facts, since=0, read_at=0.0), read=read)
    assert cache.get(("acme", None), now=0.0) is not None


async def test_facts_read_while_another_process_committed_are_not_kept(
    database_url: str,
) -> None:
    """The file changed under a read (another process): it may be stale, so it is not kept."""
    async with _with_another_writer(database_url, shared=False) as (db, other):
        cache = _cache(db)
        cache.notice_other_writers()
        read = cache.begin_read()
        stale = await _facts_of(db)
        async with other.transaction() as conn:
            await _set_usage(conn, "acme", 3)
        cache.notice_other_writers()
        cache.put(("acme", None), facts_cache.Entry(stale, since=0, read_at=0.0), read=read)
        assert cache.get(("acme", None), now=0.0) is None


@asynccontextmanager
async def _with_another_writer(
    database_url: str, *, shared: bool
) -> AsyncIterator[tuple[Database, Database]]:
    """This process's tracked database, set up, and another connection to the same SQLite
    file (as `--workers 2` or the CLI would write); skips on PostgreSQL."""
    if not database_url.startswith(SQLITE_PREFIX):
        pytest.skip("watching for other writers is SQLite's (PostgreSQL: no cache when shared)")
    db = await _open(database_url, shared=shared)
    other = await storage.connect(database_url)
    try:
        await storage.migrations.apply(db, now=NOW)
        await _setup(db)
        yield db, other
    finally:
        await other.close()
        await db.close()


async def test_an_own_transaction_in_progress_does_not_empty_the_cache(
    database_url: str,
) -> None:
    """Alone on the file, the marker moves while this process's own transaction runs (its
    commit, a WAL restart); the cache keeps everyone its end does not name."""
    if not database_url.startswith(SQLITE_PREFIX):
        pytest.skip("watching for other writers is SQLite's")
    db = await _open(database_url, shared=False)
    try:
        await storage.migrations.apply(db, now=NOW)
        await _setup(db)
        await _view(db, OTHER)
        cache = _cache(db)
        async with db.transaction() as conn:
            await _set_usage(conn, "acme", 4)
            await asyncio.sleep(facts_cache.CHECK_EVERY)
            now = asyncio.get_running_loop().time()  # a look at the file is due: skipped
            assert cache.get(("other", None), now=now) is not None
        hits = cache.hits
        await _view(db, OTHER)
        assert cache.hits == hits + 1
        assert (await _view(db)).context.usage["storage_gb"] == 4
    finally:
        await db.close()


async def _facts_of(db: Database) -> customer_store.TargetingFacts:
    async with db.read() as conn:
        return await customer_store.targeting_facts(
            conn, customer_id="acme", token_stripe_customer=None, since=0
        )


@pytest.mark.parametrize("shared", [False, True], ids=["alone", "workers"])
async def test_a_commit_by_another_process_is_seen(database_url: str, shared: bool) -> None:
    """Another process (here: another connection, as `--workers 2` or the CLI would write)
    changes usage; the cache notices the file changed and reads again: with workers at the
    next request, alone within `CHECK_EVERY`."""
    async with _with_another_writer(database_url, shared=shared) as (db, other):
        assert _sees_offer(await _view(db))
        async with other.transaction() as conn:
            await _set_usage(conn, "acme", 3)
        if not shared:  # alone, the file is looked at every CHECK_EVERY seconds at most
            await asyncio.sleep(facts_cache.CHECK_EVERY)
        assert not _sees_offer(await _view(db))


async def test_several_instances_on_postgresql_read_every_time(database_url: str) -> None:
    """Nothing as cheap as a file to watch: shared PostgreSQL is read on every request."""
    raw = await storage.connect(database_url)
    try:
        db = facts_cache.tracked(raw, database_url="postgresql+asyncpg://db/uplift", shared=True)
        assert not _cache(db).enabled
    finally:
        await raw.close()


async def test_impressions_leave_the_daily_cap_as_they_age_while_cached(
    tracked: Database,
) -> None:
    """The cached histories are reused; the last 24 hours are counted again at every look."""
    async with tracked.transaction() as conn:
        await offer_store.record_event(
            conn, offer_id="offer_more_storage", customer_id="acme", arm="control",
            event_type="impression", now=NOW - 100,
        )  # fmt: skip
    assert (await _view(tracked)).offer_state.recent_impressions == (NOW - 100,)
    hits = _cache(tracked).hits
    later = await _view(tracked, now=NOW + DAY)
    assert _cache(tracked).hits == hits + 1
    assert later.offer_state.recent_impressions == ()
    assert later.offer_state.histories["offer_more_storage"].impressions == (NOW - 100,)


async def test_cached_history_past_the_cut_off_drops_out_as_a_new_read_would(
    tracked: Database,
) -> None:
    """Impressions older than the history window leave; declines stay, as the statement
    keeps them: the cached facts answer exactly what a fresh read would."""
    async with tracked.transaction() as conn:
        for event_type in ("impression", "decline"):
            await offer_store.record_event(
                conn, offer_id="offer_more_storage", customer_id="acme", arm="control",
                event_type=event_type, now=NOW - 100,
            )  # fmt: skip
    await _view(tracked)
    later = NOW + offer_store.HISTORY_DAYS * DAY
    cached = await _view(tracked, now=later)
    _cache(tracked).clear()
    fresh = await _view(tracked, now=later)
    assert cached == fresh
    history = cached.offer_state.histories["offer_more_storage"]
    assert history.impressions == ()
    assert history.declines == 1


async def test_facts_read_on_the_loop_thread_are_the_pools_facts(tracked: Database) -> None:
    """SQLite answers the facts statement on the event loop's thread; the result is the same
    as the reader pool's (PostgreSQL has no such read and always uses the pool)."""
    now_read = customer_store.targeting_facts_now(
        tracked, customer_id="acme", token_stripe_customer=None, since=0
    )
    if tracked.dialect != "sqlite":
        assert now_read is None
        return
    assert now_read == await _facts_of(tracked)
    async with tracked.transaction() as conn:
        await _set_usage(conn, "acme", 7)
    again = customer_store.targeting_facts_now(
        tracked, customer_id="acme", token_stripe_customer=None, since=0
    )
    assert again is not None
    assert again.usage["storage_gb"] == 7


async def test_a_busy_database_is_read_through_the_pool(
    tracked: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    def busy(sql: str, params: object) -> None:
        raise storage.ReadWouldWait("database is locked")

    monkeypatch.setattr(tracked, "fetch_one_now", busy, raising=False)
    view = await _view(tracked)
    assert view.context.usage["storage_gb"] == 9


async def test_a_cached_customer_with_a_new_token_gets_the_new_tokens_attributes(
    tracked: Database,
) -> None:
    """The targeting context is kept with the cached facts for the token it was made from;
    another token for the same customer (other claims) makes its own."""
    snapshot = await OfferSnapshot(tracked).get()
    first = await customers.view(tracked, identity=ACME, snapshot=snapshot, now=NOW)
    assert "industry" not in first.context.attrs
    again = await customers.view(tracked, identity=ACME, snapshot=snapshot, now=NOW)
    assert again.context is first.context  # reused
    retail = CustomerIdentity(customer_id="acme", expires_at=NOW + 60, attrs={"industry": "retail"})
    view = await customers.view(tracked, identity=retail, snapshot=snapshot, now=NOW)
    assert view.context.attrs["industry"] == "retail"


async def test_a_cached_customer_after_a_plan_ladder_change_is_placed_on_the_new_ladder(
    tracked: Database,
) -> None:
    snapshots = OfferSnapshot(tracked)
    before = await customers.view(tracked, identity=ACME, snapshot=await snapshots.get(), now=NOW)
    assert before.plan is not None
    assert before.plan.id == "basic"
    async with tracked.transaction() as conn:
        await plan_store.replace(
            conn,
            plans=[Plan("starter", "Starter", 1, ("price_basic_monthly",), {"storage_gb": 50})],
            now=NOW,
        )
    snapshots.invalidate()
    after = await customers.view(tracked, identity=ACME, snapshot=await snapshots.get(), now=NOW)
    assert after.plan is not None
    assert after.plan.id == "starter"
    assert after.context.plan.limits == {"storage_gb": 50}
