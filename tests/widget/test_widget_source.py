"""The widget's source rules (docs/style.md, widget recipe): one IIFE, one global, no HTML or code
from strings, no inline handlers."""

from __future__ import annotations

import re

import pytest

from plugin.api.static import WIDGET_PATH

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


def _code() -> str:
    """The source without comments, so a comment may name what the code must not do."""
    source = WIDGET_PATH.read_text(encoding="utf-8")
    source = re.sub(r"/\*.*?\*/", "", source, flags=re.DOTALL)
    return re.sub(r"(?m)^\s*//.*$|\s//\s.*$", "", source)


@pytest.mark.parametrize("pattern", FORBIDDEN.values(), ids=FORBIDDEN.keys())
def test_source_uses_no_forbidden_api(pattern: str) -> None:
    """No HTML parsing, no code from strings, no inline handlers, no inline styles."""
    assert re.findall(pattern, _code()) == []


def test_source_is_one_strict_iife() -> None:
    """The file is a single `(function () { 'use strict'; … })();`."""
    code = _code().strip()
    assert code.startswith("(function () {\n  'use strict';")
    assert code.endswith("})();")


def test_only_global_is_uplift() -> None:
    """The only global written is `window.Uplift`; nothing else touches window, globalThis
    or self as an assignment target."""
    assignments = re.findall(r"\b(?:window|globalThis|self)\.([A-Za-z_$][\w$]*)\s*=(?!=)", _code())
    assert assignments == ["Uplift"]
