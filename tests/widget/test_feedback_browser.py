"""What the customer tells the widget, in real Chromium against a real `uplift serve`: why
they said no (an offer's reasons: the banner's dismiss, the modal's Cancel, post-order No, the
retention screen's downgrade), survey offers (a choice in a banner, a 1-5 scale in the modal),
and lifecycle email links (`?uplift_offer=`). What the server stored is read back through
`GET /api/v1/admin/feedback`. Fixtures: tests/widget/conftest.py."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from playwright.async_api import Page, Request, Response, expect

from plugin.email.links import sign_offer_link
from plugin.email.worker import link_key
from tests.browser import Watched
from tests.support import WIDGET_SECRET, Subscribed
from tests.widget.accessibility import wcag_violations
from tests.widget.shop import (
    XSS,
    Shop,
    ShopFactory,
    retention_offer,
    starter_below_basic,
    upgrade_offer,
)

pytestmark = [pytest.mark.browser, pytest.mark.e2e, pytest.mark.postgres_half]

OpenPage = Callable[[str], Awaitable[Watched]]
WHY = "Mind telling us why?"
REASONS = [
    {"key": "too_expensive", "label": "Too expensive"},
    {"key": "not_now", "label": "Not right now"},
    {"key": "hostile", "label": XSS},
]


def _sent_events(page: Page) -> list[dict[str, Any]]:
    """Every event body the page posts from now on, in order."""
    sent: list[dict[str, Any]] = []

    def record(request: Request) -> None:
        if request.method == "POST" and request.url.endswith("/api/v1/widget/events"):
            sent.append(request.post_data_json or {})

    page.on("request", record)
    return sent


def _event(kind: str) -> Callable[[Response], bool]:
    """Matches the server's answer to an event of type `kind`."""

    def matches(response: Response) -> bool:
        body = response.request.post_data_json or {}
        return response.url.endswith("/api/v1/widget/events") and body.get("type") == kind

    return matches


def _feedback(acme: Shop) -> list[dict[str, Any]]:
    """What the server stored, newest first: (kind, answer, label, score, text) each."""
    data: list[dict[str, Any]] = acme.admin("GET", "/api/v1/admin/feedback").json()["data"]
    return [{k: f[k] for k in ("kind", "answer", "label", "score", "text")} for f in data]


def _survey(**survey: Any) -> dict[str, Any]:
    question = survey.pop("question", "How are we doing?")
    return {
        "id": survey.pop("id", "offer_survey"), "name": "Survey", "kind": "survey",
        "status": "active", "placements": [survey.pop("placement", "storage_banner")],
        "survey": {"question": question, **survey},
        "variants": [{"key": "control", "copy": {"title": "Help us choose"}}],
    }  # fmt: skip


def _saying_no(world: Subscribed) -> list[dict[str, Any]]:
    upgrade = {**upgrade_offer(world), "reasons": REASONS}
    after_order = {**upgrade, "id": "offer_after_order", "placements": ["post_order"]}
    return [upgrade, after_order]


