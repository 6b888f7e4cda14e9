"""The in-process worker: processes stored events after the 200 has gone out.

Started and stopped by the app's lifespan. The endpoint wakes it after each new event; otherwise
it sleeps until the next retry falls due. On start it makes every unfinished event due at once,
so events stored before a crash are processed without waiting for Stripe to resend them.

While deliveries are arriving it holds back (`IntakeQueue.wait_quiet`): each of its
transactions would make a batch of waiting deliveries wait too, and in a burst that cost intake
a quarter of its rate. It still takes one event every `MAX_DEFER` however long the burst, and
the rest once intake has been quiet for `INTAKE_QUIET`. Holding back is for bursts only: an
event received `MAX_LAG` or more ago is processed at once, busy or not, so under sustained
load (a billing run renewing thousands of subscriptions) processing falls behind by at most
that much plus what the worker cannot keep up with, never by a backlog that only a quiet
moment would drain.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

from plugin import background
from plugin.billing.stripe_gateway import StripeGateway
from plugin.clock import Clock
from plugin.logs import get_logger
from plugin.storage import Database
from plugin.storage import stripe_events as store
from plugin.webhooks import dispatch
from plugin.webhooks.dispatch import Handler
from plugin.webhooks.handlers import Context
from plugin.webhooks.intake import IntakeQueue

log = get_logger("webhooks")

BATCH = 32
MAX_SLEEP = 60.0  # re-check the store at least this often (another process may have written)
# With several instances (PostgreSQL), an idle one looks more often: events another instance
# acknowledged and then died holding are taken over within this, not within a minute.
SHARED_MAX_SLEEP = 5.0
ERROR_PAUSE = 1.0  # after an unexpected error (database trouble), before trying again
HELD_ELSEWHERE_POLL = 1.0  # due events another instance holds: how often to look again
STOP_GRACE = 10.0  # how long shutdown waits for the event in hand before cancelling it
INTAKE_QUIET = 0.05  # no delivery for this long: intake is not busy, process
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
        """Process every event due now; returns how many were attempted."""
        done = 0
        async with store.claims(self._db) as claims:
            while True:
                now = self._clock.now()
                batch = await claims.take(now=now, lease=dispatch.LEASE, limit=BATCH)
                if not batch:
                    return done
                for n, stored in enumerate(batch):
                    if (
                        self._intake is not None
                        and not self._stopping
                        and self._clock.now() - stored.received_at < MAX_LAG
                    ):
                        await self._intake.wait_quiet(quiet=INTAKE_QUIET, at_most=MAX_DEFER)
                    if self._stopping:
                        await claims.give_back(batch[n:], now=self._clock.now())
                        return done
                    ctx = Context(db=self._db, gateway=self._gateway, now=self._clock.now())
                    status = await dispatch.process(ctx, stored, table=self._table)
                    await claims.done(stored)
                    if status in ("pending", "failed"):
                        log.warning(
                            "webhook event not processed",
                            extra={"event_id": stored.id, "type": stored.type, "status": status},
                        )
                    done += 1

    async def _run(self) -> None:
        while not self._stopping:
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
