"""`GET /api/v1/admin/metrics/timeseries` and the CSV export of it and of the metrics, over a
small ledger written through storage (the same rows the webhook handlers write).

March 2026 starts on a Sunday, so weekly buckets over [Mar 1, Apr 1) are
[Mar 1, Mar 2) (partial), [Mar 2, 9), [9, 16), [16, 23), [23, 30), [Mar 30, Apr 1) (partial).

USD  sub_a (acme):  new 2900 on Mar 2; expansion +7000 on Mar 9 (MRR 9900), offer_basic_to_pro
     sub_b (bolt):  new 9900 on Mar 3; churn -9900 on Mar 20
EUR  sub_h (hansa): new 2500 on Mar 4
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from typing import Any, cast

import httpx
import pytest

from plugin.billing.mirror import Movement, MovementKind
from plugin.metrics import revenue as metrics
from plugin.storage import Database
from plugin.storage import metrics as metrics_store
from plugin.storage import mrr as mrr_store
from tests.factories import ADMIN, seed_catalog, seed_plans, subscribe


def at(day: str, hour: int = 10) -> int:
    return int(datetime.fromisoformat(f"{day}T{hour:02}:00:00").replace(tzinfo=UTC).timestamp())


MARCH = f"from={at('2026-03-01', 0)}&to={at('2026-04-01', 0)}"
LEDGER = [
    # event, subscription, customer, currency, kind, amount, before, after, day, offer
    ("evt_1", "sub_a", "acme", "usd", "new", 2900, 0, 2900, "2026-03-02", None),
    ("evt_2", "sub_b", "bolt", "usd", "new", 9900, 0, 9900, "2026-03-03", None),
    ("evt_3", "sub_h", "hansa", "eur", "new", 2500, 0, 2500, "2026-03-04", None),
    ("evt_4", "sub_a", "acme", "usd", "expansion", 7000, 2900, 9900, "2026-03-09",
     "offer_basic_to_pro"),
    ("evt_5", "sub_b", "bolt", "usd", "churn", -9900, 9900, 0, "2026-03-20", None),
]  # fmt: skip


async def write_ledger(db: Database, rows: list[tuple[Any, ...]]) -> None:
    """Ledger rows through storage, as the webhook handlers write them."""
    async with db.transaction() as conn:
        for event, sub, customer, currency, kind, amount, before, after, day, offer in rows:
            await mrr_store.record(
                conn, event_id=event, subscription_id=sub, customer_id=customer,
                currency=currency, occurred_at=at(day), offer_id=offer,
                movement=Movement(cast(MovementKind, kind), amount, before, after),
            )  # fmt: skip


@pytest.fixture
async def ledger(client: httpx.AsyncClient, db: Database) -> httpx.AsyncClient:
    await write_ledger(db, LEDGER)
    return client


async def test_weekly_net_new_mrr_is_per_currency_in_calendar_weeks(
    ledger: httpx.AsyncClient,
) -> None:
    """Weeks start on Monday 00:00 UTC; the period's ends cut the first and last week short.
    usd: week of Mar 2: 2900 + 9900 = 12800 new; Mar 9: +7000; Mar 16: -9900 churn.
    eur: week of Mar 2: 2500 new. Currencies are never summed together."""
    response = await ledger.get(
        f"/api/v1/admin/metrics/timeseries?metric=net_new_mrr&interval=week&{MARCH}",
        headers=ADMIN,
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert [(b["start"], b["end"]) for b in body["buckets"]] == [
        (at("2026-03-01", 0), at("2026-03-02", 0)),
        (at("2026-03-02", 0), at("2026-03-09", 0)),
        (at("2026-03-09", 0), at("2026-03-16", 0)),
        (at("2026-03-16", 0), at("2026-03-23", 0)),
        (at("2026-03-23", 0), at("2026-03-30", 0)),
        (at("2026-03-30", 0), at("2026-04-01", 0)),
    ]
    assert body["currencies"] == {
        "eur": [0, 2500, 0, 0, 0, 0],
        "usd": [0, 12800, 7000, -9900, 0, 0],
    }


async def test_mrr_series_is_the_mrr_at_each_bucket_end(ledger: httpx.AsyncClient) -> None:
    """Monthly from Feb to April: end of Feb nothing yet; end of March acme 9900 (bolt
    churned); April unchanged. eur: hansa's 2500 from March on."""
    period = f"from={at('2026-02-01', 0)}&to={at('2026-05-01', 0)}"
    body = (
        await ledger.get(
            f"/api/v1/admin/metrics/timeseries?metric=mrr&interval=month&{period}", headers=ADMIN
        )
    ).json()
    assert len(body["buckets"]) == 3
    assert body["currencies"] == {"eur": [0, 2500, 2500], "usd": [0, 9900, 9900]}


