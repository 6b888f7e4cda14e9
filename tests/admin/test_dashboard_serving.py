"""`GET /admin` and its two files, in process: a strict CSP on every response, no inline
script or style in the page, the script free of HTML-parsing and code-evaluating APIs."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest

ADMIN = Path(__file__).resolve().parents[2] / "static" / "admin"


async def test_page_is_served_with_a_strict_csp(client: httpx.AsyncClient) -> None:
    """Only this server's script, style and API; no inline code, framing or form posts;
    Trusted Types required. The page knows Stripe's zero-decimal currencies."""
    response = await client.get("/admin")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    csp = response.headers["content-security-policy"]
    for directive in ("default-src 'none'", "script-src 'self'", "style-src 'self'",
                      "connect-src 'self'", "frame-ancestors 'none'", "form-action 'none'",
                      "require-trusted-types-for 'script'"):  # fmt: skip
        assert directive in csp
    assert "unsafe" not in csp
    assert response.headers["x-content-type-options"] == "nosniff"
    page = response.text
    assert re.findall(r"<script(?![^>]*\ssrc=)", page) == []
    assert "<style" not in page
    assert " style=" not in page
    assert 'data-zero-decimal="bif clp' in page
    assert "jpy" in page


@pytest.mark.parametrize(("name", "media"), [("admin.js", "text/javascript"),
                                             ("console.js", "text/javascript"),
                                             ("admin.css", "text/css")])  # fmt: skip
async def test_files_are_served_and_revalidated(
    client: httpx.AsyncClient, name: str, media: str
) -> None:
    response = await client.get(f"/admin/static/{name}")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith(media)
    again = await client.get(
        f"/admin/static/{name}", headers={"If-None-Match": response.headers["etag"]}
    )
    assert again.status_code == 304


async def test_unknown_file_is_a_json_404(client: httpx.AsyncClient) -> None:
    response = await client.get("/admin/static/..%2Fwidget%2Fuplift.js")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


@pytest.mark.parametrize("name", ["admin.js", "console.js"])
def test_script_builds_the_dom_without_html_parsing_or_eval(name: str) -> None:
    """createElement / createElementNS and textContent only; listeners by addEventListener."""
    source = (ADMIN / name).read_text(encoding="utf-8")
    for banned in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(",
                   "new Function", "setTimeout('", 'setTimeout("', "localStorage",
                   "document.cookie", "http://", "https://"):  # fmt: skip
        if banned == "http://" and name == "admin.js":
            assert source.count(banned) == 1  # the SVG namespace, not a URL it calls
            continue
        assert banned not in source, banned
    assert re.findall(r"\.on[a-z]+\s*=", source) == []


def test_the_console_is_a_module_in_the_widgets_style() -> None:
    """console.js is an ES module (no global of its own) in the widget's source style: const
    and let, lines of at most 100 columns (prettier --print-width 100 --single-quote)."""
    source = (ADMIN / "console.js").read_text(encoding="utf-8")
    assert re.search(r"\bvar\s", source) is None
    assert [n for n, line in enumerate(source.splitlines(), 1) if len(line) > 100] == []
    page = (ADMIN / "index.html").read_text(encoding="utf-8")
    assert '<script src="/admin/static/console.js" type="module"></script>' in page
