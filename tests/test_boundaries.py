"""Architecture rules, checked on the source (the README's "Architecture" says them in words):
no import circles; storage below the domain; the pure core does no I/O; HTTP only at the
edge; middleware calls no handler of its own; each outside system has exactly one door."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("plugin",)

# The pure core: no I/O, no clock; time and data come in as arguments. It imports nothing of
# Uplift but other pure modules and the error tree.
PURE = [
    "plugin/errors.py",
    "plugin/ratelimit.py",
    "plugin/timespan.py",
    "plugin/customers/answers.py",
    "plugin/billing/money.py",
    "plugin/billing/catalog.py",
    "plugin/billing/proration.py",
    "plugin/billing/trials.py",
    "plugin/billing/mirror.py",
    "plugin/billing/history.py",
    "plugin/billing/backfill.py",
    "plugin/offers/model.py",
    "plugin/offers/targeting.py",
    "plugin/offers/schedule.py",
    "plugin/offers/experiments.py",
    "plugin/offers/sequential.py",
    "plugin/offers/eligibility.py",
    "plugin/offers/downgrades.py",
    "plugin/offers/explain.py",
    "plugin/offers/audience.py",
    "plugin/offers/relevance.py",
    "plugin/metrics/revenue.py",
    "plugin/metrics/ltv.py",
    "plugin/metrics/cohorts.py",
    "plugin/webhooks/signature.py",
    "plugin/outbound/events.py",
    "plugin/outbound/backoff.py",
    "plugin/customers/thresholds.py",
    "plugin/email/templates.py",
    "plugin/email/links.py",
    "plugin/email/campaign.py",
]
IMPURE_IMPORTS = {
    "aiosqlite", "sqlite3", "asyncpg", "stripe", "httpx", "requests", "socket", "time",
    "subprocess", "starlette", "uvicorn", "plugin.storage", "plugin.billing.stripe_gateway",
    "plugin.clock", "random", "secrets", "os", "pathlib", "urllib.request", "asyncio",
}  # fmt: skip

# Which modules may import each outside system.
DOORS = {
    "stripe": {"plugin/billing/stripe_gateway.py"},
    "aiosqlite": {"plugin/storage/sqlite.py"},
    "sqlite3": {"plugin/storage/sqlite.py"},
    "asyncpg": {"plugin/storage/postgres.py"},
    "localstripe": set(),  # the emulator is never imported by Uplift itself
}
# HTTP lives at the edge: the app, its middleware, the route handlers, the server, and the two
# routes outside plugin/api/ (Stripe's webhook intake and the demo SaaS's own pages).
HTTP = ("starlette", "uvicorn", "h11", "httptools")
HTTP_EDGE = {
    "plugin/app.py", "plugin/server.py", "plugin/head_limits.py", "plugin/services.py",
    "plugin/webhooks/endpoint.py",
}  # fmt: skip
HTTP_EDGE_PACKAGES = ("plugin/api/", "plugin/middleware/", "plugin/demo/")  # the demo serves pages
# SQL text (a statement's first words) appears only in storage.
SQL = re.compile(
    r"^\s*(SELECT\s|INSERT\s+INTO\s|UPDATE\s+\w+\s+SET\s|DELETE\s+FROM\s|CREATE\s+TABLE\s)", re.I
)


def _module(path: Path) -> str:
    relative = path.relative_to(ROOT).with_suffix("")
    parts = relative.parts[:-1] if relative.name == "__init__" else relative.parts
    return ".".join(parts)


def _graph() -> dict[str, set[str]]:
    """Uplift's modules and the Uplift modules each imports, anywhere in the file (a
    function-level import is an import too), outside `if TYPE_CHECKING:` blocks."""
    modules = {_module(path): path for path in _sources()}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        typing_only = {
            id(node)
            for block in ast.walk(tree)
            if isinstance(block, ast.If) and "TYPE_CHECKING" in ast.unparse(block.test)
            for node in ast.walk(block)
        }
        found: set[str] = set()
        for node in ast.walk(tree):
            if id(node) in typing_only:
                continue
            if isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names if alias.name in modules)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                submodules = {f"{node.module}.{alias.name}" for alias in node.names} & set(modules)
                found.update(submodules)
                if node.module in modules and len(submodules) < len(node.names):
                    found.add(node.module)  # names from the module itself, not only submodules
        found.discard(name)
        graph[name] = found
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for other in sorted(graph[node]):
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while True:
                other = stack.pop()
                on_stack.discard(other)
                component.append(other)
                if other == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


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


def test_no_module_imports_itself_in_a_circle() -> None:
    """The import graph of plugin/ is acyclic, counting imports inside functions too."""
    assert _cycles(_graph()) == []


def test_storage_imports_only_storage_the_pure_core_and_settings() -> None:
    """plugin/storage/ sits under the domain: it may use the pure core's values (a Price, an
    Offer, a mirrored subscription) and the error tree, never the services that call it
    (quotes, upgrades, customers, webhooks), the API or HTTP."""
    pure = {path.removesuffix(".py").replace("/", ".") for path in PURE}
    allowed = pure | {"plugin.settings", "plugin", "plugin.billing", "plugin.offers"}
    graph = _graph()
    wrong = {
        module: sorted(
            other
            for other in imported
            if not other.startswith("plugin.storage") and other not in allowed
        )
        for module, imported in graph.items()
        if module.startswith("plugin.storage")
    }
    assert {module: others for module, others in wrong.items() if others} == {}


@pytest.mark.parametrize("relative", PURE)
def test_pure_core_imports_only_the_pure_core(relative: str) -> None:
    """A pure module builds on pure modules only, so the whole core stays free of I/O."""
    pure = {path.removesuffix(".py").replace("/", ".") for path in PURE}
    module = relative.removesuffix(".py").replace("/", ".")
    outside = sorted(other for other in _graph()[module] if other not in pure | {"plugin"})
    assert outside == []


def test_http_lives_only_at_the_edge() -> None:
    """Starlette and the HTTP servers are imported by the app, its middleware, the handlers
    and the server only; the domain and storage never see a request."""
    importers = {
        str(path.relative_to(ROOT))
        for path in _sources()
        if any(_touches(_imports(path), system) for system in HTTP)
    }
    outside = sorted(
        path
        for path in importers
        if path not in HTTP_EDGE and not path.startswith(HTTP_EDGE_PACKAGES)
    )
    assert outside == []


def test_middleware_imports_no_handler() -> None:
    """Middleware is handed what it calls (by create_app, from the route table); it imports no
    route handler, only the error edge (plugin/api/errors.py)."""
    handlers = ("plugin.api", "plugin.webhooks.endpoint", "plugin.demo.site")
    reaching = {
        (module, other)
        for module, imported in _graph().items()
        if module == "plugin.middleware" or module.startswith("plugin.middleware.")
        for other in imported
        if other.startswith(handlers) and other != "plugin.api.errors"
    }
    assert reaching == set()


def test_sql_text_appears_only_in_storage() -> None:
    """No statement is written outside plugin/storage/ (its docstrings and comments may say
    what a statement does; string constants that start like a statement may not)."""
    found = []
    for path in _sources():
        relative = str(path.relative_to(ROOT))
        if relative.startswith("plugin/storage/"):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.Constant)
                and isinstance(node.value, str)
                and SQL.match(node.value)
            ):
                found.append(f"{relative}:{node.lineno}")
    assert found == []
