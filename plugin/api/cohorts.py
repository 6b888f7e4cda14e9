"""`GET /api/v1/admin/metrics/cohorts`: customers by signup month x months since, for MRR
retention (`kind=mrr`, each cohort's NDR since signup) or the adoption of a gated feature
(`kind=feature:<name>`), per currency; CSV with `Accept: text/csv` (plugin/metrics/cohorts.py
has the definitions).

`from` and `to` (unix seconds or ISO 8601, as the other metrics routes take them) select the
signups, and the cohorts are followed until `to`: by default from the first of the month eleven
months before `to`'s (twelve cohorts) to now. At most five years, so an answer stays a few
thousand cells."""

from __future__ import annotations

import re
from fractions import Fraction

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from plugin.api.admin import require_admin
from plugin.api.answers import CohortsOut
from plugin.api.revenue import MAX_PERIOD, _iso, csv_response, time_param, wants_csv
from plugin.errors import ValidationFailed
from plugin.metrics import cohorts
from plugin.services import services
from plugin.storage import cohorts as cohort_store

_CURRENCY = re.compile(r"^[a-z]{3}$")
_FEATURE = re.compile(r"^feature:(.{1,100})$", re.DOTALL)
DEFINITIONS = {
    "cohort": "customers whose first paid subscription in the currency began in that month"
    " (UTC), within the period",
    "month": "calendar months since the signup month, measured at the month's end (or at `to`:"
    " `complete` false)",
    "mrr": "the cohort's MRR at the month's end / its MRR at the end of its signup month (NDR"
    " since signup: expansion, contraction, churn and reactivation included)",
    "feature": "the cohort's customers who had hit the feature by the month's end / the"
    " cohort's customers",
}
CSV_HEADER = (
    "currency", "cohort", "customers", "month", "at", "complete", "value", "numerator",
    "denominator",
)  # fmt: skip


def _number(value: Fraction | None) -> float | int | None:
    if value is None:
        return None
    return int(value) if value.denominator == 1 else float(value)


def _kind(raw: str | None) -> tuple[str, str | None]:
    """`mrr` (the default) or `feature:<name>`: the kind, and the feature's name."""
    if raw is None or raw in ("", "mrr"):
        return "mrr", None
    match = _FEATURE.match(raw)
    if match is None or not match[1].strip():
        raise ValidationFailed(
            f"kind must be mrr or feature:<name>, got {raw[:40]!r}.", field="kind"
        )
    return raw, match[1]


def _currency(raw: str | None) -> str | None:
    if raw is None or raw == "":
        return None
    currency = raw.lower()
    if not _CURRENCY.match(currency):
        raise ValidationFailed(
            f"currency must be three letters (ISO 4217), got {raw[:40]!r}.", field="currency"
        )
    return currency


async def get_cohorts(request: Request) -> Response:
    await require_admin(request)
    ctx = services(request)
    params = request.query_params
    kind, feature = _kind(params.get("kind"))
    currency = _currency(params.get("currency"))
    end = time_param(params.get("to"), "to") or ctx.clock.now()
    start = time_param(params.get("from"), "from") or cohorts.default_start(end)
    if not 0 < end - start <= MAX_PERIOD:
        raise ValidationFailed("from must be before to, at most five years apart.", field="from")
    async with ctx.db.read() as conn:
        known = await cohort_store.features(conn)
    if feature is not None and feature not in known:
        listed = ", ".join(known) if known else "none yet"
        raise ValidationFailed(
            f"kind names a feature no plan gates and no customer has hit: {feature[:40]!r}"
            f" (known: {listed[:200]}).",
            code="unknown_feature",
            field="kind",
        )
    facts = await cohort_store.facts(
        ctx.db, start=start, end=end, currency=currency, feature=feature
    )
    found = cohorts.assemble(facts=facts, start=start, end=end, kind=kind)
    if wants_csv(request):
        return csv_response(
            CSV_HEADER,
            (
                (c.currency, c.month, c.customers, cell.month, _iso(cell.at),
                 "true" if cell.complete else "false", _number(cell.value), cell.numerator,
                 cell.denominator)
                for c in found
                for cell in c.cells
            ),
            f"cohorts-{kind.replace(':', '-')}-{start}-{end}",
        )  # fmt: skip
    by_currency: dict[str, list[dict[str, object]]] = {}
    for c in found:
        by_currency.setdefault(c.currency, []).append(
            {
                "cohort": c.month, "start": c.start, "end": c.end, "customers": c.customers,
                "months": [
                    {"month": cell.month, "at": cell.at, "complete": cell.complete,
                     "value": _number(cell.value), "numerator": cell.numerator,
                     "denominator": cell.denominator}
                    for cell in c.cells
                ],
            }
        )  # fmt: skip
    answer = CohortsOut.model_validate(
        {
            "object": "cohorts", "kind": kind, "from": start, "to": end, "currency": currency,
            "features": known, "currencies": by_currency,
            "definitions": {k: v for k, v in DEFINITIONS.items()
                            if k != ("feature" if feature is None else "mrr")},
        }
    )  # fmt: skip
    return JSONResponse(answer.document(), headers={"Vary": "Accept"})
