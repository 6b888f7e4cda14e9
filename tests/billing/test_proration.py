"""Invariants of the proration engine, over many generated changes."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from plugin.billing.proration import Change, Item, ProrationError, add_interval, prorate
from tests.strategies import changes, items, periods


def _amounts(change: Change) -> dict[str, int]:
    return {line.type: line.amount for line in prorate(change).lines}


@given(changes())
def test_credit_and_debit_never_exceed_a_full_period(change: Change) -> None:
    """No proration line is worth more than the whole period at that price and quantity."""
    amounts = _amounts(change)
    assert -amounts.get("credit", 0) <= change.old.unit_amount * change.old.quantity
    assert amounts.get("debit", 0) <= change.new.unit_amount * change.new.quantity
    assert amounts.get("credit", 0) <= 0 <= amounts.get("debit", 0)


@given(changes())
def test_change_at_period_start_is_a_full_swap(change: Change) -> None:
    """At the first second, the whole old price is credited and the whole new price debited."""
    change = replace(change, change_time=change.period_start)
    amounts = _amounts(change)
    if amounts:
        assert amounts["credit"] == -change.old.unit_amount * change.old.quantity
        assert amounts["debit"] == change.new.unit_amount * change.new.quantity


@given(changes())
def test_change_at_period_end_is_worth_nothing(change: Change) -> None:
    """With no time left, every proration line is zero."""
    change = replace(change, change_time=change.period_end)
    assert all(line.amount == 0 for line in prorate(change).lines)


@given(items(), periods(), st.sampled_from(["create_prorations", "always_invoice"]))
def test_same_price_and_quantity_yields_no_lines(
    item: Item, period: tuple[int, int, int], behavior: str
) -> None:
    """A change that changes nothing prorates nothing and charges nothing."""
    start, end, t = period
    quote = prorate(
        Change(
            currency="usd", old=item, new=item, period_start=start, period_end=end,
            change_time=t, behavior=behavior,  # type: ignore[arg-type]
        )
    )  # fmt: skip
    assert quote.lines == ()
    assert quote.amount_due_now == 0


@given(changes())
def test_upgrade_then_immediate_downgrade_nets_to_rounding(change: Change) -> None:
    """Going A → B and straight back B → A at the same second nets to at most 2 minor units."""
    there = prorate(change)
    back = prorate(replace(change, old=change.new, new=change.old))
    assert abs(there.net_proration_amount + back.net_proration_amount) <= 2


@given(changes())
def test_each_line_is_rounded_on_its_own(change: Change) -> None:
    """Lines are rounded separately: the net can differ from rounding the exact net once."""
    quote = prorate(change)
    exact_net = (
        change.new.unit_amount * change.new.quantity - change.old.unit_amount * change.old.quantity
    ) * quote.factor
    assert abs(quote.net_proration_amount - exact_net) <= 1


def _ts(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp())


@pytest.mark.parametrize(
    ("anchor", "months", "expected"),
    [
        ("2024-01-31T00:00:00", 1, "2024-02-29T00:00:00"),
        ("2024-01-31T00:00:00", 2, "2024-03-31T00:00:00"),
        ("2023-01-31T00:00:00", 1, "2023-02-28T00:00:00"),
        ("2024-02-29T12:00:00", 12, "2025-02-28T12:00:00"),
        ("2025-12-15T08:30:00", 1, "2026-01-15T08:30:00"),
    ],
)
def test_month_end_anchors_clamp_to_the_last_day(anchor: str, months: int, expected: str) -> None:
    """Periods follow the anchor day: Jan 31 → Feb 28/29 → Mar 31, leap years included."""
    assert add_interval(_ts(anchor), "month", months) == _ts(expected)


def test_change_outside_the_period_is_refused() -> None:
    """A change time before the period or after it cannot be quoted."""
    item = Item(price="p", product="P", unit_amount=100)
    with pytest.raises(ProrationError, match="inside the current period"):
        prorate(Change(currency="usd", old=item, new=item, period_start=10, period_end=20,
                       change_time=21))  # fmt: skip


def test_small_immediate_amount_moves_to_the_balance() -> None:
    """Under the minimum charge (USD 0.50) nothing is collected; the amount is owed instead."""
    old = Item(price="a", product="A", unit_amount=1000)
    new = Item(price="b", product="B", unit_amount=1030)
    quote = prorate(
        Change(currency="usd", old=old, new=new, period_start=0, period_end=100,
               change_time=0, behavior="always_invoice")
    )  # fmt: skip
    assert quote.invoice_total == 30
    assert quote.amount_due_now == 0
    assert quote.customer_balance_after == 30


def test_trial_prorates_nothing() -> None:
    """During a trial items are free, so a change produces no charge."""
    old = Item(price="a", product="A", unit_amount=1000)
    new = Item(price="b", product="B", unit_amount=5000)
    quote = prorate(
        Change(currency="usd", old=old, new=new, period_start=0, period_end=100,
               change_time=50, trialing=True, behavior="always_invoice")
    )  # fmt: skip
    assert quote.lines == ()
    assert quote.amount_due_now == 0
