"""How the widget behaves around a change, in real Chromium against a real `uplift serve`
(issue 23, its first part): every placement draws again after an accept or a dismiss, an
offer that stopped applying leaves quietly (the end customer never reads a rule), an empty
placement draws nothing and tells the page, each kind's success says what happened (a trial
is not "Paid $0.00", a switch to yearly billing is not "You're upgraded"), and prices say
what they save and, for a bundle, every item and the total. Fixtures: tests/widget/conftest.py.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from playwright.async_api import expect

from tests.browser import Watched
from tests.support import Subscribed
from tests.widget.accessibility import wcag_violations
from tests.widget.shop import ShopFactory, upgrade_offer

pytestmark = [pytest.mark.browser, pytest.mark.e2e, pytest.mark.postgres_half]

OpenPage = Callable[[str], Awaitable[Watched]]
TITLE = "Running out of space?"


async def test_an_accept_redraws_every_placement_and_a_stale_offer_leaves_quietly(
    shop: ShopFactory, open_page: OpenPage
) -> None:
    """The same offer in two placements and an empty third: the empty one draws nothing and
    the page hears `uplift:empty`; upgrading from one banner takes the offer out of both; the
    declarative button for it afterwards opens no error (the server says the offer no longer
    applies), only closes, and no rule text reaches the page."""
    acme = await shop()
    watched = await open_page(acme.page_url("placements.html"))
    page = watched.page
    top = page.get_by_role("region", name="Top").get_by_role("region", name=TITLE)
    side = page.get_by_role("region", name="Side").get_by_role("region", name=TITLE)
    await expect(top).to_be_visible()
    await expect(side).to_be_visible()
    log = page.get_by_role("list", name="Widget events")
    await expect(log).to_contain_text('empty {"placement":"reports_gate"}')
    assert await page.locator("#nothing > [data-uplift]").count() == 0

    await top.get_by_role("button", name="Upgrade").click()
    dialog = page.get_by_role("dialog")
    await dialog.get_by_role("button", name="Confirm and pay").click()
    await expect(dialog.get_by_role("heading")).to_have_text("You\u2019re upgraded")
    await expect(top).to_have_count(0)
    await expect(side).to_have_count(0)
    await dialog.get_by_role("button", name="Done").click()
    # The empty placement was drawn again (with the others) but stayed empty: no second event.
    empties = log.get_by_role("listitem").filter(has_text='empty {"placement":"reports_gate"}')
    await expect(empties).to_have_count(1)

    async with page.expect_response(re.compile(r"/api/v1/widget/quotes$")) as refused:
        await page.get_by_role("button", name="Upgrade now").click()
    answer = await refused.value
    assert (answer.status, (await answer.json())["error"]["code"]) == (
        409,
        "offer_already_accepted",
    )
    await expect(dialog).to_have_count(0)
    await expect(page.get_by_role("alert")).to_have_count(0)
    await watched.assert_clean(http_errors=(409,))


async def test_an_offer_that_stopped_applying_leaves_without_a_word_of_its_rules(
    shop: ShopFactory, open_page: OpenPage
) -> None:
    """The banner was drawn while Acme used 9 GB of 10; then its usage fell to 2 GB, so the
    offer's usage rule no longer holds. Taking the stale banner's offer gets a short answer
    from the server, without the rule, and the widget closes the modal and the banner
    quietly: no error screen, no Retry that cannot succeed."""
    acme = await shop()
    watched = await open_page(acme.page_url("placements.html"))
    page = watched.page
    top = page.get_by_role("region", name="Top").get_by_role("region", name=TITLE)
    await expect(top).to_be_visible()
    usage = {"customer": "acme", "metric": "storage_gb", "value": 2}
    lowered = acme.admin("POST", "/api/v1/usage", json=usage, headers={"Idempotency-Key": "low"})
    assert lowered.status_code < 300, lowered.text

    async with page.expect_response(re.compile(r"/api/v1/widget/quotes$")) as refused:
        await top.get_by_role("button", name="Upgrade").click()
    answer = await refused.value
    assert answer.status == 409
    error = (await answer.json())["error"]
    assert error == {"code": "offer_unavailable", "message": "This offer is no longer available."}
    await expect(page.get_by_role("dialog")).to_have_count(0)
    await expect(top).to_have_count(0)
    await expect(page.get_by_role("alert")).to_have_count(0)
    assert "storage_gb" not in await page.locator("body").inner_text()
    await watched.assert_clean(http_errors=(409,))


async def test_a_dismiss_redraws_every_placement_without_the_offer(
    shop: ShopFactory, open_page: OpenPage
) -> None:
    """Dismissing the banner in one placement takes the offer out of the other too, for the
    rest of the page, though the offer has no dismiss cooldown; one impression per placement
    drawn, none for the redraw."""
    acme = await shop()
    watched = await open_page(acme.page_url("placements.html"))
    page = watched.page
    sent: list[str] = []
    page.on(
        "request",
        lambda r: (
            sent.append((r.post_data_json or {}).get("type", ""))
            if r.method == "POST" and r.url.endswith("/api/v1/widget/events")
            else None
        ),
    )
    side = page.get_by_role("region", name="Side").get_by_role("region", name=TITLE)
    await expect(side).to_be_visible()
    top = page.get_by_role("region", name="Top").get_by_role("region", name=TITLE)
    async with page.expect_response(re.compile(r"/api/v1/widget/offers")):
        await top.get_by_role("button", name="Dismiss").click()
    await expect(side).to_have_count(0)
    await expect(top).to_have_count(0)
    await expect(page.get_by_role("list", name="Widget events")).to_contain_text("dismissed")
    assert sent.count("dismiss") == 1
    assert "impression" not in sent[sent.index("dismiss") :]
    await watched.assert_clean()


def _yearly(world: Subscribed) -> list[dict[str, Any]]:
    offer = upgrade_offer(world)
    return [
        {**offer, "id": "offer_pro_yearly", "name": "Pro, yearly", "kind": "interval_switch",
         "target_prices": [world.pro_annual],
         "variants": [{"key": "control", "copy": {"title": "Pay yearly"}}]}
    ]  # fmt: skip


async def test_a_switch_to_yearly_billing_says_what_it_saves_and_what_happened(
    shop: ShopFactory, open_page: OpenPage
) -> None:
    """An interval switch to Pro yearly ($990.00 a year; Pro monthly is $99.00) says what it
    saves, computed from the prices, not typed by an admin; switching says the customer is
    now billed yearly, not that they were upgraded."""
    acme = await shop(offers=_yearly)
    watched = await open_page(acme.page_url("upgrade.html"))
    page = watched.page
    banner = page.get_by_role("region", name="Pay yearly")
    await expect(banner).to_contain_text("$990.00 / year \u00b7 Save $198.00 a year, 2 months free")
    await banner.get_by_role("button", name="Upgrade").click()
    dialog = page.get_by_role("dialog")
    await dialog.get_by_role("button", name="Confirm and pay").click()
    await expect(dialog.get_by_role("heading")).to_have_text("You\u2019re now billed yearly")
    await expect(banner).to_have_count(0)
    assert await wcag_violations(page) == []


BUNDLE = {
    "offer_id": "offer_bundle", "kind": "bundle", "variant": "control",
    "copy": {"title": "The reporting bundle", "body": None, "cta": "Add both", "decline": None},
    "prices": [
        {"price": "price_a", "currency": "usd", "unit_amount": 1900, "display": "$19.00",
         "interval": "month", "interval_count": 1},
        {"price": "price_b", "currency": "usd", "unit_amount": 900, "display": "$9.00",
         "interval": "month", "interval_count": 1},
    ],
    "discount": {"percent_off": 30, "amount_off": None, "duration_months": None},
    "trial_days": None, "ends_at": None, "countdown_seconds": None, "usage": None,
    "reasons": [], "survey": None,
}  # fmt: skip


async def test_a_bundle_shows_every_item_its_total_and_its_discount(
    shop: ShopFactory, open_page: OpenPage
) -> None:
    """A bundle's banner (the admin preview draws a document like the server's) lists each
    item's price, their total, and what its discount saves."""
    acme = await shop(offers=lambda world: [])
    watched = await open_page(acme.page_url("placements.html"))
    page = watched.page
    await expect(page.get_by_role("list", name="Widget events")).to_contain_text("empty")
    await page.evaluate(
        "offer => window.Uplift.preview(document.getElementById('nothing'),"
        " {screen: 'banner', offer})",
        BUNDLE,
    )
    banner = page.get_by_role("region", name="The reporting bundle")
    await expect(banner).to_contain_text(
        "$19.00 / month + $9.00 / month \u00b7 Total $28.00 / month \u00b7 Save 30%"
    )
    await watched.assert_clean()


async def test_a_failed_request_says_the_widgets_own_words_and_retries(
    shop: ShopFactory, open_page: OpenPage
) -> None:
    """With the browser offline, taking the offer shows the widget's own sentence (never the
    browser's or the server's message, which go to `uplift:error`); back online, Retry gets
    the quote."""
    acme = await shop()
    watched = await open_page(acme.page_url("upgrade.html"))
    page = watched.page
    banner = page.get_by_role("region", name=TITLE)
    await expect(banner).to_be_visible()
    await page.context.set_offline(True)
    await banner.get_by_role("button", name="Upgrade").click()
    dialog = page.get_by_role("dialog")
    await expect(dialog.get_by_role("alert")).to_have_text(
        "We could not reach the server. Check your connection and try again."
    )
    await expect(page.get_by_role("list", name="Widget events")).to_contain_text("error")
    await page.context.set_offline(False)
    await dialog.get_by_role("button", name="Retry").click()
    await expect(dialog.locator("[data-uplift-due]")).to_have_text(re.compile(r"^\$\d+\.\d\d$"))
    watched.errors.clear()  # Chromium logs the failed fetch itself
    await watched.assert_clean()
