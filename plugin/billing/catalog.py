"""The catalog as Uplift sees it: Stripe products and their prices, as plain values.

`price_from_stripe` is the one mapping of a Stripe Price to `Price`, for the gateway's
stripe-python objects and for webhook payloads alike.

A price's amount for a period (`Price.period_amount`) follows Stripe's billing schemes, exactly
(`Fraction`, never float; Stripe's `*_decimal` strings have up to 12 decimal places):

- `per_unit`: unit amount * quantity, the quantity first transformed by `transform_quantity`
  (divided by `divide_by`, rounded `up` or `down` to a whole number) when the price has one;
- `tiered`, `tiers_mode=volume`: the whole quantity at the unit amount of the tier it falls in
  (the first whose `up_to` is at least the quantity; `up_to` None is infinity), plus that tier's
  flat amount;
- `tiered`, `tiers_mode=graduated`: each tier bills the units that fall in it at its unit
  amount, plus its flat amount if at least one unit falls in it;
- `usage_type=metered`: billed on reported usage, which Uplift does not see: no amount (None).

Stripe includes `tiers` only when asked to expand them, so a tiered price may arrive without
them: `tiers` is then None (unknown, not "no tiers") and its amount is unknown (None).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from typing import Literal, Protocol, cast

from plugin.billing.money import Money

Interval = Literal["day", "week", "month", "year"]
BillingScheme = Literal["per_unit", "tiered"]
TiersMode = Literal["graduated", "volume"]
UsageType = Literal["licensed", "metered"]

# Months per interval as (numerator, denominator): a week is 12/52 of a month, so a weekly
# amount times 52/12 is its monthly amount.
_PER_MONTH: dict[str, tuple[int, int]] = {
    "month": (1, 1),
    "year": (1, 12),
    "week": (52, 12),
    "day": (365, 12),
}


def round_half_up(value: Fraction) -> int:
    """`value` to the nearest whole minor unit, halves away from zero (a refund mirrors a
    charge)."""
    if value < 0:
        return -round_half_up(-value)
    return int((2 * value.numerator + value.denominator) // (2 * value.denominator))


def per_month(amount: Fraction, *, interval: Interval, interval_count: int) -> Fraction:
    """`amount` billed every `interval_count` `interval`s, as an exact amount per month."""
    num, den = _PER_MONTH[interval]
    return amount * num / (den * max(interval_count, 1))


def exact(value: Decimal | str | int | None) -> Fraction | None:
    """A Stripe amount (an integer, or a `*_decimal` string or Decimal) as an exact Fraction;
    None stays None, and so does text that is not a finite decimal."""
    if value is None:
        return None
    if isinstance(value, int):
        return Fraction(value)
    try:
        number = Decimal(value)
    except InvalidOperation:
        return None
    return Fraction(number) if number.is_finite() else None


@dataclass(frozen=True, slots=True)
class Product:
    id: str
    name: str
    active: bool = True
    metadata: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Tier:
    """One of a tiered price's tiers; amounts are exact minor units (from Stripe's
    `unit_amount_decimal` / `flat_amount_decimal` when given, else the integer fields)."""

    up_to: int | None  # None: infinity (the last tier)
    unit_amount: Decimal | None = None
    flat_amount: Decimal | None = None


@dataclass(frozen=True, slots=True)
class TransformQuantity:
    """Stripe's `transform_quantity`: bill `ceil` or `floor` of quantity / `divide_by`."""

    divide_by: int
    round: Literal["up", "down"]

    def apply(self, quantity: int) -> int:
        whole, rest = divmod(quantity, max(self.divide_by, 1))
        return whole + 1 if rest and self.round == "up" else whole


