"""Token buckets: a burst, a steady rate, and an honest Retry-After."""

from __future__ import annotations

import pytest

from plugin.ratelimit import RateLimiter, address_key


def test_a_burst_then_the_steady_rate() -> None:
    """`burst` requests at once, then one per 1/rate seconds; Retry-After says when."""
    limiter = RateLimiter(rate=2, burst=3)
    assert [limiter.take("c", now=0) for _ in range(3)] == [None, None, None]
    assert limiter.take("c", now=0) == 1  # one token takes 0.5 s: wait 1 s (whole seconds)
    assert limiter.take("c", now=0.5) is None
    assert limiter.take("c", now=0.5) == 1
    assert limiter.take("c", now=100) is None  # refilled, never above the burst
    assert [limiter.take("c", now=100) for _ in range(3)] == [None, None, 1]


def test_customers_have_their_own_buckets() -> None:
    """One customer's burst never limits another."""
    limiter = RateLimiter(rate=1, burst=1)
    assert limiter.take("a", now=0) is None
    assert limiter.take("a", now=0) == 1
    assert limiter.take("b", now=0) is None


def test_slow_refill_reports_the_real_wait() -> None:
    """At one request a minute, an empty bucket waits up to 60 s."""
    limiter = RateLimiter(rate=1 / 60, burst=1)
    assert limiter.take("c", now=0) is None
    assert limiter.take("c", now=30) == 30


def test_the_table_of_keys_is_bounded() -> None:
    """Old keys are forgotten (and start full again) rather than growing memory forever."""
    limiter = RateLimiter(rate=1, burst=1, max_keys=2)
    for key in ("a", "b", "c"):
        assert limiter.take(key, now=0) is None
    assert limiter.take("a", now=0) is None  # "a" was forgotten: a fresh bucket


def test_nonsense_limits_are_refused() -> None:
    with pytest.raises(ValueError, match="rate must be positive"):
        RateLimiter(rate=0, burst=1)


def test_wait_tells_what_take_would_without_taking() -> None:
    """`wait` answers as `take` would, takes nothing, and makes no bucket for a new key."""
    limiter = RateLimiter(rate=1 / 6, burst=2, max_keys=1)
    assert limiter.wait("a", now=0) is None
    assert [limiter.take("a", now=0) for _ in range(2)] == [None, None]
    assert [limiter.wait("a", now=0) for _ in range(3)] == [6, 6, 6]
    assert limiter.wait("a", now=4) == 2
    assert limiter.wait("a", now=6) is None
    assert limiter.wait("b", now=6) is None  # no bucket made: "a" is still the one kept
    assert limiter.take("a", now=6) is None
    assert limiter.take("a", now=6) == 6


@pytest.mark.parametrize(
    ("host", "key"),
    [
        ("203.0.113.7", "203.0.113.7"),
        ("::ffff:203.0.113.7", "203.0.113.7"),
        ("2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"),
        ("2001:db8:1:2::9", "2001:db8:1:2::/64"),
        ("", ""),
    ],
    ids=["ipv4", "ipv4-mapped", "ipv6", "ipv6-same-64", "no-address"],
)
def test_addresses_are_keyed_by_host_or_ipv6_64(host: str, key: str) -> None:
    """An IPv4 address is its own key; an IPv6 address shares its /64's."""
    assert address_key(host) == key
