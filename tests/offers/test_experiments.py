"""Experiments: sticky, weighted, independent assignment and honest statistics."""

from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import given
from hypothesis import strategies as st

from plugin.offers import experiments
from plugin.offers.experiments import HOLDOUT, Arm, Design, ExperimentError, Variant

CUSTOMERS = [f"cust_{i:05d}" for i in range(10_000)]

# Chi-square critical values at p = 0.001 (df = 1, 2, 3): a correct assigner fails this test
# one time in a thousand designs, and the customer ids here are fixed, so never at random.
CHI2_CRITICAL_001 = {1: 10.828, 2: 13.816, 3: 16.266}


def _chi_square(observed: Counter[str], expected: dict[str, float]) -> float:
    return sum((observed[k] - e) ** 2 / e for k, e in expected.items())


def test_assignment_is_sticky() -> None:
    """The same customer and offer always land in the same arm, in any process."""
    design = Design((Variant("a"), Variant("b")), holdout_bp=1000)
    first = [experiments.assign(design, offer_id="offer_x", customer_id=c) for c in CUSTOMERS[:500]]
    again = [experiments.assign(design, offer_id="offer_x", customer_id=c) for c in CUSTOMERS[:500]]
    assert first == again


@pytest.mark.parametrize(
    ("weights", "holdout_bp"),
    [((1, 1), 0), ((1, 1), 1000), ((70, 20, 10), 500), ((3,), 2000)],
    ids=["even", "even+10% holdout", "70/20/10+5% holdout", "one variant+20% holdout"],
)
def test_weights_and_holdout_hold_on_10000_customers(
    weights: tuple[int, ...], holdout_bp: int
) -> None:
    """Arm sizes match weights and holdout share (chi-square, p = 0.001, 10,000 customers)."""
    design = Design(
        tuple(Variant(f"v{i}", w) for i, w in enumerate(weights)), holdout_bp=holdout_bp
    )
    observed = Counter(
        experiments.assign(design, offer_id="offer_w", customer_id=c) for c in CUSTOMERS
    )
    n = len(CUSTOMERS)
    treated = n * (1 - holdout_bp / 10_000)
    expected = {f"v{i}": treated * w / sum(weights) for i, w in enumerate(weights)}
    if holdout_bp:
        expected[HOLDOUT] = n * holdout_bp / 10_000
    assert set(observed) == set(expected)
    assert _chi_square(observed, expected) < CHI2_CRITICAL_001[len(expected) - 1]


def test_changing_the_holdout_does_not_reshuffle_variants() -> None:
    """Growing the holdout only moves customers into it; no one switches between variants."""
    small = Design((Variant("a"), Variant("b")), holdout_bp=500)
    large = Design((Variant("a"), Variant("b")), holdout_bp=2000)
    for customer in CUSTOMERS[:2000]:
        before = experiments.assign(small, offer_id="o", customer_id=customer)
        after = experiments.assign(large, offer_id="o", customer_id=customer)
        assert after in (before, HOLDOUT)


def test_offers_are_assigned_independently() -> None:
    """Being in arm A of one offer says nothing about the arm in another."""
    design = Design((Variant("a"), Variant("b")))
    pairs = Counter(
        (
            experiments.assign(design, offer_id="offer_1", customer_id=c),
            experiments.assign(design, offer_id="offer_2", customer_id=c),
        )
        for c in CUSTOMERS
    )
    expected = {
        pair: len(CUSTOMERS) / 4 for pair in [("a", "a"), ("a", "b"), ("b", "a"), ("b", "b")]
    }
    assert (
        _chi_square(
            Counter({f"{k}": v for k, v in pairs.items()}), {f"{k}": v for k, v in expected.items()}
        )
        < CHI2_CRITICAL_001[3]
    )


def test_zero_weight_variant_gets_no_one() -> None:
    """A paused variant (weight 0) stops receiving new customers."""
    design = Design((Variant("a", 1), Variant("b", 0)))
    assert {experiments.assign(design, offer_id="o", customer_id=c) for c in CUSTOMERS[:1000]} == {
        "a"
    }


@pytest.mark.parametrize(
    "make",
    [
        lambda: Design(()),
        lambda: Design((Variant("a"), Variant("a"))),
        lambda: Design((Variant(HOLDOUT),)),
        lambda: Design((Variant("a", 0),)),
        lambda: Design((Variant("a", -1), Variant("b", 2))),
        lambda: Design((Variant("a"),), holdout_bp=10_000),
        lambda: Design((Variant("a"),), holdout_bp=-1),
    ],
    ids=[
        "no variants",
        "duplicate keys",
        "reserved key",
        "zero total",
        "negative weight",
        "all holdout",
        "negative holdout",
    ],
)
def test_impossible_designs_are_refused(make: object) -> None:
    """A design that cannot assign anyone sensibly is an error, not a silent skew."""
    with pytest.raises(ExperimentError):
        make()  # type: ignore[operator]


# Statistics on hand-computed numbers --------------------------------------------------------


