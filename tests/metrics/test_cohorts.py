"""Cohorts (plugin/metrics/cohorts.py) on tests/metrics/retention.py's hand-computed ledger,
through the pure path (every row), the SQL path (plugin/storage/cohorts.py) and
`GET /api/v1/admin/metrics/cohorts` (JSON and CSV), and the route's errors.

Signups in [Jan 1, Apr 1) 2026, followed to Apr 1 (every month complete):

usd Jan: U1 U2 U4 U5 U7 (5). MRR at Jan's end 2900 + 2900 + 9900 + 2900 + 2900 = 21500; Feb
  18600 (U5 unpaid); Mar 15700 (U1 9900, U2 and U4 gone, U5 back 2900, U7 2900).
usd Feb: U3 U6 U8 (3): 8700; Mar 15700 (U6 churned and came back; U8 on Pro 9900).
usd Mar: U9 (1): 9900 (joined on Basic, on Pro by the month's end).
eur Jan: E1 E3 (2): 11000, 11000, 17000. eur Feb: E2 (1): 2500, then 0.
jpy Jan: J1 J3 J5 (3): ¥9000, ¥9000, ¥16000. jpy Feb: J2 J4 (2): ¥6000, then 0.

sso adoption: usd Jan 1/5 (U1), 2/5 (U2 in Feb), 2/5; usd Feb 0/3, 1/3 (U3 in Mar); usd Mar
1/1 (U9 hit it before paying); nobody else. audit_log: jpy Feb 0/2, 1/2 (J2 in Mar); U1's hit
in April is after the period.
"""

from __future__ import annotations

import csv
import io
from fractions import Fraction

import httpx
import pytest

from plugin.metrics import cohorts
from plugin.storage import Database
from plugin.storage import cohorts as cohort_store
from plugin.storage import metrics as metrics_store
from tests.factories import ADMIN
from tests.metrics.ladder import at
from tests.metrics.retention import seed

START, END = at("2026-01-01", 0), at("2026-04-01", 0)
PERIOD = f"from={START}&to={END}"
ROUTE = "/api/v1/admin/metrics/cohorts"
# (currency, cohort) -> (customers, [numerator per month]); the denominator is month 0's
MRR = {
    ("eur", "2026-01"): (2, [11000, 11000, 17000]),
    ("eur", "2026-02"): (1, [2500, 0]),
    ("jpy", "2026-01"): (3, [9000, 9000, 16000]),
    ("jpy", "2026-02"): (2, [6000, 0]),
    ("usd", "2026-01"): (5, [21500, 18600, 15700]),
    ("usd", "2026-02"): (3, [8700, 15700]),
    ("usd", "2026-03"): (1, [9900]),
}
# the customers who had hit the feature by each month; the denominator is the cohort's size
SSO = {
    ("eur", "2026-01"): [0, 0, 0], ("eur", "2026-02"): [0, 0],
    ("jpy", "2026-01"): [0, 0, 0], ("jpy", "2026-02"): [0, 0],
    ("usd", "2026-01"): [1, 2, 2], ("usd", "2026-02"): [0, 1], ("usd", "2026-03"): [1],
}  # fmt: skip
AUDIT_LOG = {**{key: [0] * len(v) for key, v in SSO.items()}, ("jpy", "2026-02"): [0, 1]}


@pytest.fixture
async def shop(client: httpx.AsyncClient, db: Database) -> httpx.AsyncClient:
    await seed(client, db)
    return client


async def pure(
    db: Database, *, start: int = START, end: int = END, feature: str | None = None
) -> list[cohorts.Cohort]:
    async with db.read() as conn:
        rows = await metrics_store.movements(conn, before=end)
        if feature is None:
            found = cohorts.mrr_facts(rows, start=start, end=end)
        else:
            hits = await cohort_store.first_hits(conn, feature=feature)
            found = cohorts.adoption_facts(rows, hits, start=start, end=end)
    kind = "mrr" if feature is None else f"feature:{feature}"
    return cohorts.assemble(facts=found, start=start, end=end, kind=kind)


async def sql(
    db: Database, *, start: int = START, end: int = END, feature: str | None = None,
    currency: str | None = None,
) -> list[cohorts.Cohort]:  # fmt: skip
    found = await cohort_store.facts(db, start=start, end=end, currency=currency, feature=feature)
    kind = "mrr" if feature is None else f"feature:{feature}"
    return cohorts.assemble(facts=found, start=start, end=end, kind=kind)


def grid(found: list[cohorts.Cohort]) -> dict[tuple[str, str], tuple[int, list[int], list[int]]]:
    return {
        (c.currency, c.month): (
            c.customers,
            [cell.numerator for cell in c.cells],
            [cell.denominator for cell in c.cells],
        )
        for c in found
    }


