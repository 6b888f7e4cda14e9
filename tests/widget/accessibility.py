"""axe-core (through axe-playwright-python) for the browser tests: the WCAG 2.x A and AA rules,
and only the violations that matter most. axe-core walks open shadow roots, which is where the
widget renders; `test_axe_sees_inside_the_widgets_shadow_root` proves it does here."""

from __future__ import annotations

from typing import Any

from axe_playwright_python.async_playwright import Axe  # type: ignore[import-untyped]  # no stubs upstream
from playwright.async_api import Page

WCAG_A_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]
# In the widget's shadow roots too: Chromium's document.getAnimations() leaves them out (the
# dialog's fade-in was measured mid-way, white text at 3.7:1).
FINISH_ANIMATIONS = """async () => {
    const hosts = [...document.querySelectorAll('[data-uplift]')];
    const roots = [document, ...hosts.map((host) => host.shadowRoot)];
    await Promise.all(roots.flatMap((r) => (r ? r.getAnimations() : [])).map((a) => a.finished));
    await new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(done)));
}"""
OPTIONS = {"runOnly": {"type": "tag", "values": WCAG_A_AA}, "resultTypes": ["violations"]}


async def wcag_violations(
    page: Page, *, impacts: tuple[str, ...] = ("serious", "critical")
) -> list[Any]:
    """(rule, impact, first targets) of each WCAG A/AA violation of the given impacts, once
    running animations are over (a dialog fading in has, for a moment, too little contrast)."""
    await page.evaluate(FINISH_ANIMATIONS)
    results = await Axe().run(page, options=OPTIONS)
    return [
        (v["id"], v["impact"], [n["target"] for n in v["nodes"]][:3])
        for v in results.response["violations"]
        if v["impact"] in impacts
    ]
