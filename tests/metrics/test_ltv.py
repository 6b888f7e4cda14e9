"""LTV and LTV uplift (plugin/metrics/ltv.py) on tests/metrics/retention.py's hand-computed
ledger, through the pure path (every row), the SQL path (what the endpoint sums) and the API
(`business.ltv` of `GET /api/v1/admin/metrics`, JSON and CSV).

The period is [Mar 1 00:00, Mar 1 + 30.4375 days): exactly one average month, so the monthly
churn rate is the period's and every LTV an exact fraction.

usd: paying at start U1 U2 U3 U4 U6 U7 U8 (U5 unpaid since Feb 10, U9 not yet a customer).
  Upgraded U1, U2, U8 (U9 upgraded too, but joined in March): U2 churned, 1 of 3; U1 and U8
  pay 9900 each at end: ARPU 19800 / 2 = 9900; LTV 9900 / (1/3) = 29700.
  Not upgraded U3, U4, U6, U7: U4 churned, 1 of 4 (U6 churned and came back: paying at end);
  U3, U6, U7 pay 2900 each: ARPU 2900; LTV 2900 / (1/4) = 11600. Uplift 18100, ratio 29700 /
  11600.
eur: upgraded E1, none churned: no LTV ("not enough data"), only its low end; not upgraded E2
  (churned) and E3 (8500): 1 of 2, ARPU 8500, LTV 17000. No uplift.
jpy: upgraded J1, J2 (churned): 1 of 2, ARPU ¥10000, LTV ¥20000; not upgraded J3, J4
  (churned), J5: 1 of 3, ARPU ¥3000, LTV ¥9000. Uplift ¥11000, ratio 20/9.
With a gross margin of 0.8 every LTV is 0.8 of these.
"""

from __future__ import annotations

import csv
import io
from decimal import Decimal
from fractions import Fraction
from typing import Any

import httpx
import pytest

from plugin.metrics import ltv
from plugin.metrics.revenue import LedgerMovement
from plugin.offers.experiments import wilson_interval
from plugin.settings import Settings
from plugin.storage import Database
from plugin.storage import ltv as ltv_store
from plugin.storage import metrics as metrics_store
from tests.factories import ADMIN
from tests.metrics.ladder import at
from tests.metrics.retention import seed

START = at("2026-03-01", 0)
END = START + ltv.MONTH
PERIOD = f"from={START}&to={END}"
# currency -> group -> (customers, churned, MRR at end, paying at end, LTV at margin 1)
EXPECTED: dict[str, dict[str, tuple[int, int, int, int, int | None]]] = {
    "usd": {"upgraded": (3, 1, 19800, 2, 29700), "not_upgraded": (4, 1, 8700, 3, 11600)},
    "eur": {"upgraded": (1, 0, 8500, 1, None), "not_upgraded": (2, 1, 8500, 1, 17000)},
    "jpy": {"upgraded": (2, 1, 10000, 1, 20000), "not_upgraded": (3, 1, 6000, 2, 9000)},
}
UPLIFT: dict[str, tuple[int | None, Fraction | None]] = {
    "usd": (18100, Fraction(29700, 11600)), "eur": (None, None), "jpy": (11000, Fraction(20, 9)),
}  # fmt: skip


@pytest.fixture
async def shop(client: httpx.AsyncClient, db: Database) -> httpx.AsyncClient:
    await seed(client, db)
    return client


async def pure(db: Database, *, start: int = START, end: int = END) -> list[ltv.LtvFacts]:
    async with db.read() as conn:
        rows = await metrics_store.movements(conn, before=end, tiers=True)
    return ltv.facts(rows, start=start, end=end)


async def sql(db: Database, *, start: int = START, end: int = END) -> list[ltv.LtvFacts]:
    found, _ = await metrics_store.aggregated(db, start=start, end=end)
    movers = await ltv_store.movers(db, start=start, end=end)
    expanded = await ltv_store.expanded(db, start=start, end=end)
    return ltv.from_sums(found.currencies, movers, expanded, found.upgraders)


def check(found: list[ltv.CurrencyLtv], margin: Fraction = Fraction(1)) -> None:
    assert [c.currency for c in found] == ["eur", "jpy", "usd"]
    for c in found:
        for name, estimate in (("upgraded", c.upgraded), ("not_upgraded", c.not_upgraded)):
            customers, churned, mrr_end, paying, value = EXPECTED[c.currency][name]
            g = estimate.group
            assert (g.customers, g.churned, g.mrr_end, g.paying_end) == (
                customers, churned, mrr_end, paying,
            ), (c.currency, name)  # fmt: skip
            assert estimate.ltv == (None if value is None else value * margin), (c.currency, name)
            assert estimate.period_churn == Fraction(churned, customers)
            assert estimate.monthly_churn is not None  # the period's, to 50 digits
            assert abs(Fraction(estimate.monthly_churn) - Fraction(churned, customers)) < 1e-45
        difference, ratio = UPLIFT[c.currency]
        assert (c.difference, c.ratio) == (
            None if difference is None else difference * margin, ratio,
        ), c.currency  # fmt: skip


