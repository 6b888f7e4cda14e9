"""Baselines A and S: bare Starlette under the same uvicorn settings as Uplift. What the stack
does when the application does nothing.

- `GET /api/v1/widget/offers`: a constant ~300-byte JSON (baseline A for the offers endpoint);
- `GET /widget/uplift.js`: the widget's bytes held in memory, gzipped once at start, with a
  strong ETag (baseline S for the widget script): a static file server at its cheapest;
- `POST /api/v1/widget/events`, `POST /api/v1/usage`, `POST /webhooks/stripe`: read the body,
  parse its JSON and answer a small JSON (baseline M's writes, bench/mixed.py): the same shape
  as Uplift's answers, with nothing checked or stored.
"""

from __future__ import annotations

import gzip
import hashlib
import json
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

BODY = {
    "object": "list",
    "data": [
        {
            "object": "widget_offer",
            "offer_id": "offer_basic_to_pro",
            "kind": "upgrade",
            "variant": "control",
            "copy": {"title": "You're almost out of storage", "cta": "Upgrade to Pro"},
            "prices": [{"price": "price_pro_monthly", "unit_amount": 9900, "display": "$99.00"}],
        }
    ],
    "has_more": False,
}

WIDGET = Path(__file__).resolve().parent.parent / "static" / "widget" / "uplift.js"
_SCRIPT = WIDGET.read_bytes() if WIDGET.exists() else b"/* no widget */"
_GZIPPED = gzip.compress(_SCRIPT, 9, mtime=0)
_ETAG = '"' + hashlib.sha256(_SCRIPT).hexdigest()[:32] + '-gzip"'


WRITES = ("/api/v1/widget/events", "/api/v1/usage", "/webhooks/stripe")


async def offers(request: Request) -> JSONResponse:
    return JSONResponse(BODY)


async def widget(request: Request) -> Response:
    headers = {"ETag": _ETAG, "Cache-Control": "public, max-age=300", "Vary": "Accept-Encoding"}
    if request.headers.get("if-none-match") == _ETAG:
        return Response(status_code=304, headers=headers)
    headers["Content-Encoding"] = "gzip"
    return Response(_GZIPPED, headers=headers, media_type="text/javascript; charset=utf-8")


async def written(request: Request) -> JSONResponse:
    body = json.loads(await request.body())
    return JSONResponse({"object": "written", "id": body.get("id") or "x"}, status_code=201)


app = Starlette(
    routes=[
        Route("/api/v1/widget/offers", offers),
        Route("/widget/uplift.js", widget),
        *(Route(path, written, methods=["POST"]) for path in WRITES),
    ]
)
