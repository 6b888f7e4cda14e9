"""Settings from the environment (`UPLIFT_*`, see docs/contract.md), built once in `cli.py`.

Secrets are `SecretStr` so they stay masked in `repr()` and logs. Comma-separated lists are
split here rather than parsed as JSON (pydantic-settings' default for list fields), because
operators write `UPLIFT_ALLOWED_ORIGINS=https://a.example,https://b.example`, not JSON.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from plugin.email.smtp import SmtpConfig
from plugin.errors import OperatorError

SQLITE_PREFIX = "sqlite+aiosqlite:///"
POSTGRES_PREFIX = "postgresql+asyncpg://"
STRIPE_KEY_PATTERN = re.compile(r"^(sk|rk)_(test|live)_[A-Za-z0-9_]+$")


def _split_commas(value: object) -> object:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="UPLIFT_", extra="ignore", frozen=True)

    database_url: str = "sqlite+aiosqlite:///./uplift.db"
    stripe_api_key: SecretStr | None = None
    stripe_api_base: str | None = None
    stripe_webhook_secrets: Annotated[list[SecretStr], NoDecode] = Field(default_factory=list)
    widget_secret: SecretStr | None = None
    admin_key: SecretStr | None = None
    allowed_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    public_url: str = "http://127.0.0.1:8000"
    # HTTP limits enforced by Uplift's own protocol layer (plugin/server.py), whatever the
    # parser underneath: the whole request head (request line and headers) in bytes, answered
    # 431 beyond it, and the seconds a connection may take to send a complete head.
    max_request_head_bytes: int = Field(default=16 * 1024, ge=1024, le=1024 * 1024)
    request_head_timeout: float = Field(default=10.0, gt=0, le=300)
    # Failed admin-key attempts per client address: a bucket of `admin_failure_burst`
    # failures refilled at `admin_failure_per_minute`; beyond it 429 with Retry-After.
    admin_failure_burst: int = Field(default=10, ge=1)
    admin_failure_per_minute: int = Field(default=10, ge=1)
    # The share of revenue kept after the cost of serving it, for LTV (plugin/metrics/ltv.py):
    # a decimal above 0 and at most 1, to a basis point (`0.8`). By default 1, so LTV is
    # revenue LTV until the operator says their margin: Uplift cannot know it.
    gross_margin: Decimal = Field(default=Decimal(1), gt=0, le=1, decimal_places=4)
    # Outbound webhooks (plugin/outbound/): deliveries never go to loopback, private or
    # reserved addresses unless this is true (development and tests only), and each attempt
    # is given up after `outbound_timeout` seconds.
    outbound_allow_private_networks: bool = False
    outbound_timeout: float = Field(default=10.0, gt=0, le=30)
    # `usage.threshold_crossed`: the percents of a plan's limit whose crossing is announced.
    usage_thresholds: Annotated[list[int], NoDecode] = Field(default_factory=lambda: [80, 100])
    # `trial.ending` is announced this many days before a trial ends.
    trial_ending_days: int = Field(default=3, ge=1, le=30)
    # Lifecycle email (plugin/email/): the SMTP relay (smtp:// STARTTLS, smtps:// TLS), the
    # From address, and how long the link in an email opens its offer. Without a relay, no
    # email is decided or sent.
    smtp_url: SecretStr | None = None
    email_from: str | None = Field(default=None, max_length=254)
    email_link_days: int = Field(default=14, ge=1, le=90)

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: str) -> str:
        if value.startswith(SQLITE_PREFIX):
            if not value[len(SQLITE_PREFIX) :]:
                raise ValueError(f"needs a file path after {SQLITE_PREFIX!r}")
            return value
        if value.startswith(POSTGRES_PREFIX) and len(value) > len(POSTGRES_PREFIX):
            return value
        raise ValueError(
            f"must start with {SQLITE_PREFIX!r} (a SQLite file) or {POSTGRES_PREFIX!r}"
        )

    @field_validator("stripe_api_key")
    @classmethod
    def _stripe_api_key(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not STRIPE_KEY_PATTERN.match(value.get_secret_value()):
            # Never echo the value: it is a secret even when malformed.
            raise ValueError("must look like sk_test_…, sk_live_…, rk_test_… or rk_live_…")
        return value

    @field_validator("widget_secret", "admin_key")
    @classmethod
    def _long_secret(cls, value: SecretStr | None) -> SecretStr | None:
        # RFC 7518 §3.2: an HS256 key must be at least as long as the hash (32 bytes); the
        # bootstrap admin key is held to the same length, 256 bits, against guessing.
        if value is not None and len(value.get_secret_value().encode()) < 32:
            raise ValueError("must be at least 32 bytes (e.g. `openssl rand -hex 32`)")
        return value

    @field_validator("stripe_api_base", "public_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"{value!r} is not an http(s) URL")
        return value.rstrip("/")

    @field_validator("stripe_webhook_secrets", mode="before")
    @classmethod
    def _secrets_list(cls, value: object) -> object:
        return _split_commas(value)

    @field_validator("stripe_webhook_secrets")
    @classmethod
    def _whsec(cls, value: list[SecretStr]) -> list[SecretStr]:
        for secret in value:
            if not secret.get_secret_value().startswith("whsec_"):
                raise ValueError("each secret must start with whsec_")
        return value

    @field_validator("smtp_url")
    @classmethod
    def _smtp(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            try:
                SmtpConfig.parse(value.get_secret_value())
            except OperatorError as exc:  # its message never quotes the URL
                raise ValueError(exc.message) from None
        return value

    @field_validator("usage_thresholds", mode="before")
    @classmethod
    def _thresholds_list(cls, value: object) -> object:
        return _split_commas(value)

    @field_validator("usage_thresholds")
    @classmethod
    def _thresholds(cls, value: list[int]) -> list[int]:
        if not value or any(not 1 <= percent <= 1000 for percent in value):
            raise ValueError("must be percents from 1 to 1000, comma-separated (e.g. 80,100)")
        return sorted(set(value))

    @field_validator("allowed_origins", mode="before")
    @classmethod
    def _origins_list(cls, value: object) -> object:
        return _split_commas(value)

    @field_validator("allowed_origins")
    @classmethod
    def _origins(cls, value: list[str]) -> list[str]:
        # An explicit allow-list only: `*` and `null` would let any page drive the widget API.
        for origin in value:
            parts = urlsplit(origin)
            if (
                parts.scheme not in ("http", "https")
                or not parts.netloc
                or parts.path not in ("", "/")
                or parts.query
                or "*" in origin
            ):
                raise ValueError(f"{origin!r} is not an origin like https://app.example.com")
        return [origin.rstrip("/") for origin in value]

    @property
    def stripe_livemode(self) -> bool | None:
        """Whether the Stripe key is a live-mode one; None without a key."""
        if self.stripe_api_key is None:
            return None
        return "_live_" in self.stripe_api_key.get_secret_value()[:8]

    @property
    def sqlite_path(self) -> str | None:
        if self.database_url.startswith(SQLITE_PREFIX):
            return self.database_url[len(SQLITE_PREFIX) :]
        return None


class SettingsError(OperatorError):
    """Settings that cannot start the server; the message is one line for the operator."""


def load_settings(**overrides: object) -> Settings:
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        raise SettingsError(describe(exc)) from None


def describe(exc: ValidationError) -> str:
    """One line per bad setting, naming the variable but never its value."""
    problems = []
    for error in exc.errors(include_input=False, include_url=False):
        name = "UPLIFT_" + str(error["loc"][0]).upper() if error["loc"] else "settings"
        message = str(error["msg"]).removeprefix("Value error, ")
        problems.append(f"{name}: {message}")
    return "; ".join(problems)
