"""The outbound worker: fans announced events out to endpoints and delivers what is due.

Each pass (`run_once`): the outbox's new events become deliveries, one per endpoint that wants
them; the trial timers announce what came due (`trial.ending`, `trial.ended`); then every due
delivery is attempted, `CONCURRENCY` at a time, and each outcome is written with its attempt.
A failure is retried on the schedule of plugin/outbound/backoff.py for up to 3 days, then
marked failed; an endpoint that has failed everything for `backoff.DISABLE_AFTER` is disabled,
logged with the reason.

At least once: a delivery is taken under a lease longer than an attempt can last, so if the
process dies mid-attempt another pass takes it again with the same `webhook-id` (on SQLite the
restarted process does so at once: `store.release`). Between passes the worker sleeps until the
next delivery falls due, at most `POLL` seconds: announcements are written by other code
paths, other processes and other instances, and a one-second look is a single indexed read.
"""

from __future__ import annotations

import asyncio
import math

import httpx

from plugin import background
from plugin.clock import Clock
from plugin.logs import get_logger
from plugin.outbound import backoff, delivery, signing, timers
from plugin.storage import Database
from plugin.storage import outbound as store

log = get_logger("outbound")

POLL = 1.0
CONCURRENCY = 8
LEASE_MARGIN = 10  # seconds past an attempt's timeout before its delivery is taken again
BATCH = 32
ERROR_PAUSE = 1.0
STOP_GRACE = 12.0  # an attempt in hand finishes (10 s at most) before the process stops
PRUNE_EVERY = 3600  # seconds between removals of what is older than `KEEP`
KEEP = 30 * 86_400  # finished events, their deliveries and attempts are kept this long


class OutboundWorker:
    def __init__(
        self,
        *,
        db: Database,
        clock: Clock,
        allow_private: bool = False,
        timeout: float = 10.0,
        trial_ending_days: int = timers.TRIAL_ENDING_DAYS,
        http: httpx.AsyncClient | None = None,
    ) -> None:
        self._db = db
        self._clock = clock
        self._allow_private = allow_private
        self._timeout = timeout
        # Longer than an attempt can take (it is cut at `timeout`) and its write after.
        self._lease = math.ceil(timeout) + LEASE_MARGIN
        self._trial_ending_days = trial_ending_days
        self._http = http
        self._own_http = http is None
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._pruned_at = 0

    async def start(self) -> None:
        """Release what a dead process left leased (SQLite), then run in the background."""
        await self.start_http()
        await store.release(self._db, now=self._clock.now())
        self._task = asyncio.create_task(self._run(), name="uplift-outbound-worker")

    async def start_http(self) -> None:
        """Only the HTTP client: for driving `run_once` pass by pass (tests)."""
        if self._http is None:
            self._http = delivery.client()

    async def stop(self) -> None:
        if self._task is not None:
            self._stopping = True
            self._wake.set()
            await background.finish(self._task, grace=STOP_GRACE)
            self._task = None
        if self._own_http and self._http is not None:
            await self._http.aclose()
            self._http = None

    def wake(self) -> None:
        self._wake.set()

    async def run_once(self) -> int:
        """One pass; returns how many attempts were made."""
        now = self._clock.now()
        await timers.announce_due(self._db, now=now, ending_days=self._trial_ending_days)
        while await store.fan_out(self._db, now=now):
            pass
        if now - self._pruned_at >= PRUNE_EVERY:
            await store.prune(self._db, before=now - KEEP)
            self._pruned_at = now
        attempted = 0
        gate = asyncio.Semaphore(CONCURRENCY)
        while not self._stopping:
            batch = await store.claim(
                self._db, now=self._clock.now(), lease=self._lease, limit=BATCH
            )
            if not batch:
                break
            await asyncio.gather(*(self._deliver(c, gate) for c in batch))
            attempted += len(batch)
        return attempted

    async def _deliver(self, claimed: store.Claimed, gate: asyncio.Semaphore) -> None:
        async with gate:
            await self._attempt(claimed)

    async def _attempt(self, claimed: store.Claimed) -> None:
        assert self._http is not None  # noqa: S101 -- started
        now = self._clock.now()
        headers = signing.headers(
            claimed.secrets, msg_id=claimed.event_id, at=now, body=claimed.body
        )
        result = await delivery.attempt(
            self._http,
            url=claimed.url,
            headers=headers,
            body=claimed.body,
            allow_private=self._allow_private,
            timeout=self._timeout,
        )
        done = self._clock.now()
        retry_at = None
        if result.error is not None:
            retry_at = backoff.next_attempt(
                claimed.attempts, key=claimed.id, window_start=claimed.window_start, now=done
            )
        outcome = store.Outcome(result.status_code, result.latency_ms, result.error, retry_at)
        disabled = await store.record(
            self._db, claimed, outcome, now=done, disable_after=backoff.DISABLE_AFTER
        )
        if result.error is not None:
            log.info(
                "webhook delivery failed",
                extra={
                    "delivery": claimed.id,
                    "endpoint": claimed.endpoint_id,
                    "event_type": claimed.event_type,
                    "attempt": claimed.attempts,
                    "error": result.error,
                    "gave_up": retry_at is None,
                },
            )
        if disabled is not None:
            log.warning(
                "webhook endpoint disabled",
                extra={"endpoint": claimed.endpoint_id, "reason": disabled},
            )

    async def _run(self) -> None:
        while not self._stopping:
            self._wake.clear()
            try:
                await self.run_once()
                due = await store.next_due_at(self._db)
            except Exception as exc:
                log.error("outbound worker error", exc_info=exc)
                await self._sleep(ERROR_PAUSE)
                continue
            if self._stopping:
                return
            timeout = POLL
            if due is not None:
                timeout = min(POLL, max(0.0, float(due - self._clock.now())))
            await self._sleep(timeout if timeout > 0 else POLL / 10)

    async def _sleep(self, seconds: float) -> None:
        await background.nap(self._wake, seconds)
