"""The pricing table, the custom elements and the parts loaded on first use, in real Chromium
against a real `uplift serve` under the host pages' strict CSP with Trusted Types (issue 23):
each element in a page that uses only the element, the `plans` placement's ladder with its
monthly/yearly switch and the saving worked out from the prices, an upgrade from it through
the quote, and a core that fetches a part only when the page needs it. Axe-clean in each
state. Fixtures: tests/widget/conftest.py."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from playwright.async_api import Page, expect

from tests.browser import Watched
from tests.support import Subscribed
from tests.widget.accessibility import wcag_violations
from tests.widget.shop import ShopFactory, upgrade_offer

pytestmark = [pytest.mark.browser, pytest.mark.e2e, pytest.mark.postgres_half]

OpenPage = Callable[[str], Awaitable[Watched]]
PART = re.compile(r"/widget/uplift-(\w+)\.js\?v=[0-9a-f]{12}$")


def plan_offers(world: Subscribed) -> list[dict[str, Any]]:
    """Upgrades to Pro monthly and to Pro yearly, offered in the pricing table."""

    def offer(name: str, price: str) -> dict[str, Any]:
        return {
            "id": f"offer_{name}", "name": name, "kind": "upgrade", "status": "active",
            "placements": ["plans"], "target_prices": [price],
            "targeting": {"plan": {"in": ["basic"]}},
            "variants": [{"key": "control", "copy": {"title": "Move to Pro", "cta": "Choose Pro"}}],
        }  # fmt: skip

    return [offer("pro_monthly", world.pro), offer("pro_yearly", world.pro_annual)]


def parts_fetched(page: Page) -> list[str]:
    fetched: list[str] = []
    page.on(
        "request",
        lambda r: fetched.append(m.group(1)) if (m := PART.search(r.url)) else None,
    )
    return fetched


async def test_the_pricing_table_marks_the_plan_switches_to_yearly_and_upgrades(
    shop: ShopFactory, open_page: OpenPage
) -> None:
    """`<uplift-pricing>` alone on a page: Basic marked as Acme's plan, Pro at $99.00 a month;
    Yearly shows Pro at $990.00 a year, "Save $198.00 a year, 2 months free" (twelve months of
    $99.00 against $990.00) and no price for Basic, which has none; Pro's call to action opens
    the exact quote, and after paying the table draws again with Pro as the plan."""
    acme = await shop(offers=plan_offers)
    watched = await open_page(acme.page_url("pricing.html"))
    page = watched.page
    table = page.get_by_role("region", name="Plans")
    plans = table.get_by_role("listitem").filter(has=page.locator("p.heading"))
    basic = plans.filter(has_text="Basic")
    pro = plans.filter(has_text="Pro")
    await expect(basic).to_contain_text("Current plan")
    await expect(basic).to_have_attribute("aria-current", "true")
    await expect(basic).to_contain_text("$29.00 / month")
    await expect(basic).to_contain_text("Storage: 10 GB")
    await expect(pro).to_contain_text("$99.00 / month")
    await expect(pro).to_contain_text("Storage: 100 GB")
    await expect(pro).not_to_contain_text("Save")
    await expect(table.get_by_role("button", name="Monthly")).to_have_attribute(
        "aria-pressed", "true"
    )
    await watched.assert_clean()  # before axe, which adds globals of its own
    assert await wcag_violations(page) == []

    await table.get_by_role("button", name="Yearly").click()
    await expect(pro).to_contain_text("$990.00 / year")
    await expect(pro).to_contain_text("Save $198.00 a year, 2 months free")
    await expect(basic).not_to_contain_text("$")
    assert await wcag_violations(page) == []

    await pro.get_by_role("button", name="Choose Pro").click()
    dialog = page.get_by_role("dialog")
    await expect(dialog.get_by_role("heading")).to_have_text("Move to Pro")
    await expect(dialog).to_contain_text("Due today")
    assert await wcag_violations(page) == []
    await dialog.get_by_role("button", name="Confirm and pay").click()
    await expect(dialog.get_by_role("heading")).to_have_text("You\u2019re upgraded")
    await dialog.get_by_role("button", name="Done").click()
    await expect(pro).to_contain_text("Current plan")
    await expect(basic).not_to_contain_text("Current plan")
    await expect(pro).to_contain_text("$990.00 / year")
    await expect(pro.get_by_role("button")).to_have_count(0)
    (upgrade,) = acme.upgrades()
    assert (upgrade["offer_id"], upgrade["status"]) == ("offer_pro_yearly", "succeeded")
    assert await page.evaluate("window.__violations") == []
    assert watched.errors == []


async def test_the_pricing_table_speaks_the_pages_language(
    shop: ShopFactory, open_page: OpenPage
) -> None:
    """In Korean: the switch, the plan mark and the limits are the catalogue's words, the
    prices Intl's."""
    acme = await shop(offers=plan_offers)
    watched = await open_page(acme.page_url("pricing.html") + "&locale=ko")
    table = watched.page.get_by_role("region", name="요금제")
    await expect(table.get_by_role("button", name="연간")).to_be_visible()
    await expect(table).to_contain_text("현재 요금제")
    await expect(table).to_contain_text("US$99.00")
    await watched.assert_clean()
    assert await wcag_violations(watched.page) == []