def expected_mrr() -> dict[tuple[str, str], tuple[int, list[int], list[int]]]:
    return {key: (n, sums, [sums[0]] * len(sums)) for key, (n, sums) in MRR.items()}


def expected_adoption(
    table: dict[tuple[str, str], list[int]],
) -> dict[tuple[str, str], tuple[int, list[int], list[int]]]:
    return {key: (MRR[key][0], v, [MRR[key][0]] * len(v)) for key, v in table.items()}


async def test_mrr_cohorts_are_the_hand_computed_ndr_curves(
    shop: httpx.AsyncClient, db: Database
) -> None:
    """Each cohort's MRR at each month's end over its MRR at its signup month's end, through
    the pure path and the SQL path: churn, a reactivation, upgrades to yearly and quarterly
    prices and a zero-decimal currency included."""
    found = await pure(db)
    assert grid(found) == expected_mrr()
    assert grid(await sql(db)) == grid(found)
    usd_jan = next(c for c in found if (c.currency, c.month) == ("usd", "2026-01"))
    assert [c.value for c in usd_jan.cells] == [1, Fraction(186, 215), Fraction(157, 215)]
    assert [(c.month, c.at, c.complete) for c in usd_jan.cells] == [
        (0, at("2026-02-01", 0), True), (1, at("2026-03-01", 0), True),
        (2, at("2026-04-01", 0), True),
    ]  # fmt: skip
    assert (usd_jan.start, usd_jan.end) == (START, at("2026-02-01", 0))


async def test_feature_adoption_counts_first_hits_by_each_months_end(
    shop: httpx.AsyncClient, db: Database
) -> None:
    """Customers who had hit the feature by each month's end over the cohort's customers; a
    hit before paying counts from month 0, one after the period not at all, and a customer
    without a record has hit nothing. Both paths agree."""
    for feature, table in (("sso", SSO), ("audit_log", AUDIT_LOG)):
        found = await pure(db, feature=feature)
        assert grid(found) == expected_adoption(table), feature
        assert grid(await sql(db, feature=feature)) == grid(found), feature


async def test_the_last_month_is_measured_at_the_periods_end(
    shop: httpx.AsyncClient, db: Database
) -> None:
    """Until Mar 15: usd Jan's month 2 is measured at Mar 15 00:00, not complete: U1 9900 and
    U2 8250 (upgraded, not yet gone), U4 gone Mar 12, U5 not back until Mar 15 12:00, U7 2900.
    A period starting Jan 10 holds only the January signups from then: U1, U2, U4."""
    end = at("2026-03-15", 0)
    found = await pure(db, end=end)
    usd_jan = next(c for c in found if (c.currency, c.month) == ("usd", "2026-01"))
    assert [(c.numerator, c.at, c.complete) for c in usd_jan.cells] == [
        (21500, at("2026-02-01", 0), True), (18600, at("2026-03-01", 0), True),
        (21050, end, False),
    ]  # fmt: skip
    assert grid(await sql(db, end=end)) == grid(found)
    late = await pure(db, start=at("2026-01-10", 0))
    usd_jan = next(c for c in late if (c.currency, c.month) == ("usd", "2026-01"))
    assert (usd_jan.customers, usd_jan.start, usd_jan.cells[0].numerator) == (
        3, at("2026-01-10", 0), 2900 + 2900 + 9900,
    )  # fmt: skip
    assert grid(await sql(db, start=at("2026-01-10", 0))) == grid(late)


async def test_the_route_answers_the_same_cells_as_json_and_as_csv(
    shop: httpx.AsyncClient,
) -> None:
    """`kind=mrr` by default: per currency its cohorts, oldest first, each cell with its
    value, numerator and denominator; `Accept: text/csv` gives a row per cell with the same
    numbers; `features` lists the gated features seen."""
    response = await shop.get(f"{ROUTE}?{PERIOD}", headers=ADMIN)
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["object"], body["kind"], body["from"], body["to"], body["currency"]) == (
        "cohorts", "mrr", START, END, None,
    )  # fmt: skip
    assert body["features"] == ["audit_log", "sso"]
    got = {
        (currency, c["cohort"]): (
            c["customers"], [m["numerator"] for m in c["months"]],
            [m["denominator"] for m in c["months"]],
        )
        for currency, listed in body["currencies"].items()
        for c in listed
    }  # fmt: skip
    assert got == expected_mrr()
    usd = body["currencies"]["usd"]
    assert [c["cohort"] for c in usd] == ["2026-01", "2026-02", "2026-03"]
    assert [m["value"] for m in usd[1]["months"]] == [1, 15700 / 8700]
    assert body["currencies"]["eur"][1]["months"][1]["value"] == 0

    text = (await shop.get(f"{ROUTE}?{PERIOD}", headers={**ADMIN, "Accept": "text/csv"})).text
    rows = list(csv.DictReader(io.StringIO(text)))
    assert len(rows) == sum(len(c["months"]) for v in body["currencies"].values() for c in v)
    for row in rows:
        cohort = next(
            c for c in body["currencies"][row["currency"]] if c["cohort"] == row["cohort"]
        )
        cell = cohort["months"][int(row["month"])]
        assert (row["customers"], row["value"], row["numerator"], row["denominator"]) == (
            str(cohort["customers"]), str(cell["value"]), str(cell["numerator"]),
            str(cell["denominator"]),
        )  # fmt: skip
        assert row["complete"] == "true"


