"""`catalog.yearly_saving`: what a yearly price saves against twelve monthly payments, which
the widget words as "Save $198.00 a year, 2 months free" (issue 23)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from plugin.billing.catalog import Price, YearlySaving, yearly_saving


def _price(
    amount: int | None, interval: str = "month", *, count: int = 1, currency: str = "usd"
) -> Price:
    return Price(
        id=f"price_{interval}_{amount}", product_id="prod", currency=currency,
        unit_amount=amount, interval=interval, interval_count=count,  # type: ignore[arg-type]
    )  # fmt: skip


def test_ten_months_for_a_year_is_two_months_free() -> None:
    assert yearly_saving(_price(99000, "year"), _price(9900)) == YearlySaving(19800, 2)


def test_a_saving_that_is_not_whole_months_names_no_months() -> None:
    assert yearly_saving(_price(100000, "year"), _price(9900)) == YearlySaving(18800, None)


def test_no_saving_for_other_intervals_currencies_or_a_dearer_year() -> None:
    monthly = _price(9900)
    assert yearly_saving(_price(118800, "year"), monthly) is None  # twelve months exactly
    assert yearly_saving(_price(200000, "year"), monthly) is None
    assert yearly_saving(_price(99000, "year", count=2), monthly) is None
    assert yearly_saving(_price(99000, "year"), _price(9900, count=3)) is None
    assert yearly_saving(_price(99000, "year", currency="eur"), monthly) is None
    assert yearly_saving(_price(None, "year"), monthly) is None
    assert yearly_saving(_price(99000, "month"), monthly) is None


@given(st.integers(1, 10**7), st.integers(1, 10**8))
def test_the_saving_is_twelve_months_less_the_year_in_minor_units(month: int, year: int) -> None:
    found = yearly_saving(_price(year, "year"), _price(month))
    if 12 * month <= year:
        assert found is None
        return
    assert found is not None
    assert found.amount == 12 * month - year
    assert found.free_months == (found.amount // month if found.amount % month == 0 else None)
