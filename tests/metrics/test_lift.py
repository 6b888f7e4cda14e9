"""Lift against the holdout (plugin.metrics.revenue, "Lift against the holdout"): the upgrade
rate of the customers shown an offer minus that of the customers its experiment held out."""

from __future__ import annotations

from fractions import Fraction

from plugin.metrics.revenue import ArmOutcome, Assignment, arm_outcomes, lifts

START, END = 1_000, 2_000


def test_an_upgrade_counts_only_after_the_first_exposure_and_inside_the_period() -> None:
    """a upgraded after being shown the offer; b before it; c after the period's end; d was
    assigned before the period, so is nobody's in it; e, held out, upgraded anyway."""
    assignments = [
        Assignment("offer", "a", "control", 1_100),
        Assignment("offer", "b", "control", 1_100),
        Assignment("offer", "c", "control", 1_100),
        Assignment("offer", "d", "control", 900),
        Assignment("offer", "e", "holdout", 1_200),
    ]
    times = {"a": [1_500], "b": [1_050], "c": [2_100], "d": [1_500], "e": [1_900]}
    outcomes = arm_outcomes(assignments, times, start=START, end=END)
    assert outcomes == [ArmOutcome("offer", "control", 3, 1), ArmOutcome("offer", "holdout", 1, 1)]
    [lift] = lifts(outcomes)
    assert (lift.treated, lift.held_out, lift.difference) == ((1, 3), (1, 1), Fraction(-2, 3))


def test_an_offer_without_held_out_customers_has_no_lift() -> None:
    """Every variant is treated; with nobody held out there is nothing to compare with."""
    outcomes = [ArmOutcome("offer", "a", 10, 2), ArmOutcome("offer", "b", 10, 3)]
    assert lifts(outcomes) == []


def test_treated_arms_are_pooled() -> None:
    """Two variants against one holdout: (2 + 3) / 20 - 1 / 10 = 3/20."""
    outcomes = [
        ArmOutcome("offer", "a", 10, 2),
        ArmOutcome("offer", "b", 10, 3),
        ArmOutcome("offer", "holdout", 10, 1),
    ]
    [lift] = lifts(outcomes)
    assert lift.difference == Fraction(3, 20)
