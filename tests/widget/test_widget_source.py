"""The widget's source rules (docs/style.md, widget recipe): readable modules in
static/widget/src/ with no HTML or code from strings and no inline handlers or styles, built into
one strict IIFE whose only global is `window.Uplift` (and parts it loads on first use, modules
that export one function). The API rules hold of the built file too:
esbuild must not bring back what the source leaves out."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.widget.paths import BUILT, SOURCE, source_files

FORBIDDEN = {
    "innerHTML": r"\binnerHTML\b",
    "outerHTML": r"\bouterHTML\b",
    "insertAdjacentHTML": r"\binsertAdjacentHTML\b",
    "eval": r"\beval\s*\(",
    "new Function": r"\bnew\s+Function\b",
    "string timer": r"\bset(?:Timeout|Interval)\s*\(\s*['\"`]",
    "inline handler property": r"\.on[a-z]+\s*=(?!=)",
    "inline handler attribute": r"['\"`]on[a-z]+['\"`]\s*[,:]|\bon[a-z]+\s*=\s*['\"]",
    "document.write": r"\bdocument\.write",
    "style element": r"createElement\(\s*['\"]style['\"]",
    "style attribute": r"['\"]style['\"]",
}
GLOBAL_ASSIGNMENT = r"\b(?:window|globalThis|self)\.([A-Za-z_$][\w$]*)\s*=(?!=)"
COLUMNS = 100  # as pyproject.toml's ruff line-length


def _code(path: Path) -> str:
    """A file without its comments, so a comment may name what the code must not do."""
    source = path.read_text(encoding="utf-8")
    source = re.sub(r"/\*.*?\*/", "", source, flags=re.DOTALL)
    return re.sub(r"(?m)^\s*//.*$|\s//\s.*$", "", source)


def _name(path: Path) -> str:
    return path.relative_to(SOURCE.parent).as_posix()


PARTS = sorted(BUILT.parent.glob("uplift-*.js"))  # what the core loads on first use
CHECKED = [*source_files(), BUILT, *PARTS]


def test_the_source_is_there() -> None:
    """The modules these rules read exist, the entry point among them (an empty glob would
    make every rule below pass)."""
    assert SOURCE / "index.js" in source_files()
    assert len(source_files()) > 1


@pytest.mark.parametrize("pattern", FORBIDDEN.values(), ids=FORBIDDEN.keys())
@pytest.mark.parametrize("path", CHECKED, ids=_name)
def test_no_forbidden_api(path: Path, pattern: str) -> None:
    """No HTML parsing, no code from strings, no inline handlers, no inline styles, in any
    source module or in the built file."""
    assert re.findall(pattern, _code(path)) == []


def test_built_file_is_one_strict_iife() -> None:
    """The built file is its banner comment (naming the source), then one strict
    `(()=>{…})();` and nothing after it."""
    built = BUILT.read_text(encoding="utf-8")
    banner, _, code = built.partition("*/\n")
    assert banner.startswith("/*! Uplift widget")
    assert "source: static/widget/src/" in banner
    assert code.startswith('"use strict";(()=>{')
    assert code.endswith("})();\n")


@pytest.mark.parametrize("path", PARTS, ids=_name)
def test_each_part_is_one_module_exporting_one_function(path: Path) -> None:
    """A part is its banner comment, then an ES module whose one statement exports the function
    the core calls with its kit (`uplift`); no import of its own: it reads the core's modules
    from the kit, so it never loads another copy of them."""
    built = path.read_text(encoding="utf-8")
    banner, _, code = built.partition("*/\n")
    assert banner.startswith("/*! Uplift widget")
    assert code.startswith("export default function (uplift) {(()=>{")
    assert code.endswith("})();}\n")
    assert re.search(r"\bimport\b", code) is None
    assert code.count("export ") == 1


def test_entry_point_is_strict_and_captures_the_script_first() -> None:
    """index.js opens with 'use strict' (esbuild keeps it for the IIFE; modules are strict, the
    built script would not be), and its first statement after the imports reads
    `document.currentScript`, which is null once the script's first run is over."""
    code = _code(SOURCE / "index.js").strip()
    assert code.startswith("'use strict';")
    statements = [
        line for line in code.splitlines()[1:] if line.strip() and not line.startswith("import ")
    ]
    assert statements[0] == "const script = document.currentScript;"
    others = [p for p in source_files() if "currentScript" in _code(p)]
    assert others == [SOURCE / "index.js"]


@pytest.mark.parametrize("path", CHECKED, ids=_name)
def test_only_global_is_uplift(path: Path) -> None:
    """The only global written is `window.Uplift`, once, in the entry point; nothing else
    touches window, globalThis or self as an assignment target."""
    assignments = re.findall(GLOBAL_ASSIGNMENT, _code(path))
    expected = ["Uplift"] if path in (SOURCE / "index.js", BUILT) else []
    assert assignments == expected


@pytest.mark.parametrize("path", source_files(), ids=_name)
def test_source_is_modern_and_readable(path: Path) -> None:
    """const and let, never var; lines of at most 100 columns."""
    assert re.findall(r"\bvar\s", _code(path)) == []
    long = [
        n for n, line in enumerate(path.read_text("utf-8").splitlines(), 1) if len(line) > COLUMNS
    ]
    assert long == [], f"{_name(path)}: lines over {COLUMNS} columns: {long}"
