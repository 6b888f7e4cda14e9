"""`usage.threshold_crossed`: which percents of a plan's limit a usage report crossed (pure).

A customer's metric has a level: the highest configured percent its usage is at or above. A
report that raises the level announces every percent between the old level and the new one,
lowest first (a jump from 50 % to 120 % crosses 80 and 100); a report that lowers it announces
nothing, and crossing again later announces again. Integer arithmetic throughout
(`used * 100 >= percent * limit`), as targeting compares usage.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple


class Crossing(NamedTuple):
    level: int  # 0: below every threshold
    crossed: tuple[int, ...]  # newly crossed, lowest first


def level(used: int, limit: int, thresholds: Sequence[int]) -> int:
    reached = [p for p in thresholds if used * 100 >= p * limit]
    return max(reached, default=0)


def crossing(used: int, limit: int | None, thresholds: Sequence[int], previous: int) -> Crossing:
    """The new level and the thresholds crossed since `previous`. No limit (unlimited, or
    not on a plan that limits the metric): level 0, nothing crossed."""
    if limit is None or limit <= 0:
        return Crossing(0, ())
    now = level(used, limit, thresholds)
    return Crossing(now, tuple(p for p in sorted(thresholds) if previous < p <= now))
