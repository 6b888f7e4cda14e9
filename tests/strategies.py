"""Hypothesis strategies for the pure core."""

from __future__ import annotations

from hypothesis import strategies as st

from plugin.billing.proration import Change, Item

# 2000-01-01 .. 2100-01-01, in unix seconds.
timestamps = st.integers(min_value=946684800, max_value=4102444800)
unit_amounts = st.integers(min_value=0, max_value=10_000_000)
quantities = st.integers(min_value=0, max_value=1000)
currencies = st.sampled_from(["usd", "eur", "gbp", "jpy", "krw", "kwd"])


@st.composite
def items(draw: st.DrawFn) -> Item:
    # A price id names one amount, as in Stripe: equal ids always mean equal unit amounts.
    unit_amount = draw(st.one_of(st.sampled_from([0, 1000, 2900, 9900]), unit_amounts))
    return Item(
        price=f"price_{unit_amount}",
        product="Product",
        unit_amount=unit_amount,
        quantity=draw(quantities),
    )


@st.composite
def periods(draw: st.DrawFn) -> tuple[int, int, int]:
    """(start, end, t) with start < end and start <= t <= end; 1 s to 400 days long."""
    start = draw(timestamps)
    end = start + draw(st.integers(min_value=1, max_value=400 * 86400))
    t = draw(st.integers(min_value=start, max_value=end))
    return start, end, t


@st.composite
def changes(draw: st.DrawFn) -> Change:
    start, end, t = draw(periods())
    return Change(
        currency=draw(currencies),
        old=draw(items()),
        new=draw(items()),
        period_start=start,
        period_end=end,
        change_time=t,
    )