async def test_timeseries_as_csv_has_a_header_and_one_row_per_bucket(
    ledger: httpx.AsyncClient,
) -> None:
    """`Accept: text/csv`: RFC 4180 rows (CRLF), currency by currency, ISO times in UTC."""
    response = await ledger.get(
        f"/api/v1/admin/metrics/timeseries?metric=new_mrr&interval=month&{MARCH}",
        headers={**ADMIN, "Accept": "text/csv"},
    )
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert "attachment" in response.headers["content-disposition"]
    assert response.text.split("\r\n") == [
        "currency,bucket_start,bucket_end,value",
        "eur,2026-03-01T00:00:00Z,2026-04-01T00:00:00Z,2500",
        "usd,2026-03-01T00:00:00Z,2026-04-01T00:00:00Z,12800",
        "",
    ]


async def test_metrics_as_csv_are_the_json_figures(ledger: httpx.AsyncClient) -> None:
    """Every JSON figure is a CSV row with the same value, numerator and denominator; a note
    with a comma is quoted, not split. usd March: new 12800, expansion 7000, churn 9900, MRR
    end 9900 for one paying customer (ARPU 9900 = 9900 / 1)."""
    url = f"/api/v1/admin/metrics?{MARCH}"
    document = (await ledger.get(url, headers=ADMIN)).json()
    response = await ledger.get(url, headers={**ADMIN, "Accept": "text/csv, */*;q=0.5"})
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert list(rows[0]) == [
        "scope", "variant", "currency", "metric", "value", "numerator", "denominator", "note",
    ]  # fmt: skip
    usd = {r["metric"]: r for r in rows if r["currency"] == "usd" and r["scope"] == "all"}
    assert [usd[k]["value"] for k in ("new_mrr", "expansion_mrr", "churned_mrr")] == [
        "12800", "7000", "9900",
    ]  # fmt: skip
    arpu = usd["arpu_end"]
    assert (arpu["value"], arpu["numerator"], arpu["denominator"]) == ("9900", "9900", "1")
    assert arpu["note"] == "MRR / paying customers, minor units"
    assert '"MRR / paying customers, minor units"' in response.text
    for currency, figures in document["currencies"].items():
        for name, value in figures.items():
            row = next(
                r
                for r in rows
                if (r["currency"], r["metric"], r["scope"]) == (currency, name, "all")
            )
            expected = value["value"] if isinstance(value, dict) else value
            assert row["value"] == ("" if expected is None else str(expected))


@pytest.mark.parametrize(
    "accept", [None, "*/*", "application/json", "text/csv;q=0.1, application/json"]
)
async def test_json_stays_the_default(ledger: httpx.AsyncClient, accept: str | None) -> None:
    """Browsers' `*/*`, no Accept at all, or JSON preferred: JSON."""
    headers = {**ADMIN, **({"Accept": accept} if accept else {})}
    for path in ("/api/v1/admin/metrics", "/api/v1/admin/metrics/timeseries?metric=mrr"):
        response = await ledger.get(path, headers=headers)
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/json"


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("metric=revenue", "metric"),
        ("interval=day", "metric"),
        ("metric=mrr&interval=hour", "interval"),
        # 2026-01-01 .. 2027-03-01 is 424 days: above the 400-bucket bound.
        (f"metric=mrr&interval=day&from={at('2026-01-01', 0)}&to={at('2027-03-01', 0)}",
         "interval"),
        ("metric=mrr&from=2026-03-02&to=2026-03-01", "from"),
    ],
)  # fmt: skip
async def test_bad_timeseries_requests_are_422(
    ledger: httpx.AsyncClient, query: str, field: str
) -> None:
    """Unknown metric or interval, too many buckets, or a backwards period name their field."""
    response = await ledger.get(f"/api/v1/admin/metrics/timeseries?{query}", headers=ADMIN)
    assert response.status_code == 422
    assert response.json()["error"]["field"] == field


async def test_the_same_span_in_months_is_allowed(ledger: httpx.AsyncClient) -> None:
    """The 424 days refused as days are 14 months: well inside the bound."""
    query = f"metric=mrr&interval=month&from={at('2026-01-01', 0)}&to={at('2027-03-01', 0)}"
    response = await ledger.get(f"/api/v1/admin/metrics/timeseries?{query}", headers=ADMIN)
    assert response.status_code == 200
    assert len(response.json()["buckets"]) == 14


