"""Quote a plan change exactly as Stripe bills it. Pure: no I/O, no clock; `t` is an argument.

The rules (docs/proration.md §1-2, with sources there):

- factor `f = (E - t) / (E - S)`, an exact fraction of seconds over the item's real current
  period `[S, E)`; `t` is Stripe's `proration_date`;
- each changed item gets two lines, each rounded on its own (half away from zero), never
  netted first: credit `-round(old_unit * old_qty * f)` "Unused time on …" and debit
  `+round(new_unit * new_qty * f)` "Remaining time on …", both with period `[t, E]`;
- `create_prorations` leaves the lines pending for the next invoice; `always_invoice`
  invoices them now; `none` creates no lines;
- an interval change or `billing_cycle_anchor=now` credits the unused time and bills the new
  price in full for a new period starting at `t`, immediately;
- a percent coupon already on the subscription scales every amount; a coupon applied with the
  change (`Off`: an offer's discount) reduces only the new item's lines, as Stripe's default
  `proration_discounts=included` shows them: each line's amount is net of its discount, the
  gross `round(x)` less the discount `round(x * pct)` (or `round(f * amount_off)`), and the
  line keeps that discount in `discount_amount`; a trial prorates nothing; the customer balance
  (negative = credit) applies to what is due now; an amount due under the currency's minimum
  charge is not collected but moved to the balance.

Amounts are integer minor units of the change's currency (whole yen for JPY).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from fractions import Fraction
from functools import lru_cache
from typing import Literal

from plugin.billing.catalog import Interval
from plugin.billing.money import Money
from plugin.errors import ValidationFailed

Behavior = Literal["create_prorations", "always_invoice", "none"]
Anchor = Literal["unchanged", "now"]
LineType = Literal["credit", "debit", "subscription"]

TIMES = "\u00d7"  # Stripe writes "2 TIMES Seat" with the multiplication sign, not the letter x
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")

# Stripe's minimum charge amounts (docs.stripe.com/currencies#minimum-and-maximum-charge-amounts)
# in minor units; other currencies fall back to 50 minor units.
MINIMUM_CHARGE = {
    "usd": 50, "eur": 50, "gbp": 30, "jpy": 50, "cad": 50, "aud": 50, "chf": 50, "nzd": 50,
    "sgd": 50, "hkd": 400, "sek": 300, "nok": 300, "dkk": 250, "mxn": 1000, "brl": 50,
    "inr": 50, "pln": 200, "czk": 1500, "huf": 17500, "ron": 200, "bgn": 100, "thb": 1000,
    "aed": 200, "myr": 200,
}  # fmt: skip


class ProrationError(ValidationFailed):
    """The change cannot be quoted as given (e.g. the change time is outside the period)."""


@dataclass(frozen=True, slots=True)
class Item:
    """One subscription item configuration: a price and a quantity."""

    price: str
    product: str
    unit_amount: int
    quantity: int = 1
    interval: Interval = "month"
    interval_count: int = 1


@dataclass(frozen=True, slots=True)
class Off:
    """A coupon applied to the new item with the change: exactly one of a percent (0..100,
    exact) or an amount off each period's price, in minor units (never more than the price)."""

    percent: Fraction = Fraction(0)
    amount: int = 0

    def discount(self, gross: int, elapsed: int, period: int) -> int:
        """The discount on a line whose gross is `gross * elapsed / period` (≥ 0), rounded on
        its own, half away from zero."""
        if self.amount:
            return _round_half_up(min(self.amount, gross) * elapsed, period)
        p, q = self.percent.numerator, self.percent.denominator
        return _round_half_up(gross * elapsed * p, period * 100 * q)


@dataclass(frozen=True, slots=True)
class Change:
    currency: str
    old: Item
    new: Item
    period_start: int
    period_end: int
    change_time: int
    behavior: Behavior = "create_prorations"
    anchor: Anchor = "unchanged"
    percent_off: Fraction = Fraction(0)
    starting_balance: int = 0  # negative = credit the customer already has
    trialing: bool = False
    new_off: Off | None = None  # an offer's coupon, applied to the new item with the change


@dataclass(frozen=True, slots=True)
class Line:
    type: LineType
    amount: int
    description: str
    period_start: int
    period_end: int
    proration: bool
    price: str
    quantity: int
    discount_amount: int = 0  # included in `amount` (a coupon applied with the change)
    product: str = ""  # the item's product name, for a caller that words the line itself


