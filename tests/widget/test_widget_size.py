"""The widget's size budget (docs/contract.md, Budgets): at most 12 KB gzipped."""

from __future__ import annotations

import gzip

from plugin.api.static import WIDGET_PATH

BUDGET = 12 * 1024


def test_gzipped_widget_fits_the_budget() -> None:
    """`static/widget/uplift.js` gzipped at level 9 is at most 12 KB; the size is printed."""
    data = WIDGET_PATH.read_bytes()
    size = len(gzip.compress(data, 9))
    print(f"uplift.js: {len(data)} bytes, {size} bytes gzipped (budget {BUDGET})")  # noqa: T201
    assert size <= BUDGET
