"""An offer's coupon applied with the change: only the new item's lines are discounted, net of
the discount (Stripe's `proration_discounts=included`), and a full period costs exactly the
discounted price the offer showed."""

from __future__ import annotations

from dataclasses import replace
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from plugin.billing.proration import Change, Item, Off, ProrationError, prorate, prorate_additions
from plugin.offers.model import Discount

APR_1, MAY_1 = 1743465600, 1746057600  # a 30-day April 2025
APR_16 = 1744761600  # exactly halfway
BASIC = Item("price_basic", "Basic", 1000)
PRO = Item("price_pro", "Pro", 2000)
REPORTS = Item("price_reports", "Advanced Reports", 1900)


def _change(off: Off | None, *, new: Item = PRO, behavior: str = "always_invoice") -> Change:
    return Change(
        currency="usd", old=BASIC, new=new, period_start=APR_1, period_end=MAY_1,
        change_time=APR_16, behavior=behavior, new_off=off,  # type: ignore[arg-type]
    )  # fmt: skip


def test_percent_coupon_discounts_the_new_price_and_not_the_credit() -> None:
    """Basic $10 → Pro $20 halfway with 30 % off Pro: the unused Basic time is credited in full
    (it was paid in full), the remaining Pro time is $10.00 less 30 %: $7.00, charged now."""
    quote = prorate(_change(Off(percent=Fraction(30))))
    assert [(line.type, line.amount, line.discount_amount) for line in quote.lines] == [
        ("credit", -500, 0),
        ("debit", 700, 300),
    ]
    assert quote.amount_due_now == 200


def test_amount_coupon_is_prorated_like_the_price() -> None:
    """$5 off Pro, halfway: half the price less half the amount off, $10.00 - $2.50."""
    quote = prorate(_change(Off(amount=500)))
    assert [(line.amount, line.discount_amount) for line in quote.lines] == [(-500, 0), (750, 250)]


def test_amount_coupon_never_takes_a_line_below_zero() -> None:
    quote = prorate(_change(Off(amount=5000)))
    assert [(line.amount, line.discount_amount) for line in quote.lines] == [(-500, 0), (0, 1000)]


def test_interval_switch_bills_the_new_period_at_the_discounted_price() -> None:
    """Monthly → annual ($200/yr) with 25 % off: the new year is billed at $150 now."""
    annual = Item("price_pro_y", "Pro", 20000, interval="year")
    quote = prorate(_change(Off(percent=Fraction(25)), new=annual))
    subscription = [line for line in quote.lines if line.type == "subscription"]
    assert [(line.amount, line.discount_amount) for line in subscription] == [(15000, 5000)]
    assert quote.invoice_total == 15000 - 500


def test_added_items_are_each_discounted_on_their_own() -> None:
    """Advanced Reports ($19) and a $10 add-on halfway, 30 % off: $9.50 - $2.85 = $6.65 and
    $5.00 - $1.50 = $3.50."""
    seats = Item("price_seats", "Seats", 1000)
    quote = prorate_additions(
        currency="usd", added=(REPORTS, seats), period_start=APR_1, period_end=MAY_1,
        change_time=APR_16, off=Off(percent=Fraction(30)),
    )  # fmt: skip
    assert [(line.amount, line.discount_amount) for line in quote.lines] == [(665, 285), (350, 150)]
    assert quote.amount_due_now == 1015


def test_a_change_of_the_coupon_alone_prorates_nothing() -> None:
    """Adding a coupon without changing price or quantity creates no proration (Stripe)."""
    quote = prorate(_change(Off(percent=Fraction(20)), new=BASIC))
    assert quote.lines == ()
    assert quote.amount_due_now == 0


@pytest.mark.parametrize(
    "off", [Off(percent=Fraction(101)), Off(amount=-1), Off(percent=Fraction(10), amount=100)]
)
def test_impossible_coupons_are_refused(off: Off) -> None:
    with pytest.raises(ProrationError):
        prorate(_change(off))


@given(
    unit=st.integers(0, 10**7),
    quantity=st.integers(1, 50),
    remaining=st.integers(0, 2_678_400),
    percent=st.integers(1, 100),
    amount=st.integers(1, 10**6),
    use_amount=st.booleans(),
)
def test_net_plus_discount_is_the_undiscounted_line(
    unit: int, quantity: int, remaining: int, percent: int, amount: int, use_amount: bool
) -> None:
    """Every discounted line is the gross line split in two: what is charged and what the
    coupon took, neither negative."""
    end = APR_1 + 2_678_400
    new = Item("price_new", "New", unit, quantity)
    off = Off(amount=amount) if use_amount else Off(percent=Fraction(percent))
    change = Change(
        currency="usd", old=BASIC, new=new, period_start=APR_1, period_end=end,
        change_time=end - remaining, behavior="always_invoice",
    )  # fmt: skip
    plain = {line.type: line.amount for line in prorate(change).lines}
    discounted = prorate(replace(change, new_off=off))
    for line in discounted.lines:
        assert line.amount >= 0 or line.type == "credit"
        assert line.discount_amount >= 0
        assert line.amount + line.discount_amount == plain[line.type]


@given(unit=st.integers(0, 10**7), percent=st.integers(1, 100), amount=st.integers(1, 10**6))
def test_a_full_period_costs_exactly_what_the_offer_shows(
    unit: int, percent: int, amount: int
) -> None:
    """At the period's first second the new price's line is the offer's discounted price,
    `Discount.apply`, to the minor unit, for percents and amounts alike."""
    new = Item("price_new", "New", unit)
    for off, shown in (
        (Off(percent=Fraction(percent)), Discount(percent_off=percent)),
        (Off(amount=amount), Discount(amount_off=amount)),
    ):
        quote = prorate_additions(
            currency="usd", added=(new,), period_start=APR_1, period_end=MAY_1,
            change_time=APR_1, off=off,
        )  # fmt: skip
        assert quote.lines[0].amount == shown.apply(unit)
