"""static/widget/uplift.d.ts, the TypeScript declarations of the widget's JS API, events and
custom elements, compiled by the pinned TypeScript (package.json) with `--strict`: a page using
every declaration compiles, and misuses do not."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.widget.paths import REPO

TSC = REPO / "node_modules" / ".bin" / "tsc"
TYPES = Path(__file__).parent / "types"


def _tsc(source: Path) -> subprocess.CompletedProcess[str]:
    if not TSC.exists():
        missing = "node_modules/.bin/tsc is missing (`python3 dev.py widget` runs npm ci)"
        if os.environ.get("CI", "").lower() not in ("", "0", "false"):
            pytest.fail(f"{missing}; under CI it must be there")
        pytest.skip(missing)
    options = ["--strict", "--noEmit", "--target", "es2020", "--lib", "es2020,dom"]
    return subprocess.run(
        [str(TSC), *options, str(source)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_a_page_using_every_declaration_compiles_strictly() -> None:
    result = _tsc(TYPES / "usage.ts")
    assert result.returncode == 0, result.stdout + result.stderr


def test_misuses_are_type_errors() -> None:
    """A style the widget does not have, and an event detail read as the wrong type."""
    result = _tsc(TYPES / "misuse.ts")
    assert result.returncode != 0
    assert "'\"popup\"' is not assignable" in result.stdout
    assert "Type 'string | null' is not assignable to type 'number'" in result.stdout
