"""Settings come from `UPLIFT_*` variables and fail with one readable line."""

from __future__ import annotations

import pytest

from plugin.settings import SettingsError, load_settings


def test_comma_separated_lists_are_split(monkeypatch: pytest.MonkeyPatch) -> None:
    """Operators write plain comma lists, not JSON."""
    monkeypatch.setenv("UPLIFT_ALLOWED_ORIGINS", "https://app.example.com, http://localhost:3000/")
    monkeypatch.setenv("UPLIFT_STRIPE_WEBHOOK_SECRETS", "whsec_old,whsec_new")
    settings = load_settings()
    assert settings.allowed_origins == ["https://app.example.com", "http://localhost:3000"]
    assert [s.get_secret_value() for s in settings.stripe_webhook_secrets] == [
        "whsec_old",
        "whsec_new",
    ]


def test_defaults_match_the_contract(monkeypatch: pytest.MonkeyPatch) -> None:
    """With nothing set, Uplift uses ./uplift.db and serves at 127.0.0.1:8000."""
    for name in ("DATABASE_URL", "PUBLIC_URL", "STRIPE_API_KEY", "ALLOWED_ORIGINS"):
        monkeypatch.delenv(f"UPLIFT_{name}", raising=False)
    settings = load_settings()
    assert settings.database_url == "sqlite+aiosqlite:///./uplift.db"
    assert settings.public_url == "http://127.0.0.1:8000"
    assert settings.stripe_api_key is None


def test_secrets_are_masked_in_repr() -> None:
    """`repr(settings)` (and so any log of it) shows no secret."""
    settings = load_settings(
        stripe_api_key="sk_test_SECRETVALUE",
        widget_secret="widget-SECRETVALUE-long-enough-for-hs256-0123456789",
        stripe_webhook_secrets="whsec_SECRETVALUE",
    )
    assert "SECRETVALUE" not in repr(settings)
    assert "SECRETVALUE" not in str(settings)


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"database_url": "mysql://db/uplift"}, "UPLIFT_DATABASE_URL: must start with"),
        ({"database_url": "sqlite+aiosqlite:///"}, "UPLIFT_DATABASE_URL: needs a file path"),
        ({"stripe_api_key": "pk_live_SECRETVALUE"}, "UPLIFT_STRIPE_API_KEY: must look like"),
        ({"stripe_webhook_secrets": "nope_SECRETVALUE"}, "UPLIFT_STRIPE_WEBHOOK_SECRETS"),
        ({"allowed_origins": "*"}, "UPLIFT_ALLOWED_ORIGINS"),
        ({"allowed_origins": "https://a.example/path"}, "UPLIFT_ALLOWED_ORIGINS"),
        ({"public_url": "ftp://x"}, "UPLIFT_PUBLIC_URL"),
        ({"widget_secret": "short-SECRETVALUE"}, "UPLIFT_WIDGET_SECRET: must be at least 32 bytes"),
        ({"admin_key": "admin-SECRETVALUE"}, "UPLIFT_ADMIN_KEY: must be at least 32 bytes"),
        ({"max_request_head_bytes": "12"}, "UPLIFT_MAX_REQUEST_HEAD_BYTES"),
    ],
    ids=[
        "db-scheme",
        "db-empty-path",
        "publishable-key",
        "whsec",
        "star",
        "path",
        "public-url",
        "short-widget-secret",
        "short-admin-key",
        "tiny-head-limit",
    ],
)
def test_bad_settings_fail_with_one_line_naming_the_variable(
    overrides: dict[str, str], expected: str
) -> None:
    """The message names the variable, says what is wrong, and never echoes a secret."""
    with pytest.raises(SettingsError) as caught:
        load_settings(**overrides)
    message = str(caught.value)
    assert expected in message
    assert "\n" not in message
    assert "SECRETVALUE" not in message
