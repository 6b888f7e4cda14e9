"""Admin API for what offers earned: recorded upgrades, and revenue metrics for a period.

Periods are `[from, to)`, given as unix seconds or ISO 8601 dates/times (UTC when no offset),
by default the last 30 days. Every figure says how it was computed (numerator, denominator), and
money is per currency in minor units, never mixed (plugin/metrics/revenue.py has the definitions).
"""

from __future__ import annotations

import asyncio
import csv
import io
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from fractions import Fraction
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from plugin.api import ltv as ltv_answer
from plugin.api.admin import require_admin
from plugin.api.answers import AdminUpgradeListOut, AdminUpgradeOut, MetricsOut, TimeseriesOut
from plugin.api.paging import limit_param, list_response
from plugin.errors import ValidationFailed
from plugin.metrics import ltv as ltv_metrics
from plugin.metrics import revenue as metrics
from plugin.services import services
from plugin.storage import customers as customer_store
from plugin.storage import ltv as ltv_store
from plugin.storage import metrics as metrics_store
from plugin.storage import upgrades as upgrade_store
from plugin.storage.upgrades import UpgradeRecord
from plugin.timespan import DAY

STATUSES = ("processing", "requires_action", "scheduled", "succeeded", "failed")
MAX_PERIOD = 5 * 366 * DAY
MAX_BUCKETS = 400  # a year and a month of days; five years of weeks or months fit easily


def time_param(raw: str | None, name: str) -> int | None:
    if raw is None or raw == "":
        return None
    if raw.isascii() and raw.isdigit() and len(raw) <= 12:
        return int(raw)
    try:
        parsed = datetime.fromisoformat(raw)
    except ValueError:
        raise ValidationFailed(
            f"{name} must be unix seconds or an ISO 8601 date, got {raw[:40]!r}.", field=name
        ) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return int(parsed.timestamp())


def admin_upgrade_document(upgrade: UpgradeRecord, customer_id: str | None) -> AdminUpgradeOut:
    """`customer_id`: the SaaS's own id for the upgrade's Stripe customer, if it has one."""
    # `mrr_delta` is what the upgrade changed: a failed one changed nothing, whatever its quote
    # said (the quote keeps the figure it offered, under its own id).
    document = {
        "object": "upgrade",
        "id": upgrade.id,
        "status": upgrade.status,
        "customer": upgrade.customer_id,
        "customer_id": customer_id,
        "offer_id": upgrade.offer_id,
        "variant": upgrade.variant,
        "quote_id": upgrade.quote_id,
        "execution": upgrade.execution,
        "subscription": upgrade.subscription_id,
        "from": {"price": upgrade.from_price, "quantity": upgrade.from_quantity},
        "to": {"price": upgrade.to_price, "quantity": upgrade.to_quantity},
        "currency": upgrade.currency,
        "amount_quoted": upgrade.amount_quoted,
        "amount_paid": upgrade.amount_paid,
        "mrr_delta": 0 if upgrade.status == "failed" else upgrade.mrr_delta,
        "invoice": upgrade.invoice_id,
        "failure_reason": upgrade.failure_reason,
        "effective_at": upgrade.effective_at,
        "created": upgrade.created_at,
        "updated": upgrade.updated_at,
    }
    return AdminUpgradeOut.model_validate(document)


async def list_upgrades(request: Request) -> Response:
    await require_admin(request)
    ctx = services(request)
    params = request.query_params
    status = params.get("status")
    if status is not None and status not in STATUSES:
        raise ValidationFailed(f"status must be one of {', '.join(STATUSES)}.", field="status")
    limit = limit_param(params.get("limit"))
    before = None
    after_id = params.get("starting_after")
    if after_id:
        previous = await upgrade_store.get(ctx.db, after_id[:64])
        if previous is None:
            raise ValidationFailed("starting_after names no upgrade.", field="starting_after")
        before = (previous.created_at, previous.id)
    rows = await upgrade_store.page(
        ctx.db,
        status=status,
        offer_id=params.get("offer"),
        created_from=time_param(params.get("from"), "from"),
        created_to=time_param(params.get("to"), "to"),
        limit=limit,
        before_created=before,
    )
    async with ctx.db.read() as conn:
        ids = await customer_store.ids_by_stripe(conn, (u.customer_id for u in rows[:limit]))
    documents = [admin_upgrade_document(u, ids.get(u.customer_id)) for u in rows]
    if wants_csv(request):
        return csv_response(UPGRADES_CSV, _upgrade_rows(documents[:limit]), "upgrades")
    return list_response(AdminUpgradeListOut, documents, limit=limit)


