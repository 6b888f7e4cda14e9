"""Per-customer rate limits for the widget API: a token bucket per key. Pure: `now` (seconds,
any monotonic origin) is an argument.

A bucket holds up to `burst` tokens and refills at `rate` per second; each request takes one.
An empty bucket answers how long until the next token, for `Retry-After`. Buckets live in
memory, one set per process: with N workers the effective limit is at most N times higher,
which is fine for abuse protection (this is not billing). The table is bounded: the least
recently used keys are forgotten first, and a forgotten key starts with a full bucket.
"""

from __future__ import annotations

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
        return max(1, math.ceil((1 - bucket.tokens) / self.rate))
