"""The admin console in real Chromium against a real `uplift serve` holding a simulated shop
(tests/admin/conftest.py): every offer kind made through the editor without typing JSON, its
preview drawn by the real widget, its audience as the API counts it, a customer found and told
why an offer is not shown, an offer cloned and paused, a key made and revoked; each screen
axe-clean under the server's strict CSP (no inline script or style, Trusted Types required).

The only global the page gains is the widget's `Uplift` (the preview is the real widget)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
from axe_playwright_python.async_playwright import Axe  # type: ignore[import-untyped]  # no stubs upstream
from playwright.async_api import Locator, Page, expect

from tests.admin.conftest import Shop
from tests.browser import NEW_GLOBALS, Watched
from tests.support import ADMIN_KEY

pytestmark = [pytest.mark.browser, pytest.mark.e2e]

expect.set_options(timeout=15_000)
Open = Callable[[str], Awaitable[Watched]]


async def assert_clean(watched: Watched, *, http_errors: tuple[int, ...] = ()) -> None:
    assert await watched.page.evaluate("window.__violations") == []
    expected = tuple(f"with a status of {status} " for status in http_errors)
    assert [e for e in watched.errors if not any(x in e for x in expected)] == []
    assert watched.dialogs == []
    assert await watched.page.evaluate(NEW_GLOBALS) == ["Uplift"]


async def serious_violations(page: Page) -> list[Any]:
    results = await Axe().run(page)
    return [
        (v["id"], v["impact"], [n["target"] for n in v["nodes"]][:3])
        for v in results.response["violations"]
        if v["impact"] in ("serious", "critical")
    ]


async def signed_in(open_page: Open, shop: Shop, fragment: str = "") -> Watched:
    watched = await open_page(shop.url + "/admin" + fragment)
    page = watched.page
    await page.get_by_label("Admin key").fill(ADMIN_KEY)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("navigation", name="Console")).to_be_visible()
    return watched


def api(shop: Shop, method: str, path: str, body: Any = None, key: str = ADMIN_KEY) -> Any:
    response = httpx.request(
        method, shop.url + path, json=body, headers={"Authorization": f"Bearer {key}"}, timeout=30
    )
    assert response.status_code < 300, response.text
    return response.json()


def status_of(shop: Shop, path: str, *, key: str) -> int:
    return httpx.get(
        shop.url + path, headers={"Authorization": f"Bearer {key}"}, timeout=30
    ).status_code


def customer(shop: Shop, index: int = 0) -> str:
    return shop.report.outcomes[index].customer


async def fill(page: Page, label: str, value: str, *, nth: int = 0) -> None:
    await page.get_by_label(label, exact=True).nth(nth).fill(value)


async def add_rule(scope: Page | Locator, kind: str) -> None:
    """Add a rule of `kind` to the rule builder's root group (a page) or to a group."""
    if isinstance(scope, Page):
        scope = scope.get_by_role("group", name="Targeting rules")
    adder = scope.locator(":scope > .group-add")
    await adder.get_by_label("Add", exact=True).select_option(label=kind)
    await adder.get_by_role("button", name="Add rule").click()


async def audience_settled(page: Page) -> int:
    await expect(page.locator("#audience[data-eligible]")).to_have_count(1)
    return int(await page.locator("#audience").get_attribute("data-eligible") or "-1")


KINDS: dict[str, tuple[str, str]] = {
    # kind -> (its price's lookup key, the preview screen its preview draws in the pane)
    "upgrade": ("pro_monthly", "banner"),
    "interval_switch": ("basic_annual", "button"),
    "cross_sell": ("priority_support_monthly", "banner"),
    "bundle": ("priority_support_monthly,extra_storage_monthly", "banner"),
    "post_order": ("advanced_reports_monthly", "banner"),
    "trial": ("enterprise_monthly", "banner"),
    "retention": ("", "banner"),
}


