"""Which offers one customer sees now, at one placement. Pure and fast.

The offers endpoint builds a `CustomerState` with one indexed read and evaluates it against an
in-memory snapshot of the active offers. For each offer, cheapest test first:

    status and placement → schedule window → frequency caps → targeting → experiment arm

then the global per-day cap across offers. A customer in an offer's holdout is not shown it
but is reported in `held_out`, so the caller can record the exposure: lift is measured against
those customers, and they must be counted exactly like the ones who saw a variant.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from plugin import experiments, schedule, targeting
from plugin.offers import Offer, OfferVariant
from plugin.schedule import OfferHistory
from plugin.targeting import CustomerContext

NO_HISTORY = OfferHistory()


@dataclass(frozen=True, slots=True)
class CustomerState:
    context: CustomerContext
    histories: Mapping[str, OfferHistory] = field(default_factory=dict)  # by offer id
    recent_impressions: Sequence[int] = ()  # every offer, last 24 h
    assignments: Mapping[str, str] = field(default_factory=dict)  # offer id -> recorded arm


@dataclass(frozen=True, slots=True)
class Shown:
    offer: Offer
    variant: OfferVariant
    countdown: int | None  # seconds until the offer ends, if it ends


@dataclass(frozen=True, slots=True)
class Result:
    shown: tuple[Shown, ...]
    held_out: tuple[Offer, ...]  # eligible, but in the experiment's holdout
    reasons: Mapping[str, str]  # offer id -> why it was not shown (for the admin API)


def evaluate(
    offers: Sequence[Offer],
    state: CustomerState,
    *,
    placement: str | None,
    now: int,
    max_per_day: int | None = None,
    limit: int = 3,
) -> Result:
    """Offers to show, best first (priority, then id for a stable order)."""
    reasons: dict[str, str] = {}
    candidates: list[tuple[Offer, str]] = []
    held_out: list[Offer] = []
    for offer in offers:
        reason = _blocked(offer, state, placement=placement, now=now)
        if reason is not None:
            reasons[offer.id] = reason
            continue
        arm = state.assignments.get(offer.id)
        if arm is None or (arm != experiments.HOLDOUT and offer.variant(arm) is None):
            # Unseen (or its recorded variant was deleted): assign now; the caller records it.
            arm = experiments.assign(offer.design, offer_id=offer.id, customer_id=_who(state))
        if arm == experiments.HOLDOUT:
            held_out.append(offer)
            reasons[offer.id] = "in the experiment's holdout"
        else:
            candidates.append((offer, arm))

    candidates.sort(key=lambda pair: (-pair[0].priority, pair[0].id))
    room, full = limit, "other offers came first"
    left = schedule.remaining_today(max_per_day, state.recent_impressions, now=now)
    if left is not None and left < limit:
        room, full = left, f"global cap of {max_per_day} offers per customer per 24 h"
    shown: list[Shown] = []
    for offer, arm in candidates:
        variant = offer.variant(arm)
        if len(shown) >= room or variant is None:
            reasons[offer.id] = full
            continue
        shown.append(Shown(offer, variant, schedule.countdown(offer.window, now=now)))
    return Result(tuple(shown), tuple(held_out), reasons)


def _who(state: CustomerState) -> str:
    return state.context.customer_id


def _blocked(offer: Offer, state: CustomerState, *, placement: str | None, now: int) -> str | None:
    if offer.status != "active":
        return f"offer is {offer.status}"
    if placement is not None and placement not in offer.placements:
        return f"not placed at {placement!r}"
    window = schedule.in_window(offer.window, now=now)
    if not window:
        return window.reason
    history = state.histories.get(offer.id, NO_HISTORY)
    frequency = schedule.check_frequency(offer.frequency, history, now=now)
    if not frequency:
        return frequency.reason
    decision = targeting.evaluate(offer.targeting, state.context, now=now)
    if not decision:
        return decision.reason
    return None
