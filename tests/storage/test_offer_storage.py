"""Offers, plans, customers, usage and audit rows survive the round trip through SQLite."""

from __future__ import annotations

import asyncio

import pytest

from plugin.billing.catalog import Plan
from plugin.offers.model import Copy, Offer, OfferVariant
from plugin.offers.schedule import OfferHistory
from plugin.offers.targeting import PlanIs
from plugin.storage import Database
from plugin.storage import audit as audit_store
from plugin.storage import customers as customer_store
from plugin.storage import offers as offer_store
from plugin.storage import plans as plan_store
from plugin.storage.steps import run
from plugin.timespan import DAY
from tests.support import NOW


def make_offer(offer_id: str = "offer_basic_to_pro", **overrides: object) -> Offer:
    values: dict[str, object] = {
        "id": offer_id,
        "name": "Basic to Pro",
        "kind": "upgrade",
        "variants": (OfferVariant("control", Copy(title="<b>Go Pro</b>")),),
        "target_prices": ("price_pro_monthly",),
        "placements": ("banner",),
        "status": "active",
        "targeting": PlanIs(("basic",)),
        "holdout_bp": 500,
    }
    values.update(overrides)
    return Offer(**values)  # type: ignore[arg-type]


async def test_offer_round_trips_and_bumps_the_snapshot_version(db: Database) -> None:
    """What is stored is what comes back; every change raises the version other processes poll."""
    offer = make_offer()
    async with db.transaction() as conn:
        created = await offer_store.insert(conn, offer=offer, now=NOW)
        duplicate = await offer_store.insert(conn, offer=offer, now=NOW)
    assert created is not None
    assert created.offer == offer
    assert duplicate is None
    async with db.transaction() as conn:
        paused = await offer_store.update(conn, offer=make_offer(status="paused"), now=NOW + 1)
        missing = await offer_store.update(conn, offer=make_offer("offer_nope"), now=NOW + 1)
    assert paused is not None
    assert paused.version > created.version
    assert missing is None
    async with db.read() as conn:
        assert await offer_store.snapshot_version(conn) == paused.version
        assert await offer_store.active(conn) == []
        fetched = await offer_store.get(conn, offer.id)
    assert fetched is not None
    assert fetched.offer.variants[0].copy.title == "<b>Go Pro</b>"


async def test_offer_pages_follow_ids(db: Database) -> None:
    """Lists page by id with one extra row telling whether there is more."""
    async with db.transaction() as conn:
        for i in range(5):
            await offer_store.insert(conn, offer=make_offer(f"offer_{i}"), now=NOW)
    async with db.read() as conn:
        first = await offer_store.page(conn, status="active", limit=2, after_id=None)
        rest = await offer_store.page(conn, status=None, limit=10, after_id="offer_1")
    assert [r.offer.id for r in first] == ["offer_0", "offer_1", "offer_2"]
    assert [r.offer.id for r in rest] == ["offer_2", "offer_3", "offer_4"]


async def test_first_assignment_is_sticky_even_when_racing(db: Database) -> None:
    """Two requests assigning at once keep one arm, the first recorded."""

    async def assign(arm: str) -> str:
        async with db.transaction() as conn:
            return await offer_store.assign(
                conn, offer_id="offer_x", customer_id="cust_1", arm=arm, now=NOW
            )

    results = await asyncio.gather(assign("a"), assign("b"), assign("holdout"))
    assert len(set(results)) == 1


async def test_customer_state_summarises_the_event_history(db: Database) -> None:
    """Impressions, dismissals, declines, accepts and arms become caps' inputs in one read."""
    events = [
        ("offer_a", "impression", NOW - 2 * DAY),
        ("offer_a", "impression", NOW - 60),
        ("offer_a", "dismiss", NOW - 30),
        ("offer_b", "decline", NOW - 200 * DAY),  # old declines still count
        ("offer_b", "decline", NOW - DAY),
        ("offer_c", "accept", NOW - 10),
        ("offer_c", "exposure", NOW - 20),
        ("offer_d", "impression", NOW - 100 * DAY),  # too old to matter
    ]
    async with db.transaction() as conn:
        for offer_id, kind, at in events:
            await offer_store.record_event(
                conn,
                offer_id=offer_id,
                customer_id="cust_1",
                arm="control",
                event_type=kind,
                now=at,
            )
        await offer_store.record_event(
            conn,
            offer_id="offer_a",
            customer_id="cust_2",
            arm="control",
            event_type="impression",
            now=NOW,
        )
        await offer_store.assign(
            conn, offer_id="offer_a", customer_id="cust_1", arm="bold", now=NOW
        )
    async with db.read() as conn:
        state = await offer_store.customer_state(conn, customer_id="cust_1", now=NOW)
    assert state.histories == {
        "offer_a": OfferHistory(impressions=(NOW - 2 * DAY, NOW - 60), last_dismissed_at=NOW - 30),
        "offer_b": OfferHistory(last_declined_at=NOW - DAY, declines=2),
        "offer_c": OfferHistory(accepted_at=NOW - 10),
    }
    assert state.recent_impressions == (NOW - 60,)
    assert state.assignments == {"offer_a": "bold"}


