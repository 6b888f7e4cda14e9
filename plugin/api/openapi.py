"""`GET /api/v1/openapi.json`: OpenAPI 3.1 for every route, from the same pydantic models that
validate the requests, so the document cannot describe a body the server would refuse.

`OPERATIONS` lists each route once; tests/test_contract.py checks that it and the route table
name exactly the same (method, path) pairs, so neither can drift from the other.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema
from starlette.requests import Request
from starlette.responses import JSONResponse

from plugin import __version__
from plugin.api.schemas import (
    CustomerIn,
    FeatureEventIn,
    OfferIn,
    PlansIn,
    UsageIn,
    WidgetEventIn,
)

Auth = Literal["none", "admin", "customer", "stripe"]


@dataclass(frozen=True, slots=True)
class Operation:
    method: str
    path: str
    summary: str
    auth: Auth
    body: type[BaseModel] | None = None
    status: int = 200
    idempotency_key: bool = False
    query: tuple[str, ...] = ()


_LIST = ("limit", "starting_after")

OPERATIONS = (
    Operation("GET", "/healthz", "Liveness", "none"),
    Operation("GET", "/readyz", "Readiness: the database answers and is migrated", "none"),
    Operation("GET", "/api/v1/openapi.json", "This document", "none"),
    Operation("POST", "/webhooks/stripe", "Stripe webhook intake (signed events)", "stripe"),
    Operation(
        "GET", "/api/v1/admin/webhook-events", "Stored webhook events", "admin",
        query=("status", *_LIST),
    ),
    Operation(
        "POST", "/api/v1/admin/webhook-events/{event_id}/replay", "Replay a stored event", "admin"
    ),
    Operation("GET", "/api/v1/admin/plans", "The plan ladder", "admin"),
    Operation("PUT", "/api/v1/admin/plans", "Replace the plan ladder", "admin", body=PlansIn),
    Operation("GET", "/api/v1/admin/offers", "Offers", "admin", query=("status", *_LIST)),
    Operation(
        "POST", "/api/v1/admin/offers", "Create an offer", "admin", body=OfferIn, status=201
    ),
    Operation("GET", "/api/v1/admin/offers/{offer_id}", "An offer", "admin"),
    Operation(
        "PATCH", "/api/v1/admin/offers/{offer_id}", "Change fields of an offer (checked whole)",
        "admin", body=OfferIn,
    ),
    Operation("DELETE", "/api/v1/admin/offers/{offer_id}", "Archive an offer", "admin"),
    Operation(
        "GET", "/api/v1/admin/offers/{offer_id}/results",
        "Experiment results per variant and holdout", "admin",
    ),
    Operation("GET", "/api/v1/admin/audit", "Admin changes, newest first", "admin", query=_LIST),
    Operation(
        "PUT", "/api/v1/customers/{customer_id}", "Create or update a customer", "admin",
        body=CustomerIn,
    ),
    Operation(
        "GET", "/api/v1/customers/{customer_id}/entitlements",
        "Plan, limits, features, usage and trial of a customer", "admin",
    ),
    Operation(
        "POST", "/api/v1/usage", "Set or increment usage (idempotent by key)", "admin",
        body=UsageIn, idempotency_key=True,
    ),
    Operation(
        "POST", "/api/v1/feature-events", "A gated feature was hit", "admin",
        body=FeatureEventIn, status=201,
    ),
    Operation(
        "GET", "/api/v1/widget/offers", "Offers eligible now for the token's customer",
        "customer", query=("placement",),
    ),
    Operation(
        "POST", "/api/v1/widget/events", "Impression, click, dismiss or decline", "customer",
        body=WidgetEventIn, status=201,
    ),
)  # fmt: skip

_ERROR = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {
                "code": {"type": "string"},
                "message": {"type": "string"},
                "field": {"type": "string"},
            },
        }
    },
}
_SECURITY: dict[str, list[dict[str, list[str]]]] = {
    "admin": [{"adminKey": []}],
    "customer": [{"customerToken": []}],
    "stripe": [{"stripeSignature": []}],
    "none": [],
}


def _operation(op: Operation) -> dict[str, Any]:
    parameters: list[dict[str, Any]] = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
        for name in re.findall(r"{(\w+)}", op.path)
    ]
    parameters += [
        {"name": name, "in": "query", "required": False, "schema": {"type": "string"}}
        for name in op.query
    ]
    if op.idempotency_key:
        parameters.append(
            {
                "name": "Idempotency-Key",
                "in": "header",
                "required": True,
                "schema": {"type": "string"},
            }
        )
    error = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
    responses: dict[str, Any] = {
        str(op.status): {
            "description": "OK",
            "content": {"application/json": {"schema": {"type": "object"}}},
        },
        "default": {"description": "Error", **error},
    }
    document: dict[str, Any] = {
        "summary": op.summary,
        "operationId": op.method.lower() + "_" + re.sub(r"[^a-z0-9]+", "_", op.path).strip("_"),
        "parameters": parameters,
        "responses": responses,
        "security": _SECURITY[op.auth],
    }
    if op.body is not None:
        document["requestBody"] = {
            "required": True,
            "content": {
                "application/json": {"schema": {"$ref": f"#/components/schemas/{op.body.__name__}"}}
            },
        }
    elif op.path == "/webhooks/stripe":
        document["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": {"type": "object"}}},
        }
    return document


def document() -> dict[str, Any]:
    models = sorted({op.body for op in OPERATIONS if op.body is not None}, key=lambda m: m.__name__)
    _, schemas = models_json_schema(
        [(model, "validation") for model in models], ref_template="#/components/schemas/{model}"
    )
    components = dict(schemas.get("$defs", {}))
    components["Error"] = _ERROR
    paths: dict[str, dict[str, Any]] = {}
    for op in OPERATIONS:
        paths.setdefault(op.path, {})[op.method.lower()] = _operation(op)
    return {
        "openapi": "3.1.0",
        "info": {"title": "Uplift", "version": __version__},
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {
                "adminKey": {"type": "http", "scheme": "bearer", "description": "Admin key"},
                "customerToken": {
                    "type": "http",
                    "scheme": "bearer",
                    "bearerFormat": "JWT",
                    "description": "HS256 customer token signed with UPLIFT_WIDGET_SECRET",
                },
                "stripeSignature": {"type": "apiKey", "in": "header", "name": "Stripe-Signature"},
            },
        },
    }


async def openapi(request: Request) -> JSONResponse:
    cached: dict[str, Any] | None = getattr(request.app.state, "openapi_document", None)
    if cached is None:
        cached = document()
        request.app.state.openapi_document = cached
    return JSONResponse(cached)
