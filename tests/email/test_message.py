"""The MIME message: text then HTML, RFC 8058 one-click unsubscribe headers written so a
mailbox provider can read them, and no header a value could smuggle in."""

from __future__ import annotations

import email
import email.policy
from datetime import UTC, datetime
from email.message import EmailMessage, MIMEPart
from typing import Any

import pytest

from plugin.email.message import build_message
from plugin.email.templates import RenderedEmail

SENT_AT = 1_767_225_600  # 2026-01-01T00:00:00Z
UNSUBSCRIBE = "https://app.example.com/uplift/email/unsubscribe?t=" + "A" * 150 + ".B" * 20
RENDERED = RenderedEmail(subject="Try Pro", text="Hi Ann,\n", html="<p>Hi Ann,</p>\n")


def _build(**overrides: Any) -> EmailMessage:
    arguments: dict[str, Any] = {
        "sender": "Acme <hello@acme.example.com>",
        "to": "ann@example.com",
        "rendered": RENDERED,
        "unsubscribe_url": UNSUBSCRIBE,
        "message_id": "em_1.offer_1@acme.example.com",
        "sent_at": SENT_AT,
    }
    arguments.update(overrides)
    return build_message(**arguments)


def _reparse(message: EmailMessage) -> EmailMessage:
    parsed = email.message_from_bytes(message.as_bytes(), policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


def _content(part: MIMEPart) -> str:
    """The part's text with the wire's CRLF line ends read as newlines."""
    text = part.get_content()
    assert isinstance(text, str)
    return text.replace("\r\n", "\n")


def test_the_headers_say_who_when_and_how_to_unsubscribe() -> None:
    parsed = _reparse(_build())
    assert parsed["From"] == "Acme <hello@acme.example.com>"
    assert parsed["To"] == "ann@example.com"
    assert parsed["Subject"] == "Try Pro"
    assert parsed["Date"].datetime == datetime(2026, 1, 1, tzinfo=UTC)
    assert parsed["Message-ID"] == "<em_1.offer_1@acme.example.com>"
    assert parsed["List-Unsubscribe"] == f"<{UNSUBSCRIBE}>"
    assert parsed["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert "Auto-Submitted" not in parsed


def test_a_long_unsubscribe_url_stays_one_raw_line() -> None:
    """Folding a URL with no spaces would turn it into RFC 2047 encoded words that no client
    reads as a URL; the raw bytes carry it whole."""
    raw = _build().as_bytes()
    assert f"\r\nList-Unsubscribe: <{UNSUBSCRIBE}>\r\n".encode() in raw
    assert b"=?utf-8?" not in raw


def test_html_makes_multipart_alternative_with_text_first() -> None:
    parsed = _reparse(_build())
    assert parsed.get_content_type() == "multipart/alternative"
    parts = list(parsed.iter_parts())
    assert [part.get_content_type() for part in parts] == ["text/plain", "text/html"]
    assert [_content(part) for part in parts] == ["Hi Ann,\n", "<p>Hi Ann,</p>\n"]


def test_without_html_the_message_is_plain_text() -> None:
    parsed = _reparse(_build(rendered=RenderedEmail(subject="Hi", text="Only text\n", html=None)))
    assert parsed.get_content_type() == "text/plain"
    assert _content(parsed) == "Only text\n"


def test_non_ascii_goes_out_in_seven_bits() -> None:
    """A relay without 8BITMIME takes the message: bodies are quoted-printable or base64,
    headers encoded words, and it all reads back the same."""
    rendered = RenderedEmail(subject="Für Zoë 🙂", text="Grüße, Zoë\n", html="<p>Grüße</p>\n")
    message = _build(rendered=rendered, sender="Zoë Shop <hi@shop.example.com>")
    assert message.as_bytes().isascii()
    parsed = _reparse(message)
    assert parsed["Subject"] == "Für Zoë 🙂"
    assert parsed["From"].addresses[0].display_name == "Zoë Shop"
    body = parsed.get_body(("plain",))
    assert body is not None
    assert _content(body) == "Grüße, Zoë\n"


@pytest.mark.parametrize(
    "address",
    [
        "ann@example.com\r\nBcc: victim@example.com",
        "ann@example.com\nBcc: victim@example.com",
        "Ann\r\n <ann@example.com>",
        "ann@example.com, bob@example.com",
        "ann@example.com bob@example.com",
        "not an address",
        "ann@localhost",
        "@example.com",
        "ann@",
        "",
        "zoë@example.com",
    ],
)
@pytest.mark.parametrize("field", ["sender", "to"])
def test_anything_but_one_plain_address_is_refused(field: str, address: str) -> None:
    with pytest.raises(ValueError, match="address"):
        _build(**{field: address})


@pytest.mark.parametrize(
    "overrides",
    [
        {"unsubscribe_url": "mailto:unsubscribe@example.com"},
        {"unsubscribe_url": "https://example.com/u?t=a b"},
        {"unsubscribe_url": "https://example.com/u>\r\nBcc: x@example.com"},
        {"unsubscribe_url": "https://example.com/" + "a" * 1000},
        {"message_id": "no-at-sign"},
        {"message_id": "a@b>\r\nBcc: x@example.com"},
        {"message_id": "<a@b>"},
        {"rendered": RenderedEmail(subject="Hi\r\nBcc: x@example.com", text="x", html=None)},
    ],
    ids=["mailto", "space", "crlf", "too-long", "id-no-at", "id-crlf", "id-brackets", "subject"],
)
def test_a_value_that_would_break_a_header_is_refused(overrides: dict[str, Any]) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - each case has its own message
        _build(**overrides)
