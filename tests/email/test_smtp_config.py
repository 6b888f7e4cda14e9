"""`SmtpConfig.parse`: the operator's SMTP URL, its three TLS modes, and refusals that never
repeat the password."""

from __future__ import annotations

import pytest

from plugin.email.smtp import SmtpConfig
from plugin.errors import OperatorError

PASSWORD = "hunter2-very-secret"


@pytest.mark.parametrize(
    ("url", "host", "port", "tls"),
    [
        ("smtp://u:p@mail.example.com", "mail.example.com", 587, "starttls"),
        ("smtp://u:p@mail.example.com:2525", "mail.example.com", 2525, "starttls"),
        ("smtps://u:p@mail.example.com", "mail.example.com", 465, "tls"),
        ("smtps://u:p@mail.example.com:4650/", "mail.example.com", 4650, "tls"),
        ("smtp://127.0.0.1:1025?starttls=off", "127.0.0.1", 1025, "none"),
        ("smtp://localhost?starttls=off", "localhost", 25, "none"),
        ("smtp://[::1]:1025?starttls=off", "::1", 1025, "none"),
        ("smtp://relay.internal", "relay.internal", 587, "starttls"),
    ],
    ids=[
        "starttls", "starttls-port", "tls", "tls-port", "plain", "plain-default", "plain-ipv6",
        "no-login",
    ],
)  # fmt: skip
def test_each_scheme_picks_its_tls_mode_and_default_port(
    url: str, host: str, port: int, tls: str
) -> None:
    """smtp:// means STARTTLS on 587, smtps:// TLS on 465, starttls=off no TLS at all."""
    config = SmtpConfig.parse(url)
    assert (config.host, config.port, config.tls) == (host, port, tls)


def test_user_and_password_are_percent_decoded() -> None:
    """`%40` in the user and `%2F`, `%3A`, `%25` in the password are the characters they encode."""
    config = SmtpConfig.parse("smtp://mailer%40example.com:p%2Fa%3As%25s@mail.example.com")
    assert (config.username, config.password) == ("mailer@example.com", "p/a:s%s")
    assert SmtpConfig.parse("smtp://mail.example.com").username is None


def test_the_password_is_absent_from_repr_and_str() -> None:
    """Logging a config, or an object that holds one, does not print the password."""
    config = SmtpConfig.parse(f"smtps://mailer:{PASSWORD}@mail.example.com")
    assert PASSWORD not in repr(config)
    assert PASSWORD not in str(config)
    assert "mailer" in repr(config)


@pytest.mark.parametrize(
    "url",
    [
        f"http://mailer:{PASSWORD}@mail.example.com",
        f"mailer:{PASSWORD}",
        f"smtp://mailer:{PASSWORD}@",
        f"smtp://mailer:{PASSWORD}@mail.example.com:99999",
        f"smtp://mailer:{PASSWORD}@mail.example.com:0",
        f"smtp://mailer:{PASSWORD}@mail.example.com:port",
        f"smtp://mailer:{PASSWORD[:4]}/{PASSWORD[5:]}@mail.example.com",
        f"smtp://mailer:{PASSWORD}@mail.example.com/path",
        f"smtp://mailer:{PASSWORD}@mail.example.com#{PASSWORD}",
        f"smtp://mailer:{PASSWORD}@mail.example.com?tls=on",
        f"smtps://mailer:{PASSWORD}@127.0.0.1?starttls=off",
        f"smtp://:{PASSWORD}@mail.example.com",
        "smtp://mailer@mail.example.com",
        f"smtp://mailer:{PASSWORD}@[::1",
    ],
    ids=[
        "wrong-scheme", "no-scheme", "no-host", "port-range", "port-zero", "port-text",
        "unencoded-slash", "path", "fragment", "unknown-query", "smtps-plain", "no-user",
        "no-password", "bad-ipv6",
    ],
)  # fmt: skip
def test_a_bad_url_is_refused_in_one_line_without_the_password(url: str) -> None:
    """Each refusal is an OperatorError the CLI can print as is: one line, no secret."""
    with pytest.raises(OperatorError) as refused:
        SmtpConfig.parse(url)
    message = refused.value.message
    assert "\n" not in message
    assert PASSWORD not in message
    assert PASSWORD[:4] not in message
    assert PASSWORD[5:] not in message


@pytest.mark.parametrize("host", ["mail.example.com", "10.0.0.5", "192.168.1.1", "[2001:db8::1]"])
def test_plain_smtp_is_refused_to_a_host_off_loopback(host: str) -> None:
    """Unencrypted SMTP would carry the password and the mail in the clear over a network."""
    with pytest.raises(OperatorError, match="loopback"):
        SmtpConfig.parse(f"smtp://{host}:25?starttls=off")