@pytest.mark.parametrize("kind", sorted(KINDS))
async def test_each_offer_kind_is_made_in_the_editor_previewed_and_counted_as_the_api_counts(
    shop: Shop, open_page: Open, kind: str
) -> None:
    """Through the form alone: a name, the prices, a rule from the builder, the copy; the
    preview pane shows the real widget's banner for a customer; the audience shown is the one
    the API gives for the saved offer's document; Save stores exactly what was built."""
    prices = shop.prices
    lookup, screen = KINDS[kind]
    watched = await signed_in(open_page, shop, f"#/offers/new/{kind}")
    page = watched.page
    await expect(page.get_by_role("heading", name="New offer")).to_be_visible()
    await fill(page, "Name", f"Console {kind}")
    await fill(page, "Id (optional)", f"offer_console_{kind}")
    if lookup:
        await fill(page, "Stripe prices", ", ".join(prices[key] for key in lookup.split(",")))
    await add_rule(page, "Plan is")
    await fill(page, "Plans", "basic" if kind != "retention" else "basic, pro")
    await fill(page, "Title", f"Title for {kind}")
    await fill(page, "Body", "Made in the console.")
    shown = await audience_settled(page)

    await fill(page, "Customer id", customer(shop))
    await page.get_by_label("Screen").select_option(screen)
    await page.get_by_label("Customer id").press("Tab")
    host = page.locator("#preview-host")
    await expect(host.locator("[data-rendered]")).to_have_count(0)
    await expect(page.locator("#preview-host[data-rendered='1']")).to_have_count(1)
    widget = host.locator("[data-uplift]")  # the widget's shadow host; locators pierce it
    if screen == "banner":
        await expect(widget.locator("div.banner")).to_contain_text(f"Title for {kind}")
    else:
        await expect(widget.locator("button[data-uplift-cta]")).to_have_attribute(
            "title", f"Title for {kind}"
        )
    await expect(page.locator("#preview-gates table")).to_be_visible()

    await page.get_by_role("button", name="Save offer").click()
    await expect(page.get_by_role("status").first).to_contain_text(f"Saved Console {kind}")
    stored = api(shop, "GET", f"/api/v1/admin/offers/offer_console_{kind}")
    assert stored["kind"] == kind
    assert stored["status"] == "draft"
    assert stored["targeting"] == {"all": [{"plan": {"in": list(_plans(kind))}}]}
    assert stored["variants"][0]["copy"]["title"] == f"Title for {kind}"
    if lookup:
        assert stored["target_prices"] == [prices[key] for key in lookup.split(",")]
    counted = api(shop, "POST", "/api/v1/admin/offers/audience", {"offer": stored})
    assert counted["eligible"]["total"] == shown
    await assert_clean(watched, http_errors=(422,))  # the draft was incomplete while typed
    assert await serious_violations(page) == []  # (axe adds globals of its own)


def _plans(kind: str) -> tuple[str, ...]:
    return ("basic",) if kind != "retention" else ("basic", "pro")


async def test_the_rule_builder_nests_all_any_and_not_and_shows_the_servers_own_message(
    shop: Shop, open_page: Open
) -> None:
    """all(plan basic, not any(usage ≥ 95 %, tenure ≥ 400 days)) built with the buttons; a
    percent of 0 shows the server's message and marks that field invalid until it is fixed."""
    watched = await signed_in(open_page, shop, "#/offers/new/upgrade")
    page = watched.page
    await fill(page, "Name", "Nested rules")
    await fill(page, "Id (optional)", "offer_console_nested")
    await fill(page, "Stripe prices", shop.prices["pro_monthly"])
    await fill(page, "Title", "Nested")
    await add_rule(page, "Plan is")
    await fill(page, "Plans", "basic")
    await add_rule(page, "Group of rules")
    inner = page.get_by_role("group", name="Group of rules")
    await inner.get_by_label("Not (customers who do not match)").check()
    await add_rule(inner, "Usage near a limit")
    await inner.get_by_label("Metric").fill("storage_gb")
    await inner.get_by_label("At least % of the limit").fill("0")
    alert = page.get_by_role("alert")
    await expect(alert).to_contain_text("at_least_percent")
    invalid = inner.get_by_label("At least % of the limit")
    await expect(invalid).to_have_attribute("aria-invalid", "true")
    await invalid.fill("95")
    await expect(alert).to_have_text("")
    await expect(invalid).not_to_have_attribute("aria-invalid", "true")
    await add_rule(inner, "Customer for at least")
    await inner.get_by_label("Days since signup").fill("400")
    await audience_settled(page)
    await page.get_by_role("button", name="Save offer").click()
    await expect(page.get_by_role("status").first).to_contain_text("Saved Nested rules")
    stored = api(shop, "GET", "/api/v1/admin/offers/offer_console_nested")
    assert stored["targeting"] == {
        "all": [
            {"plan": {"in": ["basic"]}},
            {
                "not": {
                    "any": [
                        {"usage": {"metric": "storage_gb", "at_least_percent": 95}},
                        {"tenure": {"min_days": 400}},
                    ]
                }
            },
        ]
    }
    await assert_clean(watched, http_errors=(422,))


