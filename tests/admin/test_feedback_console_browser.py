"""The console's newer screens in real Chromium against a real `uplift serve` holding a simulated
shop (tests/admin/conftest.py, with outbound deliveries to loopback allowed): an offer's reasons,
a survey's question and the lifecycle email edited, saved and read back, a 422 shown at its
field; what customers answered (feedback) listed with their text as text, filtered, paged,
reached from an offer and a customer, and downloaded as CSV; outbound webhook endpoints added
(the secret shown once), delivered to a real receiver, retried, disabled, rotated and deleted;
the lifecycle emails' suppressions listed. Each screen axe-clean under the server's strict CSP.

Answers are made as the widget makes them: `POST /api/v1/widget/events` with a customer token."""

from __future__ import annotations

import asyncio
import csv
import io
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import Page, expect

from plugin.auth import issue_customer_token
from plugin.clock import SystemClock
from plugin.outbound.events import TYPES
from tests.admin.conftest import Shop
from tests.admin.test_console_browser import (
    Open,
    add_rule,
    api,
    assert_clean,
    audience_settled,
    customer,
    fill,
    serious_violations,
    signed_in,
)
from tests.outbound.receiver import Receiver, receiver
from tests.support import WIDGET_SECRET

pytestmark = [pytest.mark.browser, pytest.mark.e2e]

WIDGET = Path(__file__).resolve().parents[2] / "static" / "widget" / "uplift.js"
# Markup a customer might type: shown as these characters, never parsed.
HOSTILE = '<img src=x onerror="alert(1)"><b>bold</b> & =HYPERLINK("x")'
CHOICES = [{"key": "video", "label": "Video"}, {"key": "backups", "label": "Backups"}]
REASONS = [{"key": "too_busy", "label": "Too busy"}, {"key": "price", "label": "Too expensive"}]
DECLINERS = 5  # synthetic customers who decline, each DECLINES times: more than a page (50)
DECLINES = 11


@pytest.fixture(scope="module")
def shop_settings() -> dict[str, str]:
    """The receiver of tests/outbound/receiver.py listens on loopback."""
    return {"outbound_allow_private_networks": "true"}


def survey_offer(offer_id: str, **survey: Any) -> dict[str, Any]:
    return {
        "id": offer_id, "name": f"Survey {offer_id}", "kind": "survey", "status": "active",
        "placements": ["survey_banner"], "reasons": REASONS,
        "survey": {"question": f"What would you store, {offer_id}?", **survey},
        "variants": [{"key": "a", "copy": {"title": "Quick question", "cta": "Send",
                                            "decline": "Not now"}}],
    }  # fmt: skip


@pytest.fixture(scope="module")
def surveys(shop: Shop) -> dict[str, dict[str, Any]]:
    """Two active survey offers (a choice with a comment, a 1-5 scale), made once."""
    made = {
        "choice": api(shop, "POST", "/api/v1/admin/offers",
                      survey_offer("offer_fb_choice", choices=CHOICES, comment=True)),
        "scale": api(shop, "POST", "/api/v1/admin/offers",
                     survey_offer("offer_fb_scale", type="scale")),
    }  # fmt: skip
    return made


def widget_event(shop: Shop, who: str, body: dict[str, Any]) -> None:
    """An event as the widget sends it, for customer `who`."""
    token = issue_customer_token(secret=WIDGET_SECRET, customer_id=who, now=SystemClock().now())
    response = httpx.post(
        shop.url + "/api/v1/widget/events",
        json=body,
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )
    assert response.status_code == 201, response.text


