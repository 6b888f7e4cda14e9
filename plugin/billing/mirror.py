"""The local picture of a Stripe subscription and the MRR movement a change makes. Pure.

MRR is counted the way the revenue tools count it (ChartMogul, Baremetrics, ProfitWell and
Stripe's own Billing analytics): what the subscription bills each month for what it has now,
before discounts and taxes.

- Statuses: subscriptions Stripe is billing count (`active`, and `past_due`, which is still
  owed); `trialing`, `incomplete`, `incomplete_expired`, `unpaid`, `paused` and `canceled`
  count zero.
- Items are summed. Each item contributes its price's amount for one period at the item's
  quantity, normalised to one month (yearly / 12, weekly * 52 / 12, daily * 365 / 12, divided by
  `interval_count`), computed exactly (Fraction; Stripe's `*_decimal` strings are read as
  decimals, never floats) and rounded to a minor unit half up once, at the end, per item.
- Licensed per-unit and flat prices: unit amount * quantity (a flat price is quantity 1).
  `transform_quantity` first turns the quantity into billed units (divide by `divide_by`,
  round up or down), as Stripe invoices it.
- Tiered prices (`billing_scheme=tiered`): `volume` bills the whole quantity at the tier it
  falls in (plus that tier's flat amount); `graduated` bills each tier's share of the quantity
  at that tier's unit amount, plus the flat amount of every tier reached. Stripe includes a
  price's `tiers` only when expanded, so an item whose tiers are unknown counts zero
  (`MirrorItem.priced` is False) until the catalog supplies them.
- Metered prices (`recurring.usage_type=metered`) are not MRR: they bill usage after the fact,
  which is revenue but not recurring commitment; they count zero (`MirrorSubscription.metered`
  lists them).
- One-time prices (no interval) count zero.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

from plugin.billing.catalog import (
    BillingScheme,
    Interval,
    Price,
    Tier,
    TiersMode,
    TransformQuantity,
    UsageType,
    round_half_up,
)

MRR_STATUSES = frozenset({"active", "past_due"})

MovementKind = Literal["new", "expansion", "contraction", "churn", "reactivation"]


@dataclass(frozen=True, slots=True)
class MirrorItem:
    id: str
    price_id: str
    product_id: str | None  # None: a legacy plan without a product the catalog did not know
    quantity: int
    unit_amount: int | None
    currency: str
    interval: Interval | None
    interval_count: int = 1
    unit_amount_decimal: Decimal | None = None
    billing_scheme: BillingScheme = "per_unit"
    tiers_mode: TiersMode | None = None
    tiers: tuple[Tier, ...] | None = None
    usage_type: UsageType = "licensed"
    transform_quantity: TransformQuantity | None = None

    def price(self) -> Price:
        """The item's price as the catalog value (the product id may be unknown here)."""
        return Price(
            id=self.price_id,
            product_id=self.product_id or "",
            currency=self.currency,
            unit_amount=self.unit_amount,
            interval=self.interval,
            interval_count=self.interval_count,
            unit_amount_decimal=self.unit_amount_decimal,
            billing_scheme=self.billing_scheme,
            tiers_mode=self.tiers_mode,
            tiers=self.tiers,
            usage_type=self.usage_type,
            transform_quantity=self.transform_quantity,
        )

    @property
    def metered(self) -> bool:
        return self.usage_type == "metered"

    @property
    def priced(self) -> bool:
        """Whether the mirror knows enough to compute this item's amount (a tiered price
        without its tiers, or a per-unit price without an amount, does not)."""
        return self.metered or self.interval is None or self.price().period_amount(1) is not None

    def monthly_amount(self) -> int:
        """This item's MRR contribution in minor units (the module docstring has the rules);
        0 for metered, one-time and unpriced items."""
        monthly = self.price().monthly_exact(self.quantity)
        return 0 if monthly is None else round_half_up(monthly)


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

    @property
    def metered(self) -> tuple[MirrorItem, ...]:
        """The metered items, which bill usage and so add nothing to `mrr()`."""
        return tuple(item for item in self.items if item.metered)


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