async def test_saying_no_asks_why_and_sends_one_event_whatever_the_answer(
    shop: ShopFactory, open_page: OpenPage
) -> None:
    """An offer with reasons asks why in place: the modal's Cancel, then Skip, sends one
    dismiss without a reason; the banner's dismiss, a reason and free text, then Send, sends
    one dismiss with them, which the feedback list holds; post-order No, then Escape, sends
    one decline without a reason. A hostile reason label is text. The "why?" step passes
    axe-core's WCAG A/AA checks."""
    acme = await shop(offers=_saying_no)
    watched = await open_page(acme.page_url("upgrade.html"))
    page = watched.page
    sent = _sent_events(page)
    banner = page.get_by_role("region", name="Running out of space?")
    await banner.get_by_role("button", name="Upgrade").click()
    dialog = page.get_by_role("dialog")
    await dialog.get_by_role("button", name="Cancel").click()
    await expect(dialog.get_by_role("group", name=WHY).get_by_role("radio")).to_have_count(3)
    async with page.expect_response(_event("dismiss")):
        await dialog.get_by_role("button", name="Skip").click()
    await expect(dialog).to_have_count(0)

    await banner.get_by_role("button", name="Dismiss").click()
    why = banner.get_by_role("group", name=WHY)
    await expect(why.get_by_role("radio", name="Too expensive")).to_be_focused()
    await expect(why.get_by_text(XSS, exact=True)).to_have_count(1)
    assert await page.locator("img").count() == 0
    send = banner.get_by_role("button", name="Send")
    await expect(send).to_be_disabled()
    text = banner.get_by_role("textbox", name="Anything to add? (optional)")
    await expect(text).to_have_attribute("maxlength", "500")
    await page.screenshot(path=acme.artifacts / "reason-banner.png")
    await watched.assert_clean()
    assert await wcag_violations(page) == []  # (axe adds globals: no assert_clean after this)
    await why.get_by_role("radio", name="Too expensive").check()
    await text.fill("Over budget this quarter")
    async with page.expect_response(_event("dismiss")) as stored:
        await send.click()
    assert (await stored.value).status == 201
    await expect(banner).to_have_count(0)
    offer = {"offer_id": "offer_basic_to_pro", "variant": "control", "type": "dismiss"}
    reason = {"key": "too_expensive", "text": "Over budget this quarter"}
    assert [e for e in sent if e["type"] == "dismiss"] == [offer, {**offer, "reason": reason}]
    assert _feedback(acme) == [
        {"kind": "dismiss", "answer": "too_expensive", "label": "Too expensive", "score": None,
         "text": "Over budget this quarter"},
    ]  # fmt: skip
    assert (watched.errors, watched.dialogs) == ([], [])

    watched = await open_page(acme.page_url("post_order.html"))
    page = watched.page
    sent = _sent_events(page)
    popup = page.get_by_role("dialog", name="Running out of space?")
    await popup.get_by_role("button", name="No thanks").click()
    await expect(popup.get_by_role("group", name=WHY)).to_be_visible()
    async with page.expect_response(_event("decline")):
        await page.keyboard.press("Escape")
    await expect(popup).to_have_count(0)
    await expect(page.get_by_role("list", name="Widget events")).to_contain_text("declined")
    [declined] = [e for e in sent if e["type"] != "impression"]
    assert declined == {"offer_id": "offer_after_order", "variant": "control", "type": "decline"}
    await watched.assert_clean()


def _retention_with_reasons(world: Subscribed) -> list[dict[str, Any]]:
    return [{**offer, "reasons": REASONS[:2]} for offer in retention_offer(world)]


async def test_the_retention_screen_asks_why_before_the_downgrade_is_confirmed(
    shop: ShopFactory, open_page: OpenPage
) -> None:
    """With a retention offer that has reasons, "Downgrade to Starter" asks why (optional)
    before "Confirm downgrade"; the decline carries the reason and `to_plan`, the feedback
    list holds the reason, and the host hears `choice: downgrade` with it. The step passes
    axe-core's WCAG A/AA checks."""
    acme = await shop(offers=_retention_with_reasons)
    starter_below_basic(acme)
    watched = await open_page(acme.page_url("downgrade.html"))
    page = watched.page
    await page.wait_for_function("window.Uplift && window.Uplift.version")
    await page.get_by_role("button", name="Downgrade to Starter").click()
    retention = page.get_by_role("dialog", name="Before you go")
    await retention.get_by_role("button", name="Downgrade to Starter").click()
    dialog = page.get_by_role("dialog", name="Downgrade to Starter?")
    why = dialog.get_by_role("group", name=WHY)
    await expect(why.get_by_role("radio", name="Too expensive")).to_be_focused()
    await expect(dialog.get_by_role("button", name="Keep my plan")).to_be_visible()
    await page.screenshot(path=acme.artifacts / "retention-reason.png")
    await watched.assert_clean()
    assert await wcag_violations(page) == []  # (axe adds globals: no assert_clean after this)
    await why.get_by_role("radio", name="Not right now").check()
    await dialog.get_by_role("textbox").fill("Back in spring")
    async with page.expect_response(_event("decline")) as declined:
        await dialog.get_by_role("button", name="Confirm downgrade").click()
    response = await declined.value
    assert response.status == 201
    body: dict[str, Any] = response.request.post_data_json or {}
    assert (body["reason"], body["to_plan"]) == (
        {"key": "not_now", "text": "Back in spring"}, "starter",
    )  # fmt: skip
    await expect(page.get_by_text("choice: downgrade")).to_be_visible()
    await expect(page.get_by_role("list", name="Widget events")).to_contain_text("not_now")
    [stored] = _feedback(acme)
    # The server records the retention screen's decline under its event type (`decline`);
    # the feedback API also knows a `downgrade` kind.
    assert stored["kind"] in ("decline", "downgrade")
    assert (stored["answer"], stored["text"]) == ("not_now", "Back in spring")
    assert (watched.errors, watched.dialogs) == ([], [])


CHOICE_QUESTION = f"What should we build next? {XSS}"


