"""A real SMTP server for the email tests: aiosmtpd on a free loopback port, in its own thread,
recording what it accepted; and a self-signed certificate for its TLS modes, made with the
`openssl` command (the `cryptography` package is not in the environment)."""

from __future__ import annotations

import asyncio
import gc
import shutil
import ssl
import subprocess
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from tests.support import free_port


@dataclass(frozen=True)
class Received:
    mail_from: str | None
    rcpt_tos: list[str]
    content: bytes
    encrypted: bool


@dataclass
class Inbox:
    """What one server accepted, and the logins it saw."""

    port: int
    messages: list[Received] = field(default_factory=list)
    logins: list[tuple[str, str]] = field(default_factory=list)


class Recorder:
    """The handler: keeps every message, or answers RCPT or DATA with a fixed reply."""

    def __init__(self, inbox: Inbox, *, rcpt_reply: str | None, data_reply: str | None) -> None:
        self.inbox = inbox
        self.rcpt_reply = rcpt_reply
        self.data_reply = data_reply

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if self.rcpt_reply:
            return self.rcpt_reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self.data_reply:
            return self.data_reply
        assert isinstance(envelope.original_content, bytes)
        assert server.transport is not None
        encrypted = server.transport.get_extra_info("ssl_object") is not None
        self.inbox.messages.append(
            Received(
                envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content, encrypted
            )
        )
        return "250 Message accepted"


@dataclass(frozen=True)
class Certificate:
    cert: Path
    key: Path

    def client_context(self) -> ssl.SSLContext:
        """A client context that trusts this certificate (and verifies it, hostname too)."""
        return ssl.create_default_context(cafile=str(self.cert))

    def server_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert, self.key)
        return context


@pytest.fixture(scope="session")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> Certificate:
    """A self-signed certificate for 127.0.0.1, valid for a day."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("the openssl command is not installed")
    folder = tmp_path_factory.mktemp("tls")
    made = Certificate(cert=folder / "cert.pem", key=folder / "key.pem")
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(made.key), "-out", str(made.cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    return made


ServerMode = Literal["plain", "starttls", "tls"]


class StartServer:
    """`start_server(...)` → the Inbox of a fresh server; all are stopped after the test."""

    def __init__(self, tls: list[bool]) -> None:
        self.controllers: list[Controller] = []
        self.tls = tls  # set when a TLS server starts: `sockets_closed` waits then

    def __call__(
        self,
        *,
        mode: ServerMode = "plain",
        certificate: Certificate | None = None,
        login: tuple[str, str] | None = None,
        rcpt_reply: str | None = None,
        data_reply: str | None = None,
    ) -> Inbox:
        inbox = Inbox(port=free_port())
        options: dict[str, Any] = {}
        if mode != "plain":
            self.tls.append(True)
            assert certificate is not None
            key = "ssl_context" if mode == "tls" else "tls_context"
            options[key] = certificate.server_context()
            options["require_starttls"] = mode == "starttls"
        if login is not None:
            options.update(authenticator=_authenticator(inbox, login), auth_required=True)
        recorder = Recorder(inbox, rcpt_reply=rcpt_reply, data_reply=data_reply)
        controller = Controller(recorder, hostname="127.0.0.1", port=inbox.port, **options)
        controller.start()
        self.controllers.append(controller)
        return inbox


def _authenticator(inbox: Inbox, expected: tuple[str, str]) -> Callable[..., AuthResult]:
    def authenticate(
        server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: object
    ) -> AuthResult:
        assert isinstance(data, LoginPassword)
        seen = (data.login.decode(), data.password.decode())
        inbox.logins.append(seen)
        return AuthResult(success=seen == expected, handled=False)  # aiosmtpd sends the reply

    return authenticate


@pytest.fixture
async def sockets_closed() -> AsyncIterator[list[bool]]:
    """Waits (up to 2 s) after the test, and after its servers stop, until every socket is closed.

    aiosmtplib closes a TLS connection without waiting for TLS's close_notify exchange, which
    finishes a few loop turns later; pytest-asyncio closes the test's loop as soon as the test
    returns, and the socket caught mid-shutdown then fails the run with a ResourceWarning. A
    long-lived server loop finishes the shutdown on its own. Only after a TLS server ran (the
    yielded flag), and for 2 s of wall time at most: a scan of every object is slow in a long
    session, and other sockets (a PostgreSQL pool's) stay open by design."""
    tls: list[bool] = []
    yield tls
    if not tls:
        return
    deadline = time.monotonic() + 2.0
    while time.monotonic() < deadline:
        if not any(_open_socket(thing) for thing in gc.get_objects()):
            return
        await asyncio.sleep(0.05)


def _open_socket(thing: object) -> bool:
    """A transport whose socket is still open (the servers, stopped by now, hold none)."""
    if not isinstance(thing, asyncio.Transport):
        return False
    try:
        sock = thing.get_extra_info("socket")
    except AttributeError:  # a closed TLS transport; the plain one under it is checked itself
        return False
    return sock is not None and sock.fileno() != -1


@pytest.fixture
def start_server(sockets_closed: list[bool]) -> Iterator[StartServer]:
    starter = StartServer(sockets_closed)
    yield starter
    for controller in starter.controllers:
        controller.stop()
