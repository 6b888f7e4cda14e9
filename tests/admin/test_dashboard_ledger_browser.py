"""The dashboard on the hand-computed ledgers of tests/metrics, in real Chromium: each ledger
seeded through the in-process app (the `client` and `db` fixtures, as the metrics tests seed
it) into a database file, then a real `uplift serve` on that file, the dashboard signed in and
its period set to March 2026 (2026-03-01 to 2026-03-31, the API's [Mar 1, Apr 1)) through the
form. What it shows equals the numbers worked out by hand in those modules, and the admin
API's JSON and CSV for the same period:

- tests/metrics/test_ledger.py's ledger: both metric families (MRR movements, NDR, ARPU,
  upgrades, conversion, attach rate, Uplift's upgrades and the lift against the holdout);
- tests/metrics/retention.py's ledger (Jan to Mar 2026): LTV at an 80 % gross margin
  (tests/metrics/test_ltv.py's groups) and the cohorts followed to Apr 1
  (tests/metrics/test_cohorts.py's cells), for MRR retention and for each feature.
"""

from __future__ import annotations

from collections.abc import Callable
from fractions import Fraction
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import Page, expect

from plugin.offers.experiments import wilson_interval
from plugin.settings import Settings
from plugin.storage import Database
from tests.admin.test_dashboard_browser import (
    Open,
    assert_clean,
    assert_cohorts,
    assert_ltv,
    csv_rows,
    dollars,
    loaded,
    numeric,
    serious,
    shown,
    sign_in,
)
from tests.conftest import Served
from tests.metrics import test_ltv
from tests.metrics.retention import seed as seed_retention
from tests.metrics.test_cohorts import AUDIT_LOG, MRR, SSO
from tests.metrics.test_ledger import (
    ATTACHED,
    CONVERTED,
    CURRENCIES,
    ELIGIBLE,
    THROUGH_UPLIFT,
    UPGRADED,
    UPLIFT,
)
from tests.metrics.test_ledger import seed as seed_ledger
from tests.support import ADMIN_KEY, WEBHOOK_SECRET, WIDGET_SECRET

pytestmark = [pytest.mark.browser, pytest.mark.e2e]

MARCH = "from=2026-03-01&to=2026-04-01"
FIGURES = """(cells) => cells.map((c) => [c.getAttribute('data-currency') || '',
  c.getAttribute('data-metric'), c.getAttribute('data-value')])"""
Serve = Callable[..., Served]


class Api:
    """The served admin API, read as the dashboard reads it (JSON) and as a CSV export."""

    def __init__(self, url: str) -> None:
        self.url = url

    def get(self, path: str, **headers: str) -> httpx.Response:
        response = httpx.get(
            self.url + path, headers={"Authorization": f"Bearer {ADMIN_KEY}", **headers}, timeout=30
        )
        assert response.status_code == 200, response.text
        return response

    def json(self, path: str) -> Any:
        return self.get(path).json()

    def csv(self, path: str) -> str:
        return self.get(path, Accept="text/csv").text


def serve_file(serve: Serve, database_url: str, stripe_url: str, **settings: str) -> Api:
    """`uplift serve` on the seeded database (the emulator as its Stripe: nothing is due, so its
    upkeep asks for nothing)."""
    served = serve(
        database_url=database_url, stripe_api_base=stripe_url, admin_key=ADMIN_KEY,
        widget_secret=WIDGET_SECRET, stripe_webhook_secrets=WEBHOOK_SECRET, **settings,
    )  # fmt: skip
    return Api(served.url)


async def show_march(page: Page) -> None:
    """Sign in, then set the period to March 2026 through the form."""
    await sign_in(page)
    await loaded(page)
    await page.locator("#period-from").fill("2026-03-01")
    await page.locator("#period-to").fill("2026-03-31")
    await page.get_by_role("button", name="Show", exact=True).click()
    await expect(
        page.locator('#dashboard[data-from="2026-03-01"][data-to="2026-04-01"][data-loaded]')
    ).to_have_count(1)


async def figures(page: Page, family: str) -> dict[tuple[str, str], str]:
    """Every figure the family shows: (currency or '', data-metric) -> data-value."""
    cells = page.locator(f'[data-family="{family}"] [data-metric]')
    found = await cells.evaluate_all(FIGURES)
    on_page = {(c, m): v for c, m, v in found}
    assert len(on_page) == len(found)
    return on_page


def how(page: Page, metric: str, currency: str | None = None, family: str = "business") -> Any:
    """The "How" cell (numerator / denominator) beside a figure."""
    where = f'[data-family="{family}"] [data-metric="{metric}"]'
    if currency is not None:
        where += f'[data-currency="{currency}"]'
    return page.locator(where).locator("xpath=following-sibling::td")


def number(numerator: int, denominator: int) -> str:
    """A ratio as the API writes it: an integer when whole, else the nearest float."""
    value = Fraction(numerator, denominator)
    return str(int(value)) if value.denominator == 1 else str(float(value))


