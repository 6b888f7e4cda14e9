"""The worker applies events in shared batches (plugin/webhooks/worker.py, issue 24): a batch
of mixed events leaves the state one event at a time would, an event that needs Stripe stops
its batch and runs alone, and a worker killed mid-batch loses nothing and applies nothing half.
"""

from __future__ import annotations

import asyncio
import os
import random
import sys
from pathlib import Path
from typing import Any

from plugin import storage
from plugin.billing.stripe_gateway import StripeGateway
from plugin.clock import FixedClock
from plugin.settings import SQLITE_PREFIX
from plugin.storage import Database
from plugin.storage import stripe_events as store
from plugin.webhooks import dispatch
from plugin.webhooks.handlers import Context
from plugin.webhooks.worker import SHARED, Worker
from tests.support import NOW, free_port, sqlite_only
from tests.webhooks import factories as f

ROOT = Path(__file__).resolve().parents[2]


def mixed_events(tag: str, *, seed: int) -> list[dict[str, Any]]:
    """Every family the worker handles, delivered out of order: products and prices with a
    stale update among them, a price before its product, subscriptions created, changed,
    tied in the same second and deleted (some changes before their creation), a checkout,
    a paid invoice (which needs Stripe, here unset: it stays pending with the error), a type
    Uplift ignores and a payload that can never be read."""
    t = tag
    product = f"prod_{t}"
    monthly = f.price(f"price_{t}_m", product=product)
    yearly = f.price(f"price_{t}_y", product=product, unit_amount=99000, interval="year")
    orphan = f.price(f"price_{t}_orphan", product=f"prod_{t}_later")
    p = f.product
    checkout = f.checkout_session(f"cs_{t}", subscription=f"sub_{t}_1")
    events = [
        f.event("product.created", f.product(product), id=f"evt_{t}_p1", created=NOW - 100),
        f.event("product.updated", p(product, name="2"), id=f"evt_{t}_p2", created=NOW - 50),
        f.event("product.updated", p(product, name="0"), id=f"evt_{t}_p3", created=NOW - 80),
        f.event("price.created", monthly, id=f"evt_{t}_pr1", created=NOW - 90),
        f.event("price.created", yearly, id=f"evt_{t}_pr2", created=NOW - 90),
        f.event("price.created", orphan, id=f"evt_{t}_pr3", created=NOW - 90),
        f.event("payout.paid", {"id": f"po_{t}"}, id=f"evt_{t}_payout"),
        f.event("customer.subscription.updated", {"id": f"sub_{t}_bad"}, id=f"evt_{t}_bad"),
        f.event("checkout.session.completed", checkout, id=f"evt_{t}_cs"),
        f.event("invoice.paid", f.invoice(f"in_{t}", subscription=f"sub_{t}_2"), id=f"evt_{t}_in"),
    ]  # fmt: skip
    for n in range(6):
        sub, customer, item = f"sub_{t}_{n}", f"cus_{t}_{n}", f"si_{t}_{n}"
        events.append(
            f.event(
                "customer.subscription.created",
                f.subscription(sub, customer=customer, item_id=item, price_obj=monthly),
                id=f"evt_{t}_{n}_a",
                created=NOW,
            )
        )
        events.append(
            f.event(
                "customer.subscription.updated",
                f.subscription(
                    sub, customer=customer, item_id=item, price_obj=yearly, quantity=1 + n % 3
                ),
                id=f"evt_{t}_{n}_b",
                created=NOW + 10 if n != 3 else NOW,  # sub 3: a tie with its creation
            )
        )
        if n == 4:
            events.append(
                f.event(
                    "customer.subscription.deleted",
                    f.subscription(
                        sub, customer=customer, item_id=item, price_obj=yearly,
                        status="canceled", canceled_at=NOW + 20,
                    ),
                    id=f"evt_{t}_{n}_c",
                    created=NOW + 20,
                )
            )  # fmt: skip
    random.Random(seed).shuffle(events)  # noqa: S311 -- a fixed order, not a secret
    return events


async def insert(db: Database, events: list[dict[str, Any]]) -> None:
    rows = []
    for document in events:
        obj = document["data"]["object"]
        rows.append(
            store.NewEvent(
                id=document["id"],
                type=document["type"],
                object_id=obj.get("id"),
                created=document["created"],
                livemode=False,
                payload=f.body(document).decode(),
                received_at=NOW,
            )
        )
    await store.insert_many(db, events=rows)


