"""Architecture rules, checked on the source: the pure core does no I/O, and each outside
system has exactly one door."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("plugin", "webhooks")

# Pure modules: no I/O, no clock; they take `now` as an argument. Add each pure module here
# as it lands (proration, targeting, schedule, experiments, metrics, webhooks/signature).
PURE = [
    "plugin/billing/money.py",
    "plugin/billing/catalog.py",
    "plugin/billing/proration.py",
    "plugin/offers/targeting.py",
    "plugin/offers/schedule.py",
    "plugin/offers/experiments.py",
    "plugin/offers/model.py",
    "plugin/offers/eligibility.py",
    "plugin/metrics/revenue.py",
    "plugin/offers/downgrades.py",
    "plugin/billing/trials.py",
    "plugin/ratelimit.py",
    "plugin/webhooks/signature.py",
    "plugin/billing/mirror.py",
]
IMPURE_IMPORTS = {
    "aiosqlite", "sqlite3", "asyncpg", "stripe", "httpx", "requests", "socket", "time",
    "subprocess", "starlette", "uvicorn", "plugin.storage", "plugin.billing.stripe_gateway",
    "plugin.clock", "random", "secrets", "os", "pathlib", "urllib.request",
}  # fmt: skip

# Which modules may import each outside system.
DOORS = {
    "stripe": {"plugin/billing/stripe_gateway.py"},
    "aiosqlite": {"plugin/storage/sqlite.py"},
    "sqlite3": {"plugin/storage/sqlite.py"},
    "localstripe": set(),  # the emulator is never imported by Uplift itself
}


def _sources() -> list[Path]:
    return sorted(p for package in PACKAGES for p in (ROOT / package).rglob("*.py"))


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def _touches(imported: set[str], module: str) -> bool:
    return any(name == module or name.startswith(module + ".") for name in imported)


@pytest.mark.parametrize("relative", PURE)
def test_pure_modules_do_no_io(relative: str) -> None:
    """Proration, targeting, experiments, metrics and signatures take time and data as arguments."""
    imported = _imports(ROOT / relative)
    offending = sorted(m for m in IMPURE_IMPORTS if _touches(imported, m))
    assert offending == []


@pytest.mark.parametrize("system", sorted(DOORS))
def test_each_outside_system_has_one_door(system: str) -> None:
    """Only the gateway imports stripe; only storage imports the SQLite drivers."""
    importers = {
        str(path.relative_to(ROOT)) for path in _sources() if _touches(_imports(path), system)
    }
    assert importers <= DOORS[system]


def test_importing_the_packages_does_nothing() -> None:
    """No module builds settings, opens a database or starts a client at import time."""
    for path in _sources():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in tree.body:
            if isinstance(node, ast.Assign | ast.AnnAssign | ast.Expr):
                value = node.value
                if isinstance(value, ast.Call):
                    called = ast.unparse(value.func)
                    assert not called.endswith(
                        ("Settings", "load_settings", "connect", "StripeGateway", "create_app")
                    ), f"{path.relative_to(ROOT)} calls {called} at import"
