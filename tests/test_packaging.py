"""A wheel install finds the widget and the demo's files, not only a checkout or an editable
install: `static/` lies beside the packages, so pyproject.toml ships it as data files."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PIP = [sys.executable, "-m", "pip", "--disable-pip-version-check"]
pytestmark = pytest.mark.e2e

SHIPPED = [
    "static/widget/uplift.js",
    "static/widget/locales/ko.json",
    "static/demo/dashboard.html",
    "static/demo/order.html",
    "static/demo/billing.html",
    "static/demo/demo.js",
    "static/demo/demo.css",
]


def _source_copy(target: Path) -> Path:
    """The working tree as git sees it (tracked and new files, nothing ignored), so the build
    leaves no build/ or egg-info behind in the repository."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    for name in listed:
        source = REPO / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    return target


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if shutil.which("git") is None:
        pytest.skip("git is needed to list the source files")
    source = _source_copy(tmp_path_factory.mktemp("source"))
    out = tmp_path_factory.mktemp("wheel")
    built = subprocess.run(
        # The build backend is the pinned one in this environment (requirements/*.txt).
        [*PIP, "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(out), str(source)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert built.returncode == 0, built.stdout + built.stderr
    [found] = out.glob("uplift-*.whl")
    return found


def test_wheel_carries_the_widget_and_the_demo(wheel: Path) -> None:
    """Every file the server serves from static/ is in the wheel, byte for byte."""
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        for name in SHIPPED:
            [entry] = [n for n in names if n.endswith(f".data/data/share/uplift/{name}")]
            assert archive.read(entry) == (REPO / name).read_bytes(), name


@pytest.mark.timeout(600)  # installs the pinned runtime set (from pip's cache after the first run)
def test_installed_wheel_serves_the_widget_from_its_data_files(wheel: Path, tmp_path: Path) -> None:
    """Installed into a fresh environment, with its dependencies from the pins and nothing
    else, the package's requirements are met and it finds uplift.js and the demo pages under
    the environment's share/uplift/static/."""
    env = tmp_path / "venv"
    # From the interpreter this suite runs under (a virtual environment's `venv` builds on its
    # base interpreter), without pip: this environment's pip installs into it.
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(env)], check=True)
    python = env / "bin" / "python"
    into = [*PIP, "--python", str(python)]
    for command in (
        [*into, "install", "-q", "--require-hashes", "-r", str(REPO / "requirements" / "base.txt")],
        [*into, "install", "-q", "--no-deps", str(wheel)],
        [*into, "check"],  # the wheel's own requirements are all met by the pinned runtime set
    ):
        done = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
        assert done.returncode == 0, done.stdout + done.stderr
    probe = (
        "import plugin; from plugin.api import dashboard, static; "
        "from plugin.demo import site as demo_site; "
        "print(plugin.__file__); print(static.WIDGET_PATH); print(demo_site.DEMO_DIR); "
        "print(dashboard.ADMIN_DIR); "
        "print(len(static.Asset.load(static.WIDGET_PATH).gzipped))"
    )
    shown = subprocess.run(
        [str(python), "-c", probe], cwd=tmp_path, capture_output=True, text=True, check=False
    )
    assert shown.returncode == 0, shown.stderr
    package, widget, demo, admin, gzipped = shown.stdout.splitlines()
    assert Path(package).is_relative_to(env)  # the wheel's copy, not the editable checkout
    assert Path(widget) == env / "share" / "uplift" / "static" / "widget" / "uplift.js"
    assert Path(demo) == env / "share" / "uplift" / "static" / "demo"
    assert Path(admin) == env / "share" / "uplift" / "static" / "admin"
    assert int(gzipped) > 0
