"""Lifecycle email end to end: an offer's email, decided when its targeting first holds (usage
at 90 % of the plan's limit), sent once through a real SMTP server (aiosmtpd) with the
customer's values (hostile ones escaped in the HTML), a link that opens the offer for that
customer only, and a one-click unsubscribe (RFC 8058) that stops every later email."""

from __future__ import annotations

import email
import email.policy
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from plugin.app import create_app
from plugin.clock import FixedClock
from plugin.email.worker import EmailWorker
from plugin.settings import Settings
from plugin.storage import Database
from tests.email.conftest import Inbox, StartServer
from tests.factories import ADMIN, customer_headers, seed_catalog, seed_plans, subscribe
from tests.support import NOW, started

HOSTILE = '<b onmouseover="x()">Ann</b>'
EMAIL = {
    "subject": "{{ name }}, you have used {{ used }} of {{ limit }} GB",
    "text": "Hi {{ name }},\n{{ title }}: {{ price }} on {{ plan }}.\nOpen: {{ link }}\n"
            "Unsubscribe: {{ unsubscribe_url }}\n",
    "html": '<p>Hi {{ name }},</p><p><a href="{{ link }}">{{ cta }}</a></p>',
    "link_url": "https://app.example.com/billing?tab=plan",
}  # fmt: skip


def _offer(**overrides: Any) -> dict[str, Any]:
    return {
        "id": "offer_storage_email", "name": "Storage nearly full", "kind": "upgrade",
        "status": "active", "placements": ["storage_banner"],
        "target_prices": ["price_pro_monthly"],
        "targeting": {"all": [{"plan": {"in": ["basic"]}},
                              {"usage": {"metric": "storage_gb", "at_least_percent": 80}}]},
        "frequency": {"max_impressions": 1, "per_seconds": 86_400},
        "variants": [{"key": "control", "copy": {"title": "More room on Pro",
                                                 "cta": "See Pro"}}],
        "email": EMAIL, **overrides,
    }  # fmt: skip


@dataclass
class Shop:
    http: httpx.AsyncClient
    worker: EmailWorker
    inbox: Inbox
    clock: FixedClock

    def messages(self) -> list[EmailMessage]:
        return [
            email.message_from_bytes(m.content, policy=email.policy.default)
            for m in self.inbox.messages
        ]


@pytest.fixture
async def shop(settings: Settings, db: Database, start_server: StartServer) -> AsyncIterator[Shop]:
    inbox = start_server()
    clock = FixedClock(NOW)
    configured = settings.model_copy(
        update={
            "smtp_url": f"smtp://127.0.0.1:{inbox.port}?starttls=off",
            "email_from": "Uplift <hello@uplift.example>",
            "public_url": "http://uplift.test",
        }
    )
    await seed_catalog(db)
    app = create_app(Settings(**configured.model_dump()), clock=clock)
    async with started(app) as http:
        await seed_plans(http)
        for who, attrs in (
            ("ann", {"email": "ann@example.com", "name": HOSTILE}),
            ("bob", {}),  # no address: never emailed
        ):
            body = {"stripe_customer": f"cus_{who}", "attrs": attrs}
            assert (await http.put(f"/api/v1/customers/{who}", json=body, headers=ADMIN)).is_success
            await subscribe(db, stripe_customer=f"cus_{who}", price_id="price_basic_monthly")
            usage = {"customer": who, "metric": "storage_gb", "value": 9}
            key = {**ADMIN, "Idempotency-Key": f"u-{who}"}
            assert (await http.post("/api/v1/usage", json=usage, headers=key)).is_success
        worker = app.state.email_worker
        assert isinstance(worker, EmailWorker)
        yield Shop(http, worker, inbox, clock)


def _link_token(message: EmailMessage) -> str:
    text = message.get_body(preferencelist=("plain",))
    assert text is not None
    url = re.search(r"Open: (\S+)", text.get_content())
    assert url is not None
    found = urlsplit(url.group(1))
    assert (found.scheme, found.netloc, found.path) == ("https", "app.example.com", "/billing")
    query = parse_qs(found.query)
    assert query["tab"] == ["plan"]
    return query["uplift_offer"][0]


