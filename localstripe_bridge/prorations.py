"""The arithmetic of Stripe's prorations, discounts and minimum charges, in integer minor units.

The bridge's own implementation (it never imports Uplift: the emulator is an independent
oracle for Uplift's engine). Sources, all docs.stripe.com:

- Factor: "Stripe calculates proration down to the second based on the starting timestamp of
  the billing period and the timestamp of the proration's triggering event"
  (billing/scripts/prorations); "The current billing period's start and end times are used"
  (billing/subscriptions/prorations). So `f = (end - t) / (end - start)`, an exact Fraction.
- Lines: a credit "Unused time on …" for the old price and quantity, a debit "Remaining time
  on …" for the new ones, each rounded on its own to the minor unit (Stripe documents no rule;
  every Stripe-produced number in docs/proration.md §1 is reproduced by rounding each line to
  the nearest unit). Ties are rounded half up on the magnitude, so a credit mirrors a debit.
- Discounts with `proration_discounts=included` (the default): "Any discounts previously
  applied to the subscription and affecting the amount of the proration are reflected in the
  proration invoice item's amount" (billing/subscriptions/prorations, "Prorations and
  discounts"); one rounding of `unit * quantity * (1 - percent) * f`.
- Minimum charge amounts: docs.stripe.com/currencies#minimum-and-maximum-charge-amounts.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from fractions import Fraction
from typing import Any

# docs.stripe.com/currencies, "Minimum and maximum charge amounts" (minor units). Currencies
# not listed are charged whatever is due (the bridge does not guess their minimum).
MINIMUM_CHARGE = {
    "usd": 50, "aed": 200, "aud": 50, "bgn": 100, "brl": 50, "cad": 50, "chf": 50,
    "czk": 1500, "dkk": 250, "eur": 50, "gbp": 30, "hkd": 400, "huf": 17500, "inr": 50,
    "jpy": 50, "mxn": 1000, "myr": 200, "nok": 300, "nzd": 50, "pln": 200, "ron": 200,
    "sek": 300, "sgd": 50, "thb": 1000,
}  # fmt: skip
# docs.stripe.com/currencies, "Zero-decimal currencies".
ZERO_DECIMAL = {
    "bif", "clp", "djf", "gnf", "jpy", "kmf", "krw", "mga", "pyg", "rwf", "ugx", "vnd", "vuv",
    "xaf", "xof", "xpf",
}  # fmt: skip
SYMBOLS = {"usd": "$", "eur": "€", "gbp": "£", "jpy": "¥", "cad": "CA$", "aud": "A$"}


def factor(start: int, end: int, at: int) -> Fraction:
    """The share of `[start, end)` left after `at`, per second, clamped to [0, 1]."""
    if end <= start:
        return Fraction(0)
    return min(Fraction(1), max(Fraction(0), Fraction(end - at, end - start)))


def round_half_up(value: Fraction) -> int:
    """To the nearest minor unit, ties away from zero (on the magnitude)."""
    magnitude = int(abs(value) + Fraction(1, 2))
    return magnitude if value >= 0 else -magnitude


def discounted(gross: Fraction, coupons: Iterable[Any]) -> Fraction:
    """`gross` (a full period's amount) after each coupon in turn: `percent_off` takes its share,
    `amount_off` its amount (never below zero). Exact: the caller rounds once."""
    value = gross
    for coupon in coupons:
        if getattr(coupon, "percent_off", None) is not None:
            value = value * (1 - Fraction(str(coupon.percent_off)) / 100)
        elif getattr(coupon, "amount_off", None) is not None:
            value = max(Fraction(0), value - int(coupon.amount_off))
    return value


def prorated(gross: int, share: Fraction, coupons: Iterable[Any] = ()) -> int:
    """One proration line's magnitude: a full period's `gross` amount, discounted, times the
    share, rounded once."""
    return round_half_up(discounted(Fraction(gross), coupons) * share)


def discount_amount(amount: int, coupon: Any, remaining_off: int | None) -> int:
    """What one coupon takes off a regular (non-proration) line of `amount`: a percentage
    rounded half up, or the coupon's `amount_off` still unused on this invoice."""
    if amount <= 0:
        return 0
    if getattr(coupon, "percent_off", None) is not None:
        return min(
            amount, round_half_up(Fraction(amount) * Fraction(str(coupon.percent_off)) / 100)
        )
    if remaining_off is None:
        return 0
    return min(amount, remaining_off)


def day(at: int) -> str:
    """`01 Sep 2020`, as in Stripe's proration descriptions (UTC)."""
    return datetime.fromtimestamp(at, UTC).strftime("%d %b %Y")


def label(product: str, quantity: int) -> str:
    return product if quantity == 1 else f"{quantity} \u00d7 {product}"


def unused(product: str, quantity: int, at: int) -> str:
    return f"Unused time on {label(product, quantity)} after {day(at)}"


def remaining(product: str, quantity: int, at: int) -> str:
    return f"Remaining time on {label(product, quantity)} after {day(at)}"


def money(amount: int, currency: str) -> str:
    """`$200.00`, `¥1000`, or `12.50 CHF` for a currency without a symbol here."""
    currency = currency.lower()
    if currency in ZERO_DECIMAL:
        text = str(amount)
    else:
        sign = "-" if amount < 0 else ""
        text = f"{sign}{abs(amount) // 100}.{abs(amount) % 100:02d}"
    symbol = SYMBOLS.get(currency)
    return f"{symbol}{text}" if symbol else f"{text} {currency.upper()}"


def every(interval: str, count: int) -> str:
    return f"/ {interval}" if count == 1 else f"every {count} {interval}s"


def period_line(
    product: str, quantity: int, unit: int, currency: str, interval: str, count: int
) -> str:
    """A regular subscription line: `1 \u00d7 Pro (at $200.00 / year)`."""
    return f"{quantity} \u00d7 {product} (at {money(unit, currency)} {every(interval, count)})"


def minimum_charge(currency: str) -> int:
    return MINIMUM_CHARGE.get(currency.lower(), 0)
