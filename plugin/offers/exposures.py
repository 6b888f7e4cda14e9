"""First exposures, written in batches after the response.

The offers endpoint records a customer's experiment arm the first time they meet an offer. The
arm is a pure function of (offer, customer) (plugin/offers/experiments.py), so the response never
has to wait for that write: it goes into a queue, and one task writes whatever is queued in a single
transaction. When a new offer goes live and every active customer meets it at once, that is one
durable commit per batch instead of one per request.

If the process dies before a batch is written, nothing is wrong: the next request recomputes the
same arm and records it then (unless the offer's weights changed in between, which moves only
customers whose arm had never been recorded). `stop` writes what is queued before returning.
"""

from __future__ import annotations

import asyncio
import contextlib

from plugin.logs import get_logger
from plugin.storage import Database
from plugin.storage import offers as offer_store

MAX_BATCH = 500

log = get_logger("exposures")

_Item = tuple[str, str, str, int]  # offer id, customer id, arm, time


class ExposureRecorder:
    def __init__(self, *, db: Database) -> None:
        self._db = db
        self._queue: asyncio.Queue[_Item] = asyncio.Queue()
        self._pending: set[tuple[str, str]] = set()  # queued, not yet written
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="uplift-exposures")

    async def stop(self) -> None:
        await self.flush()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def record(self, *, offer_id: str, customer_id: str, arm: str, now: int) -> None:
        """Queue a first exposure; without a running writer, write it now."""
        if self._task is None or self._task.done():
            async with self._db.transaction() as conn:
                await offer_store.assign(
                    conn, offer_id=offer_id, customer_id=customer_id, arm=arm, now=now
                )
            return
        key = (offer_id, customer_id)
        if key not in self._pending:
            self._pending.add(key)
            self._queue.put_nowait((offer_id, customer_id, arm, now))

    async def flush(self) -> None:
        """Wait until everything queued so far is written."""
        await self._queue.join()

    async def _run(self) -> None:
        while True:
            batch = [await self._queue.get()]
            while len(batch) < MAX_BATCH and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            try:
                async with self._db.transaction() as conn:
                    await offer_store.record_assignments(conn, batch)
            except Exception:  # the next request for these customers records them again
                log.exception("writing first exposures failed", extra={"count": len(batch)})
            finally:
                for offer_id, customer_id, _, _ in batch:
                    self._pending.discard((offer_id, customer_id))
                    self._queue.task_done()
