"""The admin dashboard in real Chromium against a real `uplift serve` holding a simulated shop
(tests/admin/conftest.py): the numbers it shows are the admin API's (its JSON and its CSV: the
metrics with LTV, the cohorts' heat map and NDR curves), the key lives only in sessionStorage,
a wrong key is refused, the cohorts' controls work from the keyboard, and the page passes
axe-core.

Every page runs under the server's own strict CSP (no inline script or style, Trusted Types
required); each test ends by checking there was no CSP violation, no script error other than
the HTTP errors it caused on purpose, no dialog, and no new global: the dashboard's script
keeps everything in its closure, and the page gains only the widget's one global, which the
console's preview uses.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from axe_playwright_python.async_playwright import Axe  # type: ignore[import-untyped]  # no stubs upstream
from playwright.async_api import Page, expect

from tests.admin.conftest import FAILED_EVENT, Shop
from tests.browser import NEW_GLOBALS, Watched
from tests.support import ADMIN_KEY

pytestmark = [pytest.mark.browser, pytest.mark.e2e]

expect.set_options(timeout=15_000)
KEY = "uplift.adminKey"
Open = Callable[[str], Awaitable[Watched]]


async def assert_clean(watched: Watched, *, http_errors: tuple[int, ...] = ()) -> None:
    assert await watched.page.evaluate("window.__violations") == []
    expected = tuple(f"with a status of {status} " for status in http_errors)
    assert [e for e in watched.errors if not any(x in e for x in expected)] == []
    assert watched.dialogs == []
    # The widget's one global: the console's preview is the real widget (static/admin/console.js).
    assert await watched.page.evaluate(NEW_GLOBALS) == ["Uplift"]


async def sign_in(page: Page, key: str = ADMIN_KEY) -> None:
    await page.get_by_label("Admin key").fill(key)
    await page.get_by_role("button", name="Sign in").click()


async def loaded(page: Page) -> None:
    await expect(page.locator("#dashboard[data-loaded]")).to_have_count(1)


def dollars(cents: int) -> str:
    sign = "-" if cents < 0 else ""
    return f"{sign}${abs(cents) / 100:,.2f}"


def shown(value: Any) -> str:
    """A JSON number as the dashboard keeps it in data-value (JavaScript's String(value), which
    for these numbers is Python's str) and as the CSV writes it: empty for null."""
    return "" if value is None else str(value)


async def period_of(page: Page) -> tuple[str, str]:
    dashboard = page.locator("#dashboard")
    start, end = (
        await dashboard.get_attribute("data-from"),
        await dashboard.get_attribute("data-to"),
    )
    assert start is not None
    assert end is not None
    return start, end


def numeric(text: str) -> float | None:
    """A data-value or CSV value as the number it is: Python writes a float as "1.0" or
    "0.25", JavaScript writes the same number as "1" or "0.25"."""
    return None if text == "" else float(text)


def csv_rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


EN_DASH = "\u2013"  # between an interval's ends, as the dashboard writes it
LTV_CELLS = """(cells) => cells.map((c) => [c.getAttribute('data-currency') || '',
  c.getAttribute('data-metric'), c.getAttribute('data-value')])"""


async def assert_ltv(
    page: Page, block: dict[str, Any], csv_text: str
) -> dict[tuple[str, str], str]:
    """The business family's LTV figures (data-metric named as the CSV's rows, data-currency)
    are the API's: every one shown is a row of the metrics CSV with the same value, every CSV
    row of LTV is shown (an interval's end the dashboard leaves out, when there is no estimate
    to bound, is an empty value there), and the CSV's values are the JSON's (`block`, the
    document's `business.ltv`). Returns what the page shows, by (currency, metric)."""
    cells = page.locator(
        '[data-family="business"] [data-metric^="ltv_"],'
        ' [data-family="business"] [data-metric="gross_margin"]'
    )
    on_page = {(c, m): v for c, m, v in await cells.evaluate_all(LTV_CELLS)}
    from_csv = {
        (r["currency"], r["metric"]): r["value"]
        for r in csv_rows(csv_text)
        if r["scope"] == "all" and (r["metric"].startswith("ltv_") or r["metric"] == "gross_margin")
    }
    assert set(on_page) <= set(from_csv)
    assert {key: numeric(on_page.get(key, "")) for key in from_csv} == {
        key: numeric(value) for key, value in from_csv.items()
    }
    assert numeric(from_csv[("", "gross_margin")]) == block["gross_margin"]["value"]
    for currency, per in block["currencies"].items():
        for group in ("upgraded", "not_upgraded"):
            g, name = per[group], f"ltv_{group}"
            json_values = {
                name: g["ltv"]["value"], f"{name}_low": g["ltv"]["low"],
                f"{name}_high": g["ltv"]["high"], f"{name}_customers": g["customers"],
                f"{name}_churned": g["churned"], f"{name}_churn_rate": g["churn_rate"]["value"],
                f"{name}_monthly_churn_rate": g["monthly_churn_rate"]["value"],
                f"{name}_arpu": g["arpu"]["value"],
            }  # fmt: skip
            for metric, value in json_values.items():
                assert numeric(from_csv[(currency, metric)]) == value, (currency, metric)
            cell = page.locator(f'[data-metric="{name}"][data-currency="{currency}"]')
            how = cell.locator("xpath=following-sibling::td")
            if g["ltv"]["value"] is None:
                await expect(cell).to_contain_text("not enough data")
                await expect(how).to_have_text(g["ltv"]["reason"])
            elif currency == "usd":
                low, high = g["ltv"]["low"], g["ltv"]["high"]
                await expect(cell).to_have_text(
                    f"{dollars(g['ltv']['value'])} (95 %: {dollars(low)} {EN_DASH} "
                    + ("no upper bound" if high is None else dollars(high))
                    + ")"
                )
            arpu = page.locator(f'[data-metric="{name}_arpu"][data-currency="{currency}"]')
            await expect(arpu.locator("xpath=following-sibling::td")).to_contain_text(
                f"{g['arpu']['numerator']} / {g['arpu']['denominator']}"
            )
        uplift = per["uplift"]
        assert numeric(from_csv[(currency, "ltv_uplift_difference")]) == uplift["difference"]
        ratio = None if uplift["ratio"] is None else uplift["ratio"]["value"]
        assert numeric(from_csv[(currency, "ltv_uplift_ratio")]) == ratio
    return on_page


CELLS = """(cells) => cells.map((c) => [c.getAttribute('data-currency'),
  c.getAttribute('data-cohort'), c.getAttribute('data-month'), c.getAttribute('data-value'),
  c.getAttribute('data-numerator'), c.getAttribute('data-denominator')])"""
POINTS = """(dots) => dots.map((d) => [d.closest('svg').getAttribute('data-currency'),
  d.getAttribute('data-cohort'), d.getAttribute('data-month'), d.getAttribute('data-value')])"""
Grid = dict[tuple[str, str, str], tuple[str, str, str]]


async def assert_cohorts(page: Page, doc: dict[str, Any], csv_text: str) -> Grid:
    """The heat map's cells are the cohorts answer's, for JSON (`doc`) and CSV alike: value,
    numerator and denominator per (currency, cohort, month); every row names its cohort and
    its customers; the definition of the kind is shown and is the caption's title; for MRR
    every non-null cell is a point of its cohort's NDR curve with the same value, and for a
    feature there are no curves. Returns the grid, by (currency, cohort, month)."""
    await expect(page.locator(f'#cohorts-body[data-kind="{doc["kind"]}"]')).to_have_count(1)
    found = await page.locator("#cohorts-body td[data-month]").evaluate_all(CELLS)
    on_page: Grid = {(c, k, m): (v, n, d) for c, k, m, v, n, d in found}
    assert len(on_page) == len(found)
    from_json: Grid = {
        (currency, c["cohort"], str(m["month"])): (
            shown(m["value"]),
            str(m["numerator"]),
            str(m["denominator"]),
        )
        for currency, listed in doc["currencies"].items()
        for c in listed
        for m in c["months"]
    }
    rows = csv_rows(csv_text)
    from_csv: Grid = {
        (r["currency"], r["cohort"], r["month"]): (r["value"], r["numerator"], r["denominator"])
        for r in rows
    }
    assert on_page == from_json == from_csv
    for currency, listed in doc["currencies"].items():
        for c in listed:
            label = page.locator(
                f'table[data-currency="{currency}"] tr[data-cohort="{c["cohort"]}"] th'
            )
            customers = f"{c['customers']} customer{'' if c['customers'] == 1 else 's'}"
            await expect(label).to_have_text(f"{c['cohort']} ({customers})")
            assert {r["customers"] for r in rows
                    if (r["currency"], r["cohort"]) == (currency, c["cohort"])} == {
                str(c["customers"])
            }  # fmt: skip
    definition = doc["definitions"]["mrr" if doc["kind"] == "mrr" else "feature"]
    await expect(page.locator("#cohorts-body [data-definition]")).to_contain_text(definition)
    for caption in await page.locator("#cohorts-body caption").all():
        assert await caption.get_attribute("title") == definition
    points = await page.locator("#cohorts-body svg circle").evaluate_all(POINTS)
    on_curves = {(c, k, m): v for c, k, m, v in points}
    assert len(on_curves) == len(points)
    if doc["kind"] == "mrr":
        assert on_curves == {key: v[0] for key, v in from_json.items() if v[0] != ""}
        assert await page.locator(
            '#cohorts-body svg[role="img"] line[data-reference="1"]'
        ).count() == len(doc["currencies"])  # fmt: skip
    else:
        assert on_curves == {}
    return on_page


async def test_wrong_key_shows_an_error_and_stores_nothing(
    shop: Shop, open_page: Open, artifacts: Path
) -> None:
    """A key the server refuses: an alert says so, the dashboard stays hidden, and nothing is
    kept in sessionStorage."""
    watched = await open_page(shop.url + "/admin")
    page = watched.page
    await sign_in(page, "uplift_sk_not_a_real_key")
    await expect(page.get_by_role("alert")).to_have_text("That admin key was not accepted.")
    await expect(page.locator("#dashboard")).to_be_hidden()
    assert await page.evaluate(f"sessionStorage.getItem('{KEY}')") is None
    await page.screenshot(path=artifacts / "admin-wrong-key.png")
    await assert_clean(watched, http_errors=(401,))


async def test_sign_in_keeps_the_key_for_the_tab_only_and_sign_out_forgets_it(
    shop: Shop, open_page: Open
) -> None:
    """Signed in, the key is in sessionStorage (never localStorage or a cookie) and survives
    a reload of the tab; Sign out removes it and the figures with it."""
    watched = await open_page(shop.url + "/admin")
    page = watched.page
    await sign_in(page)
    await loaded(page)
    assert await page.evaluate(f"sessionStorage.getItem('{KEY}')") == ADMIN_KEY
    assert await page.evaluate("localStorage.length") == 0
    assert await page.context.cookies() == []
    await page.reload()
    await loaded(page)
    await page.get_by_role("button", name="Sign out").click()
    await expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    await expect(page.get_by_label("Admin key")).to_be_focused()
    assert await page.evaluate(f"sessionStorage.getItem('{KEY}')") is None
    assert await page.locator("[data-metric]").count() == 0
    await page.reload()
    await expect(page.locator("#dashboard")).to_be_hidden()
    await assert_clean(watched)


async def test_dashboard_shows_the_apis_numbers(
    shop: Shop, open_page: Open, artifacts: Path
) -> None:
    """For the period the page shows: every MRR figure equals /api/v1/admin/metrics (raw minor
    units and as formatted money), the funnel equals each offer's results, the chart's bars
    sum to the timeseries, and the recent upgrades and failed webhooks are the API's lists."""
    watched = await open_page(shop.url + "/admin")
    page = watched.page
    await sign_in(page)
    await loaded(page)
    dashboard = page.locator("#dashboard")
    period = f"from={await dashboard.get_attribute('data-from')}" \
             f"&to={await dashboard.get_attribute('data-to')}"  # fmt: skip
    metrics = shop.json(f"/api/v1/admin/metrics?{period}")
    usd = metrics["currencies"]["usd"]
    for name in ("mrr_start", "mrr_end", "new_mrr", "expansion_mrr", "contraction_mrr",
                 "churned_mrr", "net_new_mrr"):  # fmt: skip
        cell = page.locator(f'[data-metric="{name}"][data-currency="usd"]')
        assert await cell.get_attribute("data-value") == str(usd[name])
        await expect(cell).to_have_text(dollars(usd[name]))
    assert usd["new_mrr"] > 0
    arpu = page.locator('[data-metric="arpu_end"][data-currency="usd"]')
    await expect(arpu).to_have_text(dollars(usd["arpu_end"]["value"]))
    await expect(arpu.locator("xpath=following-sibling::td")).to_contain_text(
        f"{usd['arpu_end']['numerator']} / {usd['arpu_end']['denominator']}"
    )

    offers = shop.json("/api/v1/admin/offers?limit=100")["data"]
    for offer in offers:
        arms = shop.json(f"/api/v1/admin/offers/{offer['id']}/results")["arms"]
        row = page.locator(f'#funnel-body tr[data-offer="{offer["id"]}"]')
        for step in ("exposed", "clicked", "accepted", "paid"):
            total = sum(a[step] for a in arms if a["arm"] != "holdout")
            cell = row.locator(f'[data-step="{step}"]')
            assert await cell.get_attribute("data-value") == str(total), (offer["id"], step)

    for kind in ("new_mrr", "expansion_mrr", "contraction_mrr"):
        series = shop.json(f"/api/v1/admin/metrics/timeseries?metric={kind}&interval=day&{period}")
        bars = page.locator(f'svg[data-currency="usd"] rect[data-kind="{kind}"]')
        values = [int(v or 0) for v in await bars.evaluate_all(
            "(rects) => rects.map((r) => r.getAttribute('data-value'))")]  # fmt: skip
        assert sum(values) == sum(series["currencies"].get("usd", [])) == usd[kind]

    upgrades = shop.json("/api/v1/admin/upgrades?limit=10")["data"]
    shown = await page.locator("#upgrades-body tr[data-upgrade]").evaluate_all(
        "(rows) => rows.map((r) => r.getAttribute('data-upgrade'))"
    )
    assert shown == [u["id"] for u in upgrades]
    assert upgrades
    failed = page.locator(f'#webhooks-body tr[data-event="{FAILED_EVENT}"]')
    await expect(failed).to_contain_text("No such invoice")
    await page.screenshot(path=artifacts / "admin-dashboard.png", full_page=True)
    await assert_clean(watched)


async def test_dashboard_shows_both_families_with_their_definitions(
    shop: Shop, open_page: Open
) -> None:
    """The business family (every movement) and Uplift's own impact are shown side by side,
    each figure with the API's value, its numerator / denominator beside it and its one-line
    definition on hover (attach rates and the lift against the holdout included); a failed
    upgrade shows no MRR change."""
    watched = await open_page(shop.url + "/admin")
    page = watched.page
    await sign_in(page)
    await loaded(page)
    dashboard = page.locator("#dashboard")
    period = f"from={await dashboard.get_attribute('data-from')}" \
             f"&to={await dashboard.get_attribute('data-to')}"  # fmt: skip
    metrics = shop.json(f"/api/v1/admin/metrics?{period}")
    business, uplift = metrics["business"], metrics["uplift"]
    figures = [
        ("business", "upsell_conversion", business["upsell_conversion"],
         business["definitions"]["upsell_conversion"]),
        ("business", "cross_sell_rate", business["cross_sell_rate"],
         business["definitions"]["cross_sell_rate"]),
        ("uplift", "uplift_upsell_conversion", uplift["upsell_conversion"],
         uplift["definitions"]["upsell_conversion"]),
        ("uplift", "uplift_offer_conversion", uplift["offer_conversion"],
         uplift["definitions"]["offer_conversion"]),
    ]  # fmt: skip
    for family, name, figure, definition in figures:
        cell = page.locator(f'[data-family="{family}"] [data-metric="{name}"]')
        value = "" if figure["value"] is None else str(figure["value"])
        assert await cell.get_attribute("data-value") == value, name
        label = cell.locator("xpath=preceding-sibling::th")
        assert await label.get_attribute("title") == definition
        if figure["denominator"]:
            await expect(cell.locator("xpath=following-sibling::td")).to_contain_text(
                f"{figure['numerator']} / {figure['denominator']}"
            )
    for product, f in business["attach_rate"].get("usd", {}).items():
        cell = page.locator(f'[data-metric="attach_rate_{product}"][data-currency="usd"]')
        assert await cell.get_attribute("data-value") == str(f["value"])
    for one in uplift["lift"]:
        cell = page.locator(f'[data-lift="{one["offer_id"]}"] [data-metric="uplift_lift"]')
        value = "" if one["difference"] is None else str(one["difference"])
        assert await cell.get_attribute("data-value") == value
    usd = uplift["currencies"]["usd"]
    cell = page.locator('[data-metric="uplift_upgrades"][data-currency="usd"]')
    assert await cell.get_attribute("data-value") == str(usd["upgrades"])
    for u in shop.json("/api/v1/admin/upgrades?limit=10&status=failed")["data"]:
        row = page.locator(f'#upgrades-body tr[data-upgrade="{u["id"]}"]')
        await expect(row.locator("td").last).to_have_text("—")
    # LTV: the simulated customers all joined in the period, so no currency has customers
    # paying at its start (the ledger test, test_dashboard_ledger_browser.py, has estimates).
    ltv = business["ltv"]
    on_page = await assert_ltv(page, ltv, shop.api(f"/api/v1/admin/metrics?{period}",
                                                   Accept="text/csv").text)  # fmt: skip
    assert numeric(on_page[("", "gross_margin")]) == ltv["gross_margin"]["value"]
    label = page.locator('[data-metric="gross_margin"]').locator("xpath=preceding-sibling::th")
    assert await label.get_attribute("title") == business["definitions"]["gross_margin"]
    await assert_clean(watched)


async def test_cohorts_show_the_apis_cells_and_follow_the_keyboard(
    shop: Shop, open_page: Open, artifacts: Path
) -> None:
    """The cohorts section for the period's `to`: the heat map and the NDR curves hold the
    cohorts answer's cells (JSON and CSV); Tab reaches the "Cohort metric" select, an arrow key
    switches it to a feature's adoption and the grid follows with that kind's cells; the
    "Show numbers" toggle, reached and pressed from the keyboard, puts each cell's numerator /
    denominator under its percentage and takes them away again; axe finds nothing serious
    with the cohorts drawn."""
    watched = await open_page(shop.url + "/admin")
    page = watched.page
    await sign_in(page)
    await loaded(page)
    _, to = await period_of(page)
    route = f"/api/v1/admin/metrics/cohorts?kind=mrr&to={to}"
    doc = shop.json(route)
    assert await assert_cohorts(page, doc, shop.api(route, Accept="text/csv").text)
    assert doc["features"]  # the demo's plans gate features

    await page.locator("#period button[type=submit]").focus()
    for _ in range(40):
        if await page.evaluate("document.activeElement.id") == "cohort-kind":
            break
        await page.keyboard.press("Tab")
    select = page.get_by_label("Cohort metric")
    await expect(select).to_be_focused()
    options = await select.locator("option").evaluate_all(
        "(options) => options.map((o) => [o.value, o.textContent])"
    )
    assert options == [["mrr", "MRR retention (NDR)"]] + [
        [f"feature:{f}", f"Adoption of {f}"] for f in doc["features"]
    ]
    await page.keyboard.press("ArrowDown")
    kind = f"feature:{doc['features'][0]}"
    route = f"/api/v1/admin/metrics/cohorts?kind={kind}&to={to}"
    adoption = shop.json(route)
    grid = await assert_cohorts(page, adoption, shop.api(route, Accept="text/csv").text)
    assert grid
    await expect(select).to_be_focused()

    await page.keyboard.press("Tab")
    toggle = page.get_by_role("button", name="Show numbers")
    await expect(toggle).to_be_focused()
    numbers = page.locator("#cohorts-body td[data-month] .nd")
    await expect(numbers.first).to_be_hidden()
    await page.keyboard.press("Space")
    await expect(toggle).to_have_attribute("aria-pressed", "true")
    for (currency, cohort, month), (_, numerator, denominator) in grid.items():
        td = page.locator(f'td[data-currency="{currency}"][data-cohort="{cohort}"]'
                          f'[data-month="{month}"]')  # fmt: skip
        await expect(td.locator(".nd")).to_be_visible()
        await expect(td.locator(".nd")).to_have_text(f"{numerator} / {denominator}")
        assert f"{numerator} / {denominator}" in (await td.get_attribute("title") or "")
    await page.screenshot(path=artifacts / "admin-cohorts.png", full_page=True)
    await page.keyboard.press("Enter")
    await expect(toggle).to_have_attribute("aria-pressed", "false")
    await expect(numbers.first).to_be_hidden()
    await assert_clean(watched)
    # Last, since axe-core adds globals of its own: with the numbers shown.
    await page.keyboard.press("Enter")
    await expect(numbers.first).to_be_visible()
    assert await serious(page) == []


async def serious(page: Page) -> list[Any]:
    """axe-core's serious and critical violations on the page as it is."""
    results = await Axe().run(page)
    return [
        (v["id"], v["impact"], [n["target"] for n in v["nodes"]][:3])
        for v in results.response["violations"]
        if v["impact"] in ("serious", "critical")
    ]


async def test_dashboard_has_no_serious_accessibility_violations(
    shop: Shop, open_page: Open
) -> None:
    """axe-core on the sign-in form and on the loaded dashboard (the cohorts' heat map and NDR
    curves drawn): no serious or critical violation."""
    watched = await open_page(shop.url + "/admin")
    page = watched.page
    assert await serious(page) == []
    await sign_in(page)
    await loaded(page)
    await expect(page.locator('#cohorts-body[data-kind="mrr"] svg[role="img"]')).not_to_have_count(
        0
    )
    assert await serious(page) == []
