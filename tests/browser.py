"""Headless Chromium for browser tests: Debian's /usr/bin/chromium driven by Playwright's
Python API (never `playwright install`), pages watched for CSP violations, script errors,
dialogs and new globals. Registered as a pytest plugin in tests/conftest.py, so the widget's
and the dashboard's browser tests share one way of launching and watching."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.async_api import Browser, ConsoleMessage, Dialog, Page, async_playwright

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
# Runs before any page script: records CSP violations and the globals present before the
# widget, so a test can tell exactly which globals the page gained.
WATCH = """
Object.defineProperty(window, '__before', {value: Object.getOwnPropertyNames(window)});
Object.defineProperty(window, '__violations', {value: []});
document.addEventListener('securitypolicyviolation', (e) => {
  window.__violations.push(e.violatedDirective + ' ' + e.blockedURI);
});
"""
NEW_GLOBALS = """Object.getOwnPropertyNames(window).filter(
  (n) => !window.__before.includes(n) && !['__before', '__violations'].includes(n))"""


@pytest.fixture(scope="session")
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Screenshots of each screen, kept with pytest's temporary directories (printed)."""
    path = Path(os.environ.get("UPLIFT_WIDGET_ARTIFACTS") or tmp_path_factory.mktemp("widget"))
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture
def chromium_path() -> Path:
    """Debian's chromium, never a Playwright download. Missing, it skips the browser tests on a
    developer's machine and fails them under CI (where .ci/run installs it)."""
    if not CHROMIUM.exists():
        if os.environ.get("CI", "").lower() not in ("", "0", "false"):
            pytest.fail(f"{CHROMIUM} is missing; .ci/run installs Debian's chromium package")
        pytest.skip(f"{CHROMIUM} is missing (apt-get install -y chromium); under CI this fails")
    return CHROMIUM


@pytest.fixture
async def browser(chromium_path: Path) -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(
            executable_path=str(chromium_path), headless=True, args=ARGS
        )
        try:
            yield chromium
        finally:
            await chromium.close()


@dataclass
class Watched:
    page: Page
    errors: list[str]
    dialogs: list[str]

    async def assert_clean(self, *, http_errors: tuple[int, ...] = ()) -> None:
        """No CSP violation, no script error (Chromium also logs each HTTP error response;
        those the test caused on purpose are named in `http_errors`), no alert, and only
        `window.Uplift` added."""
        assert await self.page.evaluate("window.__violations") == []
        expected = tuple(f"with a status of {status} " for status in http_errors)
        assert [e for e in self.errors if not any(x in e for x in expected)] == []
        assert self.dialogs == []
        assert await self.page.evaluate(NEW_GLOBALS) == ["Uplift"]


@pytest.fixture
async def open_page(browser: Browser) -> AsyncIterator[Callable[[str], Awaitable[Watched]]]:
    context = await browser.new_context(viewport={"width": 1000, "height": 800})

    async def open_(url: str) -> Watched:
        page = await context.new_page()
        watched = Watched(page, [], [])
        await page.add_init_script(WATCH)
        page.on("pageerror", lambda error: watched.errors.append(str(error)))

        def on_console(message: ConsoleMessage) -> None:
            if message.type == "error":
                watched.errors.append(message.text)

        async def on_dialog(dialog: Dialog) -> None:
            watched.dialogs.append(dialog.message)
            await dialog.dismiss()

        page.on("console", on_console)
        page.on("dialog", on_dialog)
        await page.goto(url)
        return watched

    yield open_
    await context.close()
