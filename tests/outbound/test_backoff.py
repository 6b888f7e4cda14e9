"""The retry schedule of outbound deliveries: first retry within a minute, growing, given up
three days after the delivery was made."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from plugin.outbound import backoff

CREATED = 1_800_000_000


def test_first_retry_is_within_a_minute() -> None:
    assert 30 <= backoff.delay(1, key="wd_a") <= 33
    at = backoff.next_attempt(1, key="wd_a", window_start=CREATED, now=CREATED)
    assert at is not None
    assert at <= CREATED + 60


def test_delays_grow_then_stay_at_twelve_hours() -> None:
    delays = [backoff.delay(n, key="wd_b") for n in range(1, 15)]
    assert delays[:9] == sorted(delays[:9])
    assert all(43_200 <= d <= 43_200 * 11 // 10 for d in delays[8:])


def test_a_delivery_is_tried_until_three_days_then_given_up() -> None:
    now, attempts, tries = CREATED, 1, [CREATED]
    while (
        at := backoff.next_attempt(attempts, key="wd_c", window_start=CREATED, now=now)
    ) is not None:
        tries.append(at)
        now, attempts = at, attempts + 1
    assert tries[-1] == CREATED + 3 * 86_400  # the last try is at the deadline
    assert 10 <= len(tries) <= 16


@given(st.integers(min_value=1, max_value=50), st.text(min_size=1, max_size=30))
def test_jitter_adds_at_most_ten_percent(attempts: int, key: str) -> None:
    base = backoff.DELAYS[attempts - 1] if attempts <= len(backoff.DELAYS) else backoff.LAST_DELAY
    assert base <= backoff.delay(attempts, key=key) <= base + base // 10
    assert backoff.delay(attempts, key=key) == backoff.delay(attempts, key=key)


def test_an_endpoint_failing_for_five_days_is_disabled() -> None:
    assert not backoff.should_disable(None, now=CREATED)
    assert not backoff.should_disable(CREATED, now=CREATED + 5 * 86_400 - 1)
    assert backoff.should_disable(CREATED, now=CREATED + 5 * 86_400)
