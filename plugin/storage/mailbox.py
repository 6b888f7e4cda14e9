"""The mailbox of a task that takes requests' writes in batches (webhook intake, SQLite's
shared write transactions)."""

from __future__ import annotations

import asyncio
from typing import Generic, TypeVar

T = TypeVar("T")


class Mailbox(Generic[T]):
    """Items for one task to take in batches. A list and one wake-up future rather than an
    `asyncio.Queue`: the task takes all of it at once, and the queue's per-item bookkeeping
    showed in webhook intake's profile."""

    def __init__(self) -> None:
        self._items: list[T] = []
        self._wakeup: asyncio.Future[None] | None = None
        self._stopping = False

    def put(self, item: T) -> None:
        self._items.append(item)
        self._wake()

    def stop(self) -> None:
        """Let `take` return empty once everything put has been taken."""
        self._stopping = True
        self._wake()

    def restart(self) -> None:
        self._stopping = False

    async def take(self, limit: int) -> list[T]:
        """Up to `limit` items, oldest first, waiting for one; empty once stopped and empty."""
        while not self._items:
            if self._stopping:
                return []
            self._wakeup = asyncio.get_running_loop().create_future()
            await self._wakeup
        taken = self._items[:limit]
        del self._items[:limit]
        return taken

    def take_all(self) -> list[T]:
        """Everything put and not taken, at once, without waiting."""
        taken, self._items = self._items, []
        return taken

    def _wake(self) -> None:
        if self._wakeup is not None and not self._wakeup.done():
            self._wakeup.set_result(None)