async def test_event_counts_are_built_saved_and_read_back_unchanged(
    shop: Shop, open_page: Open
) -> None:
    """An `event` rule and a counted `feature_hit` made with the builder are stored as typed,
    and the editor opened again shows them so that saving changes nothing."""
    watched = await signed_in(open_page, shop, "#/offers/new/upgrade")
    page = watched.page
    await fill(page, "Name", "Power users")
    await fill(page, "Id (optional)", "offer_console_events")
    await fill(page, "Stripe prices", shop.prices["pro_monthly"])
    await fill(page, "Title", "You use it a lot")
    await add_rule(page, "Product event count")
    await fill(page, "Event", "login")
    await fill(page, "At least times", "20")
    await add_rule(page, "Hit a gated feature")
    feature = page.get_by_role("group", name="Hit a gated feature")
    await feature.get_by_label("Feature").fill("sso")
    await feature.get_by_label("At least times").fill("3")
    await audience_settled(page)
    await page.get_by_role("button", name="Save offer").click()
    await expect(page.get_by_role("status").first).to_contain_text("Saved Power users")
    targeting = {
        "all": [
            {"event": {"name": "login", "at_least": 20, "within_days": 30}},
            {"feature_hit": {"feature": "sso", "within_days": 7, "at_least": 3}},
        ]
    }
    assert api(shop, "GET", "/api/v1/admin/offers/offer_console_events")["targeting"] == targeting
    await page.goto(page.url.split("#", 1)[0] + "#/offers/offer_console_events")
    await expect(page.get_by_role("heading", name="Edit Power users")).to_be_visible()
    await expect(page.get_by_role("textbox", name="Event", exact=True)).to_have_value("login")
    await audience_settled(page)
    await page.get_by_role("button", name="Save offer").click()
    await expect(page.get_by_role("status").first).to_contain_text("Saved Power users")
    assert api(shop, "GET", "/api/v1/admin/offers/offer_console_events")["targeting"] == targeting
    await assert_clean(watched, http_errors=(422,))  # the preview of a rule not yet named


async def test_an_active_offers_audience_in_the_list_and_the_editor_is_the_apis(
    shop: Shop, open_page: Open
) -> None:
    """The demo's upgrade offer is active: the list's audience cell and the editor's count are
    both GET /api/v1/admin/offers/{id}/audience's eligible total."""
    expected = api(shop, "GET", "/api/v1/admin/offers/offer_basic_to_pro/audience")
    watched = await signed_in(open_page, shop, "#/offers")
    page = watched.page
    row = page.locator("tr[data-offer='offer_basic_to_pro']")
    await expect(row.locator("td[data-audience]")).to_have_attribute(
        "data-audience", str(expected["eligible"]["total"])
    )
    await row.get_by_role("link").click()
    await expect(page.get_by_role("heading", name="Edit Basic to Pro")).to_be_visible()
    assert await audience_settled(page) == expected["eligible"]["total"]
    await assert_clean(watched)
    assert await serious_violations(page) == []


async def test_an_offer_is_cloned_and_then_paused_from_the_list(
    shop: Shop, open_page: Open
) -> None:
    """Clone opens the copy (a draft) in the editor; back in the list, Pause on the original
    pauses it for the API too, and Activate brings it back."""
    watched = await signed_in(open_page, shop, "#/offers")
    page = watched.page
    row = page.locator("tr[data-offer='offer_pro_annual']")
    await row.get_by_role("button", name="Clone").click()
    await expect(page.get_by_role("heading", name="Edit Pro monthly to annual")).to_be_visible()
    clone_id = page.url.rsplit("/", 1)[-1]
    assert clone_id != "offer_pro_annual"
    copy = api(shop, "GET", f"/api/v1/admin/offers/{clone_id}")
    assert (copy["status"], copy["kind"]) == ("draft", "interval_switch")

    await page.get_by_role("link", name="All offers").click()
    await row.get_by_role("button", name="Pause").click()
    await expect(row.locator("td[data-status]")).to_have_text("paused")
    assert api(shop, "GET", "/api/v1/admin/offers/offer_pro_annual")["status"] == "paused"
    await row.get_by_role("button", name="Activate").click()
    await expect(row.locator("td[data-status]")).to_have_text("active")
    await assert_clean(watched)
    assert await serious_violations(page) == []


