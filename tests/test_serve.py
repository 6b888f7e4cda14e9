"""`uplift serve` end to end: a real process on a free loopback port."""

from __future__ import annotations

import signal
import sqlite3  # noqa: TID251 -- the test inspects the served database file directly
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from plugin import storage
from tests.conftest import Served
from tests.support import WEBHOOK_SECRET, WIDGET_SECRET, sqlite_only

pytestmark = pytest.mark.e2e


@sqlite_only
def test_serve_migrates_then_reports_ready(serve: Callable[..., Served], tmp_path: Path) -> None:
    """A fresh database file is migrated on start and `/readyz` says so."""
    served = serve()
    ready = httpx.get(f"{served.url}/readyz", timeout=5)
    assert ready.status_code == 200
    assert ready.json()["status"] == "ready"
    with sqlite3.connect(tmp_path / "served.db") as conn:
        versions = conn.execute("SELECT version FROM schema_migrations").fetchall()
    assert versions == [(m.version,) for m in storage.migrations.available()]


def test_serve_with_two_workers_shares_one_database(serve: Callable[..., Served]) -> None:
    """Several worker processes start on one SQLite file and all answer."""
    served = serve("--workers", "2")
    for _ in range(10):
        assert httpx.get(f"{served.url}/readyz", timeout=5).status_code == 200


def test_secrets_and_tokens_never_reach_the_log(serve: Callable[..., Served]) -> None:
    """Canary secrets in settings, headers and query strings leave no trace in the output."""
    canaries = {
        "stripe_api_key": "sk_test_CANARYstripekey0123456789",
        "widget_secret": WIDGET_SECRET,
        "stripe_webhook_secrets": WEBHOOK_SECRET,
        "admin_key": "uplift_sk_CANARYadminkey0123456789",
    }
    served = serve(**canaries)
    bearer = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJjYW5hcnkifQ.CANARYsignature"
    httpx.get(
        f"{served.url}/nope?token={bearer}",
        headers={"Authorization": f"Bearer {bearer}"},
        timeout=5,
    )
    httpx.post(f"{served.url}/healthz", content=canaries["admin_key"], timeout=5)
    served.process.send_signal(signal.SIGTERM)
    served.process.wait(10)
    log = served.log()
    assert '"path": "/nope"' in log  # the request was logged …
    for secret in [*canaries.values(), bearer, "CANARY"]:
        assert secret not in log  # … without any secret
