"""Revenue metrics on a hand-built month, every expected figure worked out in the comments.

The period is March 2026, [2026-03-01, 2026-04-01) UTC. Customers (all times 12:00 UTC):

USD
  A  Basic $29 from Jan 10; Uplift upgrade to Pro ($99) Mar 5 (+7000);
     Advanced Reports cross-sell ($19) Mar 7 (+1900, $10.00 charged today)
  B  Pro annual ($990/yr = 8250/mo) from Feb 1; downgrades to Basic monthly Mar 10 (-5350)
  C  Basic from Jan 1; churns Mar 3 (-2900), comes back Mar 20 (+2900)
  D  Basic from Mar 15 (new, +2900)
  E  Basic from Feb 10; Uplift upgrade Mar 12 failed (card declined): no movement
  F  Pro from Jan 5; churns Mar 25 (-9900)
EUR
  H  Basic €25 from Feb 1; Uplift upgrade to Pro (€85) Mar 2 (+6000)
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from fractions import Fraction

import pytest

from plugin.metrics import revenue as metrics
from plugin.metrics.revenue import LedgerMovement, Upgrade


def at(day: str) -> int:
    return int(datetime.fromisoformat(f"{day}T12:00:00").replace(tzinfo=UTC).timestamp())


START, END = at("2026-03-01") - 12 * 3600, at("2026-04-01") - 12 * 3600

MOVEMENTS = [
    LedgerMovement("A", "sub_A", "new", "usd", 2900, 2900, at("2026-01-10")),
    LedgerMovement(
        "A", "sub_A", "expansion", "usd", 7000, 9900, at("2026-03-05"), "offer_pro", 1, 2
    ),
    LedgerMovement(
        "A", "sub_A", "expansion", "usd", 1900, 11800, at("2026-03-07"), "offer_reports", 2, 2
    ),
    LedgerMovement("B", "sub_B", "new", "usd", 8250, 8250, at("2026-02-01")),
    LedgerMovement("B", "sub_B", "contraction", "usd", -5350, 2900, at("2026-03-10")),
    LedgerMovement("C", "sub_C", "new", "usd", 2900, 2900, at("2026-01-01")),
    LedgerMovement("C", "sub_C", "churn", "usd", -2900, 0, at("2026-03-03")),
    LedgerMovement("C", "sub_C", "reactivation", "usd", 2900, 2900, at("2026-03-20")),
    LedgerMovement("D", "sub_D", "new", "usd", 2900, 2900, at("2026-03-15")),
    LedgerMovement("E", "sub_E", "new", "usd", 2900, 2900, at("2026-02-10")),
    LedgerMovement("F", "sub_F", "new", "usd", 9900, 9900, at("2026-01-05")),
    LedgerMovement("F", "sub_F", "churn", "usd", -9900, 0, at("2026-03-25")),
    LedgerMovement("H", "sub_H", "new", "eur", 2500, 2500, at("2026-02-01")),
    LedgerMovement(
        "H", "sub_H", "expansion", "eur", 6000, 8500, at("2026-03-02"), "offer_pro_eur", 1, 2
    ),
]
UPGRADES = [
    Upgrade("up_A", "A", "upgrade", "succeeded", "usd", 7000, 3500, at("2026-03-05"), "offer_pro"),
    Upgrade("up_A2", "A", "cross_sell", "succeeded", "usd", 1900, 1000, at("2026-03-07")),
    Upgrade("up_E", "E", "upgrade", "failed", "usd", 7000, 0, None, "offer_pro"),
    Upgrade("up_H", "H", "upgrade", "succeeded", "eur", 6000, 3000, at("2026-03-02")),
    Upgrade("up_old", "F", "upgrade", "succeeded", "usd", 7000, 0, at("2026-01-20")),  # before
]
# Each subscription's tier at the start: Basic 1, Pro 2, Enterprise 3 (the top). I is on
# Enterprise: not a candidate for an upsell, so not in the denominator. A's add-on keeps the
# tier (2 -> 2), so it is a cross-sell, not an upgrade.
TIERS: dict[str, int | None] = {
    "sub_A": 1, "sub_B": 2, "sub_C": 1, "sub_E": 1, "sub_F": 2, "sub_H": 1, "sub_I": 3,
}  # fmt: skip


@pytest.fixture(scope="module")
def march() -> metrics.Metrics:
    return metrics.compute(
        movements=MOVEMENTS, upgrades=UPGRADES, start=START, end=END,
        tier_at_start=TIERS, top_tier=3,
    )  # fmt: skip


def test_usd_movements_and_mrr(march: metrics.Metrics) -> None:
    """MRR at start: A 2900 + B 8250 + C 2900 + E 2900 + F 9900 = 26850.
    new 2900 (D); expansion 7000 + 1900 = 8900 (A); contraction 5350 (B);
    churn 2900 + 9900 = 12800 (C, F); reactivation 2900 (C).
    net new = 2900 + 8900 + 2900 - 5350 - 12800 = -3450; MRR at end = 26850 - 3450 = 23400
    (A 11800 + B 2900 + C 2900 + D 2900 + E 2900 + F 0)."""
    usd = march.currencies["usd"]
    assert (usd.mrr_start, usd.mrr_end) == (26850, 23400)
    assert (usd.new, usd.expansion, usd.contraction, usd.churn, usd.reactivation) == (
        2900, 8900, 5350, 12800, 2900,
    )  # fmt: skip
    assert usd.net_new == -3450


def test_ndr_below_and_above_100_percent(march: metrics.Metrics) -> None:
    """USD cohort {A, B, C, E, F}, 26850 at start; their movements: +7000 +1900 -5350 -2900
    +2900 -9900 = -6350 (D is new, not in the cohort) → NDR = 20500 / 26850 ≈ 76.35 %.
    EUR cohort {H}: 2500 + 6000 = 8500 → NDR = 8500 / 2500 = 340 %."""
    usd, eur = march.currencies["usd"].ndr, march.currencies["eur"].ndr
    assert (usd.numerator, usd.denominator, usd.value) == (20500, 26850, Fraction(20500, 26850))
    assert eur.value == Fraction(34, 10)


def test_arpu_at_start_and_end(march: metrics.Metrics) -> None:
    """USD: 26850 / 5 paying = 5370 at start; 23400 / 5 paying (F gone, D new) = 4680 at end.
    EUR: 2500 / 1 and 8500 / 1."""
    usd, eur = march.currencies["usd"], march.currencies["eur"]
    assert (usd.arpu_start.value, usd.arpu_end.value) == (5370, 4680)
    assert (eur.arpu_start.value, eur.arpu_end.value) == (2500, 8500)


def test_upgrade_value_and_cross_sell_revenue(march: metrics.Metrics) -> None:
    """USD: one upgrade in March in the ledger (A, +7000, tier 1 → 2; A's add-on keeps the
    tier; E's failed and moved nothing) → 7000. Cross-sell: A's Advanced Reports, 1900 a
    month, 1000 charged today. EUR: H, 6000. Uplift executed the same two (F's was in
    January)."""
    usd, eur = march.currencies["usd"], march.currencies["eur"]
    assert (usd.average_upgrade_value.numerator, usd.average_upgrade_value.denominator) == (7000, 1)
    assert usd.average_upgrade_value.value == 7000
    assert (usd.cross_sell_recurring, usd.cross_sell_one_off) == (1900, 1000)
    assert eur.average_upgrade_value.value == 6000
    assert (usd.upgrades, usd.uplift_upgrades, eur.upgrades, eur.uplift_upgrades) == (1, 1, 1, 1)
    assert usd.uplift_average_upgrade_value.value == 7000


def test_upsell_conversion_counts_customers_below_the_top(march: metrics.Metrics) -> None:
    """Paying below the top tier at start: A, B, C, E, F, H = 6 (I is on Enterprise and pays
    nothing in the ledger). Upgraded in March: A and H (E's failed) → 2 / 6, both through
    Uplift, so Uplift's conversion is 2 / 6 too."""
    conversion = march.upsell_conversion
    assert (conversion.numerator, conversion.denominator) == (2, 6)
    assert conversion.value == Fraction(1, 3)
    mine = march.uplift_upsell_conversion
    assert (mine.numerator, mine.denominator) == (2, 6)
    assert march.upgraded_customers.value == 2


def test_time_to_upsell(march: metrics.Metrics) -> None:
    """A: Jan 10 → Mar 5 = 21 + 28 + 5 = 54 days; H: Feb 1 → Mar 2 = 29 days.
    Median of [29, 54] = 41.5; p90 by nearest rank: ceil(0.9 * 2) = 2nd → 54."""
    assert march.time_to_upsell_median_days.value == Fraction(83, 2)
    assert march.time_to_upsell_p90_days.value == 54


def test_empty_period_has_no_ratios() -> None:
    """No data: ratios are None rather than a division by zero."""
    empty = metrics.compute(movements=[], upgrades=[], start=START, end=END)
    assert empty.currencies == {}
    assert empty.upsell_conversion.value is None
    assert empty.time_to_upsell_median_days.value is None


def test_a_period_must_move_forward() -> None:
    with pytest.raises(ValueError, match="end after it starts"):
        metrics.compute(movements=[], upgrades=[], start=END, end=START)


@pytest.mark.parametrize("interval", metrics.INTERVALS)
def test_buckets_tile_the_period_at_calendar_boundaries(interval: metrics.BucketSize) -> None:
    """[Feb 27 2028 06:00, Mar 3 2028 06:00) (a leap year) is cut at UTC midnights, at Monday
    Feb 28 for weeks, at Mar 1 for months; the buckets touch and cover the period exactly."""
    start, end = at("2028-02-27") - 6 * 3600, at("2028-03-03") - 6 * 3600
    cuts = metrics.buckets(start, end, interval)
    assert (cuts[0][0], cuts[-1][1]) == (start, end)
    assert all(a[1] == b[0] for a, b in itertools.pairwise(cuts))
    days = ("2028-02-28", "2028-02-29", "2028-03-01", "2028-03-02", "2028-03-03")
    midnight = {d: at(d) - 12 * 3600 for d in days}
    expected = {
        "day": [midnight[d] for d in days],
        "week": [midnight["2028-02-28"]],
        "month": [midnight["2028-03-01"]],
    }
    assert [s for s, _ in cuts[1:]] == expected[interval]
    assert metrics.bucket_count(start, end, interval) == len(cuts)


def test_expansion_series_counts_each_movement_in_its_own_bucket() -> None:
    """March by month, on the fixture: usd expansion 7000 (A, Mar 5) + 1900 (A, Mar 7) = 8900;
    eur 6000 (H, Mar 2). Upgrades (tier up): usd A's 7000 (the add-on keeps the tier), eur
    H's 6000."""
    cuts = metrics.buckets(START, END, "month")
    assert metrics.series(metric="expansion_mrr", movements=MOVEMENTS, cuts=cuts) == {
        "eur": [6000],
        "usd": [8900],
    }
    assert metrics.series(metric="upgrades", movements=MOVEMENTS, cuts=cuts) == {
        "eur": [1],
        "usd": [1],
    }
    assert metrics.series(metric="upgrade_expansion_mrr", movements=MOVEMENTS, cuts=cuts) == {
        "eur": [6000],
        "usd": [7000],
    }


def test_mrr_series_is_the_mrr_at_each_bucket_end() -> None:
    """March as one bucket: usd at the end A 11800 + B 2900 + C 2900 + D 2900 + E 2900 +
    F 0 = 23400; eur H 8500. The same from an opening balance and March's movements only:
    usd at March 1 is A 2900 + B 8250 + C 2900 + E 2900 + F 9900 = 26850, eur H 2500."""
    cuts = metrics.buckets(START, END, "month")
    everything = metrics.series(metric="mrr", movements=MOVEMENTS, cuts=cuts)
    march = [m for m in MOVEMENTS if m.occurred_at >= START]
    opened = metrics.series(
        metric="mrr", movements=march, cuts=cuts, opening={"usd": 26850, "eur": 2500}
    )
    assert everything == opened == {"eur": [8500], "usd": [23400]}
