"""MRR per item as the revenue tools count it (plugin/billing/mirror.py, catalog.py): tiers,
volume, metered prices, transform_quantity, decimals, rounding once per item."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from plugin.billing.catalog import Interval, Price, Tier, TransformQuantity, tiered_amount
from plugin.billing.mirror import MirrorItem, MirrorSubscription


def _item(
    quantity: int = 1, *, interval: Interval | None = "month", **pricing: object
) -> MirrorItem:
    fields: dict[str, object] = {"unit_amount": None, **pricing}
    return MirrorItem(
        "si_1",
        "price_1",
        "prod_1",
        quantity,
        currency="usd",
        interval=interval,
        **fields,  # type: ignore[arg-type]
    )


def _sub(*items: MirrorItem, status: str = "active") -> MirrorSubscription:
    return MirrorSubscription(
        id="sub_1", customer_id="cus_1", status=status, currency="usd", items=items,
        current_period_start=None, current_period_end=None, trial_end=None,
        cancel_at_period_end=False, canceled_at=None,
    )  # fmt: skip


GRADUATED = (
    Tier(up_to=5, unit_amount=Decimal(1000), flat_amount=Decimal(2000)),
    Tier(up_to=10, unit_amount=Decimal(800)),
    Tier(up_to=None, unit_amount=Decimal(500)),
)
VOLUME = (
    Tier(up_to=10, unit_amount=Decimal(1000)),
    Tier(up_to=None, unit_amount=Decimal(700), flat_amount=Decimal(1000)),
)


@pytest.mark.parametrize(
    ("item", "mrr"),
    [
        (_item(12, billing_scheme="tiered", tiers_mode="graduated", tiers=GRADUATED), 12000),
        (_item(3, billing_scheme="tiered", tiers_mode="graduated", tiers=GRADUATED), 5000),
        (_item(0, billing_scheme="tiered", tiers_mode="graduated", tiers=GRADUATED), 0),
        (_item(10, billing_scheme="tiered", tiers_mode="volume", tiers=VOLUME), 10000),
        (_item(11, billing_scheme="tiered", tiers_mode="volume", tiers=VOLUME), 8700),
        (_item(12, interval="year", billing_scheme="tiered", tiers_mode="volume",
               tiers=VOLUME), 783),
        (_item(12, billing_scheme="tiered", tiers_mode="volume", tiers=None), 0),
        (_item(1000, unit_amount=5, usage_type="metered"), 0),
        (_item(25, unit_amount=5000, transform_quantity=TransformQuantity(10, "up")), 15000),
        (_item(25, unit_amount=5000, transform_quantity=TransformQuantity(10, "down")), 10000),
        (_item(3, unit_amount_decimal=Decimal("0.5")), 2),
        (_item(1, unit_amount=1000, interval="year"), 83),
        (_item(3, unit_amount=1002, interval="year"), 251),
        (_item(1, unit_amount=500, interval=None), 0),
    ],
    ids=["graduated-12", "graduated-within-first", "graduated-zero", "volume-top-of-first",
         "volume-second", "volume-yearly", "tiers-unknown", "metered", "transform-up",
         "transform-down", "decimal-half-up", "yearly-round-down", "yearly-rounded-once",
         "one-time"],
)  # fmt: skip
def test_items_count_what_stripe_bills_per_month(item: MirrorItem, mrr: int) -> None:
    """Graduated tiers bill each tier's share (+ flat of tiers reached), volume bills all units at
    one tier (+ its flat), metered and one-time count nothing, transform_quantity rounds the
    billed units, decimals are exact and the month is rounded half up once per item."""
    assert _sub(item).mrr() == mrr


def test_items_are_summed_and_metered_items_listed_apart() -> None:
    """A subscription's MRR is the sum of its items; metered items are listed, counting 0."""
    metered = _item(5, unit_amount=100, usage_type="metered")
    sub = _sub(_item(2, unit_amount=1500), _item(1, unit_amount=99000, interval="year"), metered)
    assert sub.mrr() == 3000 + 8250
    assert sub.metered == (metered,)
    assert _sub(*sub.items, status="trialing").mrr() == 0


@given(
    unit=st.integers(min_value=0, max_value=10**7),
    quantity=st.integers(min_value=0, max_value=10**4),
    mode=st.sampled_from(["graduated", "volume"]),
)
def test_one_infinite_tier_is_a_per_unit_price(unit: int, quantity: int, mode: str) -> None:
    """A tiered price with one unbounded tier bills exactly what the per-unit price does, in
    either tiers mode."""
    tiered = Price(id="p", product_id="x", currency="usd", unit_amount=None, interval="month",
                   billing_scheme="tiered", tiers_mode=mode,  # type: ignore[arg-type]
                   tiers=(Tier(up_to=None, unit_amount=Decimal(unit)),))  # fmt: skip
    per_unit = Price(id="p", product_id="x", currency="usd", unit_amount=unit, interval="month")
    assert tiered.period_amount(quantity) == per_unit.period_amount(quantity) == unit * quantity


@given(
    bounds=st.lists(st.integers(min_value=1, max_value=50), min_size=1, max_size=5, unique=True),
    units=st.lists(st.integers(min_value=0, max_value=5000), min_size=6, max_size=6),
    quantity=st.integers(min_value=0, max_value=300),
)
def test_graduated_is_the_sum_of_unit_increments(
    bounds: list[int], units: list[int], quantity: int
) -> None:
    """Graduated tiers without flat fees bill, for each unit n = 1..quantity, the unit amount of
    the tier n falls in: the amount grows by exactly that price per extra unit."""
    ups: list[int | None] = [*sorted(bounds), None]
    tiers = [Tier(up_to=u, unit_amount=Decimal(units[i])) for i, u in enumerate(ups)]

    def unit_price(n: int) -> int:
        return next(units[i] for i, u in enumerate(ups) if u is None or n <= u)

    expected = sum(unit_price(n) for n in range(1, quantity + 1))
    assert tiered_amount(tiers, mode="graduated", quantity=quantity) == expected


@given(amount=st.integers(min_value=0, max_value=10**9), quantity=st.integers(1, 500))
def test_rounding_happens_once_per_item(amount: int, quantity: int) -> None:
    """A yearly item's MRR is round(amount x quantity / 12) half up, not quantity x a rounded
    monthly unit price: the error stays under one minor unit whatever the quantity."""
    mrr = _sub(_item(quantity, unit_amount=amount, interval="year")).mrr()
    assert abs(Fraction(mrr) - Fraction(amount * quantity, 12)) <= Fraction(1, 2)
