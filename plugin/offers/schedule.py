"""When and how often an offer may be shown. Pure: `now` (unix seconds) is always an argument.

- A `Window` bounds when an offer runs; `countdown` is what the widget shows while it ends.
- A `FrequencyCap` bounds how often one customer sees one offer: impressions per rolling
  window, a cooldown after a dismissal and after a decline, never again after N declines,
  and never again once accepted.
- `remaining_today` bounds impressions across all offers per customer per rolling 24 hours. Rolling
  rather than calendar days: a customer's "day" has no time zone we could know, and a rolling
  window cannot be gamed by the UTC midnight.

Each check returns the same `Decision` as targeting, with a reason an admin can read.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from plugin.errors import InvalidDocument
from plugin.offers.targeting import YES, Decision
from plugin.timespan import DAY


class ScheduleError(InvalidDocument):
    field: str

    def __init__(self, message: str, *, field: str) -> None:
        super().__init__(message, field=field)


@dataclass(frozen=True, slots=True)
class Window:
    starts_at: int | None = None
    ends_at: int | None = None

    def __post_init__(self) -> None:
        if (
            self.starts_at is not None
            and self.ends_at is not None
            and self.ends_at <= self.starts_at
        ):
            raise ScheduleError("the schedule must end after it starts", field="schedule.ends_at")


def in_window(window: Window, *, now: int) -> Decision:
    if window.starts_at is not None and now < window.starts_at:
        return Decision(False, f"starts at {window.starts_at}")
    if window.ends_at is not None and now >= window.ends_at:
        return Decision(False, f"ended at {window.ends_at}")
    return YES


def countdown(window: Window, *, now: int) -> int | None:
    """Seconds until the offer ends, for the widget's countdown; None when it never ends."""
    if window.ends_at is None:
        return None
    return max(0, window.ends_at - now)


@dataclass(frozen=True, slots=True)
class FrequencyCap:
    max_impressions: int | None = None  # per `per_seconds`; None = no cap
    per_seconds: int = DAY
    dismiss_cooldown: int = 0  # seconds after a dismissal before the offer shows again
    decline_cooldown: int = 7 * DAY  # "No thanks" means it, for a while
    max_declines: int | None = 3  # never again after this many declines

    def __post_init__(self) -> None:
        for name in ("max_impressions", "max_declines"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ScheduleError(f"{name} must be at least 1", field=f"frequency.{name}")
        for name in ("per_seconds",):
            if getattr(self, name) < 1:
                raise ScheduleError(f"{name} must be at least 1", field=f"frequency.{name}")
        for name in ("dismiss_cooldown", "decline_cooldown"):
            if getattr(self, name) < 0:
                raise ScheduleError(f"{name} must not be negative", field=f"frequency.{name}")


@dataclass(frozen=True, slots=True)
class OfferHistory:
    """What one customer has done with one offer (storage reads it in one indexed query)."""

    impressions: Sequence[int] = ()  # recent impression times; older ones may be omitted
    last_dismissed_at: int | None = None
    last_declined_at: int | None = None
    declines: int = 0
    accepted_at: int | None = None


def check_frequency(cap: FrequencyCap, history: OfferHistory, *, now: int) -> Decision:
    if history.accepted_at is not None:
        return Decision(False, "already accepted")
    if cap.max_declines is not None and history.declines >= cap.max_declines:
        return Decision(False, f"declined {history.declines} times")
    if _within(history.last_declined_at, cap.decline_cooldown, now):
        return Decision(False, "in the cooldown after a decline")
    if _within(history.last_dismissed_at, cap.dismiss_cooldown, now):
        return Decision(False, "in the cooldown after a dismissal")
    if cap.max_impressions is not None:
        recent = sum(1 for t in history.impressions if now - cap.per_seconds < t <= now)
        if recent >= cap.max_impressions:
            return Decision(False, f"shown {recent} times in the last {cap.per_seconds} s")
    return YES


def remaining_today(max_per_day: int | None, impressions: Sequence[int], *, now: int) -> int | None:
    """How many more offers (all together) this customer may see in the rolling 24 hours;
    None when there is no global cap."""
    if max_per_day is None:
        return None
    recent = sum(1 for t in impressions if now - DAY < t <= now)
    return max(0, max_per_day - recent)


def _within(since: int | None, seconds: int, now: int) -> bool:
    return since is not None and seconds > 0 and now - since < seconds
