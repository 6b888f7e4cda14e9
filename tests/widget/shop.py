"""What the widget's browser tests share: the host pages' server (another origin than
Uplift's), a running shop (`Shop`, made by the `shop` fixture of tests/widget/conftest.py) and
the offers several tests create.

Time: `uplift serve` reads the system clock and the emulator's periods use wall-clock time, so
the tests pick nothing from tests.support.NOW; tokens are issued at the emulator
subscription's own period start.
"""

from __future__ import annotations

import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from io import BytesIO
from pathlib import Path
from typing import Any

import httpx

from tests.factories import ADMIN
from tests.support import Subscribed

PAGES = Path(__file__).parent / "pages"
XSS = "<img src=x onerror=alert(1)>"


class PagesServer:
    """A static server for the host pages on its own port, another origin than Uplift's.
    It is bound before Uplift starts (whose UPLIFT_ALLOWED_ORIGINS must name it); `__UPLIFT__`
    in a page becomes `uplift_origin`, set once Uplift is up."""

    def __init__(self) -> None:
        self.uplift_origin = ""
        pages = self

        class Handler(SimpleHTTPRequestHandler):
            def send_head(self) -> Any:
                if self.path == "/favicon.ico":  # asked for by the browser, not by the page
                    self.send_response(204)
                    self.end_headers()
                    return None
                path = Path(self.translate_path(self.path))
                if path.suffix != ".html" or not path.is_file():
                    return super().send_head()
                page = path.read_text(encoding="utf-8")
                body = page.replace("__UPLIFT__", pages.uplift_origin).encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                return BytesIO(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass  # quiet: the test output is about the widget

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), partial(Handler, directory=str(PAGES)))
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        # A short poll keeps shutdown() (each test's teardown) from waiting half a second.
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@dataclass
class Shop:
    """A running Uplift with Acme on Basic near its storage limit, and the host pages."""

    uplift: str
    pages: str
    world: Subscribed
    token: str
    artifacts: Path

    def page_url(self, name: str, *, token: str | None = None) -> str:
        return f"{self.pages}/{name}?token={token or self.token}"

    def admin(
        self, method: str, path: str, *, headers: dict[str, str] | None = None, **kwargs: Any
    ) -> httpx.Response:
        return httpx.request(
            method, self.uplift + path, headers={**ADMIN, **(headers or {})}, timeout=30, **kwargs
        )

    def upgrades(self) -> list[dict[str, Any]]:
        data: list[dict[str, Any]] = self.admin("GET", "/api/v1/admin/upgrades").json()["data"]
        return data


ShopFactory = Callable[..., Awaitable[Shop]]


def upgrade_offer(world: Subscribed, **copy: str) -> dict[str, Any]:
    return {
        "id": "offer_basic_to_pro", "name": "Basic to Pro", "kind": "upgrade",
        "status": "active", "placements": ["storage_banner"], "target_prices": [world.pro],
        "targeting": {"all": [{"plan": {"in": ["basic"]}},
                              {"usage": {"metric": "storage_gb", "at_least_percent": 80}}]},
        "variants": [{"key": "control", "copy": {"title": "Running out of space?",
                                                  "body": "Pro has 100 GB.", **copy}}],
    }  # fmt: skip


def retention_offer(world: Subscribed) -> list[dict[str, Any]]:
    return [
        {
            "id": "offer_stay", "name": "Stay on your plan", "kind": "retention",
            "status": "active", "placements": ["downgrade"], "target_prices": [],
            "variants": [{"key": "control", "copy": {"title": "Before you go",
                                                      "body": "Keep Basic at 30% off.",
                                                      "cta": "Keep Basic at 30% off"}}],
        }
    ]  # fmt: skip


def starter_below_basic(acme: Shop) -> None:
    """A Starter plan below Acme's Basic, with less storage than Acme uses (9 GB) and without
    Basic's audit log (which Acme has used) and exports (which it has not): what
    downgrade.html's "Downgrade to Starter" would take away."""
    world = acme.world
    plans = {
        "plans": [
            {"id": "starter", "name": "Starter", "tier": 0, "limits": {"storage_gb": 5}},
            {"id": "basic", "name": "Basic", "tier": 1, "prices": [world.basic],
             "limits": {"storage_gb": 10}, "features": ["audit_log", "exports"]},
            {"id": "pro", "name": "Pro", "tier": 2, "prices": [world.pro, world.pro_annual],
             "limits": {"storage_gb": 100}, "features": ["audit_log", "exports"]},
        ]
    }  # fmt: skip
    assert acme.admin("PUT", "/api/v1/admin/plans", json=plans).status_code == 200
    hit = {"customer": "acme", "feature": "audit_log"}
    assert acme.admin("POST", "/api/v1/feature-events", json=hit).status_code < 300
