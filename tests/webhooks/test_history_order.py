"""The MRR ledger is derived from each subscription's history in Stripe's order, so it is the same
whatever order Stripe delivers the events in, and however often (docs/reliability.md rule 4)."""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from plugin import storage
from plugin.billing import ledger
from plugin.billing.mirror import MirrorItem, MirrorSubscription
from plugin.clock import FixedClock
from plugin.settings import Settings
from plugin.storage import Database
from plugin.storage import stripe_events as store
from plugin.webhooks.worker import Worker
from tests.support import NOW
from tests.webhooks import factories as f

_ids = itertools.count()

STATUSES = ("active", "past_due", "trialing", "incomplete", "canceled")
PRICES = {
    "basic": f.price("price_basic", unit_amount=2900),
    "pro": f.price("price_pro", unit_amount=9900),
    "team": f.price("price_team", unit_amount=24900),
    "annual": f.price("price_annual", unit_amount=99000, interval="year"),
}

State = tuple[str, str, int]  # status, price, quantity


def _events(sub: str, states: list[State], times: list[int]) -> list[dict[str, Any]]:
    events = []
    for n, ((status, price, quantity), at) in enumerate(zip(states, times, strict=True)):
        kind = "created" if n == 0 else "deleted" if status == "canceled" else "updated"
        obj = f.subscription(
            sub, status=status, price_obj=PRICES[price], quantity=quantity, item_id=f"si_{sub}"
        )
        events.append(
            f.event(f"customer.subscription.{kind}", obj, id=f"evt_{sub}_{n}", created=at)
        )
    return events


async def _deliver(db: Database, events: list[dict[str, Any]]) -> None:
    """Store the events in this order (as if received so) and let the worker process them."""
    for document in events:
        await store.insert(
            db,
            event=store.NewEvent(
                id=document["id"],
                type=document["type"],
                object_id=document["data"]["object"]["id"],
                created=document["created"],
                livemode=False,
                payload=f.body(document).decode(),
                received_at=NOW,
            ),
        )
        # One at a time: the next delivery arrives after this one was processed.
        await Worker(db=db, gateway=None, clock=FixedClock(NOW)).run_once()


async def _ledger(db: Database, sub: str) -> list[tuple[str, int, int]]:
    movements = await storage.mrr.list_movements(db, subscription_id=sub)
    return [(m.kind, m.amount, m.occurred_at) for m in movements]


async def _run(url: str, states: list[State], order: list[int], repeats: list[int]) -> None:
    db = await storage.connect(url)
    try:
        await storage.migrations.apply(db, now=NOW)
        n = next(_ids)
        times = [NOW + 60 * i for i in range(len(states))]
        in_order, shuffled = f"sub_inorder{n}", f"sub_shuffled{n}"
        await _deliver(db, _events(in_order, states, times))
        events = _events(shuffled, states, times)
        await _deliver(db, [events[i] for i in order] + [events[i] for i in repeats])

        expected = await _ledger(db, in_order)
        assert await _ledger(db, shuffled) == expected
        mirrored = await storage.subscriptions.get(db, shuffled)
        assert mirrored is not None
        final = states[-1]
        assert (mirrored.status, mirrored.items[0].price_id, mirrored.items[0].quantity) == (
            final[0],
            PRICES[final[1]]["id"],
            final[2],
        )
        # The movements add up to the MRR the subscription has now.
        assert sum(amount for _, amount, _ in expected) == mirrored.mrr()
    finally:
        await db.close()


@st.composite
def _histories(draw: st.DrawFn) -> tuple[list[State], list[int], list[int]]:
    states = draw(
        st.lists(
            st.tuples(
                st.sampled_from(STATUSES), st.sampled_from(sorted(PRICES)), st.integers(1, 4)
            ),
            min_size=1,
            max_size=6,
        )
    )
    order = draw(st.permutations(range(len(states))))
    repeats = draw(st.lists(st.integers(0, len(states) - 1), max_size=3))
    return states, list(order), repeats


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(_histories())
def test_ledger_is_the_same_whatever_the_delivery_order_and_duplicates(
    settings: Settings, history: tuple[list[State], list[int], list[int]]
) -> None:
    states, order, repeats = history
    asyncio.run(_run(settings.database_url, states, order, repeats))


async def test_plan_changes_delivered_newest_first_record_each_change(db: Database) -> None:
    """pro → team → basic, delivered newest first: +15000 then -22000, not one -7000."""
    states: list[State] = [("active", "pro", 1), ("active", "team", 1), ("active", "basic", 1)]
    times = [NOW, NOW + 60, NOW + 120]
    events = _events("sub_newest_first", states, times)
    await _deliver(db, list(reversed(events)))
    assert await _ledger(db, "sub_newest_first") == [
        ("new", 9900, NOW),
        ("expansion", 15000, NOW + 60),
        ("contraction", -22000, NOW + 120),
    ]


async def test_cancel_delivered_before_create_records_the_sale_and_the_churn(db: Database) -> None:
    states: list[State] = [("active", "pro", 2), ("canceled", "pro", 2)]
    events = _events("sub_cancel_first", states, [NOW, NOW + 3600])
    await _deliver(db, list(reversed(events)))
    assert await _ledger(db, "sub_cancel_first") == [
        ("new", 19800, NOW),
        ("churn", -19800, NOW + 3600),
    ]
    mirrored = await storage.subscriptions.get(db, "sub_cancel_first")
    assert mirrored is not None
    assert mirrored.status == "canceled"


def _mirror(sub: str, price: str, quantity: int) -> MirrorSubscription:
    p = PRICES[price]
    item = MirrorItem(f"si_{sub}", p["id"], "prod_x", quantity, p["unit_amount"], "usd", "month")
    return MirrorSubscription(
        id=sub,
        customer_id="cus_concurrent",
        status="active",
        currency="usd",
        items=(item,),
        current_period_start=NOW,
        current_period_end=NOW + 30 * 86400,
        trial_end=None,
        cancel_at_period_end=False,
        canceled_at=None,
    )


async def test_two_transactions_adding_to_one_history_at_once_leave_the_whole_ledger(
    db: Database,
) -> None:
    """An import and a webhook for the same subscription, at once: the second waits for the
    first to commit, so it derives the ledger with both snapshots. Without the subscription's
    lock, PostgreSQL's read committed lets each derive without the other's, and the ledger misses
    the sale."""
    sub = "sub_concurrent"
    started = asyncio.Event()

    async def second() -> None:
        started.set()
        async with db.transaction() as conn:
            await ledger.apply_snapshot(
                conn,
                snapshot=_mirror(sub, "pro", 1),
                source_id="evt_later",
                occurred_at=NOW + 60,
                now=NOW,
            )

    async with db.transaction() as conn:
        await ledger.apply_snapshot(
            conn,
            snapshot=_mirror(sub, "basic", 1),
            source_id="evt_first",
            occurred_at=NOW,
            now=NOW,
        )
        task = asyncio.create_task(second())
        await started.wait()
        await asyncio.sleep(0.2)  # the second transaction is now as far as it can get
    await task

    assert await _ledger(db, sub) == [("new", 2900, NOW), ("expansion", 7000, NOW + 60)]
    mirrored = await storage.subscriptions.get(db, sub)
    assert mirrored is not None
    assert mirrored.items[0].price_id == PRICES["pro"]["id"]