@dataclass(frozen=True, slots=True)
class Quote:
    currency: str
    factor: Fraction
    lines: tuple[Line, ...]
    net_proration_amount: int
    invoice_now: bool
    invoice_total: int | None  # the immediate invoice, when there is one
    amount_due_now: int
    customer_balance_after: int | None  # after the immediate invoice, when there is one
    pending_invoice_items_total: int | None  # left for the next invoice (create_prorations)
    next_renewal_invoice_total: int | None
    next_renewal_amount_due: int | None


def _round_half_up(numerator: int, denominator: int) -> int:
    """numerator / denominator (denominator > 0) to the nearest integer, ties away from zero
    (applied to magnitudes, so credits mirror debits). Integers only: floor(|n| / d + 1/2)
    is (2|n| + d) // 2d, exactly what rounding the `Fraction` gave, at a fraction of its cost."""
    rounded = (2 * abs(numerator) + denominator) // (2 * denominator)
    return rounded if numerator >= 0 else -rounded


def _amount(unit: int, quantity: int, elapsed: int, period: int, percent_off: Fraction) -> int:
    """round(unit * quantity * elapsed / period * (1 - percent_off / 100)), exactly."""
    p, q = percent_off.numerator, percent_off.denominator  # percent_off = p / q, q > 0
    return _round_half_up(unit * quantity * elapsed * (100 * q - p), period * 100 * q)


@lru_cache(maxsize=4096)
def _day_text(day: int) -> str:
    # Stripe's descriptions read "16 Apr 2025"; UTC, and no locale-dependent strftime.
    date = datetime.fromtimestamp(day * 86400, UTC)
    return f"{date.day:02d} {_MONTHS[date.month - 1]} {date.year}"


