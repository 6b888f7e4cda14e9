"""The committed `static/widget/uplift.js` (and each `uplift-<part>.js`) is exactly what the
pinned esbuild builds from static/widget/src/ (static/widget/build.mjs, run through
package.json's `build:widget`), so the files served are the source reviewed. Without
node_modules/ (`npm ci`, which `python3 dev.py test` runs) the rebuild is skipped on a
developer's machine and fails under CI."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.widget.paths import BUILT, ESBUILD, REPO, WIDGET


def _json(name: str) -> Any:
    return json.loads((REPO / name).read_text(encoding="utf-8"))


def _pinned() -> str:
    version: str = _json("package.json")["devDependencies"]["esbuild"]
    return version


@pytest.fixture
def npm() -> str:
    """npm, with the locked esbuild installed under node_modules/."""
    npm = shutil.which("npm")
    installed = REPO / "node_modules" / "esbuild" / "package.json"
    if npm is None or not ESBUILD.exists() or not installed.exists():
        if npm is None:
            missing = "npm is missing (apt-get install nodejs npm)"
        else:
            missing = "node_modules/ is missing (`python3 dev.py widget` runs npm ci)"
        if os.environ.get("CI", "").lower() not in ("", "0", "false"):
            pytest.fail(f"{missing}; under CI it must be there (.ci/run, dev.py test)")
        pytest.skip(f"{missing}; under CI this fails")
    version = json.loads(installed.read_text(encoding="utf-8"))["version"]
    assert version == _pinned(), f"node_modules has esbuild {version}, not {_pinned()}: npm ci"
    return npm


def test_esbuild_is_pinned_to_one_exact_version() -> None:
    """package.json names an exact esbuild version (no range), the lock resolves exactly that
    version with an integrity hash, and the package is private (never published)."""
    package = _json("package.json")
    assert package["private"] is True
    assert re.fullmatch(r"\d+\.\d+\.\d+", _pinned())
    lock = _json("package-lock.json")
    assert lock["packages"][""]["devDependencies"] == package["devDependencies"]
    locked = lock["packages"]["node_modules/esbuild"]
    assert locked["version"] == _pinned()
    assert locked["integrity"].startswith("sha512-")


def test_committed_widget_is_the_build_of_its_source(npm: str, tmp_path: Path) -> None:
    """Rebuilt with the pinned esbuild and the options in build.mjs, the source gives the
    committed uplift.js and each of its parts byte for byte, and no other file (after an edit to
    src/: `python3 dev.py widget`)."""
    subprocess.run(
        [npm, "run", "--silent", "build:widget", "--", f"--outdir={tmp_path}"],
        cwd=REPO,
        check=True,
        timeout=120,
    )
    rebuilt = sorted(p.name for p in tmp_path.glob("*.js"))
    assert rebuilt == sorted(p.name for p in WIDGET.glob("uplift*.js"))
    assert BUILT.name in rebuilt
    for name in rebuilt:
        assert (tmp_path / name).read_bytes() == (WIDGET / name).read_bytes(), (
            f"static/widget/{name} is not the build of static/widget/src/: python3 dev.py widget"
        )
