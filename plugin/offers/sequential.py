"""Always-valid p-values for a variant's conversion rate against the control's: results an
admin may read every day without the peeking that breaks a fixed-sample test. Pure.

A fixed-sample test (experiments.two_proportion_p_value) is valid once, at a sample size fixed
in advance: looking every day and stopping at the first p ≤ 0.05 calls a winner between two
identical arms far more often than 5 % of the time. The mixture sequential probability ratio
test (mSPRT) does not have that flaw (Johari, Koomen, Pekelis and Walsh, "Peeking at A/B
Tests: Why it matters, and what to do about it", KDD 2017; "Always Valid Inference",
Operations Research 70(3), 2022). On the normal approximation of the difference of the two
rates, θ̂ = rate_variant - rate_control with variance V (pooled, as under no difference), and
a normal mixing distribution N(0, τ²) over the true difference, the mixture likelihood ratio
is

    Λ = sqrt(V / (V + τ²)) · exp(τ² θ̂² / (2 V (V + τ²)))

and the always-valid p-value is min(1, 1 / Λ). Under no difference Λ is (on that normal
approximation) a nonnegative martingale with mean 1, so by Ville's inequality the chance that
it ever reaches 1/alpha is at most alpha: an admin who declares a winner the first time any
look shows p ≤ alpha is wrong at most alpha of the time, however often they look. This module
reports the p-value of the data as they stand at each look (the running minimum over looks
would need every earlier look; rejecting at the first look at or below alpha is what the
guarantee covers either way).

`TAU` is the spread of the effects the test is tuned to find: 0.02, differences of about two
percentage points in conversion (an upsell offer moving 5 % to 7 %). A smaller τ finds smaller
effects later; a larger one finds large effects sooner and small ones later. The guarantee
holds for any τ. tests/offers/test_sequential.py simulates 1,000 A/A experiments looked at 40
times each: the always-valid p-value calls a false winner in at most 5 % of them, the
fixed-sample p-value in far more.
"""

from __future__ import annotations

import math

TAU = 0.02
MIN_PER_ARM = 1  # below this, no p-value


def always_valid_p_value(
    control_conversions: int,
    control_exposures: int,
    variant_conversions: int,
    variant_exposures: int,
    *,
    tau: float = TAU,
) -> float | None:
    """The mSPRT p-value of "the variant's rate differs from the control's" for the counts as
    they stand; None without data in either arm or without variance (no conversions at all,
    or every exposure converted)."""
    if tau <= 0:
        raise ValueError("tau must be positive")
    for conversions, exposures in (
        (control_conversions, control_exposures),
        (variant_conversions, variant_exposures),
    ):
        if exposures < 0 or not 0 <= conversions <= exposures:
            raise ValueError("conversions must lie between 0 and exposures")
    if control_exposures < MIN_PER_ARM or variant_exposures < MIN_PER_ARM:
        return None
    pooled = (control_conversions + variant_conversions) / (control_exposures + variant_exposures)
    variance = pooled * (1 - pooled) * (1 / control_exposures + 1 / variant_exposures)
    if variance == 0:
        return None
    difference = variant_conversions / variant_exposures - control_conversions / control_exposures
    tau2 = tau * tau
    log_ratio = 0.5 * math.log(variance / (variance + tau2)) + (
        tau2 * difference * difference / (2 * variance * (variance + tau2))
    )
    return 1.0 if log_ratio <= 0 else math.exp(-log_ratio)
