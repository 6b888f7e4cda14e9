"""Group commit for webhook intake: deliveries that arrive together share one write transaction.

Every delivery must be committed before its 200 (docs/reliability.md rule 2), and SQLite has one
writer, so a transaction per request makes the writer's round trips (BEGIN IMMEDIATE, INSERT,
COMMIT, each a hop to the database thread, plus an fsync) the ceiling on intake. Here each
request queues its event and waits; one task takes everything queued, inserts it in a single
statement as one write (`Database.write`: on SQLite, one hop to the writer's thread for the
whole transaction) and answers every waiter after the COMMIT. Under load batches grow by
themselves; alone, a request waits for nothing but its own transaction. The promise is
unchanged: no waiter is answered before the transaction holding its row has committed. If the
batch fails, each event is tried in a transaction of its own, so only a row the database itself
refuses gets an error (a 500, and Stripe retries).

The worker processes stored events in the same process and needs the same write lock. Intake
comes first: the worker asks `saturated()` (deliveries kept intake busy nearly all of the
last moments: a burst, or a sender that sends the next as soon as one is answered) and then
holds back (`wait_quiet`), and it cuts its batches short while a delivery waits (`waiting`).
Stripe only needs the acknowledgement fast (it retries what it does not get); processing can
follow the burst.
"""

from __future__ import annotations

import asyncio
import contextlib
import math

from plugin.storage import Database
from plugin.storage import stripe_events as store
from plugin.storage.mailbox import Mailbox

MAX_BATCH = 256
WINDOW = 0.25  # seconds: `saturated` looks at the last one to two of these

_Item = tuple[store.NewEvent, "asyncio.Future[bool]"]


class IntakeQueue:
    def __init__(self, *, db: Database) -> None:
        self._db = db
        self._queued: Mailbox[_Item] = Mailbox()
        self._task: asyncio.Task[None] | None = None
        self._last_arrival = -math.inf  # event loop time of the latest delivery
        # Time with no delivery in flight, in this `WINDOW` and the one before.
        self._in_flight = 0
        self._idle_since = -math.inf  # when the last delivery in flight was answered
        self._window_start = -math.inf
        self._this_idle = 0.0
        self._last_idle = 0.0

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="uplift-webhook-intake")

    async def stop(self) -> None:
        """Commit what is queued, then stop (no new requests arrive during shutdown)."""
        if self._task is None:
            return
        self._queued.stop()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None

    async def store(self, event: store.NewEvent) -> bool:
        """Store `event`; returns False for a redelivery. Returns only after the COMMIT."""
        loop = asyncio.get_running_loop()
        now = self._last_arrival = loop.time()
        self._credit(now)
        self._roll(now)
        self._in_flight += 1
        try:
            if self._task is None or self._task.done():
                return await store.insert(self._db, event=event)
            future: asyncio.Future[bool] = loop.create_future()
            self._queued.put((event, future))
            return await future
        finally:
            self._in_flight -= 1
            if self._in_flight == 0:
                self._idle_since = loop.time()

    def _credit(self, now: float) -> None:
        """Count the idle time up to `now` (nothing in flight since `_idle_since`) in the
        current window."""
        if self._in_flight == 0:
            self._this_idle += max(0.0, now - max(self._idle_since, self._window_start))
            self._idle_since = now

    def _roll(self, now: float) -> None:
        if now - self._window_start >= WINDOW:
            fresh = now - self._window_start < 2 * WINDOW
            self._last_idle = self._this_idle if fresh else WINDOW
            self._this_idle = 0.0
            self._window_start = now

    def saturated(self, *, idle_below: float) -> bool:
        """Was intake idle (no delivery in flight) less than `idle_below` of the time lately
        (the last one to two `WINDOW`s)? A steady stream well within intake's means leaves it
        idle most of the time; a burst, or a sender that sends the next delivery as soon as
        one is answered, leaves it idle only between an answer and the next arrival."""
        now = asyncio.get_running_loop().time()
        self._credit(now)
        self._roll(now)
        elapsed = now - self._window_start
        return (self._last_idle + self._this_idle) / (WINDOW + elapsed) < idle_below

    def waiting(self) -> bool:
        """Is a delivery waiting for its commit? (Read from the database's writer thread too:
        one attribute read.)"""
        return self._in_flight > 0

    async def wait_quiet(self, *, quiet: float, at_most: float) -> bool:
        """Return once no delivery has arrived for `quiet` seconds (True), or after `at_most`
        seconds however busy intake is (False: so whoever waits still makes progress)."""
        loop = asyncio.get_running_loop()
        give_up = loop.time() + at_most
        while True:
            now = loop.time()
            calm = self._last_arrival + quiet
            if calm <= now:
                return True
            if give_up <= now:
                return False
            await asyncio.sleep(min(calm, give_up) - now)

    async def _run(self) -> None:
        while batch := await self._queued.take(MAX_BATCH):
            try:
                stored = await store.insert_many(self._db, events=[event for event, _ in batch])
            except Exception:
                # One row the database refuses must not fail its neighbours: retry alone each.
                await self._one_by_one(batch)
                continue
            for (_, future), inserted in zip(batch, stored, strict=True):
                _answer(future, inserted)

    async def _one_by_one(self, batch: list[_Item]) -> None:
        for event, future in batch:
            try:
                inserted = await store.insert(self._db, event=event)
            except Exception as exc:
                if not future.done():
                    future.set_exception(exc)
                continue
            _answer(future, inserted)


def _answer(future: asyncio.Future[bool], inserted: bool) -> None:
    # A waiter whose request was cancelled is gone; its row is stored all the same, and
    # Stripe's retry of it will be answered as a duplicate.
    if not future.done():
        future.set_result(inserted)