async def test_the_pure_path_gives_every_hand_computed_ltv(
    shop: httpx.AsyncClient, db: Database
) -> None:
    """Over every row of the ledger, whatever order the events came in: the groups, their
    churn and ARPU, each LTV and the uplift are the module docstring's."""
    check(ltv.estimates(await pure(db), margin=Fraction(1), start=START, end=END))


async def test_the_sql_path_gives_the_same_ltv_facts(shop: httpx.AsyncClient, db: Database) -> None:
    """The endpoint's sums (the cohort's churn and MRR from the customers who moved, the
    upgraded one by one) equal the pure path's facts, in this period and in others."""
    assert await sql(db) == await pure(db)
    for first, last in (("2026-02-01", "2026-04-01"), ("2026-03-10", "2026-03-20"),
                        ("2026-01-01", "2026-05-01"), ("2026-02-15", "2026-03-16")):  # fmt: skip
        start, end = at(first, 0), at(last, 0)
        assert await sql(db, start=start, end=end) == await pure(db, start=start, end=end), first


async def test_no_churn_is_not_enough_data_with_only_a_lower_bound(
    shop: httpx.AsyncClient, db: Database
) -> None:
    """E1, the one upgraded eur customer, stayed: the churn rate is 0 and LTV unbounded, so
    its value is null with the reason, its high end null, and its low end ARPU over the high
    end of the 95 % Wilson interval of 0 churned out of 1."""
    [eur, _, _] = ltv.estimates(await pure(db), margin=Fraction(1), start=START, end=END)
    up = eur.upgraded
    assert (up.ltv, up.ltv_high) == (None, None)
    assert up.reason is not None
    assert up.reason.startswith("not enough data")
    _, high = wilson_interval(0, 1)
    assert up.ltv_low == round(8500 / high)
    assert eur.reason is not None
    assert "upgraded" in eur.reason


async def test_ltv_interval_is_the_churn_interval_carried_through(
    shop: httpx.AsyncClient, db: Database
) -> None:
    """Each LTV's low and high ends are ARPU x margin over the high and low ends of the 95 %
    Wilson interval of churned / customers (experiments.wilson_interval, in floats, agrees
    to the minor unit)."""
    for c in ltv.estimates(await pure(db), margin=Fraction(4, 5), start=START, end=END):
        for e in (c.upgraded, c.not_upgraded):
            if e.ltv is None:
                continue
            low, high = wilson_interval(e.group.churned, e.group.customers)
            arpu = e.group.mrr_end / e.group.paying_end
            assert e.ltv_low == pytest.approx(arpu * 0.8 / high, abs=1)
            assert e.ltv_high == pytest.approx(arpu * 0.8 / low, abs=1)
            assert e.ltv_low is not None
            assert e.ltv_high is not None
            assert e.ltv_low < e.ltv < e.ltv_high


def test_a_longer_period_is_converted_to_a_monthly_rate() -> None:
    """Half of the customers lost over three months is 1 - 0.5^(1/3) a month (a constant
    rate), not 1/6: LTV = ARPU / that."""
    group = ltv.Group(customers=4, churned=2, mrr_end=2000)
    found = ltv.estimate(group, margin=Fraction(1), seconds=3 * ltv.MONTH)
    rate = 1 - 0.5 ** (1 / 3)
    assert found.monthly_churn is not None
    assert float(found.monthly_churn) == pytest.approx(rate, rel=1e-12)
    assert found.ltv == round(1000 / rate)


def test_wilson_in_decimal_matches_the_experiments_floats() -> None:
    """The Decimal interval LTV uses is the offer results' Wilson interval."""
    for successes, trials in ((0, 1), (1, 3), (5, 5), (7, 120), (0, 40)):
        low, high = ltv.wilson(successes, trials)
        assert (float(low), float(high)) == pytest.approx(wilson_interval(successes, trials))


def test_every_group_can_say_why_it_has_no_ltv() -> None:
    """Nobody at risk, or nobody paying at the end, is a null LTV with its reason."""
    empty = ltv.estimate(ltv.Group(0, 0, 0), margin=Fraction(1), seconds=ltv.MONTH)
    gone = ltv.estimate(ltv.Group(2, 2, 0), margin=Fraction(1), seconds=ltv.MONTH)
    assert (empty.ltv, gone.ltv) == (None, None)
    assert gone.period_churn == 1
    assert empty.reason == "no customers paying at the period's start"
    assert gone.reason is not None
    assert "no ARPU" in gone.reason


