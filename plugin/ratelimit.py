"""Token buckets per key: the widget API's per-customer limit, and the budget of failed
admin-key attempts per client address (plugin/api/admin.py). Pure: `now` (seconds, any
monotonic origin) is an argument.

A bucket holds up to `burst` tokens and refills at `rate` per second; each request (or each
failure) takes one. An empty bucket answers how long until the next token, for `Retry-After`.
Buckets live in memory, one set per process: with N workers the effective limit is at most N
times higher, which is fine for abuse protection (this is not billing). The table is bounded:
the least recently used keys are forgotten first, and a forgotten key starts with a full bucket.
"""

from __future__ import annotations

import ipaddress
import math
from collections import OrderedDict
from dataclasses import dataclass


@dataclass(slots=True)
class _Bucket:
    tokens: float
    updated: float


class RateLimiter:
    def __init__(self, *, rate: float, burst: int, max_keys: int = 100_000) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be positive and burst at least 1")
        self.rate = rate
        self.burst = burst
        self._max_keys = max_keys
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()

    def take(self, key: str, *, now: float) -> int | None:
        """None when the request may go ahead; else the whole seconds to wait."""
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = _Bucket(tokens=float(self.burst), updated=now)
            self._buckets[key] = bucket
            if len(self._buckets) > self._max_keys:
                self._buckets.popitem(last=False)
        else:
            self._buckets.move_to_end(key)
            elapsed = max(0.0, now - bucket.updated)
            bucket.tokens = min(float(self.burst), bucket.tokens + elapsed * self.rate)
            bucket.updated = now
        if bucket.tokens >= 1:
            bucket.tokens -= 1
            return None
        return self._until_one(bucket.tokens)

    def wait(self, key: str, *, now: float) -> int | None:
        """What `take` would answer, without taking a token or making a bucket: None while the
        key has a token left (or no bucket yet), else the whole seconds until it has one."""
        bucket = self._buckets.get(key)
        if bucket is None:
            return None
        tokens = min(float(self.burst), bucket.tokens + max(0.0, now - bucket.updated) * self.rate)
        if tokens >= 1:
            return None
        return self._until_one(tokens)

    def _until_one(self, tokens: float) -> int:
        # Rounded before the ceiling: 1/6 of a token a second, 3 s after empty, leaves
        # 3.0000000000000004 s to wait in floats, which is 3, not 4.
        return max(1, math.ceil(round((1 - tokens) / self.rate, 9)))


def address_key(host: str) -> str:
    """The key a client address is limited under: an IPv4 address as it is (an IPv4-mapped
    IPv6 one too), an IPv6 address by its /64, which one host or one customer line usually
    gets whole (per address, it could spread its attempts over 2^64 buckets and push every
    other key out of the table). Anything else (a Unix socket's empty peer) as given."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)
