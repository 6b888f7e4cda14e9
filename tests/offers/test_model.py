"""Offer values: every kind can be built, and impossible offers cannot."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from plugin.offers.model import Copy, Discount, Offer, OfferError, OfferVariant

COPY = Copy(title="Go Pro", body="More storage and seats.", cta="Upgrade now")


def make(**overrides: Any) -> Offer:
    values: dict[str, Any] = {
        "id": "offer_basic_to_pro",
        "name": "Basic to Pro",
        "kind": "upgrade",
        "variants": (OfferVariant("control", COPY),),
        "target_prices": ("price_pro_monthly",),
        "placements": ("storage_banner",),
        "status": "active",
    }
    values.update(overrides)
    return Offer(**values)


@pytest.mark.parametrize(
    "overrides",
    [
        {},
        {"kind": "interval_switch", "target_prices": ("price_pro_annual",)},
        {"kind": "cross_sell", "target_prices": ("price_reports",)},
        {
            "kind": "post_order",
            "target_prices": ("price_reports",),
            "discount": Discount(percent_off=30, duration_months=3),
        },
        {
            "kind": "bundle",
            "target_prices": ("price_reports", "price_support"),
            "discount": Discount(amount_off=500),
        },
        {"kind": "trial", "target_prices": ("price_enterprise",), "trial_days": 14},
        {"kind": "retention", "target_prices": (), "discount": Discount(percent_off=20)},
    ],
    ids=["upgrade", "interval_switch", "cross_sell", "post_order", "bundle", "trial", "retention"],
)
def test_each_kind_can_be_built(overrides: dict[str, Any]) -> None:
    """Every offer kind in the contract has a valid shape."""
    offer = make(**overrides)
    assert offer.design.control == "control"


def test_html_in_copy_is_kept_as_text() -> None:
    """Copy is data: markup is stored verbatim, to be shown as text, never interpreted."""
    title = '<img src=x onerror="alert(1)">Go Pro'
    offer = make(variants=(OfferVariant("control", replace(COPY, title=title)),))
    assert offer.variants[0].copy.title == title


BAD: list[tuple[str, dict[str, Any], str]] = [
    ("unknown kind", {"kind": "upsell"}, "kind"),
    ("unknown status", {"status": "live"}, "status"),
    ("unknown proration", {"proration": "later"}, "proration"),
    ("empty name", {"name": ""}, "name"),
    ("upgrade without target", {"target_prices": ()}, "target_prices"),
    ("bundle of one", {"kind": "bundle"}, "target_prices"),
    (
        "duplicate targets",
        {"kind": "bundle", "target_prices": ("price_a", "price_a")},
        "target_prices",
    ),
    ("not a price id", {"target_prices": ("prod_pro",)}, "target_prices[0]"),
    ("no placement", {"placements": ()}, "placements"),
    ("trial without days", {"kind": "trial"}, "trial_days"),
    ("trial too long", {"kind": "trial", "trial_days": 365}, "trial_days"),
    ("days on a non-trial", {"trial_days": 7}, "trial_days"),
    (
        "discounted trial (nothing Uplift charges could keep the price shown)",
        {"kind": "trial", "trial_days": 14, "discount": Discount(percent_off=10)},
        "discount",
    ),
    ("absurd priority", {"priority": 10**6}, "priority"),
    ("no variants", {"variants": ()}, "variants"),
    (
        "oversized title",
        {"variants": (OfferVariant("a", Copy(title="x" * 121)),)},
        "variants[0].copy.title",
    ),
    (
        "oversized body",
        {"variants": (OfferVariant("a", Copy(title="t", body="x" * 1001)),)},
        "variants[0].copy.body",
    ),
    (
        "control characters",
        {"variants": (OfferVariant("a", Copy(title="a\x00b")),)},
        "variants[0].copy.title",
    ),
    ("negative weight", {"variants": (OfferVariant("a", COPY, -1),)}, "variants"),
    ("all holdout", {"holdout_bp": 10_000}, "holdout_bp"),
]


@pytest.mark.parametrize(("overrides", "field"), [c[1:] for c in BAD], ids=[c[0] for c in BAD])
def test_impossible_offers_are_refused_naming_the_field(
    overrides: dict[str, Any], field: str
) -> None:
    """Bad input is refused with the path of the offending value."""
    with pytest.raises(OfferError) as raised:
        make(**overrides)
    assert raised.value.field == field


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"percent_off": 0}, "discount.percent_off"),
        ({"percent_off": 101}, "discount.percent_off"),
        ({"amount_off": -5}, "discount.amount_off"),
        ({}, "discount"),
        ({"percent_off": 10, "amount_off": 100}, "discount"),
        ({"percent_off": 10, "duration_months": 0}, "discount.duration_months"),
    ],
)
def test_impossible_discounts_are_refused(values: dict[str, int], field: str) -> None:
    """Percentages over 100, negative amounts and both-or-neither are mistakes."""
    with pytest.raises(OfferError) as raised:
        Discount(**values)
    assert raised.value.field == field


@pytest.mark.parametrize(
    ("discount", "amount", "expected"),
    [
        (Discount(percent_off=30), 1900, 1330),
        (Discount(percent_off=15), 1, 1),  # 0.15 rounds to 0 off
        (Discount(percent_off=50), 1, 0),  # 0.5 rounds half away from zero: 1 off
        (Discount(percent_off=100), 9900, 0),
        (Discount(amount_off=500), 1900, 1400),
        (Discount(amount_off=5000), 1900, 0),
        (Discount(percent_off=10), 1000, 900),  # whole yen work the same
    ],
)
def test_discounts_round_to_whole_minor_units(
    discount: Discount, amount: int, expected: int
) -> None:
    """A discounted price is whole minor units, never below zero."""
    assert discount.apply(amount) == expected
