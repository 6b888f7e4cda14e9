"""The locks in requirements/ agree with pyproject.toml: every dependency Uplift declares is
pinned at a version its range allows, the smaller locks are the larger one's versions, and every
pin carries hashes. A dependency added to pyproject.toml without `python3 dev.py lock` fails
here, not on a stranger's machine."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

REPO = Path(__file__).resolve().parent.parent
LOCKS = REPO / "requirements"
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)")


def _pins(name: str) -> dict[str, Version]:
    pins: dict[str, Version] = {}
    for line in (LOCKS / f"{name}.txt").read_text(encoding="utf-8").splitlines():
        found = PIN.match(line)
        if found:
            pins[canonicalize_name(found[1])] = Version(found[2])
    return pins


def _declared() -> dict[str, list[Requirement]]:
    with (REPO / "pyproject.toml").open("rb") as f:
        pyproject = tomllib.load(f)
    project = pyproject["project"]
    declared = {"base": [Requirement(r) for r in project["dependencies"]]}
    for extra, requirements in project["optional-dependencies"].items():
        declared[extra] = [Requirement(r) for r in requirements]
    declared["build"] = [Requirement(r) for r in pyproject["build-system"]["requires"]]
    return declared


def _own(requirement: Requirement) -> bool:
    return canonicalize_name(requirement.name) == "uplift"  # an extra naming other extras


@pytest.mark.parametrize(
    ("lock", "groups"),
    [
        ("base", ["base", "build"]),
        ("demo", ["base", "build", "demo"]),
        ("test", ["base", "build", "demo", "postgres", "test"]),
    ],
)
def test_every_declared_dependency_is_pinned_inside_its_range(lock: str, groups: list[str]) -> None:
    pins = _pins(lock)
    declared = _declared()
    for group in groups:
        for requirement in declared[group]:
            if _own(requirement):
                continue
            name = canonicalize_name(requirement.name)
            assert name in pins, f"{requirement} ({group}) is not in {lock}.txt: dev.py lock"
            assert requirement.specifier.contains(pins[name], prereleases=True), (
                f"{lock}.txt pins {name}=={pins[name]}, outside {requirement} ({group})"
            )


def test_smaller_locks_pin_the_same_versions_as_the_test_lock() -> None:
    test = _pins("test")
    for lock in ("base", "demo"):
        pins = _pins(lock)
        assert pins, lock
        assert {name: test.get(name) for name in pins} == pins, lock


@pytest.mark.parametrize("lock", ["base", "demo", "test", "tools"])
def test_every_pin_carries_its_hashes(lock: str) -> None:
    text = (LOCKS / f"{lock}.txt").read_text(encoding="utf-8")
    entries = re.split(r"\n(?=[A-Za-z0-9])", text.split("\n", 2)[2])
    assert entries
    for entry in entries:
        assert PIN.match(entry), entry[:80]
        assert "--hash=sha256:" in entry, entry[:80]