UPGRADES_CSV = (
    "id", "created", "status", "customer_id", "stripe_customer", "offer_id", "variant",
    "execution", "subscription", "from_price", "from_quantity", "to_price", "to_quantity",
    "currency", "amount_quoted", "amount_paid", "mrr_delta", "invoice", "failure_reason",
    "effective_at",
)  # fmt: skip


def _upgrade_rows(documents: list[AdminUpgradeOut]) -> list[list[object]]:
    """The JSON page's upgrades, one row each: amounts in minor units as in the JSON, times in
    ISO 8601 UTC (the CSV carries no `has_more`: page with `starting_after` as for JSON)."""
    return [
        [
            u.id,
            _iso(u.created),
            u.status,
            u.customer_id,
            u.customer,
            u.offer_id,
            u.variant,
            u.execution,
            u.subscription,
            u.from_.price,
            u.from_.quantity,
            u.to.price,
            u.to.quantity,
            u.currency,
            u.amount_quoted,
            u.amount_paid,
            u.mrr_delta,
            u.invoice,
            u.failure_reason,
            None if u.effective_at is None else _iso(u.effective_at),
        ]
        for u in documents
    ]


def _number(value: Fraction | int | None) -> float | int | None:
    if value is None or isinstance(value, int):
        return value
    return int(value) if value.denominator == 1 else float(value)


def _figure(figure: metrics.Figure) -> dict[str, Any]:
    return {
        "value": _number(figure.value),
        "numerator": _number(figure.numerator),
        "denominator": figure.denominator,
        "note": figure.note,
    }


def _period(request: Request, now: int) -> tuple[int, int]:
    end = time_param(request.query_params.get("to"), "to") or now
    start = time_param(request.query_params.get("from"), "from") or end - 30 * DAY
    if not 0 < end - start <= MAX_PERIOD:
        raise ValidationFailed("from must be before to, at most five years apart.", field="from")
    return start, end


def wants_csv(request: Request) -> bool:
    """`Accept: text/csv` (preferred over JSON by its q-value, or JSON not named) asks for CSV;
    anything else, `*/*` included, gets JSON."""
    q: dict[str, float] = {}
    for part in request.headers.get("accept", "").split(","):
        media, _, params = part.partition(";")
        weight = 1.0
        for param in params.split(";"):
            key, _, value = param.strip().partition("=")
            if key == "q":
                try:
                    weight = float(value)
                except ValueError:
                    weight = 0.0
        q[media.strip().lower()] = max(weight, q.get(media.strip().lower(), 0.0))
    csv_q = q.get("text/csv", 0.0)
    return csv_q > 0 and csv_q >= q.get("application/json", 0.0)


def _cell(value: object) -> object:
    # A spreadsheet runs a cell that starts with = + - @ as a formula (CSV injection); text
    # cells such as offer ids and notes get a leading apostrophe. Numbers stay numbers.
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return "" if value is None else value


def csv_response(header: Sequence[str], rows: Iterable[Sequence[object]], name: str) -> Response:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")  # RFC 4180: CRLF, quotes where needed
    writer.writerow(header)
    writer.writerows([_cell(v) for v in row] for row in rows)
    return Response(
        out.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}.csv"', "Vary": "Accept"},
    )


def _iso(t: int) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat().replace("+00:00", "Z")


