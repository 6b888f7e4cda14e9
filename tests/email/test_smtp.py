"""`Mailer` against a real SMTP server (aiosmtpd on loopback): what arrives, over which TLS,
and which failures are "retry later" and which "refused for good"."""

from __future__ import annotations

import asyncio
import email
import email.policy
from collections.abc import AsyncIterator
from email.message import EmailMessage
from urllib.parse import quote

import pytest

from plugin.email.links import derive_key, sign_unsubscribe
from plugin.email.message import build_message
from plugin.email.smtp import Mailer, MailRejected, MailTemporarilyFailed, SmtpConfig
from plugin.email.templates import EmailCopy, render
from tests.email.conftest import Certificate, Inbox, StartServer
from tests.support import free_port

SENT_AT = 1_767_225_600
PASSWORD = "p@ss:w/rd%-not-in-errors"
LOGIN = ("mailer@acme.example.com", PASSWORD)
ENCODED_LOGIN = "mailer%40acme.example.com:p%40ss%3Aw%2Frd%25-not-in-errors"
COPY = EmailCopy(
    subject="{{ customer_name }}: try {{ plan_name }}",
    text="Hi {{ customer_name }},\n{{ plan_name }} is one click away.\n",
    html="<p>Hi {{ customer_name }},</p><p>{{ plan_name }} is one click away.</p>\n",
)
HOSTILE = {"customer_name": "<b>Ann</b>\r\nBcc: victim@example.com", "plan_name": "Pro & Co"}


def _message(subject: str = "Try Pro") -> EmailMessage:
    rendered = render(EmailCopy(subject=subject, text="Hello\n"), {})
    return build_message(
        sender="Acme <hello@acme.example.com>",
        to="ann@example.com",
        rendered=rendered,
        unsubscribe_url="https://app.example.com/unsubscribe?t=abc",
        message_id="em_1@acme.example.com",
        sent_at=SENT_AT,
    )


def _plain(inbox: Inbox) -> SmtpConfig:
    return SmtpConfig.parse(f"smtp://127.0.0.1:{inbox.port}?starttls=off")