async def one_at_a_time(db: Database, clock: FixedClock) -> None:
    """The worker as it was: claim one event, process it alone, repeat."""
    while claimed := await store.claim_due(db, now=clock.now(), lease=dispatch.LEASE, limit=1):
        ctx = Context(db=db, gateway=None, now=clock.now())
        await dispatch.process(ctx, claimed[0])


_SURROGATE = {"seq", "id", "version"}  # row numbers the database hands out


async def state(db: Database, tag: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table that mentions `tag`, with `tag` replaced (so two runs with
    different tags compare) and the database's own row numbers left out."""
    async with db.read() as conn:
        if db.dialect == "sqlite":
            tables = await conn.fetch_all("SELECT name FROM sqlite_master WHERE type = 'table'")
        else:
            tables = await conn.fetch_all(
                "SELECT table_name AS name FROM information_schema.tables"
                " WHERE table_schema = current_schema()"
            )
        found: dict[str, list[tuple[Any, ...]]] = {}
        for table in sorted(row["name"] for row in tables):
            rows = await conn.fetch_all(f"SELECT * FROM {table}")  # noqa: S608 -- our own names
            kept = []
            for row in rows:
                if not any(type(v) is str and tag in v for v in row.values()):
                    continue
                kept.append(
                    tuple(
                        (k, v.replace(tag, "T") if type(v) is str else v)
                        for k, v in sorted(row.items())
                        if not (k in _SURROGATE and type(v) is int)
                    )
                )
            if kept:
                found[table] = sorted(kept, key=repr)
    return found


async def test_a_batch_of_mixed_events_leaves_the_state_one_at_a_time_would(
    db: Database, clock: FixedClock
) -> None:
    for seed in (1, 2, 3):
        batched, alone = f"b{seed}x", f"a{seed}x"
        await insert(db, mixed_events(batched, seed=seed))
        worker = Worker(db=db, gateway=None, clock=clock)
        assert await worker.run_once() == len(mixed_events(batched, seed=seed))
        await insert(db, mixed_events(alone, seed=seed))
        await one_at_a_time(db, clock)

        together = await state(db, batched)
        assert together == await state(db, alone)
        assert {"subscriptions", "mrr_movements", "orders", "stripe_prices"} <= set(together)
        by_status = {dict(row)["id"]: dict(row)["status"] for row in together["webhook_events"]}
        assert by_status["evt_T_bad"] == "failed"
        assert by_status["evt_T_in"] == "pending"  # needs Stripe, which is not configured
        assert by_status["evt_T_payout"] == "ignored"
        assert list(by_status.values()).count("processed") == len(by_status) - 3


async def test_an_event_that_needs_stripe_stops_its_batch_and_runs_alone(
    db: Database, clock: FixedClock
) -> None:
    """Two events about one subscription in the same second: the second asks Stripe which is
    newer. Inside a batch Stripe is out of reach, so the events before it commit, it runs
    alone with the real gateway (unreachable here: it stays pending with Stripe's error, not
    the batch's), and the events after it are applied."""
    sub = f.subscription("sub_tie", customer="cus_tie", item_id="si_tie")
    events = [
        f.event(
            "customer.subscription.created",
            f.subscription(f"sub_n{n}", item_id=f"si_n{n}"),
            id=f"evt_n{n}",
        )
        for n in range(5)
    ]
    events[2:2] = [
        f.event("customer.subscription.created", sub, id="evt_tie_1"),
        f.event("customer.subscription.updated", {**sub, "quantity": 2}, id="evt_tie_2"),
    ]
    await insert(db, events)
    unreachable = StripeGateway(
        api_key="sk_test_unreachable", api_base=f"http://127.0.0.1:{free_port()}", max_retries=0
    )
    worker = Worker(db=db, gateway=unreachable, clock=clock)
    assert await worker.run_once() == len(events)

    outcome = {e["id"]: await store.get(db, e["id"]) for e in events}
    assert {k: v.status for k, v in outcome.items() if v} == {
        **{e["id"]: "processed" for e in events},
        "evt_tie_2": "pending",
    }
    tied = outcome["evt_tie_2"]
    assert tied is not None
    assert tied.last_error is not None
    assert "WouldWait" not in tied.last_error
    assert "outside a shared batch" not in tied.last_error


CRASHING_WORKER = """
import asyncio, os, sys
from plugin import storage
from plugin.clock import FixedClock
from plugin.webhooks import dispatch, handlers
from plugin.webhooks.worker import Worker

async def crashing(ctx, event):
    if event.id == sys.argv[2]:
        os._exit(3)  # killed mid-batch: no ROLLBACK, no cleanup, as a SIGKILL would
    await handlers.subscription_changed(ctx, event)

async def main():
    db = await storage.connect(sys.argv[1])
    dispatch.SHAREABLE = dispatch.SHAREABLE | {crashing}
    table = {**dispatch.HANDLERS, "customer.subscription.created": crashing}
    await Worker(db=db, gateway=None, clock=FixedClock(int(sys.argv[3])), table=table).run_once()

asyncio.run(main())
"""


def subscription_events(count: int) -> list[dict[str, Any]]:
    """`count` events about `count // 2` subscriptions: each created, then changed."""
    events = []
    for n in range(count):
        k = n // 2
        first = n % 2 == 0
        price = f.price() if first else f.price(f.YEARLY, unit_amount=99000, interval="year")
        obj = f.subscription(f"sub_k{k}", customer=f"cus_k{k}", item_id=f"si_k{k}", price_obj=price)
        kind = "created" if first else "updated"
        events.append(
            f.event(f"customer.subscription.{kind}", obj, id=f"evt_k{n}", created=NOW + n % 2)
        )
    return events


@sqlite_only
async def test_a_worker_killed_mid_batch_loses_nothing_and_applies_nothing_half(
    tmp_path: Path, clock: FixedClock
) -> None:
    """The process dies in the middle of its second batch: the first batch is applied, the
    second not at all (not even its events before the one it died on), and a worker started
    on the same file afterwards brings it to the state one event at a time would have."""
    url = SQLITE_PREFIX + str(tmp_path / "crash.db")
    reference_url = SQLITE_PREFIX + str(tmp_path / "reference.db")
    events = subscription_events(3 * SHARED)
    crash_index = SHARED + SHARED // 2
    victim = events[crash_index]["id"]
    for target in (url, reference_url):
        db = await storage.connect(target)
        await storage.migrations.apply(db, now=NOW)
        await insert(db, events)
        await db.close()

    crashed = await asyncio.create_subprocess_exec(
        sys.executable, "-c", CRASHING_WORKER, url, victim, str(NOW),
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    async with asyncio.timeout(60):
        _, stderr = await crashed.communicate()
    assert crashed.returncode == 3, stderr.decode()

    db = await storage.connect(url)
    try:
        for n, document in enumerate(events):
            stored = await store.get(db, document["id"])
            assert stored is not None
            assert stored.status == ("processed" if n < SHARED else "pending"), n
        async with db.read() as conn:
            mirrored = await conn.fetch_value("SELECT count(*) FROM subscriptions")
        assert mirrored == SHARED // 2  # the second batch's subscriptions: none of them
        worker = Worker(db=db, gateway=None, clock=clock)
        await worker.start()  # a fresh start makes the dead worker's claims due at once
        async with asyncio.timeout(30):
            await worker.wait_idle()
        await worker.stop()
        reference = await storage.connect(reference_url)
        try:
            await one_at_a_time(reference, clock)
            kept, wanted = await state(db, "_k"), await state(reference, "_k")
            # The events themselves differ in their bookkeeping only: the second batch was
            # attempted twice.
            events_kept, events_wanted = kept.pop("webhook_events"), wanted.pop("webhook_events")
            assert kept == wanted
            assert len(kept["subscriptions"]) == len(events) // 2
            assert [dict(row)["status"] for row in events_kept] == ["processed"] * len(events)
            assert [dict(row)["status"] for row in events_wanted] == ["processed"] * len(events)
            attempts = sorted(dict(row)["attempts"] for row in events_kept)
            assert attempts == [1] * SHARED + [2] * (len(events) - SHARED)
        finally:
            await reference.close()
    finally:
        await db.close()