def tiered_amount(tiers: Sequence[Tier], *, mode: TiersMode, quantity: int) -> Fraction:
    """What `quantity` units cost under `tiers` (see the module docstring)."""
    ordered = sorted(tiers, key=lambda t: (t.up_to is None, t.up_to or 0))

    def cost(tier: Tier, units: int) -> Fraction:
        return (exact(tier.unit_amount) or Fraction(0)) * units + (
            exact(tier.flat_amount) or Fraction(0)
        )

    if mode == "volume":
        for tier in ordered:
            if tier.up_to is None or quantity <= tier.up_to:
                return cost(tier, quantity)
        return cost(ordered[-1], quantity) if ordered else Fraction(0)
    total = Fraction(0)
    below = 0
    for tier in ordered:
        if quantity <= below:
            break
        top = quantity if tier.up_to is None else min(quantity, tier.up_to)
        if top > below:
            total += cost(tier, top - below)
        below = top if tier.up_to is None else tier.up_to
    return total


@dataclass(frozen=True, slots=True)
class Price:
    id: str
    product_id: str
    currency: str
    unit_amount: int | None  # minor units; None for prices that are not a whole per-unit amount
    interval: Interval | None = None
    interval_count: int = 1
    lookup_key: str | None = None
    active: bool = True
    metadata: dict[str, str] = field(default_factory=dict)
    # How Stripe computes the amount (Stripe's names). `unit_amount_decimal` is kept only when it
    # says more than `unit_amount` (a fractional amount such as 0.5).
    unit_amount_decimal: Decimal | None = None
    billing_scheme: BillingScheme = "per_unit"
    tiers_mode: TiersMode | None = None
    tiers: tuple[Tier, ...] | None = None  # None: not known (Stripe sends them only expanded)
    usage_type: UsageType = "licensed"
    transform_quantity: TransformQuantity | None = None

    @property
    def amount(self) -> Money | None:
        return Money(self.unit_amount, self.currency) if self.unit_amount is not None else None

    @property
    def recurring(self) -> bool:
        return self.interval is not None

    @property
    def per_unit(self) -> bool:
        """A plain licensed per-unit price: what quotes and prorations know how to compute."""
        return (
            self.billing_scheme == "per_unit"
            and self.usage_type == "licensed"
            and self.transform_quantity is None
        )

    def period_amount(self, quantity: int = 1) -> Fraction | None:
        """What one period bills for `quantity` units, exactly, in minor units; None when it
        cannot be known here: a metered price, a tiered price whose tiers are unknown, a
        per-unit price with no amount."""
        if self.usage_type == "metered":
            return None
        if self.billing_scheme == "tiered":
            if self.tiers is None or not self.tiers:
                return None
            return tiered_amount(self.tiers, mode=self.tiers_mode or "volume", quantity=quantity)
        unit = exact(self.unit_amount_decimal)
        if unit is None:
            unit = exact(self.unit_amount)
        if unit is None:
            return None
        billed = self.transform_quantity.apply(quantity) if self.transform_quantity else quantity
        return unit * billed

    def monthly_exact(self, quantity: int = 1) -> Fraction | None:
        """`period_amount(quantity)` per month, unrounded; None for one-time prices too."""
        amount = self.period_amount(quantity)
        if amount is None or self.interval is None:
            return None
        return per_month(amount, interval=self.interval, interval_count=self.interval_count)

    def monthly_amount(self, quantity: int = 1) -> Money | None:
        """The price for `quantity` normalised to one month, in minor units (MRR), rounded
        half up once at the end.

        Yearly prices divide by 12; weekly and daily prices use 52/12 and 365/12 months.
        """
        monthly = self.monthly_exact(quantity)
        return None if monthly is None else Money(round_half_up(monthly), self.currency)


class StripeRecurring(Protocol):
    @property
    def interval(self) -> str: ...
    @property
    def interval_count(self) -> int: ...
    @property
    def usage_type(self) -> str | None: ...


class StripeTransformQuantity(Protocol):
    @property
    def divide_by(self) -> int: ...
    @property
    def round(self) -> str: ...


