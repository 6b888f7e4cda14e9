"""The `uplift` command: operator mistakes are one line and exit 2, never a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from plugin import auth
from tests.support import WIDGET_SECRET, run_uplift, uplift_env


def assert_one_line_error(stderr: str, *fragments: str) -> None:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("uplift: ")
    assert "Traceback" not in stderr
    for fragment in fragments:
        assert fragment in lines[0]


def test_serve_without_a_stripe_key_stops_with_one_line(empty_database_url: str) -> None:
    """`uplift serve` needs UPLIFT_STRIPE_API_KEY and says so."""
    result = run_uplift("serve", env=uplift_env(database_url=empty_database_url))
    assert result.returncode == 2
    assert_one_line_error(result.stderr, "UPLIFT_STRIPE_API_KEY")


@pytest.mark.parametrize(
    ("url", "fragment"),
    [
        ("mysql://localhost/uplift", "UPLIFT_DATABASE_URL"),
        ("sqlite+aiosqlite:///no/such/dir/uplift.db", "does not exist"),
    ],
    ids=["wrong-scheme", "missing-directory"],
)
def test_serve_with_a_bad_database_url_stops_with_one_line(url: str, fragment: str) -> None:
    """A malformed or unusable database URL is named in one line."""
    result = run_uplift("serve", env=uplift_env(database_url=url, stripe_api_key="sk_test_cli"))
    assert result.returncode == 2
    assert_one_line_error(result.stderr, fragment)


def test_serve_with_a_short_admin_key_stops_with_one_line(tmp_path: Path) -> None:
    """`UPLIFT_ADMIN_KEY=admin` (under 32 bytes) stops `uplift serve` before it starts, with
    one line naming the variable, and nothing written to the database."""
    database = tmp_path / "never.db"
    env = uplift_env(
        database_url=f"sqlite+aiosqlite:///{database}",
        stripe_api_key="sk_test_cli",
        admin_key="admin",
    )
    result = run_uplift("serve", env=env)
    assert result.returncode == 2
    assert_one_line_error(result.stderr, "UPLIFT_ADMIN_KEY", "at least 32 bytes")
    assert result.stdout == ""
    assert not database.exists()


def test_migrate_then_admin_key_create_prints_the_key_once(empty_database_url: str) -> None:
    """`migrate` reports what it applied; `admin-key create` prints only the key on stdout."""
    env = uplift_env(database_url=empty_database_url)
    migrated = run_uplift("migrate", env=env)
    assert migrated.returncode == 0, migrated.stderr
    assert "0001_initial" in migrated.stdout
    again = run_uplift("migrate", env=env)
    assert "applied migrations: none" in again.stdout

    created = run_uplift("admin-key", "create", "--name", "ops", env=env)
    assert created.returncode == 0, created.stderr
    key = created.stdout.strip()
    assert key.startswith(auth.ADMIN_KEY_PREFIX)
    assert key not in created.stderr
    assert "shown only once" in created.stderr

    reader = run_uplift("admin-key", "create", "--name", "board", "--role", "read_only", env=env)
    assert reader.returncode == 0, reader.stderr
    assert "created read_only key" in reader.stderr
    wrong = run_uplift("admin-key", "create", "--name", "x", "--role", "owner", env=env)
    assert wrong.returncode == 2


def test_admin_key_create_before_migrate_says_what_to_run(empty_database_url: str) -> None:
    """An unmigrated database is a clear instruction, not an SQL error."""
    result = run_uplift(
        "admin-key", "create", "--name", "ops", env=uplift_env(database_url=empty_database_url)
    )
    assert result.returncode == 2
    assert_one_line_error(result.stderr, "uplift migrate")


def test_customer_token_prints_a_token_the_server_accepts(tmp_path: Path) -> None:
    """The token is what the SaaS backend would mint: it verifies with the widget secret."""
    result = run_uplift(
        "customer-token",
        "--customer",
        "acme-7",
        "--ttl",
        "120",
        "--stripe-customer",
        "cus_9",
        "--attrs",
        '{"segment": "smb"}',
        env=uplift_env(widget_secret=WIDGET_SECRET),
    )
    assert result.returncode == 0, result.stderr
    claims = auth.verify_customer_token(
        result.stdout.strip(), secret=WIDGET_SECRET, now=_issued_at(result.stdout.strip())
    )
    assert claims.customer_id == "acme-7"
    assert claims.stripe_customer == "cus_9"
    assert claims.attrs == {"segment": "smb"}


def _issued_at(token: str) -> int:
    import jwt

    iat: int = jwt.decode(token, options={"verify_signature": False})["iat"]
    return iat


@pytest.mark.parametrize(
    ("args", "env", "fragment"),
    [
        (("--customer", "c"), {}, "UPLIFT_WIDGET_SECRET"),
        (("--customer", "c", "--ttl", "0"), {"widget_secret": WIDGET_SECRET}, "ttl"),
        (("--customer", "c", "--attrs", "[1]"), {"widget_secret": WIDGET_SECRET}, "JSON object"),
    ],
    ids=["no-secret", "zero-ttl", "attrs-not-object"],
)
def test_customer_token_refuses_bad_input(
    args: tuple[str, ...], env: dict[str, str], fragment: str
) -> None:
    """Missing secret, impossible lifetime or bad attrs: one line, exit 2."""
    result = run_uplift("customer-token", *args, env=uplift_env(**env))
    assert result.returncode == 2
    assert_one_line_error(result.stderr, fragment)
    assert result.stdout == ""
