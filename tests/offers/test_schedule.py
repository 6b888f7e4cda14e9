"""Schedules, countdowns, frequency caps and cooldowns, with time passed in."""

from __future__ import annotations

import pytest

from plugin.offers import schedule
from plugin.offers.schedule import FrequencyCap, OfferHistory, ScheduleError, Window
from plugin.timespan import DAY
from tests.support import NOW

HOUR = 3600


@pytest.mark.parametrize(
    ("window", "now", "eligible"),
    [
        (Window(), NOW, True),
        (Window(starts_at=NOW), NOW, True),
        (Window(starts_at=NOW + 1), NOW, False),
        (Window(ends_at=NOW + 1), NOW, True),
        (Window(ends_at=NOW), NOW, False),
        (Window(starts_at=NOW - DAY, ends_at=NOW + DAY), NOW, True),
    ],
    ids=["always", "starts now", "not started", "last second", "ended", "inside"],
)
def test_window_bounds_when_an_offer_runs(window: Window, now: int, eligible: bool) -> None:
    """An offer runs from `starts_at` (inclusive) to `ends_at` (exclusive)."""
    assert schedule.in_window(window, now=now).eligible is eligible


def test_countdown_runs_to_the_end_and_stops_at_zero() -> None:
    """The widget counts down the seconds left; an open-ended offer has no countdown."""
    window = Window(ends_at=NOW + 90)
    assert schedule.countdown(window, now=NOW) == 90
    assert schedule.countdown(window, now=NOW + 200) == 0
    assert schedule.countdown(Window(), now=NOW) is None


def test_a_schedule_that_ends_before_it_starts_is_refused() -> None:
    """`ends_at` must come after `starts_at`."""
    with pytest.raises(ScheduleError) as raised:
        Window(starts_at=NOW, ends_at=NOW)
    assert raised.value.field == "schedule.ends_at"


CAP = FrequencyCap(
    max_impressions=3,
    per_seconds=DAY,
    dismiss_cooldown=HOUR,
    decline_cooldown=7 * DAY,
    max_declines=2,
)

FREQUENCY_CASES = [
    ("fresh customer", OfferHistory(), True),
    ("two impressions today", OfferHistory(impressions=(NOW - HOUR, NOW - 2 * HOUR)), True),
    (
        "three impressions today",
        OfferHistory(impressions=(NOW - 1, NOW - HOUR, NOW - 2 * HOUR)),
        False,
    ),
    (
        "old impressions roll off",
        OfferHistory(impressions=(NOW - DAY, NOW - DAY - 1, NOW - 2 * DAY)),
        True,
    ),
    ("dismissed a minute ago", OfferHistory(last_dismissed_at=NOW - 60), False),
    ("dismissed an hour ago", OfferHistory(last_dismissed_at=NOW - HOUR), True),
    ("declined yesterday", OfferHistory(last_declined_at=NOW - DAY, declines=1), False),
    ("declined a week ago", OfferHistory(last_declined_at=NOW - 7 * DAY, declines=1), True),
    ("declined twice, long ago", OfferHistory(last_declined_at=NOW - 90 * DAY, declines=2), False),
    ("already accepted", OfferHistory(accepted_at=NOW - 90 * DAY), False),
]


@pytest.mark.parametrize(
    ("history", "eligible"), [c[1:] for c in FREQUENCY_CASES], ids=[c[0] for c in FREQUENCY_CASES]
)
def test_frequency_cap_and_cooldowns(history: OfferHistory, eligible: bool) -> None:
    """Impressions per window, cooldowns after dismiss and decline; N declines or accepted: no."""
    assert schedule.check_frequency(CAP, history, now=NOW).eligible is eligible


def test_no_cap_means_no_limit_on_impressions() -> None:
    """Without `max_impressions`, only declines and acceptance stop an offer."""
    many = OfferHistory(impressions=tuple(range(NOW - 1000, NOW)))
    assert schedule.check_frequency(FrequencyCap(max_impressions=None), many, now=NOW).eligible


def test_global_cap_counts_every_offer_in_the_last_24_hours() -> None:
    """At most N offers of any kind per customer per rolling day."""
    shown = [NOW - HOUR, NOW - 5 * HOUR, NOW - DAY]  # the last one is 24 h old: rolled off
    assert schedule.remaining_today(3, shown, now=NOW) == 1
    assert schedule.remaining_today(2, shown, now=NOW) == 0
    assert schedule.remaining_today(1, shown, now=NOW) == 0
    assert schedule.remaining_today(None, shown * 100, now=NOW) is None


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"max_impressions": 0}, "frequency.max_impressions"),
        ({"max_declines": 0}, "frequency.max_declines"),
        ({"per_seconds": 0}, "frequency.per_seconds"),
        ({"decline_cooldown": -1}, "frequency.decline_cooldown"),
    ],
)
def test_nonsense_caps_are_refused(values: dict[str, int], field: str) -> None:
    """A cap that could never let an offer show, or a negative cooldown, is a mistake."""
    with pytest.raises(ScheduleError) as raised:
        FrequencyCap(**values)
    assert raised.value.field == field
