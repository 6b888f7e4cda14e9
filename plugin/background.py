"""What the background workers (Stripe events, outbound webhooks, email) share: stopping a
task gracefully, and sleeping until woken."""

from __future__ import annotations

import asyncio
import contextlib


async def finish(task: asyncio.Task[None], *, grace: float) -> None:
    """Let `task` finish what it holds (it was told to stop) for up to `grace` seconds, then
    cancel it. Cancelling mid-transaction is the last resort: a cancelled `await` of COMMIT
    leaves the database layer unsure whether it committed."""
    try:
        await asyncio.wait_for(asyncio.shield(task), timeout=grace)
    except TimeoutError:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def nap(wake: asyncio.Event, seconds: float) -> None:
    """Sleep `seconds`, or until `wake` is set."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(wake.wait(), timeout=seconds)