# One line per figure, sent with each family (`definitions`) and as the CSV's note for amounts;
# plugin/metrics/revenue.py has the long form.
BUSINESS_DEFINITIONS = {
    "upsell_conversion": "customers paying below the top tier at start who upgraded in the"
    " period / those customers (every upgrade, inside or outside Uplift)",
    "upgraded_customers": "customers with a plan-ladder upgrade in the period, new customers"
    " included",
    "time_to_upsell_days": "days from first payment to first upgrade, for customers whose first"
    " upgrade is in the period",
    "cross_sell_rate": "succeeded cross-sells / customers first shown a cross-sell offer in the"
    " period",
    "mrr_start": "MRR just before the period (minor units)",
    "mrr_end": "MRR at the period's end (minor units)",
    "new_mrr": "MRR of first subscriptions in the period (minor units)",
    "expansion_mrr": "MRR added by existing subscriptions in the period (minor units)",
    "contraction_mrr": "MRR lost by subscriptions that stayed (minor units)",
    "churned_mrr": "MRR lost by subscriptions that ended (minor units)",
    "reactivation_mrr": "MRR of subscriptions back from zero (minor units)",
    "net_new_mrr": "new + expansion + reactivation - contraction - churn (minor units)",
    "ndr": "MRR at end of the customers paying at start / their MRR at start",
    "arpu_start": "MRR / paying customers at start (minor units)",
    "arpu_end": "MRR / paying customers at end (minor units)",
    "average_upgrade_value": "MRR added by the period's upgrades / their count (minor units)",
    "cross_sell_recurring": "MRR added by succeeded cross-sells (minor units)",
    "cross_sell_one_off": "charged today by succeeded cross-sells (minor units)",
    "upgrades": "plan-ladder expansions in the ledger in the period",
    "attach_rate": "customers paying at end who hold the add-on / customers paying at end",
    **ltv_answer.DEFINITIONS,
}
UPLIFT_DEFINITIONS = {
    "upsell_conversion": "customers paying below the top tier at start who upgraded through"
    " Uplift in the period / those customers",
    "offer_conversion": "upgrades paid in the period / customers first exposed to an offer in"
    " it, over every offer",
    "upgrades": "succeeded upgrades Uplift executed in the period",
    "average_upgrade_value": "MRR change of Uplift's upgrades / their count (minor units)",
    "attributed_expansion_mrr": "expansion MRR the ledger credits to an offer (minor units)",
    "lift": "upgrade rate (any upgrade, after first exposure) of the customers shown the offer"
    " minus that of the customers held out",
}


async def get_metrics(request: Request) -> Response:
    await require_admin(request)
    ctx = services(request)
    start, end = _period(request, ctx.clock.now())
    (facts, upgrades), steps, movers, expanded = await asyncio.gather(
        metrics_store.aggregated(ctx.db, start=start, end=end),
        metrics_store.funnel(ctx.db, start=start, end=end),
        ltv_store.movers(ctx.db, start=start, end=end),
        ltv_store.expanded(ctx.db, start=start, end=end),
    )
    margin = ltv_metrics.margin_of(ctx.settings.gross_margin)
    estimates = ltv_metrics.estimates(
        ltv_metrics.from_sums(facts.currencies, movers, expanded, facts.upgraders),
        margin=margin, start=start, end=end,
    )  # fmt: skip
    document = metrics_document(
        metrics.summarise(facts), upgrades, steps, ltv=ltv_answer.document(estimates, margin=margin)
    )
    if wants_csv(request):
        return csv_response(METRICS_CSV_HEADER, _metrics_rows(document), f"metrics-{start}-{end}")
    return JSONResponse(document, headers={"Vary": "Accept"})