async def test_a_customer_is_found_and_told_why_an_offer_is_not_shown(
    shop: Shop, open_page: Open
) -> None:
    """Search by id, open the customer, and explain the trial offer (Pro customers only): the
    first failing gate is the plan, with the fact it read."""
    who = customer(shop)
    explained = api(
        shop, "GET", f"/api/v1/admin/offers/offer_enterprise_trial/explain?customer={who}"
    )
    failing = next(g for g in explained["gates"] if not g["passed"])
    watched = await signed_in(open_page, shop, "#/customers")
    page = watched.page
    await page.get_by_label("Find a customer").fill(who)
    await page.get_by_role("button", name="Search").click()
    await page.get_by_role("link", name=who, exact=True).click()
    await expect(page.get_by_role("heading", name=who, exact=True)).to_be_visible()
    await expect(page.get_by_role("table", name="Usage")).to_contain_text("storage_gb")
    await page.get_by_label("Offer to explain").select_option("offer_enterprise_trial")
    await page.get_by_role("button", name="Explain").click()
    result = page.locator("#why-result")
    await expect(result.locator("[data-eligible='false']")).to_contain_text(failing["detail"])
    await expect(
        result.locator(f"tr[data-gate='{failing['gate']}'][data-passed='false']")
    ).to_have_count(1)
    await assert_clean(watched)
    assert await serious_violations(page) == []


async def test_a_key_made_in_the_console_is_shown_once_and_refused_once_revoked(
    shop: Shop, open_page: Open
) -> None:
    watched = await signed_in(open_page, shop, "#/keys")
    page = watched.page
    await page.get_by_label("Name", exact=True).fill("console reader")
    await page.get_by_label("Role").select_option("read_only")
    await page.get_by_role("button", name="Create key").click()
    secret = page.locator("#new-key code.secret")
    await expect(secret).to_be_visible()
    key = await secret.text_content() or ""
    assert api(shop, "GET", "/api/v1/admin/offers?limit=1", key=key)["object"] == "list"
    row = page.locator("tr", has_text="console reader")
    await expect(row).to_contain_text("read only")
    await row.get_by_role("button", name="Revoke console reader").click()
    await expect(row.locator("[data-revoked='yes']")).to_have_count(1)
    assert status_of(shop, "/api/v1/admin/offers", key=key) == 401
    await page.get_by_role("link", name="Offers").click()
    await page.get_by_role("link", name="Keys").click()
    await expect(page.locator("tr", has_text="console reader")).to_be_visible()
    assert key not in (await page.content())  # shown once: gone once the admin moves on
    await assert_clean(watched)
    assert await serious_violations(page) == []


async def test_the_modal_preview_shows_the_quote_stripe_would_bill_and_never_charges(
    shop: Shop, open_page: Open
) -> None:
    """An upgrade draft previewed as the modal: the real widget's dialog shows the draft's
    title and the preview's quote, computed as the widget's own quote (Stripe read, not
    stored); Confirm is refused as a preview, and no upgrade is recorded."""
    on_basic = [
        o.customer
        for o in shop.report.outcomes
        if (api(shop, "GET", f"/api/v1/admin/customers/{o.customer}")["plan"] or {}).get("id")
        == "basic"
    ]
    assert on_basic, [(o.customer, o.role, o.result) for o in shop.report.outcomes]
    who = on_basic[0]
    before = api(shop, "GET", "/api/v1/admin/upgrades?limit=100")["data"]
    watched = await signed_in(open_page, shop, "#/offers/new/upgrade")
    page = watched.page
    await fill(page, "Name", "Modal preview")
    await fill(page, "Stripe prices", shop.prices["pro_monthly"])
    await fill(page, "Title", "Move to Pro")
    await audience_settled(page)
    draft = {
        "offer": {
            "name": "Modal preview", "kind": "upgrade", "placements": ["upgrade_banner"],
            "target_prices": [shop.prices["pro_monthly"]],
            "variants": [{"key": "a", "copy": {"title": "Move to Pro"}}],
        },
        "customer": who,
    }  # fmt: skip
    answer = api(shop, "POST", "/api/v1/admin/offers/preview", draft)
    expected = answer["quote"]
    assert expected is not None, answer["quote_unavailable"]
    assert (expected["quote_id"], expected["currency"]) == ("qt_preview", "usd")
    assert expected["amount_due_now"] > 0
    await fill(page, "Customer id", who)
    await page.get_by_label("Screen").select_option("modal")
    await page.get_by_role("button", name="Open preview").click()
    dialog = page.get_by_role("dialog")
    await expect(dialog.get_by_role("heading", name="Move to Pro")).to_be_visible()
    due = dialog.locator("[data-uplift-due]")
    await expect(due).to_have_text(expected["amount_due_now_display"])
    await dialog.get_by_role("button", name="Confirm and pay").click()
    await expect(dialog).to_contain_text("This is a preview")
    assert api(shop, "GET", "/api/v1/admin/upgrades?limit=100")["data"] == before
    await assert_clean(watched, http_errors=(422,))


