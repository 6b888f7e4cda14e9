"""The always-valid p-value (plugin/offers/sequential.py): its bounds and symmetries as
properties, and its guarantee by simulation: under repeated looks it calls a false winner in
at most 5 % of A/A experiments, where the fixed-sample test, peeked at the same way, does not
hold its level."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from plugin.offers.experiments import Arm, two_proportion_p_value
from plugin.offers.sequential import always_valid_p_value


@st.composite
def arm(draw: st.DrawFn) -> tuple[int, int]:
    exposures = draw(st.integers(min_value=0, max_value=100_000))
    return draw(st.integers(min_value=0, max_value=exposures)), exposures


@given(arm(), arm())
def test_the_p_value_is_a_probability_and_symmetric_in_the_arms(
    control: tuple[int, int], variant: tuple[int, int]
) -> None:
    p = always_valid_p_value(*control, *variant)
    swapped = always_valid_p_value(*variant, *control)
    if p is None:
        assert swapped is None
    else:
        assert swapped == pytest.approx(p, rel=1e-9, abs=1e-300)
        assert 0.0 <= p <= 1.0  # 0.0 only where the evidence underflows a float


@given(st.integers(min_value=1, max_value=10_000), st.integers(min_value=1, max_value=50))
def test_equal_rates_are_never_evidence(exposures: int, percent: int) -> None:
    """The same observed rate in both arms gives p = 1, whatever the sample."""
    conversions = exposures * percent // 100
    p = always_valid_p_value(conversions, exposures, conversions, exposures)
    assert p in (None, 1.0)


def test_no_data_or_no_variance_has_no_p_value() -> None:
    assert always_valid_p_value(0, 0, 5, 10) is None
    assert always_valid_p_value(0, 100, 0, 100) is None
    assert always_valid_p_value(100, 100, 100, 100) is None


def test_counts_that_cannot_be_are_refused() -> None:
    with pytest.raises(ValueError, match="between"):
        always_valid_p_value(11, 10, 1, 10)
    with pytest.raises(ValueError, match="tau"):
        always_valid_p_value(1, 10, 1, 10, tau=0)


def test_a_real_difference_is_found_as_the_sample_grows() -> None:
    """5 % against 7 %: no verdict at 500 a side, a clear one at 10,000 a side, and more data
    at the same rates only strengthens it; it is slower to call than the fixed-sample test at
    the same counts, the price of being allowed to look."""
    small = always_valid_p_value(25, 500, 35, 500)
    large = always_valid_p_value(500, 10_000, 700, 10_000)
    larger = always_valid_p_value(1_000, 20_000, 1_400, 20_000)
    assert small is not None
    assert large is not None
    assert larger is not None
    assert small > 0.5
    assert large < 0.001
    assert larger < large
    fixed = two_proportion_p_value(Arm("c", 500, 25), Arm("v", 500, 35))
    assert fixed is not None
    assert fixed < small


def _peeking_false_positive_rates(experiments: int, seed: int) -> tuple[float, float]:
    """A/A experiments at a 10 % rate, looked at every 50 exposures per arm up to 2,000; the
    share in which any look shows p ≤ 0.05, for the always-valid and the fixed-sample test."""
    rng = random.Random(seed)  # noqa: S311 -- a simulation, reproducible by its seed
    sequential = fixed = 0
    for _ in range(experiments):
        counts = [0, 0]
        exposures = 0
        called_sequential = called_fixed = False
        for _look in range(40):
            exposures += 50
            for side in (0, 1):
                counts[side] += sum(rng.random() < 0.1 for _ in range(50))
            p = always_valid_p_value(counts[0], exposures, counts[1], exposures)
            called_sequential |= p is not None and p <= 0.05
            q = two_proportion_p_value(
                Arm("a", exposures, counts[0]), Arm("b", exposures, counts[1])
            )
            called_fixed |= q is not None and q <= 0.05
        sequential += called_sequential
        fixed += called_fixed
    return sequential / experiments, fixed / experiments


def test_repeated_looks_keep_the_false_positive_rate_at_most_five_percent() -> None:
    """1,000 simulated A/A experiments, each looked at 40 times (a fixed seed, so the run is
    the same every time): the always-valid p-value reaches 0.05 in at most 5 % of them; the
    fixed-sample p-value, peeked at the same way, in more than 15 %."""
    sequential, fixed = _peeking_false_positive_rates(1_000, seed=20261207)
    print(f"A/A false positives under 40 looks: mSPRT {sequential:.3f}, z-test {fixed:.3f}")  # noqa: T201
    assert sequential <= 0.05
    assert fixed > 0.15
