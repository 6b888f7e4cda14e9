"""The widget's size budgets (docs/contract.md, Budgets), gzipped at level 9: the core every
page loads at most 10 KB, and each file it loads on first use (its parts, its locale
catalogues) within its own budget. Every file's size is printed."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from tests.widget.paths import BUILT, WIDGET

KB = 1024
# The core, then the parts the core loads on first use (static/widget/build.mjs, PARTS).
BUDGETS = {
    "uplift.js": 10 * KB,
    "uplift-dialog.js": 2 * KB,
    "uplift-modal.js": 4 * KB,
    "uplift-retention.js": 3 * KB,
    "uplift-pricing.js": 3 * KB,
}
LOCALE_BUDGET = 3 * KB


def _gzipped(path: Path) -> int:
    data = path.read_bytes()
    size = len(gzip.compress(data, 9))
    print(f"{path.relative_to(WIDGET)}: {len(data)} bytes, {size} bytes gzipped")  # noqa: T201
    return size


def test_every_built_file_has_a_budget() -> None:
    """The files the build writes are exactly the core and the parts budgeted here."""
    assert sorted(p.name for p in WIDGET.glob("uplift*.js")) == sorted(BUDGETS)
    assert BUILT.name in BUDGETS


@pytest.mark.parametrize("name", BUDGETS)
def test_gzipped_file_fits_its_budget(name: str) -> None:
    """Each built file gzipped is within its budget; the core, which every page loads, within
    10 KB."""
    size = _gzipped(WIDGET / name)
    print(f"  budget {BUDGETS[name]}")  # noqa: T201
    assert size <= BUDGETS[name]


def test_every_locale_catalogue_fits_its_budget() -> None:
    """Each language's catalogue (fetched once, on first use) is within 3 KB gzipped."""
    catalogues = sorted((WIDGET / "locales").glob("*.json"))
    assert catalogues
    for path in catalogues:
        assert _gzipped(path) <= LOCALE_BUDGET, path.name