async def test_usage_is_idempotent_by_key(db: Database) -> None:
    """A retried usage report changes nothing; the same key with another body is refused."""

    async def report(key: str, value: int, mode: str, fingerprint: str) -> int:
        async with db.transaction() as conn:
            outcome = await run(
                conn,
                customer_store.apply_usage_steps(
                    customer_id="cust_1",
                    metric="storage_gb",
                    value=value,
                    mode=mode,  # type: ignore[arg-type]
                    idempotency_key=key,
                    fingerprint=fingerprint,
                    now=NOW,
                ),
            )
        return outcome.value

    assert await report("k1", 5, "set", "f1") == 5
    assert await report("k2", 3, "increment", "f2") == 8
    assert await report("k2", 3, "increment", "f2") == 8  # replayed
    with pytest.raises(customer_store.UsageKeyReused):
        await report("k2", 4, "increment", "f3")
    async with db.read() as conn:
        assert await customer_store.usage(conn, "cust_1") == {"storage_gb": 8}


async def test_customers_and_feature_hits(db: Database) -> None:
    """A customer upsert replaces attributes; feature hits keep the latest time."""
    async with db.transaction() as conn:
        await customer_store.upsert(
            conn,
            customer_id="cust_1",
            stripe_customer="cus_1",
            attrs={"a": 1},
            signup_at=None,
            now=NOW,
        )
        record = await customer_store.upsert(
            conn,
            customer_id="cust_1",
            stripe_customer="cus_1",
            attrs={"b": 2},
            signup_at=NOW,
            now=NOW + 1,
        )
        await customer_store.record_feature_hit(conn, customer_id="cust_1", feature="sso", now=NOW)
        await customer_store.record_feature_hit(
            conn, customer_id="cust_1", feature="sso", now=NOW - 5
        )
    assert record.attrs == {"b": 2}
    assert record.created_at == NOW
    assert record.updated_at == NOW + 1
    async with db.read() as conn:
        assert await customer_store.feature_hits(conn, "cust_1") == {"sso": NOW}
        assert await customer_store.stripe_customer_taken(
            conn, stripe_customer="cus_1", by_other_than="cust_2"
        )


async def test_plan_ladder_is_replaced_whole(db: Database) -> None:
    """PUT semantics: the new ladder is the whole ladder."""
    basic = Plan("basic", "Basic", 1, ("price_basic_m",), {"storage_gb": 10}, ("reports",))
    pro = Plan("pro", "Pro", 2, ("price_pro_m", "price_pro_y"), {"storage_gb": None})
    async with db.transaction() as conn:
        await plan_store.replace(conn, plans=[pro, basic], now=NOW)
        await plan_store.replace(conn, plans=[basic, pro], now=NOW)
    async with db.read() as conn:
        assert await plan_store.list_all(conn) == [basic, pro]
    assert await plan_store.for_prices(db, ["price_pro_y", "price_other"]) == {"price_pro_y": "pro"}


async def test_audit_log_pages_newest_first(db: Database) -> None:
    """Admins read what changed, newest first."""
    async with db.transaction() as conn:
        for i in range(3):
            await audit_store.record(
                conn,
                actor="ak_1",
                action="offer.update",
                target=f"offer_{i}",
                detail={"i": i},
                now=NOW + i,
            )
    async with db.read() as conn:
        first = await audit_store.page(conn, limit=2, before_seq=None)
        rest = await audit_store.page(conn, limit=2, before_seq=first[1].seq)
    assert [e.target for e in first] == ["offer_2", "offer_1", "offer_0"]
    assert [e.target for e in rest] == ["offer_0"]


async def test_a_batch_of_first_exposures_keeps_each_first_arm(db: Database) -> None:
    """Written a few hundred rows per statement: every customer gets their arm, and an arm
    already recorded (earlier, or earlier in the same batch) is kept."""
    async with db.transaction() as conn:
        await offer_store.insert(conn, offer=make_offer(), now=NOW)
        await offer_store.assign(
            conn, offer_id="offer_basic_to_pro", customer_id="cust_0", arm="holdout", now=NOW
        )
    batch = [("offer_basic_to_pro", f"cust_{n}", "control", NOW + 1) for n in range(1100)]
    batch.append(("offer_basic_to_pro", "cust_7", "holdout", NOW + 2))
    async with db.transaction() as conn:
        await offer_store.record_assignments(conn, batch)
        await offer_store.record_assignments(conn, [])
    async with db.read() as conn:
        arms = {
            row["customer_id"]: row["arm"]
            for row in await conn.fetch_all("SELECT customer_id, arm FROM offer_assignments")
        }
    assert len(arms) == 1100
    assert arms["cust_0"] == "holdout"
    assert arms["cust_7"] == arms["cust_1099"] == "control"
