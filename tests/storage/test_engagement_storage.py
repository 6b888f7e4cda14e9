"""Engagement counts: per customer, name and UTC day, bounded in days and in names."""

from __future__ import annotations

import pytest

from plugin.storage import Database, engagement
from plugin.storage import customers as customer_store
from plugin.storage.engagement import MAX_NAMES, EventKeyReused, TooManyEventNames
from plugin.storage.steps import run
from plugin.timespan import DAY
from tests.support import NOW

TODAY = NOW // DAY


async def _event(
    db: Database, name: str, *, key: str, count: int = 1, at: int = NOW, now: int = NOW
) -> engagement.EventOutcome:
    steps = engagement.record_event_steps(
        customer_id="acme", name=name, count=count, occurred_at=at,
        idempotency_key=key, fingerprint=f"{name}:{count}:{at}", now=now,
    )  # fmt: skip
    return await db.write(steps)


async def _facts(db: Database, *, now: int = NOW) -> customer_store.TargetingFacts:
    async with db.read() as conn:
        return await customer_store.targeting_facts(
            conn, customer_id="acme", token_stripe_customer=None, since=now - 90 * DAY
        )


async def test_events_add_up_per_utc_day(db: Database) -> None:
    """Reports on one day add to one count; another day is another count; the targeting
    facts carry them by day."""
    await _event(db, "login", key="k1", count=2)
    await _event(db, "login", key="k2", count=3, at=NOW + DAY - 1)  # still today
    await _event(db, "login", key="k3", at=NOW - 1)  # yesterday, its last second
    await _event(db, "project_created", key="k4")
    facts = await _facts(db)
    assert facts.event_counts == {
        "login": ((TODAY - 1, 1), (TODAY, 5)),
        "project_created": ((TODAY, 1),),
    }
    assert facts.feature_counts == {}


async def test_a_replayed_key_counts_nothing_and_another_body_is_refused(db: Database) -> None:
    """The same key replays the first outcome; the same key with another body raises and
    changes nothing."""
    first = await _event(db, "login", key="k1", count=2, at=NOW - 60)
    again = await _event(db, "login", key="k1", count=2, at=NOW - 60, now=NOW + 5)
    assert (first.replayed, again.replayed) == (False, True)
    assert again.occurred_at == NOW - 60
    with pytest.raises(EventKeyReused):
        await _event(db, "login", key="k1", count=9)
    assert (await _facts(db)).event_counts == {"login": ((TODAY - 1, 2),)}  # NOW is midnight


async def test_keys_are_forgotten_after_a_day(db: Database) -> None:
    """A key is remembered 24 hours; then the same key counts again."""
    await _event(db, "login", key="k1")
    await _event(db, "login", key="k1", now=NOW + DAY + 1)
    assert (await _facts(db, now=NOW + DAY + 1)).event_counts == {"login": ((TODAY, 2),)}


async def test_counts_older_than_the_retention_are_deleted_on_the_next_write(
    db: Database,
) -> None:
    """90 days, today included: a write 90 days later deletes the first day's rows."""
    await _event(db, "login", key="k1")
    later = NOW + 89 * DAY
    await _event(db, "login", key="k2", now=later, at=later)
    async with db.read() as conn:
        rows = await conn.fetch_all("SELECT day FROM engagement_counts ORDER BY day")
    assert [r["day"] for r in rows] == [TODAY, TODAY + 89]
    await _event(db, "login", key="k3", now=later + DAY, at=later + DAY)
    async with db.read() as conn:
        rows = await conn.fetch_all("SELECT day FROM engagement_counts ORDER BY day")
    assert [r["day"] for r in rows] == [TODAY + 89, TODAY + 90]


async def test_a_customer_has_at_most_fifty_event_names(db: Database) -> None:
    """The 51st name is refused, with nothing written (its key neither); known names still
    count, and names older than the retention make room again."""
    for n in range(MAX_NAMES):
        await _event(db, f"event_{n}", key=f"k{n}")
    with pytest.raises(TooManyEventNames) as refused:
        await _event(db, "one_more", key="k-more")
    assert refused.value.field == "event"
    await _event(db, "event_0", key="k-again")
    facts = await _facts(db)
    assert len(facts.event_counts) == MAX_NAMES
    assert facts.event_counts["event_0"] == ((TODAY, 2),)
    async with db.read() as conn:
        keys = await conn.fetch_value(
            "SELECT count(*) FROM event_requests WHERE idempotency_key = 'k-more'"
        )
    assert keys == 0
    later = NOW + 90 * DAY
    await _event(db, "one_more", key="k-later", now=later, at=later)
    assert (await _facts(db, now=later)).event_counts == {"one_more": ((TODAY + 90, 1),)}


async def test_feature_hits_are_counted_per_day_beside_their_last_hit(db: Database) -> None:
    """Each hit adds one to today's count; past the fifty features counted, a hit is still
    its last hit but is not counted."""
    async with db.transaction() as conn:
        for at in (NOW, NOW + 10, NOW + DAY):
            await customer_store.record_feature_hit(conn, customer_id="acme", feature="sso", now=at)
        for n in range(MAX_NAMES):
            await customer_store.record_feature_hit(
                conn, customer_id="acme", feature=f"f{n}", now=NOW
            )
    facts = await _facts(db, now=NOW + DAY)
    assert facts.feature_counts["sso"] == ((TODAY, 2), (TODAY + 1, 1))
    assert len(facts.feature_counts) == MAX_NAMES
    assert "f49" not in facts.feature_counts
    assert facts.feature_hits["f49"] == NOW
    assert facts.event_counts == {}


async def test_the_population_reads_the_counts_as_the_offers_endpoint_does(
    db: Database,
) -> None:
    """The audience's read of every customer carries the same daily counts."""
    async with db.transaction() as conn:
        await customer_store.upsert(
            conn, customer_id="acme", stripe_customer=None, attrs={}, signup_at=None, now=NOW
        )
        await run(
            conn,
            customer_store.record_feature_hit_steps(customer_id="acme", feature="sso", now=NOW),
        )
    await _event(db, "login", key="k1", count=4)
    async with db.read() as conn:
        (everyone,) = await customer_store.population(conn, since=NOW - 90 * DAY)
    assert everyone.event_counts == (await _facts(db)).event_counts == {"login": ((TODAY, 4),)}
    assert everyone.feature_counts == {"sso": ((TODAY, 1),)}
