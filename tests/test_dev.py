"""The README's two commands stay true: they are what `.ci/run` runs, the test command fails a
run that executed no test, and the documentation links nothing outside the repository."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

import dev

REPO = Path(__file__).resolve().parent.parent
DOCUMENTS = [
    REPO / "README.md",
    REPO / "CONTRIBUTING.md",
    REPO / "static" / "widget" / "README.md",
    REPO / "tests" / "data" / "README.md",
    *sorted((REPO / "docs").glob("*.md")),
]


def _section(markdown: str, heading: str) -> str:
    start = markdown.index(f"\n{heading}\n")
    following = markdown.find("\n## ", start + 1)
    return markdown[start : following if following != -1 else None]


def _commands(section: str) -> list[str]:
    return [block.strip() for block in re.findall(r"```sh\n(.*?)```", section, re.DOTALL)]


def test_the_readme_has_two_commands_and_ci_runs_the_test_command_verbatim() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert _commands(_section(readme, "## Two commands")) == [
        "python3 dev.py demo",
        "python3 dev.py test",
    ]
    ci = [
        line.strip()
        for line in (REPO / ".ci" / "run").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    assert ci[-1] == "python3 dev.py test"  # the last thing CI does, so its status is CI's
    assert "python3 dev.py check" in ci


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda p: str(p.relative_to(REPO)))
def test_documents_link_only_inside_the_repository(document: Path) -> None:
    text = document.read_text(encoding="utf-8")
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if re.match(r"[a-z]+:", target) or target.startswith("#"):
            continue  # a web page cited as a source, or an anchor
        path = (document.parent / target.split("#", 1)[0]).resolve()
        assert path.is_relative_to(REPO), f"{document.name} links {target}, outside the repository"
        assert path.exists(), f"{document.name} links {target}, which does not exist"


def _half(args: list[str], tmp_path: Path) -> dev.Half:
    half = dev.Half("SQLite", {"UPLIFT_TEST_DATABASE": "sqlite"}, [])
    report, coverage = tmp_path / "report.xml", tmp_path / ".coverage"
    half.run(Path(sys.executable), ["-p", "no:cacheprovider", *args], report, coverage)
    return half


def test_a_half_counts_what_pytest_ran(tmp_path: Path) -> None:
    half = _half(["tests/test_pins.py", "-q"], tmp_path)
    assert (half.code, half.failed, half.skipped) == (0, 0, 0)
    assert half.passed > 0
    assert half.summary().startswith(f"SQLite: {half.passed} passed, 0 failed, 0 skipped")


def test_a_run_that_executes_no_test_fails(tmp_path: Path) -> None:
    half = _half(["tests/test_pins.py", "-q", "-k", "no_test_is_named_like_this"], tmp_path)
    assert (half.code, half.passed) == (5, 0)
    assert "no test was collected" in half.summary()
    assert dev.verdict([half]) == 1


def test_both_halves_must_pass_for_the_run_to_pass(tmp_path: Path) -> None:
    good = _half(["tests/test_pins.py", "-q"], tmp_path)
    bad = dev.Half("PostgreSQL", {}, [])
    bad.code, bad.failed = 1, 1
    assert dev.verdict([good]) == 0
    assert dev.verdict([good, bad]) == 1


def test_dev_py_without_a_command_explains_itself() -> None:
    shown = subprocess.run(
        [sys.executable, str(REPO / "dev.py")], capture_output=True, text=True, check=False
    )
    assert shown.returncode == 2
    assert "python3 dev.py test" in shown.stderr
