"""How many customers an offer reaches now, and what keeps the others out. Pure; `now` passed in.

For each customer of the population (every customer Uplift has a record of):

- `excluded[gate]`: the first gate that keeps them out (`explain.exclusion`, in the widget's
  order: `owned` first, then `eligibility.evaluate`'s), or else
- eligible: they pass every gate. Of those, `held_out` are in the experiment's holdout, and
  `by_placement[p]` counts the others who would be shown the offer at placement `p` now: the
  offers endpoint shows at most `limit` offers per request and respects the global cap per
  24 hours, so a customer for whom better offers (higher priority, then id) fill every slot at
  `p` is eligible but not shown there (the widget's gates over the offers ranked before this
  one at `p`, inlined: `owned`, then `eligibility.evaluate`'s).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from plugin.offers import eligibility, experiments, schedule
from plugin.offers.eligibility import CustomerState
from plugin.offers.explain import EXCLUSIONS, categorize, exclusion
from plugin.offers.model import Offer
from plugin.offers.relevance import Ladder, owned


@dataclass(frozen=True, slots=True)
class Audience:
    considered: int
    eligible: int
    held_out: int
    by_placement: dict[str, int]
    excluded: dict[str, int]  # every gate in `explain.EXCLUSIONS`, zeros included


def _ahead(offer: Offer, others: Iterable[Offer]) -> list[Offer]:
    """The other active offers that rank before `offer` (priority, then id), best first."""
    rank = (-offer.priority, offer.id)
    ahead = [o for o in others if o.id != offer.id and (-o.priority, o.id) < rank]
    return sorted(ahead, key=lambda o: (-o.priority, o.id))


def _shown(other: Offer, state: CustomerState, now: int) -> bool:
    """Whether the widget would show `other` to this customer now, given room: the gates of
    `eligibility.evaluate` after status, placement and schedule (checked once per count) and
    `owned` (checked once per plan), as it inlines them (tests/offers/test_explain.py holds
    `count` to the widget's gates)."""
    histories = state.histories
    history = histories.get(other.id) if histories else None
    if (
        history is not None and not schedule.check_frequency(other.frequency, history, now=now)
    ) or not other.matches(state.context, now):
        return False
    arm = state.assignments.get(other.id)
    if arm is None or (arm != experiments.HOLDOUT and arm not in other.by_key):
        arm = other.arm_for(state.context.customer_id)
    return arm != experiments.HOLDOUT and arm in other.by_key


def count(
    offer: Offer,
    population: Iterable[CustomerState],
    *,
    at_placement: Mapping[str, Sequence[Offer]],
    now: int,
    ladder: Ladder,
    max_per_day: int | None = eligibility.MAX_PER_DAY,
    limit: int = eligibility.LIMIT,
) -> Audience:
    """`at_placement`: the active offers placed at each placement, and `ladder` (the offer
    snapshot's)."""
    excluded = dict.fromkeys(EXCLUSIONS, 0)
    placements = tuple(dict.fromkeys(offer.placements))
    by_placement = dict.fromkeys(placements, 0)
    # The offers ahead that are live now (status and schedule are the same for everyone).
    ahead = {
        p: [
            o
            for o in _ahead(offer, at_placement.get(p, ()))
            if o.active and o.opens <= now < o.closes
        ]
        for p in placements
    }
    # Of those, the ones that sell a customer anything (`owned`): the same for everyone on the
    # same plan, interval and currency, so worked out once for each.
    sold: dict[tuple[str | None, str | None, str | None], dict[str, list[Offer]]] = {}
    why = categorize(offer.targeting)
    considered = eligible = held_out = 0
    sells: dict[tuple[str | None, str | None, str | None], bool] = {}  # this offer, per plan
    for state in population:
        considered += 1
        plan = state.context.plan
        key = (plan.plan, plan.interval, plan.currency)
        mine = sells.get(key)
        if mine is None:
            mine = sells[key] = owned(offer, plan, ladder) is None
        gate = exclusion(offer, state, now=now, ladder=ladder, why=why, sells=mine)
        if gate is not None:
            excluded[gate] += 1
            continue
        eligible += 1
        arm = state.assignments.get(offer.id)
        if arm is None or (arm != experiments.HOLDOUT and arm not in offer.by_key):
            arm = offer.arm_for(state.context.customer_id)
        if arm == experiments.HOLDOUT:
            held_out += 1
            continue
        left = schedule.remaining_today(max_per_day, state.recent_impressions, now=now)
        room = limit if left is None else min(limit, left)
        better = sold.get(key)
        if better is None:
            better = sold[key] = {
                p: [o for o in offers if owned(o, plan, ladder) is None]
                for p, offers in ahead.items()
            }
        seen: dict[str, bool] = {}  # other offer id -> shown (offers at several placements)
        for placement in placements:
            candidates = better[placement]
            if len(candidates) < room:  # too few to fill the slots, whoever they show to
                by_placement[placement] += 1
                continue
            shown = 0
            for other in candidates:
                if shown >= room:
                    break
                found = seen.get(other.id)
                if found is None:
                    found = seen[other.id] = _shown(other, state, now)
                shown += found
            if shown < room:
                by_placement[placement] += 1
    return Audience(considered, eligible, held_out, by_placement, excluded)
