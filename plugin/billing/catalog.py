"""The catalog as Uplift sees it: Stripe products and their prices, as plain values.

`price_from_stripe` is the one mapping of a Stripe Price to `Price`, for the gateway's
stripe-python objects and for webhook payloads alike.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal, Protocol, cast

from plugin.billing.money import Money

Interval = Literal["day", "week", "month", "year"]


@dataclass(frozen=True, slots=True)
class Product:
    id: str
    name: str
    active: bool = True
    metadata: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Price:
    id: str
    product_id: str
    currency: str
    unit_amount: int | None  # minor units; None for prices that are not per-unit
    interval: Interval | None = None
    interval_count: int = 1
    lookup_key: str | None = None
    active: bool = True
    metadata: dict[str, str] = field(default_factory=dict)

    @property
    def amount(self) -> Money | None:
        return Money(self.unit_amount, self.currency) if self.unit_amount is not None else None

    @property
    def recurring(self) -> bool:
        return self.interval is not None

    def monthly_amount(self) -> Money | None:
        """The price normalised to one month, in minor units (MRR), rounded half up.

        Yearly prices divide by 12; weekly and daily prices use 52/12 and 365/12 months.
        """
        if self.unit_amount is None or self.interval is None:
            return None
        per_month = {"month": (1, 1), "year": (1, 12), "week": (52, 12), "day": (365, 12)}
        num, den = per_month[self.interval]
        den *= self.interval_count
        amount = self.unit_amount * num
        return Money((2 * amount + den) // (2 * den), self.currency)


class StripeRecurring(Protocol):
    @property
    def interval(self) -> str: ...
    @property
    def interval_count(self) -> int: ...


class StripePrice(Protocol):
    """The fields of a Stripe Price that `Price` takes as they are, under Stripe's names: a
    stripe-python `stripe.Price` has them, and so does a webhook payload's `PriceObject`
    (plugin/webhooks/events.py, which reads a legacy Plan into the same shape)."""

    @property
    def id(self) -> str: ...
    @property
    def currency(self) -> str: ...
    @property
    def unit_amount(self) -> int | None: ...
    @property
    def recurring(self) -> StripeRecurring | None: ...
    @property
    def lookup_key(self) -> str | None: ...
    @property
    def active(self) -> bool: ...


def price_from_stripe(
    obj: StripePrice,
    *,
    product_id: str | None,
    metadata: Mapping[str, object] | None,
    deleted: bool = False,
) -> Price:
    """`obj` as a `Price`. The product id and the metadata are passed apart, as each side
    holds them its own way (an id or an expanded product; stripe-python's metadata object or
    a dict); a price with no product (a payload may lack it) is a ValueError. `deleted`: the
    snapshot of a `price.deleted` event, kept as an inactive price."""
    if product_id is None:
        raise ValueError(f"{obj.id} has no product")
    recurring = obj.recurring
    return Price(
        id=obj.id,
        product_id=product_id,
        currency=obj.currency.lower(),
        unit_amount=obj.unit_amount,
        # Stripe has these four intervals; a webhook payload's was checked at the edge.
        interval=cast(Interval, recurring.interval) if recurring else None,
        interval_count=recurring.interval_count if recurring else 1,
        lookup_key=obj.lookup_key,
        active=bool(obj.active) and not deleted,
        metadata={str(k): str(v) for k, v in (metadata or {}).items()},
    )


@dataclass(frozen=True, slots=True)
class Plan:
    """A rung of the admin's plan ladder: what Stripe does not know about a plan.

    `tier` orders the ladder (higher is more), which is what makes "upgrade" and "downgrade"
    mean something. `limits` maps a metric to its cap (None: unlimited).
    """

    id: str
    name: str
    tier: int
    prices: tuple[str, ...] = ()
    limits: dict[str, int | None] = field(default_factory=dict)
    features: tuple[str, ...] = ()
