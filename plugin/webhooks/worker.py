"""The in-process worker: processes stored events after the 200 has gone out.

Started and stopped by the app's lifespan. The endpoint wakes it after each new event; otherwise
it sleeps until the next retry falls due. On start it makes every unfinished event due at once,
so events stored before a crash are processed without waiting for Stripe to resend them.

It applies events in batches that share one transaction (`run_once`), so a steady stream of
deliveries is applied within milliseconds, and it cuts a batch short when a delivery is
waiting for the write lock (`IntakeQueue.waiting`). When intake is saturated (idle less than
`INTAKE_IDLE` of the time lately: `IntakeQueue.saturated`) it holds back
(`IntakeQueue.wait_quiet`): each of its transactions would make a batch of waiting deliveries
wait too, and in a burst that cost intake a quarter of its rate (and half of it with one
delivery at a time: bench/webhooks.py at 1 connection). It still takes one event every
`MAX_DEFER` however long the burst, and the rest once intake has been quiet for
`INTAKE_QUIET`. Holding back is for bursts only: an
event received `MAX_LAG` or more ago is processed at once, busy or not, so under sustained
load processing falls behind by at most that much plus what the worker cannot keep up with,
never by a backlog that only a quiet moment would drain.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
from collections.abc import Mapping
from typing import Any, cast

from plugin import background
from plugin.billing.stripe_gateway import StripeGateway
from plugin.clock import Clock
from plugin.logs import get_logger
from plugin.storage import Database
from plugin.storage import stripe_events as store
from plugin.storage.shared import WouldWait
from plugin.webhooks import dispatch
from plugin.webhooks.dispatch import Handler
from plugin.webhooks.handlers import Context
from plugin.webhooks.intake import IntakeQueue

log = get_logger("webhooks")

BATCH = 256  # events claimed at a time
# Events applied in one shared transaction at most: the batch holds the write lock while it
# runs (~0.2-0.5 ms an event), and deliveries arriving meanwhile wait for it.
SHARED = 32
MAX_SLEEP = 60.0  # re-check the store at least this often (another process may have written)
# With several instances (PostgreSQL), an idle one looks more often: events another instance
# acknowledged and then died holding are taken over within this, not within a minute.
SHARED_MAX_SLEEP = 5.0
ERROR_PAUSE = 1.0  # after an unexpected error (database trouble), before trying again
HELD_ELSEWHERE_POLL = 1.0  # due events another instance holds: how often to look again
STOP_GRACE = 10.0  # how long shutdown waits for the event in hand before cancelling it
INTAKE_QUIET = 0.05  # no delivery for this long: intake is not busy, process
# Intake idle (no delivery in flight) less than this share of the time: it is saturated, and
# the worker holds back. A steady 500 deliveries a second leaves it idle about three quarters
# of the time (bench/worker.py); a sender that sends the next as soon as one is answered, or a
# burst, leaves it idle only between an answer and the next arrival.
INTAKE_IDLE = 0.3
GATHER_IDLE = 0.95  # intake idle less than this share of the time: gather for `GATHER`
GATHER = 0.02  # seconds
MAX_DEFER = 0.1  # however busy intake is, one event at least this often
MAX_LAG = 10  # seconds: an event received this long ago is processed without holding back


class Worker:
    def __init__(
        self,
        *,
        db: Database,
        gateway: StripeGateway | None,
        clock: Clock,
        table: Mapping[str, Handler] = dispatch.HANDLERS,
        intake: IntakeQueue | None = None,
    ) -> None:
        self._db = db
        self._intake = intake
        self._gateway = gateway
        self._clock = clock
        self._table = table
        self._max_sleep = MAX_SLEEP if db.dialect == "sqlite" else SHARED_MAX_SLEEP
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    async def start(self) -> None:
        await store.release_claims(self._db, now=self._clock.now())
        self._task = asyncio.create_task(self._run(), name="uplift-webhook-worker")

    async def stop(self) -> None:
        """Finish the event in hand, then stop. Cancelling mid-transaction is the last resort:
        a cancelled `await` of COMMIT leaves the database layer unsure whether it committed."""
        if self._task is None:
            return
        self._stopping = True
        self._wake.set()
        await background.finish(self._task, grace=STOP_GRACE)
        self._task = None

    def wake(self) -> None:
        """Something may be due now (a new event, a replay, a moved clock)."""
        self._idle.clear()
        self._wake.set()

    async def wait_idle(self) -> None:
        """Return once nothing is due: every event is finished or waiting for a later retry."""
        await self._idle.wait()

    async def run_once(self) -> int:
        """Process every event due now; returns how many were attempted.

        Events are applied in batches (`SHARED` at a time) that share one transaction
        (plugin/storage/shared.py), in the order claimed. A handler that needs Stripe or
        raises stops its batch: the events before it commit, its own writes are rolled back,
        and it runs again alone, as it always did (`dispatch.process`: its own transactions,
        its retry bookkeeping); the batch goes on after it. A handler not known to touch only
        the database and Stripe (`dispatch.SHAREABLE`) always runs alone. So the state is the
        one that one event at a time would leave, and a crash mid-batch leaves the whole batch
        pending, to be done again."""
        done = 0
        async with store.claims(self._db) as claims:
            while True:
                now = self._clock.now()
                batch = await claims.take(now=now, lease=dispatch.LEASE, limit=BATCH)
                if not batch:
                    return done
                start = 0
                while start < len(batch):
                    size = SHARED
                    if (
                        self._intake is not None
                        and not self._stopping
                        and self._intake.saturated(idle_below=INTAKE_IDLE)
                        and self._clock.now() - batch[start].received_at < MAX_LAG
                    ):
                        quiet = await self._intake.wait_quiet(quiet=INTAKE_QUIET, at_most=MAX_DEFER)
                        if not quiet:
                            size = 1  # the burst goes on: one event, and wait again
                    if self._stopping:
                        await claims.give_back(batch[start:], now=self._clock.now())
                        return done
                    chunk = list(itertools.takewhile(self._shareable, batch[start : start + size]))
                    if chunk:
                        now = self._clock.now()
                        try:
                            outcome = await self._db.shared(
                                [functools.partial(self._apply, stored, now) for stored in chunk],
                                yield_to=None if self._intake is None else self._intake.waiting,
                            )
                        except Exception:
                            # The batch itself failed (the database): nothing of it committed.
                            # Due again at once, not when the lease runs out.
                            await claims.give_back(batch[start:], now=self._clock.now())
                            raise
                        for stored in chunk[: len(outcome.done)]:
                            await claims.done(stored)
                        start += len(outcome.done)
                        done += len(outcome.done)
                        if outcome.stopped_by is None:
                            continue
                    # The event that stopped the batch (it needs Stripe, it failed, or its
                    # handler is not one a batch may run), alone, as it always was.
                    stored = batch[start]
                    ctx = Context(db=self._db, gateway=self._gateway, now=self._clock.now())
                    status = await dispatch.process(ctx, stored, table=self._table)
                    await claims.done(stored)
                    if status in ("pending", "failed"):
                        log.warning(
                            "webhook event not processed",
                            extra={"event_id": stored.id, "type": stored.type, "status": status},
                        )
                    start += 1
                    done += 1

    def _shareable(self, stored: store.StoredEvent) -> bool:
        handler = self._table.get(stored.type)
        return handler is None or handler in dispatch.SHAREABLE

    async def _apply(self, stored: store.StoredEvent, now: int, db: Database) -> store.Status:
        """One event inside a shared batch: Stripe stays out of reach (`_Offline`), so a
        handler that needs it stops the batch and runs alone, where it may wait for Stripe."""
        gateway = None if self._gateway is None else cast(StripeGateway, _Offline())
        return await dispatch.attempt(
            Context(db=db, gateway=gateway, now=now), stored, table=self._table
        )

    async def _run(self) -> None:
        while not self._stopping:
            if self._intake is not None and self._intake.saturated(idle_below=GATHER_IDLE):
                # A stream of deliveries: let a few gather and apply them together (one claim,
                # one commit) instead of waking for each one.
                await asyncio.sleep(GATHER)
            self._wake.clear()
            try:
                attempted = await self.run_once()
                due = await store.next_due_at(self._db)
            except Exception as exc:
                log.error("webhook worker error", exc_info=exc)
                await self._sleep(ERROR_PAUSE)
                continue
            if self._stopping:
                return
            if self._wake.is_set():
                continue  # woken while busy: look again before calling it idle
            self._idle.set()
            timeout = self._max_sleep
            if due is not None:
                timeout = min(self._max_sleep, max(0.0, float(due - self._clock.now())))
                if timeout == 0 and attempted == 0:
                    # Due but not ours to take: another instance holds it (PostgreSQL). Look
                    # again shortly; if that instance dies, its events come free.
                    timeout = HELD_ELSEWHERE_POLL
            await self._sleep(timeout)

    async def _sleep(self, seconds: float) -> None:
        await background.nap(self._wake, seconds)


class _Offline:
    """The Stripe gateway as a shared batch sees it: every call stops the batch (`WouldWait`).
    Only calling it does: a handler that has a gateway at hand but no call to make (an
    invoice that is no upgrade's) stays in the batch."""

    def __getattr__(self, name: str) -> Any:
        def call(*args: object, **kwargs: object) -> Any:
            raise WouldWait(f"Stripe's {name} is called outside a shared batch")

        return call