def _received(inbox: Inbox) -> EmailMessage:
    assert len(inbox.messages) == 1
    parsed = email.message_from_bytes(inbox.messages[0].content, policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


async def test_a_rendered_email_arrives_as_built(start_server: StartServer) -> None:
    """Hostile values are escaped in the HTML part only, the subject is one line, and the
    one-click unsubscribe headers arrive whole."""
    inbox = start_server()
    unsubscribe = "https://app.example.com/uplift/email/unsubscribe?t=" + sign_unsubscribe(
        derive_key(b"root-secret", "email-links"), customer_id="cus_" + "9" * 60
    )
    message = build_message(
        sender="Acme <hello@acme.example.com>",
        to="Ann <ann@example.com>",
        rendered=render(COPY, HOSTILE),
        unsubscribe_url=unsubscribe,
        message_id="em_1@acme.example.com",
        sent_at=SENT_AT,
    )
    await Mailer(_plain(inbox)).send(message)

    assert inbox.messages[0].mail_from == "hello@acme.example.com"
    assert inbox.messages[0].rcpt_tos == ["ann@example.com"]
    assert f"\nList-Unsubscribe: <{unsubscribe}>\r\n".encode() in inbox.messages[0].content
    received = _received(inbox)
    assert received["Subject"] == "<b>Ann</b> Bcc: victim@example.com: try Pro & Co"
    assert "Bcc" not in received
    assert received["List-Unsubscribe"] == f"<{unsubscribe}>"
    assert received["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    text, html = (received.get_body((kind,)) for kind in ("plain", "html"))
    assert text is not None
    assert html is not None
    assert text.get_content().replace("\r\n", "\n") == (
        "Hi <b>Ann</b>\r\nBcc: victim@example.com,\nPro & Co is one click away.\n".replace(
            "\r\n", "\n"
        )
    )
    assert html.get_content().replace("\r\n", "\n") == (
        "<p>Hi &lt;b&gt;Ann&lt;/b&gt;\nBcc: victim@example.com,</p>"
        "<p>Pro &amp; Co is one click away.</p>\n"
    )


async def test_starttls_upgrades_and_logs_in_with_decoded_credentials(
    start_server: StartServer, certificate: Certificate
) -> None:
    """smtp:// sends over STARTTLS, verifying the server's certificate, and logs in with the
    percent-decoded user and password."""
    inbox = start_server(mode="starttls", certificate=certificate, login=LOGIN)
    config = SmtpConfig.parse(f"smtp://{ENCODED_LOGIN}@127.0.0.1:{inbox.port}")
    await Mailer(config, tls_context=certificate.client_context()).send(_message())
    assert inbox.logins == [LOGIN]
    assert inbox.messages[0].encrypted
    assert _received(inbox)["Subject"] == "Try Pro"


async def test_implicit_tls_delivers(start_server: StartServer, certificate: Certificate) -> None:
    """smtps:// speaks TLS from the first byte."""
    inbox = start_server(mode="tls", certificate=certificate)
    config = SmtpConfig.parse(f"smtps://127.0.0.1:{inbox.port}")
    await Mailer(config, tls_context=certificate.client_context()).send(_message())
    assert inbox.messages[0].encrypted


async def test_a_server_without_starttls_gets_nothing_rather_than_plain_text(
    start_server: StartServer,
) -> None:
    """STARTTLS is required, not opportunistic: no downgrade to a plain connection."""
    inbox = start_server()
    config = SmtpConfig.parse(f"smtp://127.0.0.1:{inbox.port}")
    with pytest.raises(MailTemporarilyFailed):
        await Mailer(config).send(_message())
    assert inbox.messages == []


async def test_an_untrusted_certificate_is_refused(
    start_server: StartServer, certificate: Certificate
) -> None:
    """Certificates are verified by default: a self-signed one fails the send."""
    inbox = start_server(mode="starttls", certificate=certificate, login=LOGIN)
    config = SmtpConfig.parse(f"smtp://{ENCODED_LOGIN}@127.0.0.1:{inbox.port}")
    with pytest.raises(MailTemporarilyFailed) as failed:
        await Mailer(config).send(_message())
    assert PASSWORD not in failed.value.message
    assert (inbox.logins, inbox.messages) == ([], [])


async def test_a_refused_login_is_temporary_and_does_not_echo_the_password(
    start_server: StartServer, certificate: Certificate
) -> None:
    """535 is about our settings, not the message: retry once the operator fixes them."""
    inbox = start_server(mode="starttls", certificate=certificate, login=("mailer", "other"))
    config = SmtpConfig.parse(f"smtp://mailer:{quote(PASSWORD, safe='')}@127.0.0.1:{inbox.port}")
    with pytest.raises(MailTemporarilyFailed, match="login") as failed:
        await Mailer(config, tls_context=certificate.client_context()).send(_message())
    assert PASSWORD not in failed.value.message
    assert inbox.messages == []


@pytest.mark.parametrize(
    ("stage", "reply", "error"),
    [
        ("rcpt", "550 5.1.1 No such user", MailRejected),
        ("data", "550 5.7.1 Message refused", MailRejected),
        ("rcpt", "451 4.3.0 Try again later", MailTemporarilyFailed),
        ("data", "451 4.7.1 Greylisted", MailTemporarilyFailed),
    ],
)
async def test_a_5xx_reply_is_permanent_and_a_4xx_temporary(
    start_server: StartServer, stage: str, reply: str, error: type[Exception]
) -> None:
    inbox = start_server(
        rcpt_reply=reply if stage == "rcpt" else None,
        data_reply=reply if stage == "data" else None,
    )
    with pytest.raises(error) as failed:
        await Mailer(_plain(inbox)).send(_message())
    assert type(failed.value) is error
    assert reply.split(" ", 1)[0] in str(failed.value)


async def test_a_closed_port_is_temporary() -> None:
    config = SmtpConfig.parse(f"smtp://127.0.0.1:{free_port()}?starttls=off")
    with pytest.raises(MailTemporarilyFailed, match="could not be reached"):
        await Mailer(config).send(_message())


@pytest.fixture
async def silent_port() -> AsyncIterator[int]:
    """A port that accepts connections and never says a word."""

    async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()
        writer.close()

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    yield server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()


async def test_a_server_that_never_answers_times_out_as_temporary(silent_port: int) -> None:
    config = SmtpConfig.parse(f"smtp://127.0.0.1:{silent_port}?starttls=off")
    with pytest.raises(MailTemporarilyFailed):
        await Mailer(config, timeout=0.2).send(_message())
