"""`uplift demo`: one command brings up Stripe, a seeded catalog and the server; Ctrl-C ends all."""

from __future__ import annotations

import signal
import sqlite3  # noqa: TID251 -- the test inspects the demo's database file directly
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support import free_port, stop, uplift_env, wait_until_ready

pytestmark = pytest.mark.e2e


def _read_banner(process: subprocess.Popen[str]) -> dict[str, str]:
    assert process.stdout is not None
    banner: dict[str, str] = {}
    for line in process.stdout:
        if line.startswith("Press Ctrl-C"):
            return banner
        key, sep, value = line.strip().partition(":")
        if sep:
            banner[key.strip()] = value.strip()
    raise AssertionError(f"the demo ended before printing its banner: {banner}")


@pytest.fixture
def demo() -> Iterator[tuple[subprocess.Popen[str], dict[str, str], str]]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "plugin", "demo", "--port", str(port)],
        env=uplift_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        banner = _read_banner(process)
        url = f"http://127.0.0.1:{port}"
        wait_until_ready(url, process)
        yield process, banner, url
    finally:
        stop(process)
        if process.stdout is not None:
            process.stdout.close()


def test_demo_serves_a_seeded_catalog_and_stops_everything_on_ctrl_c(
    demo: tuple[subprocess.Popen[str], dict[str, str], str],
) -> None:
    """The demo is ready, its catalog is the contract's, and Ctrl-C stops server and emulator."""
    process, banner, url = demo
    assert banner["admin key"].startswith("uplift_sk_")
    assert banner["customer token"].count(".") == 2
    assert httpx.get(f"{url}/readyz", timeout=5).json()["status"] == "ready"

    with sqlite3.connect(Path(banner["database"])) as conn:
        prices = dict(conn.execute("SELECT lookup_key, unit_amount FROM stripe_prices"))
        products = {row[0] for row in conn.execute("SELECT name FROM stripe_products")}
    assert prices == {
        "basic_monthly": 2900,
        "basic_annual": 29000,
        "pro_monthly": 9900,
        "pro_annual": 99000,
        "enterprise_monthly": 29900,
        "enterprise_annual": 299000,
        "advanced_reports_monthly": 1900,
        "priority_support_monthly": 4900,
        "extra_storage_monthly": 1000,
    }
    assert products == {
        "Basic", "Pro", "Enterprise", "Advanced Reports", "Priority Support",
        "Extra Storage 100 GB",
    }  # fmt: skip

    with sqlite3.connect(Path(banner["database"])) as conn:
        offers = {row[0] for row in conn.execute("SELECT id FROM offers WHERE status = 'active'")}
        plans = [row[0] for row in conn.execute("SELECT id FROM plans ORDER BY tier")]
    assert plans == ["basic", "pro", "enterprise"]
    assert offers == {
        "offer_basic_to_pro", "offer_basic_annual", "offer_pro_annual",
        "offer_reports_post_order", "offer_enterprise_trial", "offer_retention",
    }  # fmt: skip
    shown = httpx.get(
        f"{url}/api/v1/widget/offers?placement=storage_banner",
        headers={"Authorization": f"Bearer {banner['customer token']}"},
        timeout=5,
    )
    assert shown.status_code == 200, shown.text
    # The demo customer's arm is fixed by hash: the "value" variant, not the 10 % holdout.
    assert [(o["offer_id"], o["variant"]) for o in shown.json()["data"]] == [
        ("offer_basic_to_pro", "value")
    ]

    process.send_signal(signal.SIGINT)
    assert process.wait(20) == 0
    with pytest.raises(httpx.TransportError):
        httpx.get(banner["local Stripe"], timeout=2)
    assert not Path(banner["database"]).exists()