@pytest.mark.parametrize(
    ("kind", "lookup", "heading"),
    [
        ("post_order", "advanced_reports_monthly", "Reports, for this order?"),
        ("retention", "", "Before you go"),
    ],
)
async def test_the_dialog_screens_preview_as_the_real_widget_draws_them(
    shop: Shop, open_page: Open, kind: str, lookup: str, heading: str
) -> None:
    """The post-order popup and the retention screen: Open preview shows the real widget's
    dialog with the draft's copy; choosing in it buys nothing."""
    before = api(shop, "GET", "/api/v1/admin/upgrades?limit=100")["data"]
    watched = await signed_in(open_page, shop, f"#/offers/new/{kind}")
    page = watched.page
    await fill(page, "Name", f"Dialog {kind}")
    if lookup:
        await fill(page, "Stripe prices", shop.prices[lookup])
    else:
        await fill(page, "Discount, percent off", "20")
    await fill(page, "Title", heading)
    await audience_settled(page)
    await fill(page, "Customer id", customer(shop))
    await page.get_by_label("Screen").select_option(kind)
    await page.keyboard.press("Tab")
    await expect(page.locator("#preview-gates table")).to_be_visible()
    await page.get_by_role("button", name="Open preview").click()
    dialog = page.get_by_role("dialog")
    await expect(dialog).to_contain_text(heading)
    await page.keyboard.press("Escape")
    await expect(dialog).to_have_count(0)
    assert api(shop, "GET", "/api/v1/admin/upgrades?limit=100")["data"] == before
    await assert_clean(watched, http_errors=(422,))


async def test_the_editor_works_from_the_keyboard_and_its_count_follows_the_rules(
    shop: Shop, open_page: Open
) -> None:
    """Tab, type, Enter: a rule is added and filled without the mouse, and the audience shown
    changes to what the API counts for the rules as they now stand."""
    watched = await signed_in(open_page, shop, "#/offers/new/upgrade")
    page = watched.page
    await fill(page, "Name", "Keyboard")
    await fill(page, "Stripe prices", shop.prices["pro_monthly"])
    await fill(page, "Title", "Typed")
    everyone = await audience_settled(page)
    rules = page.get_by_role("group", name="Targeting rules")
    await rules.locator(":scope > .group-add select").focus()
    await page.keyboard.press("End")  # the last kind of rule…
    await page.keyboard.press("Home")  # …and back to the first: "Plan is"
    await page.keyboard.press("Tab")
    await expect(rules.get_by_role("button", name="Add rule")).to_be_focused()
    await page.keyboard.press("Enter")
    plans = rules.get_by_label("Plans")
    await plans.focus()
    await page.keyboard.type("enterprise")
    await expect(page.locator("#audience[data-eligible]")).to_have_count(1)
    body = {
        "offer": {
            "name": "Keyboard", "kind": "upgrade", "placements": ["upgrade_banner"],
            "target_prices": [shop.prices["pro_monthly"]],
            "targeting": {"all": [{"plan": {"in": ["enterprise"]}}]},
            "variants": [{"key": "a", "copy": {"title": "Typed"}}],
        }
    }  # fmt: skip
    counted = api(shop, "POST", "/api/v1/admin/offers/audience", body)["eligible"]["total"]
    await expect(page.locator("#audience")).to_have_attribute("data-eligible", str(counted))
    assert counted != everyone
    await assert_clean(watched, http_errors=(422,))
