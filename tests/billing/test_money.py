"""Money is integer minor units plus a currency; prices normalise to monthly exactly."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from plugin.billing.catalog import Interval, Price
from plugin.billing.money import Money


@pytest.mark.parametrize(
    ("amount", "currency", "shown"),
    [
        (1900, "usd", "$19.00"),
        (-166, "usd", "-$1.66"),
        (100000, "jpy", "¥100,000"),
        (12500, "kwd", "12.500 KWD"),
        (5, "eur", "€0.05"),
        (123456789, "chf", "1,234,567.89 CHF"),
    ],
)
def test_money_formats_with_the_currency_exponent(amount: int, currency: str, shown: str) -> None:
    """Zero- and three-decimal currencies display correctly; arithmetic never needs floats."""
    assert Money(amount, currency).format() == shown


@pytest.mark.parametrize("amount", [19.0, "1900", True])
def test_money_refuses_anything_but_int_minor_units(amount: object) -> None:
    """A float (or a bool, or a string) amount is a bug, caught at construction."""
    with pytest.raises(TypeError):
        Money(amount, "usd")  # type: ignore[arg-type]


def test_money_refuses_mixing_currencies() -> None:
    """USD plus EUR has no meaning."""
    with pytest.raises(ValueError, match="cannot combine"):
        _ = Money(1, "usd") + Money(1, "eur")


def _price(amount: int, interval: Interval, count: int = 1, currency: str = "usd") -> Price:
    return Price(
        id="price_x",
        product_id="prod_x",
        currency=currency,
        unit_amount=amount,
        interval=interval,
        interval_count=count,
    )


@pytest.mark.parametrize(
    ("amount", "interval", "count", "monthly"),
    [
        (9900, "month", 1, 9900),
        (99000, "year", 1, 8250),
        (29000, "year", 1, 2417),  # 2416.67 rounds half up
        (2900, "month", 3, 967),
        (1000, "week", 1, 4333),
    ],
)
def test_prices_normalise_to_monthly_minor_units(
    amount: int, interval: Interval, count: int, monthly: int
) -> None:
    """MRR uses monthly amounts: yearly / 12, quarterly / 3, weekly * 52 / 12."""
    assert _price(amount, interval, count).monthly_amount() == Money(monthly, "usd")


@given(st.integers(min_value=0, max_value=10**12))
def test_yearly_to_monthly_is_within_half_a_unit(amount: int) -> None:
    """Normalising never drifts more than half a minor unit from the exact value."""
    monthly = _price(amount, "year").monthly_amount()
    assert monthly is not None
    assert abs(monthly.amount * 12 - amount) <= 6
