"""The widget in every language it ships (issue 23), in real Chromium against a real
`uplift serve`: chosen by `Uplift.init({locale})` or by the page's own `lang`, its words come
from the catalogue (static/widget/locales/, fetched from Uplift on first use), and prices,
usage and dates are formatted in the browser with `Intl` from minor units and the currency.
Each locale's banner and upgrade modal pass axe-core's WCAG A/AA checks."""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from playwright.async_api import expect

from tests.browser import Watched
from tests.support import Subscribed
from tests.widget.accessibility import wcag_violations
from tests.widget.paths import WIDGET
from tests.widget.shop import ShopFactory, upgrade_offer
from tests.widget.test_widget_locales import english

pytestmark = [pytest.mark.browser, pytest.mark.e2e, pytest.mark.postgres_half]

OpenPage = Callable[[str], Awaitable[Watched]]


def words(locale: str) -> dict[str, str]:
    if locale == "en":
        return {
            k: v.replace("\\u2019", "\u2019").replace("\\u2026", "\u2026")
            for k, v in english().items()
        }
    catalogue: dict[str, str] = json.loads((WIDGET / "locales" / f"{locale}.json").read_text())
    return catalogue


@pytest.mark.parametrize("locale", ["en", "ko", "ja", "ro", "fr"])
async def test_the_banner_and_the_modal_speak_the_customers_language(
    shop: ShopFactory, open_page: OpenPage, locale: str
) -> None:
    acme = await shop()
    said = words(locale)
    watched = await open_page(acme.page_url("upgrade.html") + f"&locale={locale}")
    page = watched.page
    banner = page.get_by_role("region", name="Running out of space?")
    price = await page.evaluate(
        "l => new Intl.NumberFormat(l, {style: 'currency', currency: 'USD'}).format(99)", locale
    )
    await expect(banner).to_contain_text(price + said["perMonth"])
    used = said["used"].split("{")[0]  # the sentence's words before its first number
    if used:
        await expect(banner).to_contain_text(used)

    # The call to action is the offer's copy (the admin's words, "Upgrade" by default).
    await banner.get_by_role("button", name="Upgrade").click()
    dialog = page.get_by_role("dialog")
    await expect(dialog).to_contain_text(said["due"])
    due = dialog.locator("[data-uplift-due]")
    await expect(due).not_to_have_text(said["preparing"])
    shown = await due.text_content() or ""
    assert re.search(r"\d", shown), shown
    await dialog.get_by_role("button", name=said["details"]).click()
    product_line = said["lineRemaining"].split("{")[0].strip()
    if product_line:
        await expect(dialog.get_by_role("listitem").last).to_contain_text(product_line)
    await expect(dialog.get_by_role("button", name=said["pay"])).to_be_visible()
    await page.screenshot(path=acme.artifacts / f"modal-{locale}.png")
    await watched.assert_clean()
    assert await wcag_violations(page) == []


async def test_the_pages_own_lang_chooses_the_language(
    shop: ShopFactory, open_page: OpenPage
) -> None:
    """A page in Japanese (`<html lang="ja">`) that says nothing to the widget gets its words
    in Japanese."""
    acme = await shop()
    watched = await open_page(acme.page_url("upgrade.html") + "&pagelang=ja")
    page = watched.page
    said = words("ja")
    banner = page.get_by_role("region", name="Running out of space?")
    await expect(banner).to_contain_text(said["perMonth"])
    await banner.get_by_role("button", name="Upgrade").click()
    await expect(page.get_by_role("dialog")).to_contain_text(said["due"])
    await watched.assert_clean()


def _localized(world: Subscribed) -> list[dict[str, Any]]:
    offer = upgrade_offer(world)
    copy = offer["variants"][0]["copy"]
    copy["locales"] = {
        "ko": {"title": "저장 공간이 부족하신가요?", "cta": "Pro로 업그레이드"},
        "fr": {"body": "Pro offre 100 Go."},
    }
    return [offer]


@pytest.mark.parametrize(
    ("locale", "title", "body", "cta"),
    [
        ("ko", "저장 공간이 부족하신가요?", "Pro has 100 GB.", "Pro로 업그레이드"),
        ("fr", "Running out of space?", "Pro offre 100 Go.", "Upgrade"),
        ("en", "Running out of space?", "Pro has 100 GB.", "Upgrade"),
    ],
)
async def test_offer_copy_given_per_language_falls_back_field_by_field(
    shop: ShopFactory, open_page: OpenPage, locale: str, title: str, body: str, cta: str
) -> None:
    """The admin wrote the title and the button in Korean and the body in French: each
    customer sees what exists in their language and the admin's own words for the rest."""
    acme = await shop(offers=_localized)
    watched = await open_page(acme.page_url("upgrade.html") + f"&locale={locale}")
    page = watched.page
    banner = page.get_by_role("region", name=title)
    await expect(banner).to_contain_text(body)
    await expect(banner.get_by_role("button", name=cta)).to_be_visible()
    await watched.assert_clean()