async def test_timeseries_needs_an_admin_key(ledger: httpx.AsyncClient) -> None:
    response = await ledger.get("/api/v1/admin/metrics/timeseries?metric=mrr")
    assert response.status_code == 401


# Before March, in USD: old (Basic, untouched all March), top (Enterprise), two (Basic and a
# Pro subscription; the Pro one churns on Mar 12), back (churned in February, back Mar 15).
HISTORY = [
    ("evt_old", "sub_old", "cus_old", "usd", "new", 2900, 0, 2900, "2026-01-10", None),
    ("evt_top", "sub_top", "cus_top", "usd", "new", 29900, 0, 29900, "2026-01-05", None),
    ("evt_two_a", "sub_two_a", "cus_two", "usd", "new", 2900, 0, 2900, "2026-01-02", None),
    ("evt_two_b", "sub_two_b", "cus_two", "usd", "new", 9900, 0, 9900, "2026-02-02", None),
    ("evt_two_b_churn", "sub_two_b", "cus_two", "usd", "churn", -9900, 9900, 0, "2026-03-12",
     None),
    ("evt_back", "sub_back", "cus_back", "usd", "new", 2900, 0, 2900, "2026-01-03", None),
    ("evt_back_churn", "sub_back", "cus_back", "usd", "churn", -2900, 2900, 0, "2026-02-10",
     None),
    ("evt_back_again", "sub_back", "cus_back", "usd", "reactivation", 2900, 0, 2900,
     "2026-03-15", None),
]  # fmt: skip
MIRROR = [
    ("cus_old", "sub_old", "price_basic_monthly"),
    ("cus_top", "sub_top", "price_enterprise_monthly"),
    ("cus_two", "sub_two_a", "price_basic_monthly"),
    ("cus_two", "sub_two_b", "price_pro_monthly"),
    ("cus_back", "sub_back", "price_basic_monthly"),
    ("acme", "sub_a", "price_pro_monthly"),
]


async def test_sql_aggregates_equal_the_definitions_over_rows(
    ledger: httpx.AsyncClient, db: Database
) -> None:
    """The endpoint's SQL (plugin/storage/metrics.py `aggregated`) and plugin.metrics.revenue.facts
    over every row give the same facts for March. By hand, USD: MRR at start old 2900 + top 29900 +
    two 2900 + 9900 = 45600 from 3 paying customers (two counted once); the cohort's change is
    two's churn, -9900, so NDR = 35700 / 45600; new 12800 (acme, bolt), expansion 7000,
    churn 9900 + 9900 = 19800, reactivation 2900; MRR at end 45600 + 12800 + 7000 + 2900 -
    19800 = 48500 from 5 (old, top, two, back, acme). Below the top tier and paying at start:
    old and two (max tier Pro), so 2 eligible; none of them upgraded."""
    await seed_catalog(db)
    await seed_plans(ledger)
    await write_ledger(db, HISTORY)
    for customer, sub, price in MIRROR:
        await subscribe(db, stripe_customer=customer, price_id=price, subscription_id=sub)
    start, end = at("2026-03-01", 0), at("2026-04-01", 0)
    found, _ = await metrics_store.aggregated(db, start=start, end=end)
    async with db.read() as conn:
        reference = metrics.facts(
            movements=await metrics_store.movements(conn, before=end),
            upgrades=await metrics_store.upgrades(conn, before=end),
            start=start, end=end,
            tier_at_start=await metrics_store.tiers_at(conn, at=start),
            top_tier=await metrics_store.top_tier(conn),
        )  # fmt: skip

    def normal(facts: metrics.Facts) -> list[Any]:
        return [
            (c.currency, c.mrr_start, c.mrr_end, c.paying_start, c.paying_end, c.cohort_change,
             {k: v for k, v in c.moved.items() if v}, c.upgrades, c.upgrade_mrr)
            for c in facts.currencies
        ] + [facts.eligible, facts.converted, sorted(facts.upsell_days)]  # fmt: skip

    assert normal(found) == normal(reference)
    usd = next(c for c in found.currencies if c.currency == "usd")
    assert (usd.mrr_start, usd.paying_start, usd.cohort_change) == (45600, 3, -9900)
    assert (usd.mrr_end, usd.paying_end) == (48500, 5)
    assert {k: v for k, v in usd.moved.items() if v} == {
        "new": 12800, "expansion": 7000, "churn": 19800, "reactivation": 2900,
    }  # fmt: skip
    assert (found.eligible, found.converted) == (2, 0)