def metrics_document(
    result: metrics.Metrics,
    upgrades: Sequence[metrics.Upgrade],
    steps: Sequence[dict[str, Any]],
    *,
    ltv: dict[str, Any],
) -> dict[str, Any]:
    """The answer for `result`, the period's succeeded upgrades, its funnel rows
    (plugin.storage.metrics.funnel) and its `ltv` block (plugin.api.ltv.document), through the
    model: the JSON answer and the CSV rows are both made from what it checked."""
    by_offer: dict[tuple[str, str], dict[str, Any]] = {}
    for u in upgrades:  # the period's succeeded upgrades
        if u.offer_id is None:
            continue
        row = by_offer.setdefault(
            (u.offer_id, u.variant or ""),
            {"offer_id": u.offer_id, "variant": u.variant, "upgrades": 0, "expansion_mrr": {}},
        )
        row["upgrades"] += 1
        row["expansion_mrr"][u.currency] = row["expansion_mrr"].get(u.currency, 0) + u.mrr_delta
    funnel, tries, cross_tries = [], [], []
    for step in steps:
        paid = by_offer.get((step["offer_id"], step["arm"]), {}).get("upgrades", 0)
        tries.append((paid, step["exposed"]))
        if step.get("kind") == "cross_sell":
            cross_tries.append((paid, step["exposed"]))
        conversion = metrics.overall_conversion(
            [(paid, step["exposed"])], "upgrades paid in the period / customers first exposed in it"
        )
        funnel.append(
            {
                "offer_id": step["offer_id"],
                "variant": step["arm"],
                "exposed": step["exposed"],
                "clicked": step["clicked"],
                "accepted": step["accepted"],
                "paid": paid,
                "conversion": _figure(conversion),
            }
        )
    business_currencies = {
        cur: {
            "mrr_start": m.mrr_start,
            "mrr_end": m.mrr_end,
            "new_mrr": m.new,
            "expansion_mrr": m.expansion,
            "contraction_mrr": m.contraction,
            "churned_mrr": m.churn,
            "reactivation_mrr": m.reactivation,
            "net_new_mrr": m.net_new,
            "ndr": _figure(m.ndr),
            "arpu_start": _figure(m.arpu_start),
            "arpu_end": _figure(m.arpu_end),
            "average_upgrade_value": _figure(m.average_upgrade_value),
            "cross_sell_recurring": m.cross_sell_recurring,
            "cross_sell_one_off": m.cross_sell_one_off,
            "upgrades": m.upgrades,
        }
        for cur, m in result.currencies.items()
    }
    time_to_upsell = {
        "median": _figure(result.time_to_upsell_median_days),
        "p90": _figure(result.time_to_upsell_p90_days),
    }
    offers = sorted(by_offer.values(), key=lambda r: (r["offer_id"], r["variant"] or ""))
    business = {
        "upsell_conversion": _figure(result.upsell_conversion),
        "upgraded_customers": _figure(result.upgraded_customers),
        "time_to_upsell_days": time_to_upsell,
        "cross_sell_rate": _figure(
            metrics.overall_conversion(
                cross_tries, "succeeded cross-sells / customers first shown a cross-sell offer"
            )
        ),
        "currencies": business_currencies,
        "attach_rate": {
            cur: {product: _figure(f) for product, f in m.attach_rate.items()}
            for cur, m in result.currencies.items()
            if m.attach_rate
        },
        "ltv": ltv,
        "definitions": BUSINESS_DEFINITIONS,
    }
    uplift = {
        "upsell_conversion": _figure(result.uplift_upsell_conversion),
        "offer_conversion": _figure(
            metrics.overall_conversion(
                tries, "upgrades paid in the period / customers first exposed to an offer"
            )
        ),
        "currencies": {
            cur: {
                "upgrades": m.uplift_upgrades,
                "average_upgrade_value": _figure(m.uplift_average_upgrade_value),
                "attributed_expansion_mrr": m.attributed_expansion,
            }
            for cur, m in result.currencies.items()
        },
        "lift": [
            {
                "offer_id": one.offer_id,
                "treated": _figure(
                    metrics.overall_conversion(
                        [one.treated], "customers shown the offer who upgraded / those customers"
                    )
                ),
                "held_out": _figure(
                    metrics.overall_conversion(
                        [one.held_out], "held-out customers who upgraded / those customers"
                    )
                ),
                "difference": _number(one.difference),
            }
            for one in result.lift
        ],
        "by_offer": offers,
        "funnel": funnel,
        "definitions": UPLIFT_DEFINITIONS,
    }
    return MetricsOut.model_validate(
        {
            "object": "metrics",
            "from": result.start,
            "to": result.end,
            "business": business,
            "uplift": uplift,
            # The shape before the families, deprecated (plugin/api/answers.py, `MetricsOut`).
            "currencies": business_currencies,
            "upsell_conversion": business["upsell_conversion"],
            "time_to_upsell_days": time_to_upsell,
            "by_offer": offers,
            "funnel": funnel,
        }
    ).document()


METRICS_CSV_HEADER = (
    "scope", "variant", "currency", "metric", "value", "numerator", "denominator", "note",
)  # fmt: skip


def _figure_rows(
    scope: str, variant: str, currency: str, figures: dict[str, Any], notes: dict[str, str]
) -> Iterable[Sequence[object]]:
    for name, value in figures.items():
        if isinstance(value, dict) and "value" in value:
            yield (scope, variant, currency, name, value["value"], value["numerator"],
                   value["denominator"], value["note"])  # fmt: skip
        elif isinstance(value, dict):  # time to upsell: median and p90
            for which, f in value.items():
                yield (scope, variant, currency, f"{name}_{which}", f["value"], f["numerator"],
                       f["denominator"], f["note"])  # fmt: skip
        else:
            yield (scope, variant, currency, name, value, "", "", notes.get(name, "minor units"))