def _choice_survey(world: Subscribed) -> list[dict[str, Any]]:
    choices = [{"key": "reports", "label": "Scheduled reports"},
               {"key": "sso", "label": "Single sign-on"}]  # fmt: skip
    return [_survey(question=CHOICE_QUESTION, type="choice", choices=choices, comment=True)]


async def test_a_choice_survey_in_a_banner_is_answered_once(
    shop: ShopFactory, open_page: OpenPage
) -> None:
    """A choice survey draws its question (hostile text as text) in the banner, Submit
    disabled until a choice is made; the answer and its comment are stored and the banner
    says thanks. Answering again from another render (a second tab) is a 409 shown as the
    same thanks, with no error. The banner passes axe-core's WCAG A/AA checks."""
    acme = await shop(offers=_choice_survey)
    other = await open_page(acme.page_url("upgrade.html"))
    watched = await open_page(acme.page_url("upgrade.html"))
    page = watched.page
    banner = page.get_by_role("region", name="Help us choose")
    question = banner.get_by_role("group", name=CHOICE_QUESTION)
    await expect(question.get_by_role("radio")).to_have_count(2)
    assert await page.locator("img").count() == 0
    submit = banner.get_by_role("button", name="Submit")
    await expect(submit).to_be_disabled()
    await page.screenshot(path=acme.artifacts / "survey-banner.png")
    await watched.assert_clean()
    assert await wcag_violations(page) == []  # (axe adds globals: no assert_clean after this)
    await question.get_by_role("radio", name="Single sign-on").check()
    await banner.get_by_role("textbox", name="Anything to add? (optional)").fill("SAML please")
    async with page.expect_response(_event("answer")) as answered:
        await submit.click()
    assert (await answered.value).status == 201
    await expect(banner.get_by_role("status")).to_have_text("Thank you for your answer!")
    await expect(page.get_by_role("list", name="Widget events")).to_contain_text("answered")
    assert (watched.errors, watched.dialogs) == ([], [])

    page = other.page
    banner = page.get_by_role("region", name="Help us choose")
    await banner.get_by_role("radio", name="Scheduled reports").check()
    async with page.expect_response(_event("answer")) as again:
        await banner.get_by_role("button", name="Submit").click()
    assert (await again.value).status == 409
    await expect(banner.get_by_role("status")).to_have_text("Thank you for your answer!")
    await expect(page.get_by_role("list", name="Widget events")).not_to_contain_text("error")
    await other.assert_clean(http_errors=(409,))
    assert _feedback(acme) == [
        {"kind": "survey", "answer": "sso", "label": "Single sign-on", "score": None,
         "text": "SAML please"},
    ]  # fmt: skip


def _scale_survey(world: Subscribed) -> list[dict[str, Any]]:
    question = "How likely are you to recommend us?"
    return [_survey(question=question, type="scale", comment=True, display="modal")]


# A draft survey as the admin console previews it (the `offer` of POST
# /api/v1/admin/offers/preview), asking in a modal.
PREVIEWED: dict[str, Any] = {
    "object": "widget_offer", "offer_id": "offer_draft", "kind": "survey", "variant": "control",
    "copy": {"title": "Draft survey", "body": "", "cta": "Upgrade", "decline": "No thanks"},
    "prices": [], "discount": None, "trial_days": None, "ends_at": None,
    "countdown_seconds": None, "usage": None, "reasons": [],
    "survey": {"question": "Is the preview right?", "type": "scale", "choices": [],
               "comment": False, "display": "modal"},
}  # fmt: skip


