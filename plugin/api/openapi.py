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
    AcceptIn,
    CustomerIn,
    FeatureEventIn,
    OfferIn,
    PlansIn,
    QuoteIn,
    UsageIn,
    WidgetEventIn,
)
from plugin.metrics.revenue import SERIES

Auth = Literal["none", "admin", "customer", "stripe"]


@dataclass(frozen=True, slots=True)
class Param:
    name: str
    where: Literal["query", "header"]
    schema: dict[str, Any]
    required: bool = False


_NAME: dict[str, Any] = {"type": "string", "minLength": 1, "maxLength": 100}
LIMIT = Param("limit", "query", {"type": "integer", "minimum": 1, "maximum": 500})
AFTER = Param("starting_after", "query", {"type": "string", "minLength": 1, "maxLength": 255})
AUDIT_AFTER = Param("starting_after", "query", {"type": "string", "pattern": "^audit_[0-9]{1,18}$"})
IDEMPOTENCY_KEY = Param(
    "Idempotency-Key", "header", {"type": "string", "minLength": 1, "maxLength": 255}, True
)
STRIPE_SIGNATURE = Param("Stripe-Signature", "header", {"type": "string", "minLength": 1}, True)


def _status(*values: str) -> Param:
    return Param("status", "query", {"type": "string", "enum": list(values)})


@dataclass(frozen=True, slots=True)
class Operation:
    method: str
    path: str
    summary: str
    auth: Auth
    body: type[BaseModel] | None = None
    status: int = 200
    params: tuple[Param, ...] = ()


_LIST = (LIMIT, AFTER)