async def test_elements_draw_their_placement_and_open_the_modal(
    shop: ShopFactory, open_page: OpenPage
) -> None:
    """`<uplift-offers display="banner">` draws the banner; an `<uplift-offers>` with nothing
    to show draws nothing and its `uplift:empty` bubbles from the element to the document;
    changing its `placement` attribute (as a framework re-rendering would) draws that
    placement; `<uplift-upgrade>` is a button with the page's words that opens the quote."""
    acme = await shop(offers=lambda w: [upgrade_offer(w)])
    watched = await open_page(acme.page_url("elements.html"))
    page = watched.page
    banner = page.get_by_role("region", name="Top").get_by_role(
        "region", name="Running out of space?"
    )
    await expect(banner).to_be_visible()
    log = page.get_by_role("list", name="Widget events")
    await expect(log).to_contain_text('empty {"placement":"reports_gate"}')
    heard = await page.evaluate(
        """() => new Promise((resolve) => {
            const reports = document.getElementById('reports');
            reports.addEventListener('uplift:empty', (e) => resolve(e.target.id));
            reports.setAttribute('placement', 'nowhere');
        })"""
    )
    assert heard == "reports"
    await page.evaluate(
        "document.getElementById('reports').setAttribute('placement', 'storage_banner')"
    )
    reports = page.get_by_role("region", name="Reports")
    await expect(reports.get_by_role("button", name="Upgrade")).to_be_visible()
    await watched.assert_clean()
    assert await wcag_violations(page) == []

    await page.get_by_role("button", name="Go Pro").click()
    dialog = page.get_by_role("dialog")
    await expect(dialog.get_by_role("heading")).to_have_text("Confirm your upgrade")
    await expect(dialog).to_contain_text("Due today")
    assert await wcag_violations(page) == []
    assert await page.evaluate("window.__violations") == []
    assert watched.errors == []


async def test_the_core_fetches_a_part_only_when_the_page_needs_it(
    shop: ShopFactory, open_page: OpenPage
) -> None:
    """A page with a banner fetches the dialog and the upgrade modal (its call to action
    opens them), each once, at its immutable URL; never the retention screen or the pricing
    table. The pricing page fetches the table and, for its calls to action, the modal."""
    acme = await shop()
    watched = await open_page("about:blank")
    page = watched.page
    fetched = parts_fetched(page)
    await page.goto(acme.page_url("placements.html"))
    top = page.get_by_role("region", name="Top")
    await expect(top.get_by_role("button", name="Upgrade")).to_be_visible()
    await top.get_by_role("button", name="Upgrade").click()
    await expect(page.get_by_role("dialog")).to_contain_text("Due today")
    assert sorted(fetched) == ["dialog", "modal"]

    fetched.clear()
    await page.goto(acme.page_url("downgrade.html"))
    await page.get_by_role("button", name="Downgrade to Starter").click()
    await expect(page.get_by_role("dialog")).to_be_visible()
    assert "retention" in fetched
    assert "pricing" not in fetched
    await watched.assert_clean(http_errors=(422,))  # Starter is not on this shop's ladder