def _date(t: int) -> str:
    return _day_text(t // 86400)  # a UTC day is 86,400 s: no leap seconds in unix time


def _label(item: Item) -> str:
    return item.product if item.quantity == 1 else f"{item.quantity} {TIMES} {item.product}"


def add_interval(t: int, interval: Interval, count: int = 1) -> int:
    """`t` plus whole intervals on the UTC calendar; month ends clamp (Jan 31 → Feb 28/29)."""
    start = datetime.fromtimestamp(t, UTC)
    if interval == "day":
        return t + 86400 * count
    if interval == "week":
        return t + 7 * 86400 * count
    months = count * (12 if interval == "year" else 1)
    month_index = start.month - 1 + months
    year, month = start.year + month_index // 12, month_index % 12 + 1
    day = min(start.day, _days_in_month(year, month))
    return int(start.replace(year=year, month=month, day=day).timestamp())


def _days_in_month(year: int, month: int) -> int:
    if month == 2:
        leap = year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
        return 29 if leap else 28
    return 30 if month in (4, 6, 9, 11) else 31


def _interval_label(item: Item) -> str:
    return item.interval if item.interval_count == 1 else f"{item.interval_count} {item.interval}s"


def _new_amount(
    item: Item, elapsed: int, period: int, percent_off: Fraction, off: Off | None
) -> tuple[int, int]:
    """A new-item line's amount and the part of it an offer's coupon takes off."""
    if off is None:
        return _amount(item.unit_amount, item.quantity, elapsed, period, percent_off), 0
    gross = item.unit_amount * item.quantity
    discount = off.discount(gross, elapsed, period)
    return _round_half_up(gross * elapsed, period) - discount, discount


def _validate_off(off: Off | None) -> None:
    if off is None:
        return
    if off.amount < 0 or not 0 <= off.percent <= 100 or (off.amount and off.percent):
        raise ProrationError("a coupon is a percent (0..100) or a non-negative amount, not both")


def _validate(change: Change) -> None:
    if change.period_end <= change.period_start:
        raise ProrationError("period_end must be after period_start")
    if not change.period_start <= change.change_time <= change.period_end:
        raise ProrationError("change_time must fall inside the current period")
    for side in (change.old, change.new):
        if side.quantity < 0 or side.unit_amount < 0:
            raise ProrationError("unit amounts and quantities cannot be negative")
    pct = change.percent_off
    if not 0 <= pct.numerator <= 100 * pct.denominator:  # 0 <= p/q <= 100, q > 0
        raise ProrationError("percent_off must be between 0 and 100")
    _validate_off(change.new_off)
    if change.new_off is not None and pct:
        raise ProrationError("a coupon with the change replaces the subscription's percent_off")


def prorate(change: Change) -> Quote:
    _validate(change)
    old, new, t, end = change.old, change.new, change.change_time, change.period_end
    elapsed, period = end - t, end - change.period_start
    factor = Fraction(elapsed, period)
    pct = change.percent_off
    resets = change.anchor == "now" or (old.interval, old.interval_count) != (
        new.interval,
        new.interval_count,
    )
    unchanged = (old.price, old.quantity) == (new.price, new.quantity)
    prorates = change.behavior != "none" and not change.trialing and not unchanged

    lines: list[Line] = []
    if prorates:
        lines.append(
            Line(
                "credit",
                -_amount(old.unit_amount, old.quantity, elapsed, period, pct),
                f"Unused time on {_label(old)} after {_date(t)}",
                t,
                end,
                True,
                old.price,
                old.quantity,
                product=old.product,
            )
        )
        if not resets:
            amount, discount = _new_amount(new, elapsed, period, pct, change.new_off)
            lines.append(
                Line(
                    "debit",
                    amount,
                    f"Remaining time on {_label(new)} after {_date(t)}",
                    t,
                    end,
                    True,
                    new.price,
                    new.quantity,
                    discount,
                    product=new.product,
                )
            )
    net = sum(line.amount for line in lines)
    full_new, full_discount = _new_amount(new, 1, 1, pct, change.new_off)

    if resets and not change.trialing:
        # A new billing period starts now: the new price is billed in full, immediately.
        price_text = Money(new.unit_amount, change.currency).format()
        lines.append(
            Line(
                "subscription",
                full_new,
                f"{new.quantity} {TIMES} {new.product} (at {price_text} / {_interval_label(new)})",
                t,
                add_interval(t, new.interval, new.interval_count),
                False,
                new.price,
                new.quantity,
                full_discount,
                product=new.product,
            )
        )
        return _immediate(change, factor, lines, net)
    if change.behavior == "always_invoice" and lines:
        return _immediate(change, factor, lines, net)
    renewal = full_new + net
    return Quote(
        currency=change.currency,
        factor=factor,
        lines=tuple(lines),
        net_proration_amount=net,
        invoice_now=False,
        invoice_total=None,
        amount_due_now=0,
        customer_balance_after=None,
        pending_invoice_items_total=net,
        next_renewal_invoice_total=renewal,
        next_renewal_amount_due=max(0, renewal + change.starting_balance),
    )


def _immediate(change: Change, factor: Fraction, lines: list[Line], net: int) -> Quote:
    total = sum(line.amount for line in lines)
    due = max(0, total + change.starting_balance)
    balance_after = min(0, total + change.starting_balance)
    if 0 < due < MINIMUM_CHARGE.get(change.currency.lower(), 50):
        # Below Stripe's minimum charge the invoice is marked paid and the amount owed moves
        # to the customer's balance as a debit, collected with the next invoice.
        balance_after, due = due, 0
    return Quote(
        currency=change.currency,
        factor=factor,
        lines=tuple(lines),
        net_proration_amount=net,
        invoice_now=True,
        invoice_total=total,
        amount_due_now=due,
        customer_balance_after=balance_after,
        pending_invoice_items_total=None,
        next_renewal_invoice_total=None,
        next_renewal_amount_due=None,
    )


def prorate_additions(
    *,
    currency: str,
    added: tuple[Item, ...],
    period_start: int,
    period_end: int,
    change_time: int,
    percent_off: Fraction = Fraction(0),
    starting_balance: int = 0,
    off: Off | None = None,
) -> Quote:
    """Items added to a subscription at `t` inside its current period, invoiced now (Stripe's
    `always_invoice`). Adding an item is one of Stripe's proration triggers (docs/proration.md
    §2.1); nothing is credited, each added item gets one debit line for the remaining time,
    `+round(unit * qty * f)` "Remaining time on …", period `[t, E]`, rounded on its own
    exactly as `prorate`'s debits. Each added item bills on the subscription's period, so it
    must share the subscription's interval (the caller checks against the existing item).
    `off` (an offer's coupon) applies to each added item on its own, as a coupon attached to
    each new item does."""
    if not added:
        raise ProrationError("nothing to add")
    _validate_off(off)
    lines: list[Line] = []
    elapsed, period = period_end - change_time, period_end - period_start
    for item in added:
        change = Change(
            currency=currency,
            old=item,
            new=item,
            period_start=period_start,
            period_end=period_end,
            change_time=change_time,
            behavior="always_invoice",
            percent_off=percent_off,
            starting_balance=starting_balance,
        )
        _validate(change)
        amount, discount = _new_amount(item, elapsed, period, percent_off, off)
        lines.append(
            Line(
                "debit",
                amount,
                f"Remaining time on {_label(item)} after {_date(change_time)}",
                change_time,
                period_end,
                True,
                item.price,
                item.quantity,
                discount,
                product=item.product,
            )
        )
    net = sum(line.amount for line in lines)
    return _immediate(change, Fraction(elapsed, period), lines, net)