OPERATIONS = (
    Operation("GET", "/healthz", "Liveness", "none"),
    Operation("GET", "/readyz", "Readiness: the database answers and is migrated", "none"),
    Operation("GET", "/api/v1/openapi.json", "This document", "none"),
    Operation(
        "GET", "/widget/uplift.js", "The widget script (gzip, ETag; immutable when ?v= matches)",
        "none", params=(Param("v", "query", {"type": "string", "maxLength": 64}),),
    ),
    Operation(
        "POST", "/webhooks/stripe", "Stripe webhook intake (signed events)", "stripe",
        params=(STRIPE_SIGNATURE,),
    ),
    Operation(
        "GET", "/api/v1/admin/webhook-events", "Stored webhook events", "admin",
        params=(_status("pending", "processed", "ignored", "failed"), *_LIST),
    ),
    Operation(
        "POST", "/api/v1/admin/webhook-events/{event_id}/replay", "Replay a stored event", "admin"
    ),
    Operation("GET", "/api/v1/admin/plans", "The plan ladder", "admin"),
    Operation("PUT", "/api/v1/admin/plans", "Replace the plan ladder", "admin", body=PlansIn),
    Operation(
        "GET", "/api/v1/admin/offers", "Offers", "admin",
        params=(_status("draft", "active", "paused", "archived"), *_LIST),
    ),
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
    Operation(
        "GET", "/api/v1/admin/audit", "Admin changes, newest first", "admin",
        params=(LIMIT, AUDIT_AFTER),
    ),
    Operation(
        "GET", "/api/v1/admin/upgrades", "Recorded upgrades and cross-sells, newest first",
        "admin",
        params=(
            _status("processing", "requires_action", "scheduled", "succeeded", "failed"),
            Param("offer", "query", {"type": "string", "maxLength": 64}),
            Param("from", "query", {"type": "string", "maxLength": 40}),
            Param("to", "query", {"type": "string", "maxLength": 40}),
            LIMIT, AFTER,
        ),
    ),
    Operation(
        "GET", "/api/v1/admin/metrics",
        "Conversion, MRR movements, NDR, ARPU, upgrade value, time to upsell", "admin",
        params=(
            Param("from", "query", {"type": "string", "maxLength": 40}),
            Param("to", "query", {"type": "string", "maxLength": 40}),
        ),
    ),
    Operation(
        "GET", "/api/v1/admin/metrics/timeseries",
        "One metric per day, week or month, per currency (JSON, or CSV with Accept: text/csv)",
        "admin",
        params=(
            Param("metric", "query", {"type": "string", "enum": list(SERIES)}, True),
            Param("interval", "query", {"type": "string", "enum": ["day", "week", "month"]}),
            Param("from", "query", {"type": "string", "maxLength": 40}),
            Param("to", "query", {"type": "string", "maxLength": 40}),
        ),
    ),
    Operation("GET", "/admin", "The admin dashboard (HTML; the key is entered in it)", "none"),
    Operation("GET", "/admin/static/{name}", "The dashboard's admin.js and admin.css", "none"),
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
        body=UsageIn, params=(IDEMPOTENCY_KEY,),
    ),
    Operation(
        "POST", "/api/v1/feature-events", "A gated feature was hit", "admin",
        body=FeatureEventIn, status=201,
    ),
    Operation(
        "GET", "/api/v1/widget/offers",
        "Offers eligible now for the token's customer (`to_plan`: and what moving down to that "
        "plan would take away)",
        "customer", params=(Param("placement", "query", {**_NAME, "maxLength": 64}),
                            Param("to_plan", "query", _NAME)),
    ),
    Operation(
        "POST", "/api/v1/widget/events", "Impression, click, dismiss or decline", "customer",
        body=WidgetEventIn, status=201,
    ),
    Operation(
        "POST", "/api/v1/widget/quotes",
        "Quote an offer (a plan change, or add-ons added to the same subscription): the exact "
        "charge today and after",
        "customer", body=QuoteIn, status=201,
    ),
    Operation(
        "POST", "/api/v1/widget/accept", "Accept a quote: charge it, once", "customer",
        body=AcceptIn, params=(IDEMPOTENCY_KEY,),
    ),
    Operation(
        "GET", "/api/v1/widget/upgrades/{upgrade_id}", "The customer's own upgrade", "customer"
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


# Responses that are not JSON, as served (RFC 9239 names JavaScript text/javascript).
_CONTENT: dict[str, Any] = {
    "/widget/uplift.js": {"text/javascript": {"schema": {"type": "string"}}},
    "/admin": {"text/html": {"schema": {"type": "string"}}},
    "/admin/static/{name}": {
        "text/javascript": {"schema": {"type": "string"}},
        "text/css": {"schema": {"type": "string"}},
    },
}


def _operation(op: Operation) -> dict[str, Any]:
    parameters: list[dict[str, Any]] = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
        for name in re.findall(r"{(\w+)}", op.path)
    ]
    parameters += [
        {"name": p.name, "in": p.where, "required": p.required, "schema": p.schema}
        for p in op.params
    ]
    error = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
    responses: dict[str, Any] = {
        str(op.status): {
            "description": "OK",
            "content": _CONTENT.get(op.path, {"application/json": {"schema": {"type": "object"}}}),
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


def _rule(key: str, body: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "object",
        "required": [key],
        "additionalProperties": False,
        "properties": {key: body},
    }


def _fields(required: list[str], **properties: Any) -> dict[str, Any]:
    return {
        "type": "object",
        "required": required,
        "additionalProperties": False,
        "properties": properties,
    }


_REF = {"$ref": "#/components/schemas/Rule"}
_INT = {"type": "integer"}
# plugin.offers.targeting.parse, as JSON Schema. It also caps trees at depth 8 and 64 rules, which
# JSON Schema cannot say; such a tree is refused with a 422 naming the path.
RULE = {
    "description": "A targeting rule; see plugin/offers/targeting.py.",
    "oneOf": [
        _rule("all", {"type": "array", "maxItems": 64, "items": _REF}),
        _rule("any", {"type": "array", "maxItems": 64, "items": _REF}),
        _rule("not", _REF),
        _rule(
            "plan",
            _fields(
                [],
                **{
                    "in": {"type": "array", "maxItems": 100, "items": _NAME},
                    "interval": {"enum": ["day", "week", "month", "year"]},
                },
            ),
        ),
        _rule(
            "attribute",
            {
                "oneOf": [
                    _fields(
                        ["name", "in"],
                        name=_NAME,
                        **{"in": {"type": "array", "minItems": 1, "maxItems": 100, "items": _NAME}},
                    ),
                    {**_fields(["name", "gte"], name=_NAME, gte=_INT, lte=_INT)},
                    {**_fields(["name", "lte"], name=_NAME, lte=_INT)},
                ]
            },
        ),
        _rule(
            "usage",
            _fields(
                ["metric", "at_least_percent"],
                metric=_NAME,
                at_least_percent={"type": "integer", "minimum": 1, "maximum": 1000},
            ),
        ),
        _rule(
            "feature_hit",
            _fields(
                ["feature", "within_days"],
                feature=_NAME,
                within_days={"type": "integer", "minimum": 1},
            ),
        ),
        _rule("tenure", _fields(["min_days"], min_days={"type": "integer", "minimum": 0})),
        _rule(
            "order", _fields(["within_minutes"], within_minutes={"type": "integer", "minimum": 1})
        ),
    ],
}


def document() -> dict[str, Any]:
    models = sorted({op.body for op in OPERATIONS if op.body is not None}, key=lambda m: m.__name__)
    _, schemas = models_json_schema(
        [(model, "validation") for model in models], ref_template="#/components/schemas/{model}"
    )
    components = dict(schemas.get("$defs", {}))
    components["Error"] = _ERROR
    components["Rule"] = RULE
    components["OfferIn"]["properties"]["targeting"] = {**_REF, "default": {"all": []}}
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
