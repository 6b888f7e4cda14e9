"""Baseline A: a bare Starlette app answering a ~300-byte JSON, under the same uvicorn settings
as Uplift. What the stack does when the application does nothing."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
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


async def offers(request: Request) -> JSONResponse:
    return JSONResponse(BODY)


app = Starlette(routes=[Route("/api/v1/widget/offers", offers)])
