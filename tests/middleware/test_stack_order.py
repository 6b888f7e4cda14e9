"""The middleware stack, in the order `create_app` builds it, and what the fast path answers.

The fast path bypasses every layer below it, so where it sits decides what the hot routes skip:
this pins the order, and that its routes are exactly the route table's hot rows."""

from __future__ import annotations

from pathlib import Path
from typing import cast

from plugin.api import TABLE, Limits, fast_routes
from plugin.app import MAX_BODY_BYTES, create_app
from plugin.middleware.access_log import AccessLogMiddleware
from plugin.middleware.body_limit import BodyLimitMiddleware
from plugin.middleware.cors import WidgetCorsMiddleware
from plugin.middleware.fast_path import FastPathMiddleware
from plugin.settings import Settings


def test_the_stack_is_access_log_fast_path_cors_body_limit(tmp_path: Path) -> None:
    app = create_app(Settings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'order.db'}"))
    assert [cast(object, m.cls) for m in app.user_middleware] == [
        AccessLogMiddleware,
        FastPathMiddleware,
        WidgetCorsMiddleware,
        BodyLimitMiddleware,
    ]


def test_the_fast_routes_are_the_route_tables_hot_rows() -> None:
    """Their paths are written once, in the route table; a GET's fast answer serves HEAD too."""
    hot = {(row.method, row.path) for row in TABLE if row.fast is not None}
    assert hot == {
        ("GET", "/api/v1/widget/offers"),
        ("GET", "/widget/uplift.js"),
        ("POST", "/webhooks/stripe"),
    }
    answered = set(fast_routes(Limits(MAX_BODY_BYTES)))
    assert answered == hot | {("HEAD", path) for method, path in hot if method == "GET"}


def test_each_app_gets_its_own_fast_answers() -> None:
    """A fast answer keeps state (the script's replayed answers): never shared across apps."""
    first = fast_routes(Limits(MAX_BODY_BYTES))
    second = fast_routes(Limits(MAX_BODY_BYTES))
    key = ("GET", "/widget/uplift.js")
    assert first[key] is not second[key]
