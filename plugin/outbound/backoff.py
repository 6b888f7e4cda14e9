"""When a failed delivery is tried again, and when it is given up (pure).

After the first attempt: 30 s, 2 min, 10 min, 30 min, 1 h, 2 h, 4 h, 8 h, then every 12 h,
each delay with up to 10 % added (from the delivery's own id, so deterministic: a receiver that
came back is not hit by every delivery in the same second). The last try is 3 days after the
delivery was made; failing then, it is given up (`failed`). An endpoint that has failed every
delivery for `DISABLE_AFTER` (5 days, as Svix does) is disabled, with the reason logged and
shown; enabling it again is the admin's call.
"""

from __future__ import annotations

import hashlib

DELAYS = (30, 120, 600, 1800, 3600, 7200, 14_400, 28_800)
LAST_DELAY = 43_200
GIVE_UP_AFTER = 3 * 86_400
DISABLE_AFTER = 5 * 86_400


def delay(attempts: int, *, key: str) -> int:
    """Seconds before the next attempt, after `attempts` (≥ 1) have failed."""
    base = DELAYS[attempts - 1] if attempts <= len(DELAYS) else LAST_DELAY
    spread = int.from_bytes(hashlib.sha256(f"{key}:{attempts}".encode()).digest()[:2], "big")
    return base + base * spread // (10 * 65_536)


def next_attempt(attempts: int, *, key: str, window_start: int, now: int) -> int | None:
    """When to try again after a failure at `now`, or None: give up (3 days after the
    delivery's window started)."""
    deadline = window_start + GIVE_UP_AFTER
    if now >= deadline:
        return None
    return min(now + delay(attempts, key=key), deadline)  # the last try is at the deadline


def should_disable(failing_since: int | None, *, now: int) -> bool:
    return failing_since is not None and now - failing_since >= DISABLE_AFTER