async def test_march_2026_is_shown_as_computed_by_hand(
    client: httpx.AsyncClient,
    db: Database,
    serve: Serve,
    emulator_url: str,
    settings: Settings,
    open_page: Open,
    artifacts: Path,
) -> None:
    """On tests/metrics/test_ledger.py's ledger, March 2026: every business and Uplift figure
    the dashboard shows is the CSV's and the JSON's, and those are the hand-computed ones
    (usd, eur and zero-decimal jpy; NDR, ARPU and the conversions with their numerator /
    denominator; the lift against the holdout)."""
    await seed_ledger(client, db)
    api = serve_file(serve, settings.database_url, emulator_url)
    watched = await open_page(api.url + "/admin")
    page = watched.page
    await show_march(page)
    document = api.json(f"/api/v1/admin/metrics?{MARCH}")
    business, uplift = document["business"], document["uplift"]
    rows = {
        (r["scope"], r["variant"], r["currency"], r["metric"]): r
        for r in csv_rows(api.csv(f"/api/v1/admin/metrics?{MARCH}"))
    }

    # What the page shows is the CSV's, name for name (as numbers: see `numeric`).
    on_page = await figures(page, "business")
    for (currency, metric), value in on_page.items():
        name = metric.replace("time_to_upsell_", "time_to_upsell_days_")
        assert numeric(rows[("all", "", currency, name)]["value"]) == numeric(value), metric
    mine = await figures(page, "uplift")
    for (currency, metric), value in mine.items():
        if metric == "uplift_lift":
            continue
        row = rows[("uplift", "", currency, metric.removeprefix("uplift_"))]
        assert numeric(row["value"]) == numeric(value), (currency, metric)

    # And the hand-computed numbers (tests/metrics/test_ledger.py's module comments).
    for currency, expected in CURRENCIES.items():
        for name, value in expected.items():
            got = business["currencies"][currency][name]
            if name in ("ndr", "average_upgrade_value"):
                numerator, denominator = value
                await expect(how(page, name, currency)).to_contain_text(
                    f"{numerator} / {denominator}"
                )
                assert on_page[(currency, name)] == shown(got["value"])
                if name == "ndr":
                    assert got["value"] == float(Fraction(numerator, denominator))
            elif name.startswith("arpu"):
                arpu, numerator, denominator = value
                assert on_page[(currency, name)] == str(arpu) == shown(got["value"])
                await expect(how(page, name, currency)).to_contain_text(
                    f"{numerator} / {denominator}"
                )
            else:
                assert on_page[(currency, name)] == str(value) == shown(got), (currency, name)
        upgrades, upgrade_mrr, credited = UPLIFT[currency]
        assert mine[(currency, "uplift_upgrades")] == str(upgrades)
        assert mine[(currency, "uplift_attributed_expansion_mrr")] == str(credited)
        await expect(how(page, "uplift_average_upgrade_value", currency, "uplift")).to_contain_text(
            f"{upgrade_mrr} / {upgrades}"
        )
    cell = page.locator('[data-family="business"] [data-metric="mrr_end"]')
    await expect(cell.and_(page.locator('[data-currency="usd"]'))).to_have_text(dollars(100350))
    await expect(cell.and_(page.locator('[data-currency="eur"]'))).to_have_text("€110.00")
    await expect(cell.and_(page.locator('[data-currency="jpy"]'))).to_have_text("¥40,000")

    assert on_page[("", "upsell_conversion")] == shown(CONVERTED / ELIGIBLE)
    await expect(how(page, "upsell_conversion")).to_contain_text(f"{CONVERTED} / {ELIGIBLE}")
    assert on_page[("", "upgraded_customers")] == str(UPGRADED)
    assert float(on_page[("", "time_to_upsell_median")]) == 35
    assert float(on_page[("", "time_to_upsell_p90")]) == 54
    await expect(how(page, "cross_sell_rate")).to_contain_text("1 / 3")
    for product, (numerator, denominator) in ATTACHED["usd"].items():
        assert on_page[("usd", f"attach_rate_{product}")] == number(numerator, denominator)
    assert mine[("", "uplift_upsell_conversion")] == shown(THROUGH_UPLIFT / ELIGIBLE)
    await expect(how(page, "uplift_upsell_conversion", family="uplift")).to_contain_text(
        f"{THROUGH_UPLIFT} / {ELIGIBLE}"
    )
    await expect(how(page, "uplift_offer_conversion", family="uplift")).to_contain_text("4 / 9")
    lift = page.locator('[data-lift="offer_pro"] [data-metric="uplift_lift"]')
    assert await lift.get_attribute("data-value") == "-0.5"
    assert rows[("offer_pro", "", "", "lift")]["value"] == "-0.5"
    assert [one["difference"] for one in uplift["lift"]] == [-0.5]
    await page.locator("#metrics").screenshot(path=artifacts / "admin-ledger-metrics.png")
    await assert_clean(watched)


def ltv(arpu: Fraction, churned: float, months: float) -> float:
    """ARPU x 0.8 / the monthly rate that loses `churned` over `months` months."""
    rate: float = 1 - (1 - churned) ** (1 / months)
    return float(arpu) * 0.8 / rate


