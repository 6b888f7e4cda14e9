"""Which offers one customer sees now, at one placement. Pure and fast.

The offers endpoint builds a `CustomerState` with one indexed read and evaluates it against an
in-memory snapshot of the active offers. For each offer, cheapest test first:

    status and placement → schedule window → frequency caps → targeting → experiment arm

then the global per-day cap across offers. A customer in an offer's holdout is not shown it
but is reported in `held_out`, so the caller can record the exposure: lift is measured against
those customers, and they must be counted exactly like the ones who saw a variant.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field

from plugin.offers import experiments, schedule, targeting
from plugin.offers.model import Offer, OfferVariant
from plugin.offers.schedule import OfferHistory
from plugin.offers.targeting import CustomerContext
from plugin.timespan import DAY

NO_HISTORY = OfferHistory()
MAX_PER_DAY = 5  # offers of any kind one customer sees in 24 h (the global cap)
LIMIT = 3  # offers one request shows at most, per placement


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


class Reasons(Mapping[str, str]):
    """Why each offer was not shown, by offer id; each reason is worded only when read.

    The offers endpoint never reads them and the admin API reads a few, so `evaluate` only
    notes which offer was blocked and words the reason (`_blocked`, the same checks with
    their explanations) on first access."""

    __slots__ = ("_found", "_now", "_placement", "_state")

    def __init__(
        self, found: dict[str, str | Offer], state: CustomerState, placement: str | None, now: int
    ) -> None:
        self._found = found  # offer id -> the reason, or the offer to word it for
        self._state, self._placement, self._now = state, placement, now

    def __getitem__(self, offer_id: str) -> str:
        found = self._found[offer_id]
        if isinstance(found, str):
            return found
        reason = _blocked(found, self._state, placement=self._placement, now=self._now)
        if reason is None:  # pragma: no cover -- noted only when a check failed
            raise AssertionError(f"{offer_id} was noted as blocked but passes every check")
        self._found[offer_id] = reason
        return reason

    def __iter__(self) -> Iterator[str]:
        return iter(self._found)

    def __len__(self) -> int:
        return len(self._found)


def evaluate(
    offers: Sequence[Offer],
    state: CustomerState,
    *,
    placement: str | None,
    now: int,
    max_per_day: int | None = None,
    limit: int = LIMIT,
) -> Result:
    """Offers to show, best first (priority, then id for a stable order).

    The gates are inlined here in `_blocked`'s order (this runs for every active offer on
    every offers request); `_blocked` is the readable reference that words the reasons."""
    blocked: dict[str, str | Offer] = {}
    candidates: list[tuple[Offer, str]] = []
    held_out: list[Offer] = []
    ctx, histories, assignments = state.context, state.histories, state.assignments
    holdout, check_frequency = experiments.HOLDOUT, schedule.check_frequency
    for offer in offers:
        # Placement first: it is the gate most offers fail (`_blocked` checks status first;
        # the order changes no outcome, only which reason is worded, and that is `_blocked`'s).
        if (placement is not None and placement not in offer.placements) or not (
            offer.active and offer.opens <= now < offer.closes  # offer.live(now), inlined
        ):
            blocked[offer.id] = offer
            continue
        offer_id = offer.id
        history = histories.get(offer_id) if histories else None
        if (
            history is not None and not check_frequency(offer.frequency, history, now=now)
        ) or not offer.matches(ctx, now):
            blocked[offer_id] = offer
            continue
        arm = assignments.get(offer_id)
        if arm is None or (arm != holdout and arm not in offer.by_key):
            # Unseen (or its recorded variant was deleted): assign now; the caller records it.
            arm = offer.arm_for(ctx.customer_id)
        if arm == holdout:
            held_out.append(offer)
            blocked[offer_id] = "in the experiment's holdout"
        else:
            candidates.append((offer, arm))

    candidates.sort(key=_order)
    room, full = limit, "other offers came first"
    left = schedule.remaining_today(max_per_day, state.recent_impressions, now=now)
    if left is not None and left < limit:
        room, full = left, f"global cap of {max_per_day} offers per customer per 24 h"
    shown: list[Shown] = []
    for offer, arm in candidates:
        variant = offer.by_key.get(arm)
        if len(shown) >= room or variant is None:
            blocked[offer.id] = full
            continue
        shown.append(Shown(offer, variant, schedule.countdown(offer.window, now=now)))
    return Result(tuple(shown), tuple(held_out), Reasons(blocked, state, placement, now))


def stable_until(
    offers: Sequence[Offer],
    state: CustomerState,
    result: Result,
    *,
    now: int,
    max_per_day: int | None,
    spans: Iterable[int] = (),
    countdowns: bool = True,
) -> int | None:
    """The first second after `now` at which `evaluate` over the same offers and state could
    answer otherwise than `result`, its answer at `now` (the offers shown, their variants and
    countdowns, who is held out); None if never, until the offers or the customer's facts
    change. The offers endpoint keeps an answer until then.

    Every time-dependent gate compares `now` with an instant (the schedule's edges), or the
    age of one of the customer's moments (an impression, a dismissal, a decline, an accept, a
    feature hit, the signup, the last order) with a span (a cap's window, a cooldown, a rule's
    days or minutes, the 24-hour global cap), by `<` or `<=`. So an answer can change only at
    an edge, or at a moment plus a span, or one second after that; the earliest of those
    after `now` is returned. Sometimes earlier than needed, never later. A countdown changes
    every second; with `countdowns=False` they are left out, for a caller that counts them down
    itself: until the second returned, every shown offer's schedule is still open, so its
    countdown is `ends_at - now`, above zero. `spans`: more spans the caller's inputs depend
    on (the history window the facts were read with)."""
    if countdowns and any(shown.countdown is not None for shown in result.shown):
        return now + 1
    first: int | float = float("inf")
    every_span = {0, *spans}
    if max_per_day is not None:
        every_span.add(DAY)
    for offer in offers:
        every_span |= offer.spans
        for edge in (offer.opens, offer.closes):
            if now < edge < first:
                first = edge
    moments = {*targeting.instants(state.context), *state.recent_impressions}
    for history in state.histories.values():
        moments.update(history.impressions)
        for at in (history.last_dismissed_at, history.last_declined_at, history.accepted_at):
            if at is not None:
                moments.add(at)
    for moment in moments:
        for span in every_span:
            change = moment + span
            if now < change < first:
                first = change
            elif change == now and now + 1 < first:
                first = now + 1
    return None if first == float("inf") else int(first)


def _order(pair: tuple[Offer, str]) -> tuple[int, str]:
    return (-pair[0].priority, pair[0].id)


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
