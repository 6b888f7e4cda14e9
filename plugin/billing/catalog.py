"""The catalog as Uplift sees it: Stripe products and their prices, as plain values."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

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