def _metrics_rows(document: dict[str, Any]) -> Iterable[Sequence[object]]:
    """One row per figure, the business family's with scope `all` (every movement), Uplift's
    with scope `uplift` (or the offer's id, per offer and arm): money as integer minor units,
    ratios as decimals beside their numerator and denominator, the same numbers as the JSON
    document's families (the deprecated top-level copies are not repeated)."""
    business, uplift = document["business"], document["uplift"]
    notes, mine = business["definitions"], uplift["definitions"]
    for currency, figures in business["currencies"].items():
        yield from _figure_rows("all", "", currency, figures, notes)
    for currency, per in business["attach_rate"].items():
        yield from _figure_rows("all", "", currency, {"attach_rate": per}, notes)
    yield from ltv_answer.rows(business["ltv"])
    skip = ("currencies", "attach_rate", "ltv", "definitions")
    overall = {k: v for k, v in business.items() if k not in skip}
    yield from _figure_rows("all", "", "", overall, notes)
    for currency, figures in uplift["currencies"].items():
        yield from _figure_rows("uplift", "", currency, figures, mine)
    yield from _figure_rows(
        "uplift", "", "",
        {"upsell_conversion": uplift["upsell_conversion"],
         "offer_conversion": uplift["offer_conversion"]},
        mine,
    )  # fmt: skip
    for one in uplift["lift"]:
        yield from _figure_rows(
            one["offer_id"], "", "", {"lift_treated": one["treated"],
                                      "lift_held_out": one["held_out"]}, mine,
        )  # fmt: skip
        yield (one["offer_id"], "", "", "lift", one["difference"], "", "", mine["lift"])
    for row in uplift["by_offer"]:
        variant = row["variant"] or ""
        yield (row["offer_id"], variant, "", "upgrades", row["upgrades"], "", "", "")
        for currency, amount in row["expansion_mrr"].items():
            yield (row["offer_id"], variant, currency, "expansion_mrr", amount, "", "",
                   "minor units")  # fmt: skip
    for row in uplift["funnel"]:
        for step in ("exposed", "clicked", "accepted", "paid"):
            yield (row["offer_id"], row["variant"], "", step, row[step], "", "", "customers")
        f = row["conversion"]
        yield (row["offer_id"], row["variant"], "", "offer_conversion", f["value"],
               f["numerator"], f["denominator"], f["note"])  # fmt: skip


async def get_timeseries(request: Request) -> Response:
    """One metric per bucket, per currency: `metric` is one of plugin.metrics.revenue.SERIES,
    `interval` day, week or month (calendar buckets in UTC; the first and last may be
    partial). More than MAX_BUCKETS buckets is a 422, so one request stays cheap."""
    await require_admin(request)
    ctx = services(request)
    params = request.query_params
    metric = params.get("metric") or ""
    if metric not in metrics.SERIES:
        raise ValidationFailed(
            f"metric must be one of {', '.join(metrics.SERIES)}.", field="metric"
        )
    raw_interval = params.get("interval") or "day"
    if raw_interval not in metrics.INTERVALS:
        raise ValidationFailed("interval must be day, week or month.", field="interval")
    interval: metrics.BucketSize = raw_interval
    start, end = _period(request, ctx.clock.now())
    count = metrics.bucket_count(start, end, interval)
    if count > MAX_BUCKETS:
        raise ValidationFailed(
            f"{count} {interval} buckets asked for; at most {MAX_BUCKETS}: "
            "narrow the period or widen the interval.",
            field="interval",
        )
    cuts = metrics.buckets(start, end, interval)
    opening: dict[str, int] | None = None
    async with ctx.db.read() as conn:
        movements = await metrics_store.movements(
            conn, before=end, since=start, tiers=metric in metrics.UPGRADE_SERIES
        )
        if metric == "mrr":
            opening = await metrics_store.opening_mrr(conn, at=start)
    values = metrics.series(metric=metric, movements=movements, cuts=cuts, opening=opening)
    if wants_csv(request):
        return csv_response(
            ("currency", "bucket_start", "bucket_end", "value"),
            (
                (currency, _iso(s), _iso(e), v)
                for currency, row in values.items()
                for (s, e), v in zip(cuts, row, strict=True)
            ),
            f"{metric}-{interval}-{start}-{end}",
        )
    answer = TimeseriesOut.model_validate(
        {
            "object": "timeseries",
            "metric": metric,
            "interval": interval,
            "from": start,
            "to": end,
            "buckets": [{"start": s, "end": e} for s, e in cuts],
            "currencies": values,
        }
    )
    return JSONResponse(answer.document(), headers={"Vary": "Accept"})