def test_wilson_interval_matches_hand_computation() -> None:
    """20 of 100, z = 1.96: centre (0.2 + 0.019207) / 1.038415 = 0.211098, half-width
    1.96 * sqrt(0.0016 + 0.000096) / 1.038415 = 0.077732 (Wilson 1927)."""
    low, high = experiments.wilson_interval(20, 100)
    assert low == pytest.approx(0.133366, abs=1e-5)
    assert high == pytest.approx(0.288830, abs=1e-5)
    assert experiments.wilson_interval(10, 10)[1] == 1.0
    assert experiments.wilson_interval(0, 10)[0] == 0.0


def test_two_proportion_test_matches_hand_computation() -> None:
    """100/1000 vs 120/1000: pooled 0.11, se = sqrt(0.11 * 0.89 * 0.002) = 0.013993, z = 1.4293."""
    p = experiments.two_proportion_p_value(Arm("a", 1000, 100), Arm("b", 1000, 120))
    assert p == pytest.approx(0.15290, abs=1e-4)
    assert experiments.two_proportion_p_value(Arm("a", 0, 0), Arm("b", 10, 1)) is None
    assert experiments.two_proportion_p_value(Arm("a", 10, 0), Arm("b", 10, 0)) is None


def test_probability_to_beat_is_symmetric_and_a_coin_flip_for_equal_arms() -> None:
    """P(B > A) + P(A > B) = 1, equal data gives 1/2, and the exact and approximate paths agree."""
    a, b = Arm("a", 1000, 100), Arm("b", 1000, 120)
    assert experiments.probability_beats(a, b) + experiments.probability_beats(
        b, a
    ) == pytest.approx(1, abs=1e-9)
    assert experiments.probability_beats(a, a) == pytest.approx(0.5, abs=1e-9)
    assert experiments.probability_beats(a, b) == pytest.approx(0.9232, abs=1e-3)
    big_a, big_b = Arm("a", 100_000, 10_000), Arm("b", 100_000, 10_100)  # approximate path
    assert experiments.probability_beats(big_a, big_b) == pytest.approx(0.7715, abs=2e-3)


def test_compare_reports_each_arm_against_the_control() -> None:
    """Every arm gets a rate and an interval; variants also get a test against the control."""
    arms = [
        Arm("control", 1000, 100),
        Arm("bold", 1000, 120),
        Arm(HOLDOUT, 100, 3),
        Arm("new", 0, 0),
    ]
    by_key = {r.key: r for r in experiments.compare(arms, control="control")}
    assert by_key["control"].rate == 0.1
    assert by_key["control"].p_value is None
    assert by_key["bold"].p_value == pytest.approx(0.1529, abs=1e-4)
    assert by_key["bold"].probability_beats_control == pytest.approx(0.9232, abs=1e-3)
    # mSPRT, tau 0.02: pooled 0.11, V = 0.11 * 0.89 * 2/1000, difference 0.02 (worked by hand)
    assert by_key["bold"].always_valid_p_value == pytest.approx(0.8787, abs=1e-3)
    assert by_key["control"].always_valid_p_value is None
    assert by_key[HOLDOUT].always_valid_p_value is None
    assert by_key[HOLDOUT].p_value is None
    assert by_key[HOLDOUT].rate == 0.03
    assert by_key["new"].rate is None
    assert by_key["new"].interval is None
    assert experiments.sample_warning(arms) == (
        "fewer than 100 exposures in new: too early to call a winner"
    )
    assert experiments.sample_warning(arms[:2]) is None


@given(st.integers(0, 300), st.integers(0, 300), st.integers(1, 300), st.integers(1, 300))
def test_rates_and_probabilities_stay_in_range(c1: int, c2: int, n1: int, n2: int) -> None:
    """Intervals contain the rate and lie in [0, 1]; probabilities lie in [0, 1]."""
    a, b = Arm("a", n1, min(c1, n1)), Arm("b", n2, min(c2, n2))
    low, high = experiments.wilson_interval(b.conversions, b.exposures)
    assert 0 <= low <= b.conversions / b.exposures <= high <= 1
    assert 0 <= experiments.probability_beats(a, b) <= 1


def _hashed_arm(design: Design, offer_id: str, customer_id: str) -> str:
    """Assignment as first written: both hashes, always."""
    holdout = experiments._hash("holdout", offer_id, customer_id) % experiments.BASIS_POINTS
    if holdout < design.holdout_bp:
        return HOLDOUT
    point = experiments._hash("variant", offer_id, customer_id) % sum(
        v.weight for v in design.variants
    )
    for variant in design.variants:
        if point < variant.weight:
            return variant.key
        point -= variant.weight
    raise AssertionError("unreachable")


@pytest.mark.parametrize(
    "design",
    [
        Design((Variant("control"),)),
        Design((Variant("control"),), holdout_bp=500),
        Design((Variant("a", 0), Variant("b", 3))),
        Design((Variant("a", 1), Variant("b", 1)), holdout_bp=0),
        Design((Variant("a", 1), Variant("b", 2)), holdout_bp=1000),
    ],
)
def test_skipped_hashes_never_move_anyone(design: Design) -> None:
    """Skipping a hash whose outcome is known gives every customer the arm hashing gives."""
    for n in range(500):
        customer = f"cust_{n}"
        expected = _hashed_arm(design, "offer_x", customer)
        assert experiments.assign(design, offer_id="offer_x", customer_id=customer) == expected
