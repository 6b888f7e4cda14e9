"""Time as a collaborator.

Everything that depends on "now" (token expiry, quote expiry, proration, schedules) takes a
`Clock` or an explicit `now`, so tests can pin time to the second instead of sleeping.
Time is integer unix seconds throughout, as Stripe uses it.
"""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    def now(self) -> int:
        """Current time in unix seconds."""
        ...


class SystemClock:
    def now(self) -> int:
        return int(time.time())  # noqa: TID251 -- the one place that reads the wall clock


class FixedClock:
    """A clock that only moves when told to."""

    def __init__(self, now: int) -> None:
        self._now = now

    def now(self) -> int:
        return self._now

    def set(self, now: int) -> None:
        self._now = now

    def advance(self, seconds: int) -> None:
        self._now += seconds