async def test_the_limit_email_is_sent_once_with_the_customers_values(shop: Shop) -> None:
    made = await shop.http.post("/api/v1/admin/offers", json=_offer(), headers=ADMIN)
    assert made.status_code == 201, made.text
    assert await shop.worker.run_once() == (1, 1)
    assert await shop.worker.run_once() == (0, 0)  # at most once per customer and offer
    [message] = shop.messages()
    assert message["To"] == "ann@example.com"
    assert message["Subject"] == f"{HOSTILE}, you have used 9 of 10 GB"
    text = message.get_body(preferencelist=("plain",))
    html = message.get_body(preferencelist=("html",))
    assert text is not None
    assert html is not None
    assert f"Hi {HOSTILE}," in text.get_content()
    assert "More room on Pro: $99.00 on Basic." in text.get_content()
    assert "&lt;b onmouseover=&#34;x()&#34;&gt;Ann&lt;/b&gt;" in html.get_content()
    assert "<b " not in html.get_content()
    unsubscribe = message["List-Unsubscribe"]
    assert re.fullmatch(r"<http://uplift\.test/email/unsubscribe/[A-Za-z0-9_.-]+>", unsubscribe)
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert message["Message-ID"].endswith("@uplift.test>")

    sends = (await shop.http.get("/api/v1/admin/email/sends", headers=ADMIN)).json()["data"]
    assert [(s["customer_id"], s["status"]) for s in sends] == [("ann", "sent")]
    # The email counts against the frequency budget the widget shares: one impression a day.
    banner = await shop.http.get(
        "/api/v1/widget/offers?placement=storage_banner", headers=customer_headers("ann")
    )
    assert banner.json()["data"] == []


async def test_the_link_opens_the_offer_for_that_customer_only(shop: Shop) -> None:
    assert (await shop.http.post("/api/v1/admin/offers", json=_offer(), headers=ADMIN)).is_success
    await shop.worker.run_once()
    token = _link_token(shop.messages()[0])
    where = f"/api/v1/widget/link?token={token}"
    opened = await shop.http.get(where, headers=customer_headers("ann"))
    assert opened.status_code == 200, opened.text
    assert (opened.json()["offer_id"], opened.json()["variant"]) == (
        "offer_storage_email",
        "control",
    )
    other = await shop.http.get(where, headers=customer_headers("bob"))
    assert (other.status_code, other.json()["error"]["code"]) == (404, "link_not_found")
    tampered = await shop.http.get(where[:-2] + "xx", headers=customer_headers("ann"))
    assert tampered.status_code == 404
    shop.clock.advance(15 * 86_400)  # past UPLIFT_EMAIL_LINK_DAYS (14)
    late = await shop.http.get(where, headers=customer_headers("ann", now=shop.clock.now()))
    assert (late.status_code, late.json()["error"]["code"]) == (410, "link_expired")


async def test_one_click_unsubscribe_stops_every_later_email(shop: Shop) -> None:
    assert (await shop.http.post("/api/v1/admin/offers", json=_offer(), headers=ADMIN)).is_success
    await shop.worker.run_once()
    url = shop.messages()[0]["List-Unsubscribe"].strip("<>").removeprefix("http://uplift.test")
    page = await shop.http.get(url)
    assert page.status_code == 200
    assert 'method="post"' in page.text
    assert (await shop.http.get("/api/v1/admin/email/suppressions", headers=ADMIN)).json()[
        "data"
    ] == []  # a GET changes nothing (mail scanners open links)
    # What a mail client sends (RFC 8058 §3.1): a form POST, no cookies, no credentials.
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    clicked = await shop.http.post(url, content=b"List-Unsubscribe=One-Click", headers=form)
    assert clicked.status_code == 200
    again = await shop.http.post(url, content=b"List-Unsubscribe=One-Click")
    assert again.status_code == 200
    [suppressed] = (await shop.http.get("/api/v1/admin/email/suppressions", headers=ADMIN)).json()[
        "data"
    ]
    assert (suppressed["customer_id"], suppressed["reason"]) == ("ann", "unsubscribed")
    second = _offer(id="offer_storage_email_2", name="Second")
    assert (await shop.http.post("/api/v1/admin/offers", json=second, headers=ADMIN)).is_success
    assert await shop.worker.run_once() == (0, 0)
    assert len(shop.inbox.messages) == 1
    bad = await shop.http.post("/email/unsubscribe/not-a-token")
    assert bad.status_code == 404
    # An admin can let them back in; then the second offer's email goes out.
    back = await shop.http.delete("/api/v1/admin/email/suppressions/ann", headers=ADMIN)
    assert back.status_code == 200
    assert await shop.worker.run_once() == (1, 1)


async def test_bad_email_copy_is_refused_with_its_field(shop: Shop) -> None:
    for change, field in (
        ({"subject": "Hi {{ nope }}"}, "email.subject"),
        ({"text": "{% if %}"}, "email.text"),
        ({"html": "{{ ''.__class__ }}"}, "email.html"),
        ({"link_url": "javascript:alert(1)"}, "email.link_url"),
    ):
        refused = await shop.http.post(
            "/api/v1/admin/offers", json=_offer(email={**EMAIL, **change}), headers=ADMIN
        )
        assert refused.status_code == 422, change
        assert refused.json()["error"]["field"] == field, refused.text
