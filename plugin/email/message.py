"""The MIME message for one rendered email.

text/plain alone, or multipart/alternative with text first and HTML second (clients show the
last part they can). One-click unsubscribe per RFC 8058: `List-Unsubscribe: <https://…>` and
`List-Unsubscribe-Post: List-Unsubscribe=One-Click`; both must be covered by the relay's DKIM
signature for mailbox providers to offer the button. No `Auto-Submitted`: lifecycle email is
not an automatic reply in RFC 3834's sense, and the header would make some servers drop it.

The policy is `email.policy.SMTP` with two changes. Bodies use 7-bit transfer encodings (quoted-
printable or base64), so a relay without 8BITMIME takes them. List-Unsubscribe is never folded:
folding a long URL that has no spaces makes Python write it as RFC 2047 encoded words, which
no client reads as a URL. Pure: `sent_at` and `message_id` come in.
"""

from __future__ import annotations

import email.utils
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import EmailPolicy

from plugin.email.templates import RenderedEmail

_UNFOLDED = {"list-unsubscribe"}
_MAX_LINE = 998  # RFC 5322 §2.1.1, the line length no header may pass


class _Policy(EmailPolicy):
    def fold(self, name: str, value: str) -> str:
        if name.lower() in _UNFOLDED:
            return f"{name}: {value}{self.linesep}"
        folded: str = super().fold(name, value)
        return folded

    def fold_binary(self, name: str, value: str) -> bytes:
        if name.lower() in _UNFOLDED:
            return self.fold(name, value).encode("ascii")
        return super().fold_binary(name, value)


POLICY = _Policy(linesep="\r\n", cte_type="7bit")


def build_message(
    *,
    sender: str,
    to: str,
    rendered: RenderedEmail,
    unsubscribe_url: str,
    message_id: str,
    sent_at: int,
) -> EmailMessage:
    """`ValueError` for an address, URL or id that would not make a sound header."""
    url_limit = _MAX_LINE - len("List-Unsubscribe: <>")
    if not unsubscribe_url.startswith(("https://", "http://")) or not _atom(
        unsubscribe_url, url_limit
    ):
        raise ValueError("The unsubscribe URL must be an http(s) URL without spaces or <>.")
    left, at, right = message_id.partition("@")
    if not (left and at and right and _atom(message_id, 250)):
        raise ValueError("The Message-ID must look like left@right, without spaces or <>.")
    message = EmailMessage(policy=POLICY)
    message["From"] = _address("sender", sender)
    message["To"] = _address("to", to)
    message["Subject"] = rendered.subject  # the policy refuses CR and LF
    message["Date"] = email.utils.formatdate(sent_at, usegmt=True)
    message["Message-ID"] = f"<{message_id}>"
    message["List-Unsubscribe"] = f"<{unsubscribe_url}>"
    message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    message.set_content(rendered.text)
    if rendered.html is not None:
        message.add_alternative(rendered.html, subtype="html")
    return message


def _atom(value: str, limit: int) -> bool:
    """Printable ASCII, no space, no angle bracket, at most `limit` characters."""
    return 0 < len(value) <= limit and all("!" <= c <= "~" and c not in "<>" for c in value)


def _address(name: str, value: str) -> Address:
    """One address, optionally with a display name: `Team <hello@example.com>`."""
    if "\r" in value or "\n" in value:
        raise ValueError(f"The {name} address contains a line break.")
    found = email.utils.getaddresses([value])  # more than one is not one address
    display, addr_spec = found[0] if len(found) == 1 else ("", "")
    local, at, domain = addr_spec.rpartition("@")
    if not (local and at and "." in domain and _atom(addr_spec, 254)):
        raise ValueError(f"The {name} address {value!r} is not an email address.")
    try:
        return Address(display_name=display, addr_spec=addr_spec)
    except (ValueError, IndexError) as exc:  # the header parser's refusals
        raise ValueError(f"The {name} address {value!r} is not an email address.") from exc