async def test_one_currency_and_one_feature_can_be_asked_for(shop: httpx.AsyncClient) -> None:
    """`currency` (any letter case) keeps only that currency; `kind=feature:<name>` gives its
    adoption over the same cohorts."""
    response = await shop.get(f"{ROUTE}?{PERIOD}&currency=JPY&kind=feature:audit_log",
                              headers=ADMIN)  # fmt: skip
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["kind"], body["currency"], list(body["currencies"])) == (
        "feature:audit_log", "jpy", ["jpy"],
    )  # fmt: skip
    [jan, feb] = body["currencies"]["jpy"]
    assert [(m["numerator"], m["denominator"]) for m in jan["months"]] == [(0, 3)] * 3
    assert [(m["numerator"], m["denominator"], m["value"]) for m in feb["months"]] == [
        (0, 2, 0), (1, 2, 0.5),
    ]  # fmt: skip
    assert "feature" in body["definitions"]
    assert "mrr" not in body["definitions"]


async def test_the_default_is_twelve_months_to_now(shop: httpx.AsyncClient) -> None:
    """Without `from` and `to`: signups from the first of the month eleven months before now's,
    to now."""
    body = (await shop.get(ROUTE, headers=ADMIN)).json()
    to = body["to"]
    assert body["from"] == cohorts.default_start(to)
    assert cohorts.month_of(body["from"]) < cohorts.month_of(to)
    assert body["from"] == at(cohorts.month_of(body["from"]) + "-01", 0)


@pytest.mark.parametrize(
    ("query", "field", "code"),
    [
        ("kind=ndr", "kind", "invalid_field"),
        ("kind=feature:", "kind", "invalid_field"),
        ("kind=feature:teleport", "kind", "unknown_feature"),
        ("currency=dollars", "currency", "invalid_field"),
        ("currency=u5d", "currency", "invalid_field"),
        ("from=yesterday", "from", "invalid_field"),
        ("from=2026-04-01&to=2026-01-01", "from", "invalid_field"),
        ("from=2026-01-01&to=2026-01-01", "from", "invalid_field"),
        ("from=2001-01-01&to=2026-01-01", "from", "invalid_field"),
        ("to=2026-13-01", "to", "invalid_field"),
    ],
    ids=["unknown kind", "feature without a name", "unknown feature", "long currency",
         "digit in currency", "unparsable from", "from after to", "empty period",
         "over five years", "no such month"],
)  # fmt: skip
async def test_bad_input_is_a_422_naming_the_field(
    shop: httpx.AsyncClient, query: str, field: str, code: str
) -> None:
    """Every bad parameter is a 422 in the one error shape, naming it; never a 500."""
    response = await shop.get(f"{ROUTE}?{query}", headers=ADMIN)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["field"] == field
    assert response.json()["error"]["code"] == code
    assert response.headers["cache-control"] == "no-store"


async def test_cohorts_need_an_admin_key(shop: httpx.AsyncClient) -> None:
    """Without a key, a 401 in the error shape, as every admin route."""
    response = await shop.get(ROUTE)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthorized"


async def test_an_empty_ledger_has_no_cohorts(client: httpx.AsyncClient) -> None:
    """No signups in the period is an answer with no cohorts, as JSON and as a CSV header."""
    body = (await client.get(f"{ROUTE}?{PERIOD}", headers=ADMIN)).json()
    assert (body["currencies"], body["features"]) == ({}, [])
    text = (await client.get(f"{ROUTE}?{PERIOD}", headers={**ADMIN, "Accept": "text/csv"})).text
    assert text.splitlines() == [",".join(
        ("currency", "cohort", "customers", "month", "at", "complete", "value", "numerator",
         "denominator")
    )]  # fmt: skip
