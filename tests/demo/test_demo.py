"""`uplift demo`: one command brings up Stripe, a seeded catalog and the server; Ctrl-C or
SIGTERM ends all."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import sqlite3  # noqa: TID251 -- the test inspects the demo's database file directly
import subprocess
import sys
from collections.abc import Awaitable, Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import Page, expect

from tests.browser import Watched
from tests.support import free_port, stop, uplift_env, wait_until_ready
from tests.widget.accessibility import wcag_violations

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


def _demo_env(tmp_path: Path) -> dict[str, str]:
    """The demo's temporary directory (tempfile.mkdtemp) goes under the test's own."""
    return {**uplift_env(), "TMPDIR": str(tmp_path)}


def _children(pid: int) -> list[int]:
    """The processes `pid` started (the demo's only one is the emulator), from /proc."""
    return [
        int(child)
        for task in Path(f"/proc/{pid}/task").glob("*")
        for child in (task / "children").read_text().split()
    ]


def _exists(pid: int) -> bool:
    """Still a process, even a zombie: the demo reaps the emulator it stops, so its pid is gone
    by the time the demo has exited; an emulator it left behind would still be there."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@contextlib.contextmanager
def _running(args: list[str], tmp_path: Path) -> Iterator[subprocess.Popen[str]]:
    """`python ARGS` (a demo), its output piped to the test, stopped and closed afterwards."""
    process = subprocess.Popen(
        [sys.executable, *args],
        env=_demo_env(tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        yield process
    finally:
        stop(process)
        if process.stdout is not None:
            process.stdout.close()


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], dict[str, str], str]]:
    port = free_port()
    with _running(["-m", "plugin", "demo", "--port", str(port)], tmp_path) as process:
        banner = _read_banner(process)
        url = f"http://127.0.0.1:{port}"
        wait_until_ready(url, process)
        yield process, banner, url


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


def test_demo_stops_everything_on_sigterm_while_serving(
    demo: tuple[subprocess.Popen[str], dict[str, str], str], tmp_path: Path
) -> None:
    """SIGTERM (a service manager's, `kill`'s) ends the demo as Ctrl-C does, exit status 143:
    the server shuts down, the emulator is stopped and reaped, the temporary directory removed."""
    process, banner, _ = demo
    workdir = Path(banner["database"]).parent
    assert workdir.parent == tmp_path
    [emulator] = _children(process.pid)

    process.send_signal(signal.SIGTERM)
    assert process.wait(10) == 143
    assert list(tmp_path.glob("uplift-demo-*")) == []
    assert not _exists(emulator)
    with pytest.raises(httpx.TransportError):
        httpx.get(banner["local Stripe"], timeout=2)


def test_simulated_demo_stops_everything_on_sigterm(tmp_path: Path) -> None:
    """`uplift demo --simulate 1` serves from a thread once its customer is simulated; SIGTERM
    stops that server, the emulator and the temporary directory too, exit status 143."""
    args = ["-m", "plugin", "demo", "--port", str(free_port()), "--simulate", "1"]
    with _running(args, tmp_path) as process:
        banner = _read_banner(process)
        [workdir] = tmp_path.glob("uplift-demo-*")
        [emulator] = _children(process.pid)
        process.send_signal(signal.SIGTERM)
        assert process.wait(20) == 143
    assert not workdir.exists()
    assert not _exists(emulator)
    with pytest.raises(httpx.TransportError):
        httpx.get(banner["dashboard"], timeout=2)


# `uplift demo` (plugin.cli.main) with the seeding replaced by a pause that says so: a fixed
# point after the temporary directory and the emulator exist and before uvicorn starts.
_PAUSED_WHILE_SEEDING = """
import asyncio, sys
from plugin import cli
from plugin.demo import run as demo

async def paused(settings, *, port):
    print("seeding", flush=True)
    await asyncio.Event().wait()

demo.prepare = paused
raise SystemExit(cli.main(["demo", "--port", sys.argv[1]]))
"""


def test_demo_stops_everything_on_sigterm_while_seeding(tmp_path: Path) -> None:
    """SIGTERM before the server is up (uvicorn has not taken the signal over yet) also stops
    the emulator and removes the temporary directory, with exit status 143."""
    with _running(["-c", _PAUSED_WHILE_SEEDING, str(free_port())], tmp_path) as process:
        assert process.stdout is not None
        assert process.stdout.readline() == "seeding\n"
        [workdir] = tmp_path.glob("uplift-demo-*")
        [emulator] = _children(process.pid)
        process.send_signal(signal.SIGTERM)
        assert process.wait(10) == 143
    assert not workdir.exists()
    assert not _exists(emulator)


def _admin(url: str, banner: dict[str, str], path: str) -> Any:
    response = httpx.get(
        url + path, headers={"Authorization": f"Bearer {banner['admin key']}"}, timeout=10
    )
    assert response.status_code == 200, response.text
    return response.json()


async def _widget_region(page: Page, container: str) -> Any:
    """The first banner the widget rendered inside `container` (its Shadow DOM is open)."""
    region = page.locator(container).get_by_role("region").first
    await expect(region).to_be_visible(timeout=15_000)
    return region


@pytest.mark.browser
async def test_demo_app_walks_upgrade_cross_sell_and_retention_through_the_real_server(
    demo: tuple[subprocess.Popen[str], dict[str, str], str],
    open_page: Callable[[str], Awaitable[Watched]],
    artifacts: Path,
) -> None:
    """Acme Analytics under a strict CSP: Dana (Basic, 9 of 10 GB) sees the usage banner and
    upgrades to Pro, charged and recorded by Uplift; she buys an add-on and says Yes to the
    Advanced Reports cross-sell, which the emulator charges; Priya (Pro), picked in the
    switcher, sees the annual switch and, on downgrade, the retention screen, takes its 20 %
    (shown, then applied in Stripe, nothing charged), then downgrades after all, which comes
    back to Uplift through the emulator's webhooks."""
    _, banner, url = demo
    assert banner["demo app"] == f"{url}/demo"
    watched = await open_page(f"{url}/demo")
    page = watched.page
    expect.set_options(timeout=15_000)

    # Dashboard: the banner, then the upgrade modal, charged as shown.
    storage = await _widget_region(page, "#storage-banner")
    await expect(storage).to_contain_text(re.compile(r"You\u2019ve used 9\sGB of 10\sGB"))
    await expect(page.locator("#plan")).to_have_text("Dana is on Basic (monthly).")
    await page.screenshot(path=artifacts / "demo-dashboard-banner.png")
    await storage.get_by_role("button").first.click()
    dialog = page.get_by_role("dialog")
    confirm = dialog.get_by_role("button", name="Confirm and pay")
    await expect(confirm).to_be_visible()
    shown = await dialog.locator("[data-uplift-due]").text_content()
    await page.screenshot(path=artifacts / "demo-upgrade-quote.png")
    await confirm.click()
    await expect(dialog.get_by_role("heading")).to_have_text("You\u2019re upgraded")
    await expect(dialog).to_contain_text(f"Paid {shown}.")
    await page.screenshot(path=artifacts / "demo-upgrade-success.png")
    await dialog.get_by_role("button", name="Done").click()
    [upgrade] = _admin(url, banner, "/api/v1/admin/upgrades")["data"]
    assert upgrade["status"] == "succeeded"
    await expect(page.locator("#plan")).to_have_text("Dana is on Pro (monthly).")

    # An order, then the post-order cross-sell: Yes opens Uplift's quote for the add-on,
    # confirming charges exactly the amount shown and adds it to the same subscription.
    await page.get_by_role("button", name="Buy Extra Storage").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Thank you for your order")
    popup = page.get_by_role("dialog", name="Add Advanced Reports?")
    await expect(popup).to_be_visible()
    await page.screenshot(path=artifacts / "demo-order-cross-sell.png")
    await popup.get_by_role("button", name="Yes, add it").click()
    confirm = dialog.get_by_role("button", name="Confirm and pay")
    await expect(confirm).to_be_visible()
    shown = await dialog.locator("[data-uplift-due]").text_content()
    await confirm.click()
    await expect(dialog.get_by_role("heading")).to_have_text("Added to your subscription")
    await dialog.get_by_role("button", name="Done").click()
    await expect(page.locator("#cross-sell-status")).to_contain_text(
        f"Advanced Reports added to your subscription: {shown} charged today"
    )
    upgrades = _admin(url, banner, "/api/v1/admin/upgrades")["data"]
    cross_sells = [u for u in upgrades if u["offer_id"] == "offer_reports_post_order"]
    assert [u["status"] for u in cross_sells] == ["succeeded"]
    await page.screenshot(path=artifacts / "demo-order-added.png")
    await watched.assert_clean()

    # Billing, as Priya (the switcher): the annual switch, then downgrade → retention.
    await page.get_by_role("link", name="Billing").click()
    await page.get_by_label("Signed in as").select_option("demo-pro")
    await expect(page.locator("#plan")).to_have_text("Priya is on Pro (monthly).")
    offers = page.locator("#billing-offers")
    await expect(
        offers.get_by_role("region", name="Switch to annual: 2 months free")
    ).to_be_visible()
    await page.screenshot(path=artifacts / "demo-billing.png")
    await page.get_by_role("button", name="Downgrade to Basic").click()
    retention = page.get_by_role("dialog", name="Before you go: 20 % off for 3 months")
    await expect(retention).to_be_visible()
    await page.screenshot(path=artifacts / "demo-retention.png")
    # She takes the 20 % first: shown the price she keeps, then applied (a coupon in Stripe).
    await retention.get_by_role("button", name="Stay and save 20 %").click()
    kept = page.get_by_role("dialog", name="Confirm your discount")
    await expect(kept).to_contain_text(
        re.compile(r"You keep your plan and pay \$79\.20 instead of \$99\.00 until ")
    )
    await page.screenshot(path=artifacts / "demo-retention-discount.png")
    await kept.get_by_role("button", name="Confirm").click()
    await expect(page.locator("#downgrade-status")).to_have_text(
        "Thanks for staying on Pro: your discount is applied."
    )
    upgrades = _admin(url, banner, "/api/v1/admin/upgrades")["data"]
    [stayed] = [u for u in upgrades if u["offer_id"] == "offer_retention"]
    assert (stayed["status"], stayed["amount_paid"]) == ("succeeded", 0)
    # Then she downgrades after all (the offer she took is not offered again).
    await page.get_by_role("button", name="Downgrade to Basic").click()
    await page.get_by_role("dialog").get_by_role("button", name="Downgrade to Basic").click()
    await expect(page.locator("#downgrade-status")).to_have_text(
        "You are now on Basic from your next invoice."
    )
    await expect(page.locator("#plan")).to_have_text("Priya is on Basic (monthly).")
    await watched.assert_clean()


@pytest.mark.browser
async def test_demo_annual_switch_charges_and_records_exactly_what_it_quoted(
    demo: tuple[subprocess.Popen[str], dict[str, str], str],
    open_page: Callable[[str], Awaitable[Watched]],
    artifacts: Path,
) -> None:
    """Priya (Pro monthly) takes the monthly→annual switch, which Stripe executes (it prorates
    and bills the year now): the modal's "Due today", the "Paid" it reports, the upgrade's
    `amount_paid` and the invoice's amount are one number, and the emulator's webhooks move her
    to Pro (annual) in Uplift with the contraction of MRR the annual price makes."""
    _, banner, url = demo
    watched = await open_page(f"{url}/demo/billing")
    page = watched.page
    expect.set_options(timeout=15_000)
    await page.get_by_label("Signed in as").select_option("demo-pro")
    await expect(page.locator("#plan")).to_have_text("Priya is on Pro (monthly).")
    switch = page.locator("#billing-offers").get_by_role(
        "region", name="Switch to annual: 2 months free"
    )
    await switch.get_by_role("button").first.click()
    dialog = page.get_by_role("dialog")
    confirm = dialog.get_by_role("button", name="Confirm and pay")
    await expect(confirm).to_be_visible()
    shown = await dialog.locator("[data-uplift-due]").text_content()
    assert shown is not None
    due = int(Decimal(re.sub(r"[^0-9.]", "", shown)) * 100)
    assert due > 0
    await page.screenshot(path=artifacts / "demo-annual-quote.png")
    await confirm.click()
    await expect(dialog).to_contain_text(f"Paid {shown}.")
    [switched] = [
        u
        for u in _admin(url, banner, "/api/v1/admin/upgrades")["data"]
        if u["offer_id"] == "offer_pro_annual"
    ]
    assert (switched["execution"], switched["status"]) == ("stripe", "succeeded")
    assert (switched["amount_quoted"], switched["amount_paid"]) == (due, due)
    assert switched["invoice"] is not None
    await dialog.get_by_role("button", name="Done").click()
    await expect(page.locator("#plan")).to_have_text("Priya is on Pro (annual).")
    await watched.assert_clean()


@pytest.mark.browser
async def test_demo_pages_have_no_serious_accessibility_violations(
    demo: tuple[subprocess.Popen[str], dict[str, str], str],
    open_page: Callable[[str], Awaitable[Watched]],
) -> None:
    """axe-core (WCAG 2.x A/AA): no serious or critical violation on the dashboard with its
    banner, the order page with the cross-sell popup, the billing page and its retention screen
    (each page checked clean first: axe adds globals of its own)."""
    _, _, url = demo
    watched = await open_page(f"{url}/demo")
    await _widget_region(watched.page, "#storage-banner")
    await watched.assert_clean()
    assert await wcag_violations(watched.page) == []

    watched = await open_page(f"{url}/demo")
    page = watched.page
    await page.get_by_role("button", name="Buy Extra Storage").click()
    await expect(page.get_by_role("dialog", name="Add Advanced Reports?")).to_be_visible()
    await watched.assert_clean()
    assert await wcag_violations(page) == []

    watched = await open_page(f"{url}/demo/billing?customer=demo-pro")
    page = watched.page
    await _widget_region(page, "#billing-offers")
    await watched.assert_clean()
    assert await wcag_violations(page) == []
    await page.get_by_role("button", name="Downgrade to Basic").click()
    retention = page.get_by_role("dialog", name="Before you go: 20 % off for 3 months")
    await expect(retention).to_be_visible()
    assert await wcag_violations(page) == []
