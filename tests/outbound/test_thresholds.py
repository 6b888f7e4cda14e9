"""Usage thresholds: each percent announced once per crossing."""

from __future__ import annotations

from plugin.customers.thresholds import Crossing, crossing

T = (80, 100)


def test_crossing_eighty_then_a_hundred_announces_each_once() -> None:
    assert crossing(7, 10, T, 0) == Crossing(0, ())
    assert crossing(8, 10, T, 0) == Crossing(80, (80,))
    assert crossing(9, 10, T, 80) == Crossing(80, ())
    assert crossing(10, 10, T, 80) == Crossing(100, (100,))
    assert crossing(12, 10, T, 100) == Crossing(100, ())


def test_a_jump_crosses_every_threshold_between_lowest_first() -> None:
    assert crossing(50, 10, T, 0) == Crossing(100, (80, 100))


def test_falling_below_then_crossing_again_announces_again() -> None:
    assert crossing(3, 10, T, 100) == Crossing(0, ())
    assert crossing(8, 10, T, 0) == Crossing(80, (80,))


def test_no_limit_crosses_nothing() -> None:
    assert crossing(10**9, None, T, 0) == Crossing(0, ())
    assert crossing(5, 0, T, 80) == Crossing(0, ())


def test_the_comparison_is_exact_in_integers() -> None:
    # 80 % of 3 is 2.4: 2 is below, 3 is above (no float rounding decides it).
    assert crossing(2, 3, T, 0).crossed == ()
    assert crossing(3, 3, T, 0).crossed == (80, 100)