def test_a_customer_new_in_the_period_is_in_neither_group() -> None:
    """Only customers paying at the start are at risk: one who joined and upgraded in the
    period, and one who churned before it and came back in it, are in neither group."""

    def move(
        customer: str,
        kind: str,
        amount: int,
        after: int,
        day: str,
        tiers: tuple[int | None, int | None] = (None, None),
    ) -> LedgerMovement:
        return LedgerMovement(
            customer, f"sub_{customer}", kind, "jpy", amount,  # type: ignore[arg-type]
            after, at(day), tier_before=tiers[0], tier_after=tiers[1],
        )  # fmt: skip

    rows = [
        move("a", "new", 3000, 3000, "2026-01-05"),
        move("b", "new", 3000, 3000, "2026-03-03"),
        move("b", "expansion", 7000, 10000, "2026-03-10", (1, 2)),
        move("c", "new", 3000, 3000, "2026-01-05"),
        move("c", "churn", -3000, 0, "2026-02-01"),
        move("c", "reactivation", 3000, 3000, "2026-03-05"),
    ]
    [jpy] = ltv.facts(rows, start=START, end=END)
    assert (jpy.upgraded, jpy.not_upgraded) == (ltv.Group(0, 0, 0), ltv.Group(1, 0, 3000))


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The shop's gross margin is 80 %."""
    return settings.model_copy(update={"gross_margin": Decimal("0.8")})


async def test_the_api_answers_the_same_ltv_as_json_and_as_csv(shop: httpx.AsyncClient) -> None:
    """`business.ltv` holds the hand-computed estimates at the setting's 80 % margin (money in
    minor units, ¥ included), with the counts behind each, and each CSV row is the JSON
    figure."""
    document = (await shop.get(f"/api/v1/admin/metrics?{PERIOD}", headers=ADMIN)).json()
    block = document["business"]["ltv"]
    assert block["gross_margin"] == {
        "value": 0.8, "numerator": 8000, "denominator": 10000,
        "note": document["business"]["definitions"]["gross_margin"],
    }  # fmt: skip
    assert block["month_days"] == 30.4375
    assert sorted(block["currencies"]) == ["eur", "jpy", "usd"]
    for currency, groups in EXPECTED.items():
        per = block["currencies"][currency]
        for name, (customers, churned, mrr_end, paying, value) in groups.items():
            g = per[name]
            assert (g["customers"], g["churned"]) == (customers, churned)
            assert (g["churn_rate"]["numerator"], g["churn_rate"]["denominator"]) == (
                churned, customers,
            )  # fmt: skip
            assert g["churn_rate"]["value"] == churned / customers
            assert (g["arpu"]["numerator"], g["arpu"]["denominator"]) == (mrr_end, paying)
            assert g["arpu"]["value"] == mrr_end // paying
            expected = None if value is None else value * 4 // 5
            assert g["ltv"]["value"] == expected, (currency, name)
            assert g["monthly_churn_rate"]["low"] <= g["monthly_churn_rate"]["value"]
        difference, ratio = UPLIFT[currency]
        uplift = per["uplift"]
        if difference is None:
            assert (uplift["difference"], uplift["ratio"]) == (None, None)
            assert uplift["reason"]
        else:
            assert uplift["difference"] == difference * 4 // 5
            assert uplift["ratio"]["value"] == pytest.approx(float(ratio or 0))
            assert (uplift["ratio"]["numerator"], uplift["ratio"]["denominator"]) == (
                per["upgraded"]["ltv"]["value"], per["not_upgraded"]["ltv"]["value"],
            )  # fmt: skip
    assert block["currencies"]["usd"]["upgraded"]["ltv"]["value"] == 23760
    assert block["currencies"]["jpy"]["not_upgraded"]["ltv"]["value"] == 7200

    response = await shop.get(f"/api/v1/admin/metrics?{PERIOD}",
                              headers={**ADMIN, "Accept": "text/csv"})  # fmt: skip
    rows = {(r["currency"], r["metric"]): r for r in csv.DictReader(io.StringIO(response.text))
            if r["scope"] == "all"}  # fmt: skip

    def cell(value: Any) -> str:
        return "" if value is None else str(value)

    for currency, per in block["currencies"].items():
        for name in ("upgraded", "not_upgraded"):
            g, key = per[name], f"ltv_{name}"
            plain = (
                ("", g["ltv"]["value"]), ("_low", g["ltv"]["low"]), ("_high", g["ltv"]["high"]),
                ("_customers", g["customers"]), ("_churned", g["churned"]),
                ("_monthly_churn_rate", g["monthly_churn_rate"]["value"]),
            )  # fmt: skip
            for suffix, value in plain:
                assert rows[(currency, key + suffix)]["value"] == cell(value), (currency, key)
            for figure in ("churn_rate", "arpu"):
                row, f = rows[(currency, f"{key}_{figure}")], g[figure]
                assert (row["value"], row["numerator"], row["denominator"]) == (
                    cell(f["value"]), cell(f["numerator"]), cell(f["denominator"]),
                )  # fmt: skip
        assert rows[(currency, "ltv_uplift_difference")]["value"] == cell(
            per["uplift"]["difference"]
        )
    assert rows[("", "gross_margin")]["numerator"] == "8000"
    assert rows[("eur", "ltv_upgraded")]["note"].startswith("not enough data")
