"""A subscription's MRR movements, derived from its ordered history of snapshots. Pure.

Stripe does not deliver events in order (docs/reliability.md rule 4), and a late event is not a
stale one to skip: it tells what the subscription was at that time, so the movements after it
change. Uplift keeps every snapshot it has seen of a subscription (`Point`: when Stripe says it
was so, and its MRR then) and derives the movements from the sequence, ordered by Stripe's time
(`occurred_at`, the event's `created`), then by arrival (`seq`) for events of the same second.
Whatever the delivery order and however often an event is delivered, the same points give the
same movements: one per point whose MRR differs from the point before it, keyed by that point's
source (the event id, or `import:…` for a state `uplift import` reconstructed).

Two events of the same second cannot be ordered by their times; the webhook handler then stores
the later arrival as the subscription Stripe has now (it asks Stripe), so the last point of a
second is the newest state whichever arrived first.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from plugin.billing.mirror import Movement, movement


@dataclass(frozen=True, slots=True)
class Point:
    source_id: str
    occurred_at: int
    seq: int
    mrr: int

    @property
    def order(self) -> tuple[int, int, str]:
        return (self.occurred_at, self.seq, self.source_id)


@dataclass(frozen=True, slots=True)
class Derived:
    """The movement a point makes, at the point's time."""

    source_id: str
    occurred_at: int
    movement: Movement


def ordered(points: Iterable[Point]) -> list[Point]:
    return sorted(points, key=lambda point: point.order)


def derive(points: Iterable[Point]) -> list[Derived]:
    """The movements of one subscription whose history is `points` (any order). Before its
    first point a subscription had no MRR; a return from zero after it once had some is a
    reactivation."""
    derived = []
    before, counted = 0, False
    for point in ordered(points):
        change = movement(before=before, after=point.mrr, counted_before=counted)
        if change is not None:
            derived.append(Derived(point.source_id, point.occurred_at, change))
        counted = counted or point.mrr > 0
        before = point.mrr
    return derived
