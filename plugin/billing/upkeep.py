"""Background upkeep of upgrades, every `interval` seconds in each server process:

- apply period-end changes (downgrades) whose time has come (`upgrades.apply_due`);
- finish upgrades left `processing` for a few minutes: a process died between the claim and
  the charge, or Stripe was unreachable (`upgrades.resume`, which replays every step under its
  original idempotency key, so nothing is charged twice);
- end upgrades whose invoice the customer has not paid within a day (`upgrades.expire_unpaid`:
  the invoice is voided), so an abandoned payment page does not hold the subscription.

Several processes may run this at once: every status change is compare-and-set and every Stripe
call idempotent, so the worst case is a duplicate, harmless request. Stripe keeps idempotency
keys for 24 hours; an upgrade older than `RESUME_WITHIN` is left for an operator instead of
risking a second charge (it shows as `processing` in the admin API).
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass

from plugin.billing import upgrades
from plugin.billing.stripe_gateway import StripeGateway
from plugin.clock import Clock
from plugin.errors import UpliftError
from plugin.logs import get_logger
from plugin.storage import Database
from plugin.storage import upgrades as upgrade_store

INTERVAL = 60.0
STUCK_AFTER = 120  # seconds untouched before `processing` counts as abandoned
RESUME_WITHIN = 23 * 3600  # inside Stripe's 24 h idempotency window

log = get_logger("upkeep")


@dataclass(frozen=True, slots=True)
class Pass:
    applied: int
    resumed: int
    expired: int = 0


async def run_once(db: Database, gateway: StripeGateway, *, now: int) -> Pass:
    applied = 0
    try:
        applied = len(await upgrades.apply_due(db, gateway, now=now))
    except UpliftError as exc:
        log.warning("applying due changes failed; next pass retries", extra={"error": str(exc)})
    resumed = 0
    stuck = await upgrade_store.stuck(
        db, updated_before=now - STUCK_AFTER, created_after=now - RESUME_WITHIN
    )
    for upgrade in stuck:
        try:
            await upgrades.resume(db, gateway, upgrade_id=upgrade.id, now=now)
            resumed += 1
        except UpliftError as exc:
            log.warning(
                "resuming an upgrade failed; next pass retries",
                extra={"upgrade": upgrade.id, "error": str(exc)},
            )
    expired = 0
    try:
        expired = len(await upgrades.expire_unpaid(db, gateway, now=now))
    except UpliftError as exc:
        log.warning("ending unpaid upgrades failed; next pass retries", extra={"error": str(exc)})
    return Pass(applied=applied, resumed=resumed, expired=expired)


class Upkeep:
    def __init__(
        self, *, db: Database, gateway: StripeGateway, clock: Clock, interval: float = INTERVAL
    ) -> None:
        self._db = db
        self._gateway = gateway
        self._clock = clock
        self._interval = interval
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="uplift-upkeep")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            try:
                await run_once(self._db, self._gateway, now=self._clock.now())
            except Exception:  # a bug here must not stop the server; the next pass tries again
                log.exception("upkeep pass failed")