async def test_retention_ledgers_ltv_and_cohorts_are_shown_as_computed_by_hand(
    client: httpx.AsyncClient,
    db: Database,
    serve: Serve,
    emulator_url: str,
    settings: Settings,
    open_page: Open,
    artifacts: Path,
) -> None:
    """On tests/metrics/retention.py's ledger with UPLIFT_GROSS_MARGIN=0.8, March 2026: the
    LTV figures are the CSV's and the JSON's, their groups are test_ltv.py's (the same
    customers as over its one-month period: nothing happens between Mar 31 10:30 and Apr 1),
    and each LTV and interval is ARPU x 0.8 over the 31-day period's churn made monthly (its
    Wilson interval's ends for the interval's); the cohorts to Apr 1 are test_cohorts.py's
    cells, for MRR (heat map and NDR curves) and for each feature's adoption."""
    await seed_retention(client, db)
    api = serve_file(serve, settings.database_url, emulator_url, gross_margin="0.8")
    watched = await open_page(api.url + "/admin")
    page = watched.page
    await show_march(page)

    document = api.json(f"/api/v1/admin/metrics?{MARCH}")
    block = document["business"]["ltv"]
    on_page = await assert_ltv(page, block, api.csv(f"/api/v1/admin/metrics?{MARCH}"))
    assert on_page[("", "gross_margin")] == "0.8"
    months = 31 / 30.4375  # the period, in average months
    for currency, groups in test_ltv.EXPECTED.items():
        for group, (customers, churned, mrr_end, paying, one_month) in groups.items():
            key = f"ltv_{group}"
            arpu = Fraction(mrr_end, paying)
            assert arpu.denominator == 1
            assert on_page[(currency, f"{key}_customers")] == str(customers)
            assert on_page[(currency, f"{key}_churned")] == str(churned)
            assert on_page[(currency, f"{key}_churn_rate")] == number(churned, customers)
            assert on_page[(currency, f"{key}_arpu")] == str(arpu)
            low_p, high_p = wilson_interval(churned, customers)
            low = float(on_page[(currency, f"{key}_low")])
            assert low == pytest.approx(ltv(arpu, high_p, months), abs=1), (currency, group)
            if one_month is None:  # nobody churned: no estimate, no upper bound
                assert on_page[(currency, key)] == ""
                assert on_page[(currency, f"{key}_high")] == ""
                continue
            value = int(on_page[(currency, key)])
            assert value == pytest.approx(ltv(arpu, churned / customers, months), abs=1)
            # A month's churn is a little less than the 31 days' (test_ltv.py: one_month).
            assert one_month * 0.8 < value < one_month * 0.8 * 31 / 30.4375
            high = float(on_page[(currency, f"{key}_high")])
            assert high == pytest.approx(ltv(arpu, low_p, months), abs=1), (currency, group)
        difference, _ = test_ltv.UPLIFT[currency]
        up, other = (on_page[(currency, f"ltv_{g}")] for g in ("upgraded", "not_upgraded"))
        if difference is None:
            assert on_page[(currency, "ltv_uplift_difference")] == ""
            assert on_page[(currency, "ltv_uplift_ratio")] == ""
        else:
            assert on_page[(currency, "ltv_uplift_difference")] == str(int(up) - int(other))
            ratio = float(on_page[(currency, "ltv_uplift_ratio")])
            assert ratio == pytest.approx(int(up) / int(other))

    route = "/api/v1/admin/metrics/cohorts?to=2026-04-01&kind="
    body = page.locator("#cohorts-body")
    mrr = api.json(route + "mrr")
    grid = await assert_cohorts(page, mrr, api.csv(route + "mrr"))
    assert grid == {
        (currency, cohort, str(k)): (number(n, sums[0]), str(n), str(sums[0]))
        for (currency, cohort), (_, sums) in MRR.items()
        for k, n in enumerate(sums)
    }
    assert {
        (currency, c["cohort"]): c["customers"]
        for currency, listed in mrr["currencies"].items()
        for c in listed
    } == {key: customers for key, (customers, _) in MRR.items()}
    assert await body.locator("td.partial").count() == 0  # every month over by Apr 1
    await expect(body.locator('td[data-currency="usd"][data-cohort="2026-01"]')).to_have_text(
        ["100.0 %", "86.5 %", "73.0 %"], use_inner_text=True
    )
    await page.locator("#cohorts").screenshot(path=artifacts / "admin-ledger-cohorts.png")
    assert mrr["features"] == ["audit_log", "sso"]
    for feature, table in (("sso", SSO), ("audit_log", AUDIT_LOG)):
        await page.get_by_label("Cohort metric").select_option(f"feature:{feature}")
        kind = f"feature:{feature}"
        adoption = api.json(route + kind)
        grid = await assert_cohorts(page, adoption, api.csv(route + kind))
        assert grid == {
            (currency, cohort, str(k)): (
                number(n, MRR[(currency, cohort)][0]),
                str(n),
                str(MRR[(currency, cohort)][0]),
            )
            for (currency, cohort), hits in table.items()
            for k, n in enumerate(hits)
        }, feature
    await assert_clean(watched)
    assert await serious(page) == []
