"""Offer experiments: sticky variant assignment and the statistics that say which copy wins.

Pure: no I/O, no randomness. Assignment hashes (offer, customer), so every Uplift process, on
every host, puts a customer in the same arm without coordination; storage records the arm on
first exposure so a later change of weights does not move anyone who has already seen the offer.

Two independent hashes decide (1) holdout or not and (2) which variant. Changing the holdout
share therefore never reshuffles who sees which variant, only who sees nothing at all.

Statistics (floats are fine here: these are rates and probabilities, never money):
- a conversion rate with its 95 % Wilson score interval (good at small counts and at 0 or 1);
- a two-sided two-proportion z-test p-value against the control arm (valid at one look, at a
  sample size fixed in advance);
- an always-valid p-value against the control arm (plugin/offers/sequential.py, mSPRT), valid
  however often the results are read;
- the probability that a variant's true rate beats the control's, with uniform Beta(1, 1)
  priors: Evan Miller's exact sum for small counts, a normal approximation past that;
- a warning when either arm has fewer exposures than a minimum sample.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass

from plugin.errors import InvalidDocument
from plugin.offers.sequential import always_valid_p_value

HOLDOUT = "holdout"
BASIS_POINTS = 10_000
Z_95 = 1.959963984540054
MIN_SAMPLE = 100  # exposures per arm before results are worth reading
_EXACT_LIMIT = 5_000  # conversions beyond which the Beta comparison uses a normal approximation


class ExperimentError(InvalidDocument):
    field: str

    def __init__(self, message: str, *, field: str) -> None:
        super().__init__(message, field=field)


@dataclass(frozen=True, slots=True)
class Variant:
    key: str
    weight: int = 1


@dataclass(frozen=True, slots=True)
class Design:
    variants: tuple[Variant, ...]
    holdout_bp: int = 0  # share of customers who see nothing, in basis points (500 = 5 %)

    def __post_init__(self) -> None:
        if not self.variants:
            raise ExperimentError("an offer needs at least one variant", field="variants")
        keys = [v.key for v in self.variants]
        if len(set(keys)) != len(keys) or HOLDOUT in keys:
            raise ExperimentError(
                f"variant keys must be unique and not {HOLDOUT!r}", field="variants"
            )
        if any(v.weight < 0 for v in self.variants) or sum(v.weight for v in self.variants) <= 0:
            raise ExperimentError("weights must be >= 0 with a positive total", field="variants")
        if not 0 <= self.holdout_bp < BASIS_POINTS:
            raise ExperimentError("holdout must be 0 to 99.99 %", field="holdout_bp")

    @property
    def control(self) -> str:
        """The first variant is the control that the others are compared with."""
        return self.variants[0].key


def _hash(*parts: str) -> int:
    return _digest("\x1f".join(parts).encode())


def _digest(data: bytes) -> int:
    return int.from_bytes(hashlib.sha256(data).digest()[:8], "big")


def assign(design: Design, *, offer_id: str, customer_id: str) -> str:
    """The arm (a variant key or HOLDOUT) this customer belongs to for this offer.

    A hash whose outcome is known is skipped: without a holdout nobody is held out, and with
    one weighted variant everyone else gets it (the same arms as hashing, for less)."""
    # The bytes `_hash` would hash, built once: b"holdout" + tail == _hash("holdout", …)'s.
    tail = f"\x1f{offer_id}\x1f{customer_id}".encode()
    if design.holdout_bp and _digest(b"holdout" + tail) % BASIS_POINTS < design.holdout_bp:
        return HOLDOUT
    weighted = [v for v in design.variants if v.weight > 0]
    if len(weighted) == 1:
        return weighted[0].key
    total = sum(v.weight for v in design.variants)
    point = _digest(b"variant" + tail) % total
    for variant in design.variants:
        if point < variant.weight:
            return variant.key
        point -= variant.weight
    raise AssertionError("unreachable: point < total")  # pragma: no cover


# Statistics --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Arm:
    key: str
    exposures: int
    conversions: int


@dataclass(frozen=True, slots=True)
class ArmResult:
    key: str
    exposures: int
    conversions: int
    rate: float | None
    interval: tuple[float, float] | None
    p_value: float | None  # vs control; None for the control itself or without data
    probability_beats_control: float | None
    always_valid_p_value: float | None = None  # vs control, valid under repeated looks


def wilson_interval(conversions: int, exposures: int, z: float = Z_95) -> tuple[float, float]:
    if exposures <= 0:
        raise ValueError("an interval needs at least one exposure")
    p = conversions / exposures
    denom = 1 + z * z / exposures
    centre = (p + z * z / (2 * exposures)) / denom
    half = z * math.sqrt(p * (1 - p) / exposures + z * z / (4 * exposures * exposures)) / denom
    # At 0 % and 100 % the bounds are exactly 0 and 1; say so rather than trust the rounding.
    low = 0.0 if conversions == 0 else max(0.0, centre - half)
    high = 1.0 if conversions == exposures else min(1.0, centre + half)
    return low, high


def two_proportion_p_value(a: Arm, b: Arm) -> float | None:
    """Two-sided pooled z-test of equal rates; None when it is undefined (no data, no variance)."""
    if a.exposures == 0 or b.exposures == 0:
        return None
    pooled = (a.conversions + b.conversions) / (a.exposures + b.exposures)
    variance = pooled * (1 - pooled) * (1 / a.exposures + 1 / b.exposures)
    if variance == 0:
        return None
    z = (b.conversions / b.exposures - a.conversions / a.exposures) / math.sqrt(variance)
    return math.erfc(abs(z) / math.sqrt(2))


def _lbeta(a: float, b: float) -> float:
    return math.lgamma(a) + math.lgamma(b) - math.lgamma(a + b)


def probability_beats(control: Arm, variant: Arm) -> float:
    """P(rate_variant > rate_control) under Beta(1 + conversions, 1 + failures) posteriors."""
    a_c, b_c = 1 + control.conversions, 1 + control.exposures - control.conversions
    a_v, b_v = 1 + variant.conversions, 1 + variant.exposures - variant.conversions
    if a_v <= _EXACT_LIMIT:
        # Evan Miller, "Formulas for Bayesian A/B testing": an exact finite sum over a_v terms.
        total = 0.0
        for i in range(a_v):
            total += math.exp(
                _lbeta(a_c + i, b_c + b_v)
                - math.log(b_v + i)
                - _lbeta(1 + i, b_v)
                - _lbeta(a_c, b_c)
            )
        return min(1.0, max(0.0, total))
    mean_c, mean_v = a_c / (a_c + b_c), a_v / (a_v + b_v)
    var_c = a_c * b_c / ((a_c + b_c) ** 2 * (a_c + b_c + 1))
    var_v = a_v * b_v / ((a_v + b_v) ** 2 * (a_v + b_v + 1))
    z = (mean_v - mean_c) / math.sqrt(var_c + var_v)
    return 0.5 * math.erfc(-z / math.sqrt(2))


def compare(arms: Sequence[Arm], *, control: str) -> list[ArmResult]:
    """Each arm's rate and interval; each non-control arm against the control."""
    by_key = {arm.key: arm for arm in arms}
    base = by_key.get(control)
    results = []
    for arm in arms:
        rate = arm.conversions / arm.exposures if arm.exposures else None
        interval = wilson_interval(arm.conversions, arm.exposures) if arm.exposures else None
        versus = base is not None and arm.key != control and arm.key != HOLDOUT
        results.append(
            ArmResult(
                key=arm.key,
                exposures=arm.exposures,
                conversions=arm.conversions,
                rate=rate,
                interval=interval,
                p_value=two_proportion_p_value(base, arm) if versus and base else None,
                probability_beats_control=(
                    probability_beats(base, arm) if versus and base and arm.exposures else None
                ),
                always_valid_p_value=(
                    always_valid_p_value(
                        base.conversions, base.exposures, arm.conversions, arm.exposures
                    )
                    if versus and base
                    else None
                ),
            )
        )
    return results


def sample_warning(arms: Sequence[Arm], *, minimum: int = MIN_SAMPLE) -> str | None:
    small = [arm.key for arm in arms if arm.exposures < minimum]
    if not small:
        return None
    return f"fewer than {minimum} exposures in {', '.join(small)}: too early to call a winner"
