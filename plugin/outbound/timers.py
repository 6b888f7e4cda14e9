"""Events that fall due with time rather than with a request: `trial.ending` (a trial ends
within `TRIAL_ENDING_DAYS`, as Stripe's `customer.subscription.trial_will_end` is sent three
days ahead) and `trial.ended`. Each is announced once per trial, in the transaction that marks
it announced; a trial that ended more than a day before the worker looked is not announced
(an install upgraded to this version does not announce its whole history)."""

from __future__ import annotations

from typing import Any

from plugin.outbound.outbox import announce
from plugin.storage import Database
from plugin.storage import trials as trial_store
from plugin.timespan import DAY

TRIAL_ENDING_DAYS = 3


def trial_data(grant: trial_store.TrialGrant) -> dict[str, Any]:
    return {
        "customer_id": grant.customer_id,
        "trial": {
            "id": grant.id,
            "offer": {"id": grant.offer_id, "variant": grant.variant},
            "plan": grant.plan_id,
            "starts_at": grant.starts_at,
            "ends_at": grant.ends_at,
        },
    }


async def announce_due(db: Database, *, now: int, ending_days: int) -> int:
    within = ending_days * DAY
    async with db.read() as conn:
        if not await trial_store.due_announcements(conn, now=now, ending_within=within):
            return 0
    async with db.transaction() as conn:
        ending = await trial_store.take_ending(conn, now=now, ending_within=within)
        ended = await trial_store.take_ended(conn, now=now)
        for grant in ending:
            await announce(conn, "trial.ending", trial_data(grant), now=now)
        for grant in ended:
            await announce(conn, "trial.ended", trial_data(grant), now=now)
    return len(ending) + len(ended)
