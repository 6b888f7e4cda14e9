"""The `ltv` block of `GET /api/v1/admin/metrics` (the business family's) and its CSV rows:
plugin/metrics/ltv.py's estimates as JSON, money in minor units, rates as numbers beside the
counts they come from."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from decimal import Decimal
from fractions import Fraction
from typing import Any

from plugin.metrics import ltv

DEFINITIONS = {
    "ltv": "ARPU x gross margin / monthly churn rate, for the customers paying at start who"
    " upgraded in the period, and for those who did not (minor units); null without churn",
    "ltv_low": "ARPU x gross margin / the high end of the monthly churn rate's 95 % interval",
    "ltv_high": "ARPU x gross margin / the low end of that interval; null when unbounded",
    "ltv_customers": "customers paying at start, in the group",
    "ltv_churned": "of them, customers not paying at end",
    "ltv_churn_rate": "churned / customers paying at start, over the period",
    "ltv_monthly_churn_rate": "1 - (1 - period churn rate) ^ (30.4375 days / period), with the"
    " 95 % Wilson interval of the period's churned / customers put through the same",
    "ltv_arpu": "MRR at end / the group's customers paying at end (minor units)",
    "ltv_uplift_difference": "upgraded LTV - not-upgraded LTV (minor units)",
    "ltv_uplift_ratio": "upgraded LTV / not-upgraded LTV",
    "gross_margin": "UPLIFT_GROSS_MARGIN: the share of revenue kept after the cost of serving it",
}
GROUPS = ("upgraded", "not_upgraded")


def _number(value: Fraction | Decimal | int | None) -> float | int | None:
    if value is None or isinstance(value, int):
        return value
    if isinstance(value, Fraction) and value.denominator == 1:
        return int(value)
    if isinstance(value, Decimal) and value == value.to_integral_value():
        return int(value)  # 0 and 1 as the other figures write them, not 0.0
    return float(value)


def _money(value: Fraction | None) -> int | None:
    return None if value is None else int((value * 2 + 1) // 2)


def _group(e: ltv.Estimate) -> dict[str, Any]:
    g = e.group
    low, high = e.monthly_churn_interval or (None, None)
    return {
        "customers": g.customers,
        "churned": g.churned,
        "churn_rate": {
            "value": _number(e.period_churn), "numerator": g.churned,
            "denominator": g.customers, "note": DEFINITIONS["ltv_churn_rate"],
        },
        "monthly_churn_rate": {
            "value": _number(e.monthly_churn), "low": _number(low), "high": _number(high),
        },
        "arpu": {
            "value": _money(e.arpu), "numerator": g.mrr_end, "denominator": g.paying_end,
            "note": DEFINITIONS["ltv_arpu"],
        },
        "ltv": {"value": e.ltv, "low": e.ltv_low, "high": e.ltv_high, "reason": e.reason},
    }  # fmt: skip


def document(estimates: Iterable[ltv.CurrencyLtv], *, margin: Fraction) -> dict[str, Any]:
    basis_points = margin * 10_000
    return {
        "gross_margin": {
            "value": _number(margin),
            # The setting is kept to a basis point (plugin/settings.py).
            "numerator": int(basis_points),
            "denominator": 10_000,
            "note": DEFINITIONS["gross_margin"],
        },
        "month_days": ltv.MONTH / 86_400,
        "currencies": {
            e.currency: {
                "upgraded": _group(e.upgraded),
                "not_upgraded": _group(e.not_upgraded),
                "uplift": {
                    "difference": e.difference,
                    "ratio": None if e.ratio is None else {
                        "value": _number(e.ratio), "numerator": e.upgraded.ltv,
                        "denominator": e.not_upgraded.ltv, "note": DEFINITIONS["ltv_uplift_ratio"],
                    },
                    "reason": e.reason,
                },
            }
            for e in estimates
        },
    }  # fmt: skip


def rows(block: dict[str, Any]) -> Iterable[Sequence[object]]:
    """The CSV rows of `block` (the document's `business.ltv`): scope `all`, one per figure,
    named `ltv_<group>…` (`ltv_upgraded`, `ltv_not_upgraded_low`, …)."""
    margin = block["gross_margin"]
    yield ("all", "", "", "gross_margin", margin["value"], margin["numerator"],
           margin["denominator"], margin["note"])  # fmt: skip
    for currency, per in block["currencies"].items():
        for group in GROUPS:
            g, name = per[group], f"ltv_{group}"
            value = g["ltv"]
            note = value["reason"] or DEFINITIONS["ltv"]
            yield ("all", "", currency, name, value["value"], "", "", note)
            for bound in ("low", "high"):
                yield ("all", "", currency, f"{name}_{bound}", value[bound], "", "",
                       DEFINITIONS[f"ltv_{bound}"])  # fmt: skip
            for count in ("customers", "churned"):
                yield ("all", "", currency, f"{name}_{count}", g[count], "", "",
                       DEFINITIONS[f"ltv_{count}"])  # fmt: skip
            for figure in ("churn_rate", "arpu"):
                f = g[figure]
                yield ("all", "", currency, f"{name}_{figure}", f["value"], f["numerator"],
                       f["denominator"], f["note"])  # fmt: skip
            rate = g["monthly_churn_rate"]
            for suffix, key in (("", "value"), ("_low", "low"), ("_high", "high")):
                yield ("all", "", currency, f"{name}_monthly_churn_rate{suffix}", rate[key], "",
                       "", DEFINITIONS["ltv_monthly_churn_rate"])  # fmt: skip
        uplift = per["uplift"]
        yield ("all", "", currency, "ltv_uplift_difference", uplift["difference"], "", "",
               uplift["reason"] or DEFINITIONS["ltv_uplift_difference"])  # fmt: skip
        ratio = uplift["ratio"] or {"value": None, "numerator": "", "denominator": ""}
        note = uplift["reason"] or DEFINITIONS["ltv_uplift_ratio"]
        yield ("all", "", currency, "ltv_uplift_ratio", ratio["value"], ratio["numerator"],
               ratio["denominator"], note)  # fmt: skip
