"""What a customer would give up by moving down the plan ladder: the retention screen's list.

Pure: the ladder and the customer's facts come in, a value goes out. A limit is lost when the
lower plan caps a metric below what the current plan allows (None is unlimited), and it matters
most when the customer already uses more than the new cap (`over`). A feature is lost when the
current plan has it and the lower one does not; the ones the customer actually used come first,
most recently used first, because those are what they would miss.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from plugin.billing.catalog import Plan


@dataclass(frozen=True, slots=True)
class LimitLoss:
    metric: str
    used: int | None  # as last reported; None: never reported
    current_limit: int | None  # None: unlimited
    new_limit: int
    over: bool  # the customer already uses more than the new limit


@dataclass(frozen=True, slots=True)
class FeatureLoss:
    feature: str
    uses: int | None  # None: not known (see `lost`)
    last_used_at: int | None  # unix seconds; None: never used


@dataclass(frozen=True, slots=True)
class Downgrade:
    from_plan: Plan
    to_plan: Plan
    limits: tuple[LimitLoss, ...]
    features: tuple[FeatureLoss, ...]

    def document(self) -> dict[str, Any]:
        """The JSON the widget API answers with."""
        return {
            "from_plan": self.from_plan.id,
            "from_plan_name": self.from_plan.name,
            "to_plan": self.to_plan.id,
            "to_plan_name": self.to_plan.name,
            "limits": [
                {
                    "metric": limit.metric,
                    "used": limit.used,
                    "current_limit": limit.current_limit,
                    "new_limit": limit.new_limit,
                    "over": limit.over,
                }
                for limit in self.limits
            ],
            "features": [
                {"feature": f.feature, "uses": f.uses, "last_used_at": f.last_used_at}
                for f in self.features
            ],
        }


def find_plan(plans: Iterable[Plan], ref: str) -> Plan | None:
    """The plan `ref` names: its id, or else its name (case-insensitive) when exactly one plan
    has it. Names are accepted because `Uplift.confirmDowngrade({toPlan})` took a display name
    before it took an id, and pages written then (the demo's among them) still pass one."""
    plans = tuple(plans)
    by_id = next((p for p in plans if p.id == ref), None)
    if by_id is not None:
        return by_id
    named = [p for p in plans if p.name.casefold() == ref.casefold()]
    return named[0] if len(named) == 1 else None


def lost(
    current: Plan | None,
    target: Plan,
    *,
    usage: Mapping[str, int],
    last_used: Mapping[str, int],
    uses: Mapping[str, int] | None = None,
) -> Downgrade | None:
    """What moving from `current` to `target` takes away; None unless `target` is a lower tier
    (an unknown current plan is not known to be higher). A metric the lower plan does not cap is
    not lost. `last_used` maps a feature to the time of its last hit; `uses` to how many hits,
    when the caller knows them (None: unknown, said so rather than guessed from `last_used`)."""
    if current is None or target.tier >= current.tier:
        return None
    limits = []
    for metric, new_limit in target.limits.items():
        current_limit = current.limits.get(metric)
        if new_limit is None or (current_limit is not None and new_limit >= current_limit):
            continue
        used = usage.get(metric)
        limits.append(
            LimitLoss(
                metric=metric,
                used=used,
                current_limit=current_limit,
                new_limit=new_limit,
                over=used is not None and used > new_limit,
            )
        )
    kept = set(target.features)
    features = [
        FeatureLoss(
            feature=feature,
            uses=None if uses is None else uses.get(feature, 0),
            last_used_at=last_used.get(feature),
        )
        for feature in dict.fromkeys(current.features)
        if feature not in kept
    ]
    # Used features first, the most recent first; then the unused ones in the ladder's order.
    features.sort(key=lambda f: -(f.last_used_at or 0))
    # Over the new limit first; then by name (stored ladders keep no order of their own).
    limits.sort(key=lambda limit: (not limit.over, limit.metric))
    return Downgrade(current, target, tuple(limits), tuple(features))