@pytest.fixture(scope="module")
def answers(shop: Shop, surveys: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """Survey answers of two of the shop's customers (one with hostile text) and a page and
    more of declines with a reason from synthetic customers; the API's list of them all."""
    choice, scale = surveys["choice"]["id"], surveys["scale"]["id"]
    widget_event(shop, customer(shop, 0), {
        "offer_id": choice, "variant": "a", "type": "answer",
        "answer": {"choice": "backups", "text": HOSTILE},
    })  # fmt: skip
    widget_event(shop, customer(shop, 1), {
        "offer_id": scale, "variant": "a", "type": "answer", "answer": {"score": 4},
    })  # fmt: skip
    for n in range(DECLINERS * DECLINES):
        widget_event(shop, f"cus_decliner_{n % DECLINERS}", {
            "offer_id": choice, "variant": "a", "type": "decline",
            "reason": {"key": "price", "text": f"decline {n}"},
        })  # fmt: skip
    listed: list[dict[str, Any]] = api(shop, "GET", "/api/v1/admin/feedback?limit=500")["data"]
    assert len(listed) == 2 + DECLINERS * DECLINES
    return listed


# The globals axe adds, counted with those the page had before its scripts (tests/browser.py
# WATCH), so that `assert_clean` still sees exactly the globals the page itself gained.
FORGET_AXE = """(before) => Object.getOwnPropertyNames(window)
    .filter((name) => !before.includes(name))
    .forEach((name) => window.__before.push(name))"""


async def axe_serious(page: Page) -> list[Any]:
    """`serious_violations`, at any point of a test: axe's own globals are not the page's."""
    before = await page.evaluate("Object.getOwnPropertyNames(window)")
    found = await serious_violations(page)
    await page.evaluate(FORGET_AXE, before)
    return found


async def test_feedback_is_listed_as_typed_filtered_paged_and_downloaded(
    shop: Shop, open_page: Open, answers: list[dict[str, Any]]
) -> None:
    """The newest 50 answers, then the rest with Load more; the customer's markup shown as the
    characters it is; the kind filter keeps the survey answers (a choice's label, a score);
    Download CSV saves every row the API has, its formula cell neutralised."""
    watched = await signed_in(open_page, shop, "#/feedback")
    page = watched.page
    body = page.locator("#feedback-body")
    await expect(body.locator("tr[data-feedback]")).to_have_count(50)
    await page.get_by_role("button", name="Load more").click()
    await expect(body.locator("tr[data-feedback]")).to_have_count(len(answers))
    await expect(page.get_by_role("button", name="Load more")).to_have_count(0)
    typed = next(a for a in answers if a["text"] == HOSTILE)
    row = body.locator(f"tr[data-feedback='{typed['id']}']")
    await expect(row.locator("td[data-text]")).to_have_text(HOSTILE)
    await expect(row.locator("td[data-answer]")).to_have_text("Backups")
    assert await body.locator("img, b").count() == 0  # text nodes only
    assert await axe_serious(page) == []

    await page.get_by_label("Kind", exact=True).select_option("survey")
    await page.get_by_role("button", name="Show").click()
    await expect(body.locator("tr[data-feedback]")).to_have_count(2)
    await expect(body.locator("tr[data-kind='survey'] td[data-answer]")).to_have_text(
        ["4 of 5", "Backups"]
    )
    assert "kind=survey" in page.url  # the filters are in the address: back and forward work

    await page.get_by_label("Kind", exact=True).select_option("")
    await page.get_by_role("button", name="Show").click()
    await expect(body.locator("tr[data-feedback]")).to_have_count(50)
    async with page.expect_download() as waiting:
        await page.get_by_role("button", name="Download CSV").click()
    download = await waiting.value
    assert download.suggested_filename == "feedback.csv"
    saved = await download.path()
    rows = list(csv.DictReader(io.StringIO(saved.read_text(encoding="utf-8"))))
    assert [r["id"] for r in rows] == [a["id"] for a in answers]
    assert next(r for r in rows if r["id"] == typed["id"])["text"].startswith("<img")
    await assert_clean(watched)


async def test_feedback_is_reached_from_an_offer_and_from_a_customer(
    shop: Shop, open_page: Open, answers: list[dict[str, Any]]
) -> None:
    """The offer's page links to its answers only; the customer's page to theirs only."""
    watched = await signed_in(open_page, shop, "#/offers/offer_fb_scale")
    page = watched.page
    await expect(page.get_by_role("heading", name="Edit Survey offer_fb_scale")).to_be_visible()
    await page.get_by_role("link", name="Feedback on this offer").click()
    body = page.locator("#feedback-body")
    await expect(body.locator("tr[data-feedback]")).to_have_count(1)
    await expect(body.locator("td[data-answer]")).to_have_text("4 of 5")
    await expect(page.get_by_label("Offer", exact=True)).to_have_value("offer_fb_scale")

    who = customer(shop, 0)
    await page.goto(f"{shop.url}/admin#/customers/{who}")
    await expect(page.get_by_role("heading", name=who, exact=True)).to_be_visible()
    await page.get_by_role("link", name="Feedback from this customer").click()
    await expect(page.get_by_label("Customer", exact=True)).to_have_value(who)
    mine = [a["id"] for a in answers if a["customer_id"] == who]
    await expect(body.locator("tr[data-feedback]")).to_have_count(len(mine))
    await expect(body.locator("td[data-text]")).to_have_text([HOSTILE])
    await assert_clean(watched)


async def field_error(page: Page, label: str, *, within: str = "#editor-form") -> str:
    """The message shown beside the control labelled `label`, once it is marked invalid."""
    control = page.locator(within).get_by_label(label, exact=True).first
    await expect(control).to_have_attribute("aria-invalid", "true")
    note = await control.get_attribute("aria-errormessage")
    message = page.locator(f"#{note}")
    await expect(message).to_be_visible()
    return await message.text_content() or ""


async def test_reasons_a_survey_and_an_email_are_edited_saved_and_read_back(
    shop: Shop, open_page: Open
) -> None:
    """A survey built in the form (a question, two choices, a comment, shown in the modal,
    for those who gave an answer to another offer), a reason, an email; a bad reason key and
    an undefined email variable are the server's 422s, shown beside their fields until fixed.
    Saved, reloaded: the form shows what was stored; unticking the email and removing the
    reason save as none."""
    watched = await signed_in(open_page, shop, "#/offers/new/survey")
    page = watched.page
    await expect(page.get_by_role("heading", name="New offer")).to_be_visible()
    await fill(page, "Name", "Console survey")
    await fill(page, "Id (optional)", "offer_console_survey")
    await fill(page, "Title", "One question")
    await fill(page, "Question", "What would you store with more room?")
    for n, choice in enumerate(CHOICES, 1):
        group = page.get_by_role("group", name=f"Choice {n}")
        await group.get_by_label("Choice key").fill(choice["key"])
        await group.get_by_label("Choice label").fill(choice["label"])
    await page.get_by_label("Ask for a comment").check()
    await add_rule(page, "Answered an offer")
    await fill(page, "Answered offer", "offer_fb_choice")
    await fill(page, "With the answer", "price")
    await page.get_by_label("Shown as").select_option("modal")
    screen = page.get_by_label("Screen")
    await expect(screen).to_have_value("modal")  # the preview shows it as it will be shown
    await expect(screen.locator("option")).to_have_text(["Banner", "Modal"])

    await page.get_by_role("button", name="Add a reason").click()
    reason = page.get_by_role("group", name="Reason 1")
    await reason.get_by_label("Reason key").fill("too busy!")
    await reason.get_by_label("Reason label").fill("Too busy")
    await expect(page.get_by_role("alert").first).to_contain_text("reasons[0].key")
    assert await field_error(page, "Reason key") != ""
    await reason.get_by_label("Reason key").fill("too_busy")
    await expect(reason.get_by_label("Reason key")).not_to_have_attribute("aria-invalid", "true")
    await expect(page.locator("#editor-form .field-error")).to_have_count(0)

    await page.get_by_label("Send an email").check()
    await fill(page, "Email subject", "Room for {{ nope }}")
    await fill(page, "Email text", "Hello {{ name }}, see {{ link }}")
    await fill(page, "Email link URL", "https://app.example.com/storage")
    assert "nope" in await field_error(page, "Email subject")
    await fill(page, "Email subject", "More room for {{ name }}")
    await audience_settled(page)
    await page.get_by_role("button", name="Save offer").click()
    await expect(page.get_by_role("status").first).to_contain_text("Saved Console survey")

    stored = api(shop, "GET", "/api/v1/admin/offers/offer_console_survey")
    assert stored["survey"] == {
        "question": "What would you store with more room?", "type": "choice",
        "choices": CHOICES, "comment": True, "display": "modal",
    }  # fmt: skip
    assert stored["reasons"] == [{"key": "too_busy", "label": "Too busy"}]
    assert stored["email"] == {
        "subject": "More room for {{ name }}", "text": "Hello {{ name }}, see {{ link }}",
        "html": "", "link_url": "https://app.example.com/storage",
    }  # fmt: skip
    assert stored["target_prices"] == []
    answered = {"offer": "offer_fb_choice", "answer": "price", "within_days": 30}
    assert stored["targeting"] == {"all": [{"feedback": answered}]}

    await page.reload()
    await expect(page.get_by_role("heading", name="Edit Console survey")).to_be_visible()
    await expect(page.get_by_label("Question")).to_have_value(stored["survey"]["question"])
    await expect(
        page.get_by_role("group", name="Choice 2").get_by_label("Choice label")
    ).to_have_value("Backups")
    await expect(page.get_by_label("Ask for a comment")).to_be_checked()
    await expect(page.get_by_label("Shown as")).to_have_value("modal")
    await expect(
        page.get_by_role("group", name="Reason 1").get_by_label("Reason key")
    ).to_have_value("too_busy")
    await expect(page.get_by_label("Email subject")).to_have_value("More room for {{ name }}")
    await expect(page.get_by_label("With the answer")).to_have_value("price")
    assert await axe_serious(page) == []

    await page.get_by_role("button", name="Remove reason 1").click()
    await page.get_by_label("Send an email").uncheck()
    await expect(page.get_by_label("Email subject")).to_have_count(0)
    await audience_settled(page)
    await page.get_by_role("button", name="Save offer").click()
    await expect(page.get_by_role("status").first).to_contain_text("Saved Console survey")
    stored = api(shop, "GET", "/api/v1/admin/offers/offer_console_survey")
    assert (stored["reasons"], stored["email"]) == ([], None)
    assert stored["survey"]["display"] == "modal"
    await assert_clean(watched, http_errors=(422,))


async def test_a_survey_previews_with_its_question(
    shop: Shop, open_page: Open, surveys: dict[str, dict[str, Any]]
) -> None:
    """The preview pane draws a survey offer (shown as a banner) with the real widget."""
    if "survey" not in WIDGET.read_text(encoding="utf-8"):
        pytest.skip(
            "the built static/widget/uplift.js does not draw surveys yet (the widget's survey "
            "screen is being added); the console already hands it the survey offer"
        )
    offer = surveys["choice"]
    watched = await signed_in(open_page, shop, f"#/offers/{offer['id']}")
    page = watched.page
    await audience_settled(page)
    await expect(page.get_by_label("Screen")).to_have_value("banner")
    await fill(page, "Customer id", customer(shop, 2))
    await page.get_by_label("Customer id").press("Tab")
    await expect(page.locator("#preview-host")).to_contain_text(offer["survey"]["question"])
    await assert_clean(watched)


def deliveries_of(shop: Shop, endpoint_id: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = api(
        shop, "GET", f"/api/v1/admin/webhook-endpoints/{endpoint_id}/deliveries"
    )["data"]
    return found


async def settled(shop: Shop, endpoint_id: str, event_id: str, attempts: int) -> dict[str, Any]:
    """The delivery of `event_id` once the server has recorded `attempts` attempts of it (the
    receiver hears a request before the server writes its outcome)."""
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        for delivery in deliveries_of(shop, endpoint_id):
            if delivery["event_id"] == event_id and len(delivery["attempts"]) >= attempts:
                return delivery
        await asyncio.sleep(0.1)
    raise TimeoutError(f"{event_id}: not {attempts} attempts after 15 s")


@pytest.fixture
def hooks() -> Iterator[Receiver]:
    with receiver() as got:
        yield got


async def test_an_outbound_endpoint_is_added_delivered_retried_disabled_rotated_and_deleted(
    shop: Shop, open_page: Open, surveys: dict[str, dict[str, Any]], hooks: Receiver
) -> None:
    """A URL the server refuses shows its 422 beside the field. A real receiver's URL with one
    event type is added: its secret shown once, with a copy button. A dismissal reaches the
    receiver signed with that secret; its first attempt (a 500) and the retry (a 200) show in
    the endpoint's deliveries. Disable and enable, rotate (a new secret, shown once), delete
    (asked first): each as the API then has it."""
    watched = await signed_in(open_page, shop, "#/webhooks")
    page = watched.page
    await page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    await expect(page.get_by_role("heading", name="Outbound webhooks", level=1)).to_be_visible()
    boxes = page.locator("#endpoint-events input[type='checkbox']")
    assert await boxes.evaluate_all("(all) => all.map((box) => box.value)") == ["*", *TYPES]

    await page.get_by_label("URL", exact=True).fill("https://user:pw@hooks.example.com/uplift")
    await page.get_by_role("button", name="Add endpoint").click()
    refused = await field_error(page, "URL", within="#endpoint-form")
    assert refused.startswith("Credentials do not belong in the URL")
    assert api(shop, "GET", "/api/v1/admin/webhook-endpoints")["data"] == []

    await page.get_by_label("URL", exact=True).fill(hooks.url)
    await page.get_by_label("offer.dismissed").check()
    await expect(page.get_by_label("Every event, including types added later")).not_to_be_checked()
    await page.get_by_role("button", name="Add endpoint").click()
    shown = page.locator("#endpoint-secret")
    await expect(shown).to_contain_text("you won't see it again")
    secret = await shown.locator("code.secret").text_content() or ""
    assert secret.startswith("whsec_")
    await expect(page.get_by_label("URL", exact=True)).not_to_have_attribute("aria-invalid", "true")
    await shown.get_by_role("button", name="Copy secret").click()
    await expect(shown.get_by_role("status")).to_have_text("Copied.")
    assert await page.evaluate("navigator.clipboard.readText()") == secret
    [endpoint] = api(shop, "GET", "/api/v1/admin/webhook-endpoints")["data"]
    assert (endpoint["url"], endpoint["events"]) == (hooks.url, ["offer.dismissed"])
    row = page.locator(f"tr[data-endpoint='{endpoint['id']}']")
    await expect(row).to_contain_text("offer.dismissed")

    hooks.statuses.append(500)  # the first attempt fails
    widget_event(shop, "cus_webhook_probe", {
        "offer_id": surveys["choice"]["id"], "variant": "a", "type": "dismiss",
    })  # fmt: skip
    [first] = await hooks.arrived(1)
    event_id = first.headers["webhook-id"]
    await settled(shop, endpoint["id"], event_id, 1)
    await row.get_by_role("button", name="Deliveries").click()
    delivery = page.locator("#deliveries-body tr[data-delivery]", has_text=event_id)
    await expect(delivery).to_have_attribute("data-status", "pending")
    await expect(delivery.locator("li[data-status-code='500']")).to_have_count(1)
    await delivery.get_by_role("button", name="Retry now").click()
    await hooks.arrived(2)
    assert (await settled(shop, endpoint["id"], event_id, 2))["status"] == "succeeded"
    await page.get_by_role("button", name="Refresh").click()
    await expect(delivery).to_have_attribute("data-status", "succeeded")
    await expect(delivery.locator("li[data-status-code='200']")).to_have_count(1)
    await expect(delivery.get_by_role("button", name="Retry now")).to_have_count(0)
    verified = hooks.verified(secret)  # signed with the secret the console showed
    assert [body["type"] for _, body in verified] == ["offer.dismissed"] * 2
    assert {webhook_id for webhook_id, _ in verified} == {event_id}
    assert await axe_serious(page) == []

    await row.get_by_role("button", name="Disable").click()
    await expect(row.locator("[data-enabled='false']")).to_have_count(1)
    assert api(shop, "GET", f"/api/v1/admin/webhook-endpoints/{endpoint['id']}")["enabled"] is False
    await row.get_by_role("button", name="Enable").click()
    await expect(row.locator("[data-enabled='true']")).to_have_count(1)

    await row.get_by_role("button", name="Rotate secret").click()
    await expect(shown.locator("code.secret")).not_to_have_text(secret)
    await expect(shown).to_contain_text("you won't see it again")
    rotated = await shown.locator("code.secret").text_content() or ""
    assert rotated.startswith("whsec_")

    await row.get_by_role("button", name="Delete").click()
    await expect(row).to_contain_text("Delete this endpoint?")
    await expect(row.get_by_role("button", name="Yes, delete it")).to_be_focused()
    await row.get_by_role("button", name="Yes, delete it").click()
    await expect(row).to_have_count(0)
    assert api(shop, "GET", "/api/v1/admin/webhook-endpoints")["data"] == []
    await page.get_by_role("link", name="Feedback", exact=True).click()
    await page.get_by_role("link", name="Outbound webhooks").click()
    await expect(page.locator("#endpoints-body")).to_contain_text("No endpoints yet.")
    content = await page.content()
    assert secret not in content  # shown once: gone once the admin moved on
    assert rotated not in content
    await assert_clean(watched, http_errors=(422,))


async def test_email_suppressions_are_listed(shop: Shop, open_page: Open) -> None:
    """A customer suppressed by an admin shows under "Customers who get no email"."""
    who = customer(shop, 3)
    api(shop, "PUT", f"/api/v1/admin/email/suppressions/{who}")
    watched = await signed_in(open_page, shop, "#/email")
    page = watched.page
    row = page.locator(f"#suppressions-body tr[data-suppressed='{who}']")
    await expect(row).to_contain_text("an admin")
    await expect(page.locator("#sends-body")).to_contain_text("No email decided yet.")
    assert await axe_serious(page) == []
    await assert_clean(watched)
