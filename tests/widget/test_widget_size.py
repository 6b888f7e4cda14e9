"""The widget's size budget (docs/contract.md, Budgets): at most 12 KB gzipped."""

from __future__ import annotations

import gzip

from tests.widget.paths import BUILT

BUDGET = 12 * 1024


def test_gzipped_widget_fits_the_budget() -> None:
    """The built `static/widget/uplift.js` gzipped at level 9 is at most 12 KB; the size is
    printed."""
    data = BUILT.read_bytes()
    size = len(gzip.compress(data, 9))
    print(f"uplift.js: {len(data)} bytes, {size} bytes gzipped (budget {BUDGET})")  # noqa: T201
    assert size <= BUDGET