class StripeTier(Protocol):
    @property
    def up_to(self) -> int | None: ...
    @property
    def unit_amount(self) -> int | None: ...
    @property
    def unit_amount_decimal(self) -> Decimal | str | None: ...
    @property
    def flat_amount(self) -> int | None: ...
    @property
    def flat_amount_decimal(self) -> Decimal | str | None: ...


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
    def unit_amount_decimal(self) -> Decimal | str | None: ...
    @property
    def billing_scheme(self) -> str | None: ...
    @property
    def tiers_mode(self) -> str | None: ...
    @property
    def transform_quantity(self) -> StripeTransformQuantity | None: ...
    @property
    def recurring(self) -> StripeRecurring | None: ...
    @property
    def lookup_key(self) -> str | None: ...
    @property
    def active(self) -> bool: ...


def _tier(obj: StripeTier) -> Tier:
    unit = obj.unit_amount_decimal if obj.unit_amount_decimal is not None else obj.unit_amount
    flat = obj.flat_amount_decimal if obj.flat_amount_decimal is not None else obj.flat_amount
    return Tier(
        up_to=obj.up_to,
        unit_amount=None if unit is None else Decimal(unit),
        flat_amount=None if flat is None else Decimal(flat),
    )


def price_from_stripe(
    obj: StripePrice,
    *,
    product_id: str | None,
    metadata: Mapping[str, object] | None,
    tiers: Sequence[StripeTier] | None = None,
    deleted: bool = False,
) -> Price:
    """`obj` as a `Price`. The product id, the metadata and the tiers are passed apart, as each
    side holds them its own way (an id or an expanded product; stripe-python's metadata object
    or a dict; tiers that stripe-python lacks unless expanded); a price with no product is a
    ValueError. `deleted`: the snapshot of a `price.deleted` event, kept as an inactive price."""
    if product_id is None:
        raise ValueError(f"{obj.id} has no product")
    recurring = obj.recurring
    scheme: BillingScheme = "tiered" if obj.billing_scheme == "tiered" else "per_unit"
    mode = obj.tiers_mode if obj.tiers_mode in ("graduated", "volume") else None
    decimal = exact(obj.unit_amount_decimal)
    transform = obj.transform_quantity
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
        unit_amount_decimal=(
            Decimal(str(obj.unit_amount_decimal))
            if decimal is not None and decimal != exact(obj.unit_amount)
            else None
        ),
        billing_scheme=scheme,
        tiers_mode=cast("TiersMode | None", mode) if scheme == "tiered" else None,
        tiers=tuple(_tier(t) for t in tiers) if scheme == "tiered" and tiers is not None else None,
        usage_type="metered" if recurring and recurring.usage_type == "metered" else "licensed",
        transform_quantity=(
            TransformQuantity(
                divide_by=transform.divide_by, round="up" if transform.round == "up" else "down"
            )
            if transform is not None and scheme == "per_unit"
            else None
        ),
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


@dataclass(frozen=True, slots=True)
class YearlySaving:
    """What paying yearly saves against twelve monthly payments, in the prices' minor units;
    `free_months` when the saving is a whole number of monthly payments ("2 months free")."""

    amount: int
    free_months: int | None


def yearly_saving(yearly: Price, monthly: Price) -> YearlySaving | None:
    """`yearly` (a price billed every year) against twelve payments of `monthly` (billed every
    month) in the same currency; None when they are not such prices or it saves nothing."""
    if (
        yearly.interval != "year"
        or yearly.interval_count != 1
        or monthly.interval != "month"
        or monthly.interval_count != 1
        or yearly.currency != monthly.currency
        or not yearly.unit_amount
        or not monthly.unit_amount
    ):
        return None
    saved = 12 * monthly.unit_amount - yearly.unit_amount
    if saved <= 0:
        return None
    whole = saved % monthly.unit_amount == 0
    return YearlySaving(saved, saved // monthly.unit_amount if whole else None)