async def test_a_scale_survey_in_the_modal_is_answered_with_the_keyboard_alone(
    shop: ShopFactory, open_page: OpenPage
) -> None:
    """A scale survey shown as a modal opens when mounted, focus on its first score: Space,
    the arrow keys, Tab into the comment and Enter on Submit answer it (score 4, stored with
    the comment), one impression and one answer sent; the modal passes axe-core's WCAG A/AA
    checks. `Uplift.preview(el, {screen: 'banner', offer})` draws a survey in `el` as a
    banner whatever its display, and `screen: 'modal'` as the dialog."""
    acme = await shop(offers=_scale_survey)
    watched = await open_page("about:blank")
    page = watched.page
    sent = _sent_events(page)
    await page.goto(acme.page_url("upgrade.html"))
    dialog = page.get_by_role("dialog", name="Help us choose")
    scale = dialog.get_by_role("group", name="How likely are you to recommend us?")
    await expect(scale).to_have_accessible_description("1 is the lowest, 5 the highest.")
    await expect(scale.get_by_role("radio", name="1", exact=True)).to_be_focused()
    await page.screenshot(path=acme.artifacts / "survey-modal.png")
    await watched.assert_clean()
    assert await wcag_violations(page) == []  # (axe adds globals: no assert_clean after this)
    for key in ["Space", "ArrowRight", "ArrowRight", "ArrowRight"]:
        await page.keyboard.press(key)
    await expect(scale.get_by_role("radio", name="4", exact=True)).to_be_checked()
    await page.keyboard.press("Tab")
    await expect(dialog.get_by_role("textbox")).to_be_focused()
    await page.keyboard.type("Faster exports")
    await page.keyboard.press("Tab")
    await expect(dialog.get_by_role("button", name="Submit")).to_be_focused()
    async with page.expect_response(_event("answer")):
        await page.keyboard.press("Enter")
    await expect(dialog.get_by_role("status")).to_have_text("Thank you for your answer!")
    await expect(dialog.get_by_role("button", name="Done")).to_be_focused()
    await page.keyboard.press("Enter")
    await expect(dialog).to_have_count(0)
    assert [e["type"] for e in sent] == ["impression", "answer"]
    assert sent[1]["answer"] == {"score": 4, "text": "Faster exports"}
    assert _feedback(acme) == [
        {"kind": "survey", "answer": None, "label": None, "score": 4, "text": "Faster exports"},
    ]

    await page.evaluate(
        """(offer) => {
            const el = document.createElement('div');
            el.id = 'preview';
            document.body.appendChild(el);
            window.Uplift.preview(el, {screen: 'banner', offer});
        }""",
        PREVIEWED,
    )
    preview = page.locator("#preview").get_by_role("region", name="Draft survey")
    await expect(preview.get_by_role("group", name="Is the preview right?")).to_be_visible()
    await expect(page.get_by_role("dialog")).to_have_count(0)
    await page.evaluate(
        "(offer) => window.Uplift.preview(document.getElementById('preview'), "
        "{screen: 'modal', offer})",
        PREVIEWED,
    )
    await expect(page.get_by_role("dialog", name="Draft survey")).to_be_visible()
    assert len(sent) == 2  # a preview sends nothing
    assert (watched.errors, watched.dialogs) == ([], [])


def _linked_offers(world: Subscribed) -> list[dict[str, Any]]:
    survey = _survey(id="offer_linked_survey", placement="email_only", type="scale")
    return [upgrade_offer(world), survey]


async def test_an_email_link_opens_its_offer_once_and_leaves_the_address_bar(
    shop: ShopFactory, open_page: OpenPage
) -> None:
    """A page opened from an email's link (`?uplift_offer=<token>`) opens the offer's upgrade
    modal once the host gives the customer token (here after the page loaded), and the
    parameter is gone from the address bar at once, every other part kept; a survey's link
    opens the survey's modal. An expired or garbage token opens nothing and is an
    `uplift:error` (`link_expired`, `link_not_found`)."""
    acme = await shop(offers=_linked_offers)
    key = link_key(WIDGET_SECRET)
    start = acme.world.period_start

    def link(offer_id: str, *, expires_at: int = start + 86_400) -> str:
        return sign_offer_link(key, offer_id=offer_id, customer_id="acme", expires_at=expires_at)

    page_url = acme.page_url("keyboard.html") + "&late=1"
    watched = await open_page(f"{page_url}&uplift_offer={link('offer_basic_to_pro')}#plans")
    page = watched.page
    dialog = page.get_by_role("dialog", name="Running out of space?")
    await expect(dialog.get_by_role("button", name="Confirm and pay")).to_be_visible()
    assert page.url == f"{page_url}#plans"
    await page.screenshot(path=acme.artifacts / "email-link.png")
    await watched.assert_clean()

    watched = await open_page(f"{acme.page_url('keyboard.html')}&uplift_offer=" + link(
        "offer_linked_survey"
    ))  # fmt: skip
    page = watched.page
    survey = page.get_by_role("dialog", name="Help us choose")
    await expect(survey.get_by_role("group", name="How are we doing?")).to_be_visible()
    assert page.url == acme.page_url("keyboard.html")
    await watched.assert_clean()

    for token, status, code in [
        (link("offer_basic_to_pro", expires_at=start - 1), 410, "link_expired"),
        ("garbage.token", 404, "link_not_found"),
    ]:
        watched = await open_page(f"{acme.page_url('keyboard.html')}&uplift_offer={token}")
        page = watched.page
        log = page.get_by_role("list", name="Widget events")
        await expect(log).to_contain_text(code)
        await expect(page.get_by_role("dialog")).to_have_count(0)
        assert page.url == acme.page_url("keyboard.html")
        await watched.assert_clean(http_errors=(status,))
