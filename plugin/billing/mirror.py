"""The local picture of a Stripe subscription and the MRR movement a change makes. Pure.

MRR counts subscriptions Stripe is billing (`active`, and `past_due`, which is still owed);
trials, incomplete and canceled subscriptions count zero. Each item contributes its price
normalised to one month (yearly = round(amount / 12), half up, as `Price.monthly_amount`)
times its quantity, in minor units of the subscription's currency.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from plugin.billing.catalog import Interval, Price

MRR_STATUSES = frozenset({"active", "past_due"})

MovementKind = Literal["new", "expansion", "contraction", "churn", "reactivation"]


@dataclass(frozen=True, slots=True)
class MirrorItem:
    id: str
    price_id: str
    product_id: str
    quantity: int
    unit_amount: int | None
    currency: str
    interval: Interval | None
    interval_count: int = 1

    def monthly_amount(self) -> int:
        price = Price(
            id=self.price_id,
            product_id=self.product_id,
            currency=self.currency,
            unit_amount=self.unit_amount,
            interval=self.interval,
            interval_count=self.interval_count,
        )
        monthly = price.monthly_amount()
        return monthly.amount * self.quantity if monthly is not None else 0


@dataclass(frozen=True, slots=True)
class MirrorSubscription:
    id: str
    customer_id: str
    status: str
    currency: str
    items: tuple[MirrorItem, ...]
    current_period_start: int | None
    current_period_end: int | None
    trial_end: int | None
    cancel_at_period_end: bool
    canceled_at: int | None

    def mrr(self) -> int:
        if self.status not in MRR_STATUSES:
            return 0
        return sum(item.monthly_amount() for item in self.items)


@dataclass(frozen=True, slots=True)
class Movement:
    kind: MovementKind
    amount: int  # signed change, minor units
    mrr_before: int
    mrr_after: int


def movement(*, before: int, after: int, counted_before: bool) -> Movement | None:
    """The movement of MRR from `before` to `after` (what the ledger records), or None if it
    did not change.

    `counted_before` says whether this subscription ever contributed MRR: coming back from
    zero is then a reactivation rather than new business.
    """
    if after == before:
        return None
    kind: MovementKind
    if before == 0:
        kind = "reactivation" if counted_before else "new"
    elif after == 0:
        kind = "churn"
    elif after > before:
        kind = "expansion"
    else:
        kind = "contraction"
    return Movement(kind=kind, amount=after - before, mrr_before=before, mrr_after=after)
