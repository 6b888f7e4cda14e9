"""The admin dashboard in real Chromium against a real `uplift serve` holding a simulated shop
(tests/admin/conftest.py): the numbers it shows are the admin API's, the key lives only in
sessionStorage, a wrong key is refused, and the page passes axe-core.

Every page runs under the server's own strict CSP (no inline script or style, Trusted Types
required); each test ends by checking there was no CSP violation, no script error other than
the HTTP errors it caused on purpose, no dialog, and no new global: the dashboard's script
keeps everything in its closure, and the page gains only the widget's one global, which the
console's preview uses.
"""

from __future__ import annotations

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
    await assert_clean(watched)


async def test_dashboard_has_no_serious_accessibility_violations(
    shop: Shop, open_page: Open
) -> None:
    """axe-core on the sign-in form and on the loaded dashboard: no serious or critical
    violation."""
    watched = await open_page(shop.url + "/admin")
    page = watched.page
    axe = Axe()

    async def serious() -> list[Any]:
        results = await axe.run(page)
        return [
            (v["id"], v["impact"], [n["target"] for n in v["nodes"]][:3])
            for v in results.response["violations"]
            if v["impact"] in ("serious", "critical")
        ]

    assert await serious() == []
    await sign_in(page)
    await loaded(page)
    assert await serious() == []
