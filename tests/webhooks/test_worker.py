"""plugin/webhooks/worker.py: recovery on start, a clean stop between events, and holding back while
deliveries arrive."""

from __future__ import annotations

import asyncio

import httpx
from starlette.applications import Starlette

from plugin.clock import FixedClock
from plugin.storage import Database
from plugin.storage import stripe_events as store
from plugin.webhooks import dispatch
from plugin.webhooks.events import Event
from plugin.webhooks.handlers import Context
from plugin.webhooks.intake import IntakeQueue
from plugin.webhooks.worker import MAX_LAG, Worker
from tests.support import NOW
from tests.webhooks import factories as f
from tests.webhooks.support import post_signed, settle

TYPE = "customer.subscription.created"


async def _insert(db: Database, n: int) -> str:
    event_id = f"evt_w{n}"
    payload = f.body(f.event(TYPE, f.subscription(f"sub_w{n}"), id=event_id))
    await store.insert(
        db,
        event=store.NewEvent(
            id=event_id,
            type=TYPE,
            object_id=f"sub_w{n}",
            created=NOW,
            livemode=False,
            payload=payload.decode(),
            received_at=NOW,
        ),
    )
    return event_id


async def test_start_picks_up_events_a_crash_left_claimed(db: Database, clock: FixedClock) -> None:
    """An event claimed by a worker that died mid-processing (its lease still running) is
    processed as soon as a worker starts, not when the lease runs out."""
    event_id = await _insert(db, 1)
    [claimed] = await store.claim_due(db, now=NOW, lease=dispatch.LEASE, limit=10)
    assert claimed.id == event_id  # ... and then the process was SIGKILLed

    worker = Worker(db=db, gateway=None, clock=clock)
    await worker.start()
    try:
        async with asyncio.timeout(10):
            await worker.wait_idle()
    finally:
        await worker.stop()
    stored = await store.get(db, event_id)
    assert stored is not None
    assert (stored.status, stored.attempts) == ("processed", 2)


async def test_stop_finishes_the_event_in_hand_and_gives_back_the_rest(
    db: Database, clock: FixedClock
) -> None:
    """Shutdown lets the running handler finish, then returns the rest of its batch to the
    store, due now and with no attempt counted, for another worker process to take."""
    ids = [await _insert(db, n) for n in range(3)]
    handled: list[str] = []
    stopping: list[asyncio.Task[None]] = []
    asked = asyncio.Event()

    async def handler(ctx: Context, event: Event) -> None:
        handled.append(event.id)
        stopping.append(asyncio.create_task(worker.stop()))
        asked.set()
        await asyncio.sleep(0)  # the stop request lands while this handler is still running

    worker = Worker(db=db, gateway=None, clock=clock, table={TYPE: handler})
    await worker.start()
    async with asyncio.timeout(10):
        await asked.wait()
        await stopping[0]

    assert handled == ids[:1]
    first = await store.get(db, ids[0])
    assert first is not None
    assert first.status == "processed"
    for event_id in ids[1:]:
        rest = await store.get(db, event_id)
        assert rest is not None
        assert (rest.status, rest.attempts, rest.next_attempt_at) == ("pending", 0, NOW)


async def test_events_stored_during_a_burst_are_all_processed_afterwards(
    client: httpx.AsyncClient, app: Starlette, db: Database
) -> None:
    """The worker holds back while deliveries arrive; once they stop, it processes every
    event the burst stored."""
    payloads = [
        f.body(
            f.event(
                TYPE, f.subscription(f"sub_burst{n}", item_id=f"si_burst{n}"), id=f"evt_burst{n}"
            )
        )
        for n in range(40)
    ]
    answers = await asyncio.gather(*(post_signed(client, payload) for payload in payloads))
    assert [answer.status_code for answer in answers] == [200] * 40
    await settle(app)
    for n in range(40):
        stored = await store.get(db, f"evt_burst{n}")
        assert stored is not None
        assert stored.status == "processed", stored.last_error


async def test_a_worker_held_back_by_busy_intake_still_processes_events(
    db: Database, clock: FixedClock
) -> None:
    """While deliveries never stop arriving, the worker still takes events now and then
    instead of waiting for a quiet moment that does not come."""
    event_id = await _insert(db, 1)
    handled = asyncio.Event()

    async def handler(ctx: Context, event: Event) -> None:
        handled.set()

    intake = IntakeQueue(db=db)
    await intake.start()
    worker = Worker(db=db, gateway=None, clock=clock, table={TYPE: handler}, intake=intake)
    arriving = True

    async def deliveries() -> None:
        n = 0
        while arriving:
            n += 1
            payload = f.body(f.event("payout.paid", {"id": f"po_{n}"}, id=f"evt_busy{n}"))
            await intake.store(
                store.NewEvent(
                    id=f"evt_busy{n}",
                    type="payout.paid",
                    object_id=f"po_{n}",
                    created=NOW,
                    livemode=False,
                    payload=payload.decode(),
                    received_at=NOW,
                )
            )

    sender = asyncio.create_task(deliveries())
    await worker.start()
    try:
        async with asyncio.timeout(10):
            await handled.wait()
    finally:
        arriving = False
        await sender
        await worker.stop()
        await intake.stop()
    found = await store.get(db, event_id)
    assert found is not None
    assert found.status == "processed"


class _RecordingIntake(IntakeQueue):
    """Intake that is always busy: every wait for a quiet moment is noted and returns."""

    def __init__(self, db: Database) -> None:
        super().__init__(db=db)
        self.waits = 0

    def saturated(self, *, idle_below: float) -> bool:
        return True

    async def wait_quiet(self, *, quiet: float, at_most: float) -> bool:
        self.waits += 1
        return False


async def test_only_fresh_events_are_held_back_for_intake(db: Database, clock: FixedClock) -> None:
    """Under sustained deliveries the worker defers to intake only for events younger than
    `MAX_LAG`; older ones are processed at once, so the backlog cannot grow while it waits."""
    await _insert(db, 1)
    await _insert(db, 2)
    intake = _RecordingIntake(db)
    worker = Worker(db=db, gateway=None, clock=clock, table={TYPE: _noop}, intake=intake)
    clock.advance(MAX_LAG - 1)
    assert await worker.run_once() == 2
    assert intake.waits == 2
    await _insert(db, 3)  # received at NOW, like the others
    clock.advance(1)
    assert await worker.run_once() == 1
    assert intake.waits == 2  # MAX_LAG old: not held back


async def _noop(ctx: Context, event: Event) -> None:
    return None
