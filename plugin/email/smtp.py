"""Where lifecycle email goes (`SmtpConfig`) and the one call that sends it (`Mailer`).

The operator names the relay with one URL:

    smtp://user:password@host[:587]     STARTTLS, required: a server that does not offer it
                                        fails the send; there is no silent fall back to plain
    smtps://user:password@host[:465]    TLS from the first byte (implicit TLS, RFC 8314)
    smtp://host:port?starttls=off       no TLS at all, for a relay on loopback only (or tests)

User and password are percent-decoded (`%40` for `@`). Certificates are verified against the
system's trust store unless a `tls_context` is passed in.

Errors say what the caller should do next, not where they happened. `MailRejected`: the server
refused this message (its sender, its recipient or its content) with a 5xx reply, so sending it
again is pointless. `MailTemporarilyFailed`: anything else (a 4xx, no connection, a timeout, TLS,
a refused login, a server that will not talk to us): the message is still good, and a retry,
perhaps after the operator fixes the settings, may deliver it. A refused login is deliberately
temporary even though its reply is 535: it is about our settings, not the message, and treating
it as permanent would drop every queued email until the password is fixed. No message here ever
contains the password.
"""

from __future__ import annotations

import email.utils
import ipaddress
import ssl
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Literal
from urllib.parse import parse_qsl, unquote, urlsplit

import aiosmtplib

from plugin.errors import OperatorError, UpliftError

TlsMode = Literal["starttls", "tls", "none"]
DEFAULT_PORTS: dict[TlsMode, int] = {"starttls": 587, "tls": 465, "none": 25}
_EXPECTED = "expected smtp://user:password@host:port or smtps://user:password@host:port"


class MailError(UpliftError):
    """Sending failed. Never an HTTP error: mail goes out in the background."""


class MailTemporarilyFailed(MailError):
    """The message may yet be delivered: retry later."""


class MailRejected(MailError):
    """The server refused this message for good (a 5xx reply to its sender, recipient or
    content): do not send it again."""


@dataclass(frozen=True)
class SmtpConfig:
    host: str
    port: int
    tls: TlsMode
    username: str | None = None
    password: str | None = field(default=None, repr=False)  # repr and str leave it out

    @classmethod
    def parse(cls, url: str) -> SmtpConfig:
        """The relay named by `url`; `OperatorError` with a one-line reason if it is not one.
        The reason never quotes the URL, which holds the password."""
        try:
            parts = urlsplit(url.strip())
            port = parts.port
        except ValueError:
            raise OperatorError(f"The SMTP URL does not parse ({_EXPECTED}).") from None
        if parts.scheme not in ("smtp", "smtps"):
            raise OperatorError(f"The SMTP URL must start with smtp:// or smtps:// ({_EXPECTED}).")
        if not parts.hostname:
            raise OperatorError(f"The SMTP URL names no host ({_EXPECTED}).")
        if parts.path not in ("", "/") or parts.fragment:
            raise OperatorError(
                "The SMTP URL has a path or fragment; an SMTP URL has neither "
                "(a password with / or # in it must be percent-encoded)."
            )
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        tls: TlsMode = "tls" if parts.scheme == "smtps" else "starttls"
        if query == {"starttls": "off"} and tls == "starttls":
            tls = "none"
        elif query:
            raise OperatorError(
                "The SMTP URL's only query parameter is starttls=off, on smtp:// "
                f"(got: {', '.join(sorted(query))})."
            )
        if tls == "none" and not _is_loopback(parts.hostname):
            raise OperatorError(
                f"starttls=off sends mail unencrypted, so it is allowed to a loopback host only, "
                f"not {parts.hostname!r}; use smtp:// (STARTTLS) or smtps:// (TLS)."
            )
        if port == 0:
            raise OperatorError("The SMTP URL's port must be 1 to 65535.")
        username = unquote(parts.username) if parts.username else None
        password = unquote(parts.password) if parts.password else None
        if (username is None) != (password is None):
            raise OperatorError("The SMTP URL must carry both a user and a password, or neither.")
        return cls(
            host=parts.hostname,
            port=port or DEFAULT_PORTS[tls],
            tls=tls,
            username=username,
            password=password,
        )


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class Mailer:
    """Sends one message per connection: lifecycle email is a trickle, and a fresh connection
    has no state left over from a failure."""

    def __init__(
        self,
        config: SmtpConfig,
        *,
        timeout: float = 10.0,
        tls_context: ssl.SSLContext | None = None,
    ) -> None:
        self._config = config
        self._timeout = timeout
        self._tls_context = tls_context  # a private CA's trust store; None: the system's

    async def send(self, message: EmailMessage) -> None:
        """Deliver `message` to its To and Cc addresses, as its own policy serializes it.

        aiosmtplib would re-serialize an EmailMessage with `email.policy.SMTP`, undoing what
        the message's policy decides (plugin/email/message.py keeps List-Unsubscribe unfolded),
        so the bytes are made here and handed over with an explicit envelope."""
        config = self._config
        sender = email.utils.parseaddr(str(message["From"] or ""))[1]
        to = [str(value) for value in message.get_all("To", []) + message.get_all("Cc", [])]
        recipients = [address for _, address in email.utils.getaddresses(to) if address]
        if not sender or not recipients:
            raise ValueError("The message needs a From and at least one To address.")
        try:
            await aiosmtplib.send(
                message.as_bytes(),
                sender=sender,
                recipients=recipients,
                hostname=config.host,
                port=config.port,
                username=config.username,
                password=config.password,
                use_tls=config.tls == "tls",
                start_tls=config.tls == "starttls",
                timeout=self._timeout,
                tls_context=self._tls_context,
            )
        except aiosmtplib.SMTPRecipientsRefused as exc:
            codes = [refused.code for refused in exc.recipients]
            detail = "; ".join(f"{r.code} {r.message}" for r in exc.recipients)
            permanent = bool(codes) and all(500 <= code < 600 for code in codes)
            raise self._error(permanent, f"refused the recipient: {detail}") from exc
        except aiosmtplib.SMTPAuthenticationError as exc:
            raise self._error(False, f"refused the login: {exc.code} {exc.message}") from exc
        except (
            aiosmtplib.SMTPSenderRefused,
            aiosmtplib.SMTPRecipientRefused,
            aiosmtplib.SMTPDataError,
        ) as exc:
            permanent = 500 <= exc.code < 600
            raise self._error(permanent, f"refused the message: {exc.code} {exc.message}") from exc
        except aiosmtplib.SMTPResponseException as exc:
            raise self._error(False, f"answered {exc.code} {exc.message}") from exc
        except (aiosmtplib.SMTPException, OSError) as exc:  # ssl.SSLError is an OSError
            reason = str(exc) or type(exc).__name__
            raise self._error(False, f"could not be reached: {reason}") from exc

    def _error(self, permanent: bool, what: str) -> MailError:
        text = f"The SMTP server {self._config.host}:{self._config.port} {what}"
        if self._config.password:
            text = text.replace(self._config.password, "***")
        return MailRejected(text) if permanent else MailTemporarilyFailed(text)
