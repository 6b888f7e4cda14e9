"""`GET /api/v1/openapi.json`: OpenAPI 3.1 for every route, from the same pydantic models that
validate the requests and build the answers, so the document cannot describe a body the server
would refuse, nor an answer it does not send.

`OPERATIONS` lists each route once; tests/test_contract.py checks that it and the route table
name exactly the same (method, path) pairs, so neither can drift from the other. Each operation
documents its success answer (`answer`, a model of plugin/api/answers.py) and every error status
it can answer with, all in the one error shape (`ErrorOut`): those its credentials, its body and
its path parameters bring (`error_statuses`) and its own (`errors`).
tests/api/test_response_models.py holds real answers to these schemas; tests/api/test_fuzz.py has
schemathesis check every answer it provokes against them.
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
from plugin.api.answers import (
    AcceptAnswerOut,
    AdminKeyCreatedOut,
    AdminKeyListOut,
    AdminKeyOut,
    AdminUpgradeListOut,
    AuditListOut,
    CohortsOut,
    CustomerDetailOut,
    CustomerListOut,
    CustomerOut,
    DeletedOut,
    EmailSendListOut,
    EntitlementsOut,
    ErrorOut,
    EventOut,
    FeatureEventOut,
    FeedbackListOut,
    HealthOut,
    MetricsOut,
    OfferAudienceOut,
    OfferExplanationOut,
    OfferListOut,
    OfferOut,
    OfferPreviewOut,
    OfferResultsOut,
    OpenAPIOut,
    PlanLadderOut,
    PlanListOut,
    QuoteAnswerOut,
    ReadyOut,
    SuppressionListOut,
    SuppressionOut,
    TimeseriesOut,
    UpgradeOut,
    UsageOut,
    WebhookDeliveryListOut,
    WebhookDeliveryOut,
    WebhookEndpointListOut,
    WebhookEndpointOut,
    WebhookEndpointSecretOut,
    WebhookEventListOut,
    WebhookEventOut,
    WebhookReceivedOut,
    WidgetEventOut,
    WidgetOfferListOut,
    WidgetOfferOut,
    WidgetWordsOut,
)
from plugin.api.schemas import (
    AcceptIn,
    AdminKeyIn,
    CustomerIn,
    CustomerPatchIn,
    EventIn,
    FeatureEventIn,
    OfferCloneIn,
    OfferDraftIn,
    OfferIn,
    OfferPreviewIn,
    PlansIn,
    QuoteIn,
    UsageIn,
    WebhookEndpointIn,
    WebhookEndpointPatch,
    WidgetEventIn,
)
from plugin.metrics.revenue import SERIES
from plugin.offers.targeting import MAX_AT_LEAST, RETENTION_DAYS

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
    return _status_named("status", *values)


def _status_named(name: str, *values: str) -> Param:
    return Param(name, "query", {"type": "string", "enum": list(values)})


@dataclass(frozen=True, slots=True)
class Operation:
    method: str
    path: str
    summary: str
    auth: Auth
    body: type[BaseModel] | None = None
    status: int = 200
    params: tuple[Param, ...] = ()
    # The JSON answer of `status` (None: not JSON, described in `_CONTENT`).
    answer: type[BaseModel] | None = None
    # Error statuses of its own, beyond those `error_statuses` derives.
    errors: tuple[int, ...] = ()
    # Answers 304 to an `If-None-Match` that matches its `ETag`.
    revalidates: bool = False


_LIST = (LIMIT, AFTER)
TOKEN_PARAM: dict[str, Any] = {"type": "string", "pattern": "^[A-Za-z0-9_.-]{1,2200}$"}

OPERATIONS = (
    Operation("GET", "/healthz", "Liveness", "none", answer=HealthOut),
    Operation(
        "GET", "/readyz", "Readiness: the database answers and is migrated", "none",
        answer=ReadyOut, errors=(503,),
    ),
    Operation("GET", "/api/v1/openapi.json", "This document", "none", answer=OpenAPIOut),
    Operation(
        "GET", "/widget/uplift.js", "The widget script (gzip, ETag; immutable when ?v= matches)",
        "none", params=(Param("v", "query", {"type": "string", "maxLength": 64}),),
        revalidates=True,
    ),
    Operation(
        "GET", "/widget/uplift-{part}.js",
        "A part of the widget its script loads on first use (dialog, modal, retention, pricing)",
        "none", params=(Param("v", "query", {"type": "string", "maxLength": 64}),),
        errors=(404,), revalidates=True,
    ),
    Operation(
        "POST", "/webhooks/stripe", "Stripe webhook intake (signed events)", "stripe",
        params=(STRIPE_SIGNATURE,), answer=WebhookReceivedOut,
    ),
    Operation(
        "GET", "/api/v1/admin/webhook-events", "Stored webhook events", "admin",
        params=(_status("pending", "processed", "ignored", "failed"), *_LIST),
        answer=WebhookEventListOut, errors=(422,),
    ),
    Operation(
        "POST", "/api/v1/admin/webhook-events/{event_id}/replay", "Replay a stored event", "admin",
        answer=WebhookEventOut,
    ),
    Operation(
        "GET", "/api/v1/admin/webhook-endpoints", "Outbound webhook endpoints", "admin",
        answer=WebhookEndpointListOut,
    ),
    Operation(
        "POST", "/api/v1/admin/webhook-endpoints",
        "Register an outbound webhook endpoint (its secret is shown once)", "admin",
        body=WebhookEndpointIn, status=201, answer=WebhookEndpointSecretOut, errors=(422,),
    ),
    Operation(
        "GET", "/api/v1/admin/webhook-endpoints/{endpoint_id}", "An outbound webhook endpoint",
        "admin", answer=WebhookEndpointOut, errors=(404,),
    ),
    Operation(
        "PATCH", "/api/v1/admin/webhook-endpoints/{endpoint_id}",
        "Change an endpoint's URL, events, description or enabled", "admin",
        body=WebhookEndpointPatch, answer=WebhookEndpointOut, errors=(404, 422),
    ),
    Operation(
        "DELETE", "/api/v1/admin/webhook-endpoints/{endpoint_id}",
        "Delete an endpoint (its pending deliveries fail; its history stays)", "admin",
        answer=DeletedOut, errors=(404,),
    ),
    Operation(
        "POST", "/api/v1/admin/webhook-endpoints/{endpoint_id}/rotate-secret",
        "A new signing secret, shown once; the old one signs too for 24 hours", "admin",
        answer=WebhookEndpointSecretOut, errors=(404,),
    ),
    Operation(
        "GET", "/api/v1/admin/webhook-endpoints/{endpoint_id}/deliveries",
        "An endpoint's deliveries, newest first, with every attempt", "admin",
        params=(_status("pending", "succeeded", "failed"), *_LIST),
        answer=WebhookDeliveryListOut, errors=(404, 422),
    ),
    Operation(
        "POST", "/api/v1/admin/webhook-endpoints/{endpoint_id}/deliveries/{delivery_id}/retry",
        "Try a delivery again now", "admin", status=202, answer=WebhookDeliveryOut,
        errors=(404, 422),
    ),
    Operation(
        "GET", "/api/v1/admin/keys", "The stored admin keys", "admin", answer=AdminKeyListOut
    ),
    Operation(
        "POST", "/api/v1/admin/keys", "Create an admin key (the key is shown once)", "admin",
        body=AdminKeyIn, status=201, answer=AdminKeyCreatedOut,
    ),
    Operation(
        "DELETE", "/api/v1/admin/keys/{key_id}", "Revoke an admin key (at once, everywhere)",
        "admin", answer=AdminKeyOut, errors=(404,),
    ),
    Operation("GET", "/api/v1/admin/plans", "The plan ladder", "admin", answer=PlanListOut),
    Operation(
        "PUT", "/api/v1/admin/plans", "Replace the plan ladder", "admin", body=PlansIn,
        answer=PlanListOut,
    ),
    Operation(
        "GET", "/api/v1/admin/offers", "Offers", "admin",
        params=(_status("draft", "active", "paused", "archived"), *_LIST),
        answer=OfferListOut, errors=(422,),
    ),
    Operation(
        "POST", "/api/v1/admin/offers", "Create an offer", "admin", body=OfferIn, status=201,
        answer=OfferOut, errors=(409,),
    ),
    Operation("GET", "/api/v1/admin/offers/{offer_id}", "An offer", "admin", answer=OfferOut),
    Operation(
        "PATCH", "/api/v1/admin/offers/{offer_id}", "Change fields of an offer (checked whole)",
        "admin", body=OfferIn, answer=OfferOut,
    ),
    Operation(
        "DELETE", "/api/v1/admin/offers/{offer_id}", "Archive an offer", "admin", answer=OfferOut
    ),
    Operation(
        "GET", "/api/v1/admin/offers/{offer_id}/results",
        "Experiment results per variant and holdout (JSON, or CSV with Accept: text/csv)",
        "admin", answer=OfferResultsOut,
    ),
    Operation(
        "POST", "/api/v1/admin/offers/preview",
        "A draft offer, not saved, as the widget would receive it for one customer, with its gates",
        "admin", body=OfferPreviewIn, answer=OfferPreviewOut, errors=(404,),
    ),
    Operation(
        "POST", "/api/v1/admin/offers/audience",
        "A draft offer's audience (not saved) as if it were active now; also checks the draft",
        "admin", body=OfferDraftIn, answer=OfferAudienceOut,
    ),
    Operation(
        "POST", "/api/v1/admin/offers/{offer_id}/clone",
        "Copy an offer as a new draft (the body, with a new id or name, may be left out)",
        "admin", body=OfferCloneIn, status=201, answer=OfferOut, errors=(409,),
    ),
    Operation(
        "GET", "/api/v1/admin/offers/{offer_id}/audience",
        "How many customers the offer reaches now, and the first gate keeping out each other one",
        "admin", answer=OfferAudienceOut,
    ),
    Operation(
        "GET", "/api/v1/admin/offers/{offer_id}/explain",
        "Every gate between one customer and the offer now, with the fact each one read",
        "admin",
        params=(
            Param("customer", "query", {"type": "string", "minLength": 1}, True),
            Param("placement", "query", {"type": "string", "minLength": 1, "maxLength": 64}),
        ),
        answer=OfferExplanationOut, errors=(422,),
    ),
    Operation(
        "GET", "/api/v1/admin/customers",
        "Customers by id; q finds an id or Stripe id by its start, or any attribute value",
        "admin",
        params=(Param("q", "query", {"type": "string", "maxLength": 200}), *_LIST),
        answer=CustomerListOut, errors=(422,),
    ),
    Operation(
        "GET", "/api/v1/admin/customers/{customer_id}",
        "A customer whole: record, plan, usage, features hit, offer history and upgrades",
        "admin", answer=CustomerDetailOut,
    ),
    Operation(
        "GET", "/api/v1/admin/audit", "Admin changes, newest first", "admin",
        params=(LIMIT, AUDIT_AFTER), answer=AuditListOut, errors=(422,),
    ),
    Operation(
        "GET", "/api/v1/admin/upgrades",
        "Recorded upgrades and cross-sells, newest first (JSON, or CSV with Accept: text/csv)",
        "admin",
        params=(
            _status("processing", "requires_action", "scheduled", "succeeded", "failed"),
            Param("offer", "query", {"type": "string", "maxLength": 64}),
            Param("from", "query", {"type": "string", "maxLength": 40}),
            Param("to", "query", {"type": "string", "maxLength": 40}),
            LIMIT, AFTER,
        ),
        answer=AdminUpgradeListOut, errors=(422,),
    ),
    Operation(
        "GET", "/api/v1/admin/feedback",
        "What customers answered: reasons and survey answers, newest first (JSON, or CSV with "
        "Accept: text/csv)",
        "admin",
        params=(
            Param("offer", "query", {"type": "string", "maxLength": 64}),
            Param("customer", "query", {"type": "string", "maxLength": 64}),
            _status_named("kind", "decline", "dismiss", "survey", "downgrade"),
            LIMIT,
            Param("starting_after", "query", {"type": "string", "pattern": "^fb_[0-9]{1,18}$"}),
        ),
        answer=FeedbackListOut, errors=(422,),
    ),
    Operation(
        "GET", "/api/v1/admin/email/sends", "Lifecycle emails decided, newest first", "admin",
        params=(
            Param("offer", "query", {"type": "string", "maxLength": 64}),
            Param("customer", "query", {"type": "string", "maxLength": 64}),
            LIMIT,
        ),
        answer=EmailSendListOut, errors=(422,),
    ),
    Operation(
        "GET", "/api/v1/admin/email/suppressions", "Customers who get no email", "admin",
        params=_LIST, answer=SuppressionListOut, errors=(422,),
    ),
    Operation(
        "PUT", "/api/v1/admin/email/suppressions/{customer_id}",
        "Send this customer no more email", "admin", answer=SuppressionOut, errors=(400,),
    ),
    Operation(
        "DELETE", "/api/v1/admin/email/suppressions/{customer_id}",
        "Email this customer again", "admin", answer=SuppressionOut, errors=(400, 404),
    ),
    Operation(
        "GET", "/email/unsubscribe/{token}",
        "The unsubscribe page an email links to (one button; a GET changes nothing)", "none",
        errors=(404,),
    ),
    Operation(
        "POST", "/email/unsubscribe/{token}",
        "One-click unsubscribe (RFC 8058): List-Unsubscribe=One-Click", "none", errors=(404,),
    ),
    Operation(
        "GET", "/api/v1/widget/locales/{locale}",
        "The widget's words in a language it ships (fr, ja, ko, ro; English is built in)",
        "none", answer=WidgetWordsOut, errors=(404,), revalidates=True,
    ),
    Operation(
        "GET", "/api/v1/widget/link", "The offer an email's link opens", "customer",
        params=(Param("token", "query", TOKEN_PARAM, required=True),),
        answer=WidgetOfferOut, errors=(404, 410, 503),
    ),
    Operation(
        "GET", "/api/v1/admin/metrics",
        "Conversion, MRR movements, NDR, ARPU, upgrade value, time to upsell (JSON, or CSV with "
        "Accept: text/csv)",
        "admin",
        params=(
            Param("from", "query", {"type": "string", "maxLength": 40}),
            Param("to", "query", {"type": "string", "maxLength": 40}),
        ),
        answer=MetricsOut, errors=(422,),
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
        answer=TimeseriesOut, errors=(422,),
    ),
    Operation(
        "GET", "/api/v1/admin/metrics/cohorts",
        "Customers by signup month x months since: MRR retention (NDR) or a gated feature's "
        "adoption, per currency (JSON, or CSV with Accept: text/csv)",
        "admin",
        params=(
            Param("kind", "query", {"type": "string", "pattern": "^(mrr|feature:.{1,100})$"}),
            Param("currency", "query", {"type": "string", "pattern": "^[A-Za-z]{3}$"}),
            Param("from", "query", {"type": "string", "maxLength": 40}),
            Param("to", "query", {"type": "string", "maxLength": 40}),
        ),
        answer=CohortsOut, errors=(422,),
    ),
    Operation(
        "GET", "/admin", "The admin dashboard (HTML; the key is entered in it)", "none",
        revalidates=True,
    ),
    Operation(
        "GET", "/admin/static/{name}",
        "The console's scripts and stylesheet (admin.js, console.js, admin.css)", "none",
        revalidates=True,
    ),
    Operation(
        "PUT", "/api/v1/customers/{customer_id}", "Create or replace a customer", "admin",
        body=CustomerIn, answer=CustomerOut, errors=(409,),
    ),
    Operation(
        "PATCH", "/api/v1/customers/{customer_id}",
        "Change some fields of a customer (a JSON merge patch)", "admin",
        body=CustomerPatchIn, answer=CustomerOut, errors=(404, 409),
    ),
    Operation(
        "GET", "/api/v1/customers/{customer_id}/entitlements",
        "Plan, limits, features, usage and trial of a customer", "admin", answer=EntitlementsOut,
    ),
    Operation(
        "POST", "/api/v1/usage", "Set or increment usage (idempotent by key)", "admin",
        body=UsageIn, params=(IDEMPOTENCY_KEY,), answer=UsageOut,
    ),
    Operation(
        "POST", "/api/v1/feature-events", "A gated feature was hit", "admin",
        body=FeatureEventIn, status=201, answer=FeatureEventOut,
    ),
    Operation(
        "POST", "/api/v1/events",
        "Count a product event for a customer (idempotent by key; daily counts kept 90 days)",
        "admin", body=EventIn, params=(IDEMPOTENCY_KEY,), answer=EventOut,
    ),
    Operation(
        "GET", "/api/v1/widget/offers",
        "Offers eligible now for the token's customer (`to_plan`: and what moving down to that "
        "plan would take away)",
        "customer", params=(Param("placement", "query", {**_NAME, "maxLength": 64}),
                            Param("to_plan", "query", _NAME)),
        answer=WidgetOfferListOut, errors=(422,),
    ),
    Operation(
        "GET", "/api/v1/widget/plans",
        "The plan ladder for the pricing table: features, limits and prices in the customer's "
        "currency, the yearly saving, the customer's plan and interval marked",
        "customer", answer=PlanLadderOut,
    ),
    Operation(
        "POST", "/api/v1/widget/events", "Impression, click, dismiss or decline", "customer",
        body=WidgetEventIn, status=201, answer=WidgetEventOut, errors=(404,),
    ),
    Operation(
        "POST", "/api/v1/widget/quotes",
        "Quote an offer (a plan change, or add-ons added to the same subscription): the exact "
        "charge today and after",
        "customer", body=QuoteIn, status=201, answer=QuoteAnswerOut, errors=(404, 409),
    ),
    Operation(
        "POST", "/api/v1/widget/accept", "Accept a quote: charge it, once", "customer",
        body=AcceptIn, params=(IDEMPOTENCY_KEY,), answer=AcceptAnswerOut,
        errors=(404, 409, 410),
    ),
    Operation(
        "GET", "/api/v1/widget/upgrades/{upgrade_id}", "The customer's own upgrade", "customer",
        answer=UpgradeOut,
    ),
)  # fmt: skip

# What each error status means here (the code says which case; docs/contract.md, "Errors").
ERROR_STATUSES: dict[int, str] = {
    400: "Malformed: bad JSON (`invalid_json`), a missing header or signature, or text the"
    " database cannot store (`invalid_character`: NUL, in a body, a query or a path)",
    401: "No, bad or revoked credentials",
    403: "A read-only admin key sending anything but GET",
    404: "Unknown, or not the caller's",
    409: "A conflict with the current state (the code says which)",
    410: "The quote has expired",
    413: "The body is over 1 MiB",
    415: "The body is not JSON (`application/json`)",
    422: "A value is invalid, or a field unknown (`field` names it)",
    429: "Too many requests",
    500: "An unexpected failure; its details go only to the server's log",
    503: "Not ready, not configured, or Stripe unreachable (nothing was charged)",
}
# The errors an operation's credentials and body bring.
_BY_AUTH: dict[Auth, tuple[int, ...]] = {
    "none": (),
    "admin": (401, 403, 429),  # unknown or revoked key, read-only key writing, too many failures
    "customer": (401, 429, 503),  # bad token, the customer's rate, no UPLIFT_WIDGET_SECRET
    "stripe": (400, 413),  # a bad signature or event; the body limit
}
_BY_BODY = (400, 413, 415, 422)
_ERROR_HEADERS: dict[int, dict[str, Any]] = {
    401: {"WWW-Authenticate": {"required": True, "schema": {"const": "Bearer"}}},
    429: {"Retry-After": {"required": True, "schema": {"type": "string", "pattern": "^[0-9]+$"}}},
}


def error_statuses(op: Operation) -> tuple[int, ...]:
    """Every error status `op` can answer with: 500 for all, what its credentials and body
    bring, 404 for a path parameter (an unknown id, or one no route matches), 400 for text
    from the path or the query a database may refuse (NUL, which PostgreSQL's `text` cannot
    hold), and its own."""
    found = {500, *_BY_AUTH[op.auth], *op.errors}
    if op.body is not None:
        found.update(_BY_BODY)
    if "{" in op.path:
        found.add(404)
    if op.params or "{" in op.path:
        found.add(400)
    return tuple(sorted(found))


_SECURITY: dict[str, list[dict[str, list[str]]]] = {
    "admin": [{"adminKey": []}],
    "customer": [{"customerToken": []}],
    "stripe": [{"stripeSignature": []}],
    "none": [],
}


# Responses that are not JSON, as served (RFC 9239 names JavaScript text/javascript), and the
# CSV the metrics routes answer with `Accept: text/csv`.
_CONTENT: dict[str, Any] = {
    "/widget/uplift.js": {"text/javascript": {"schema": {"type": "string"}}},
    "/widget/uplift-{part}.js": {"text/javascript": {"schema": {"type": "string"}}},
    "/admin": {"text/html": {"schema": {"type": "string"}}},
    "/email/unsubscribe/{token}": {"text/html": {"schema": {"type": "string"}}},
    "/admin/static/{name}": {
        "text/javascript": {"schema": {"type": "string"}},
        "text/css": {"schema": {"type": "string"}},
    },
}
_CSV = {"text/csv": {"schema": {"type": "string"}}}
_PAGE_ERRORS: dict[str, Any] = {
    "/email/unsubscribe/{token}": {"text/html": {"schema": {"type": "string"}}},
}
_ALSO: dict[str, Any] = {
    "/api/v1/admin/metrics": _CSV,
    "/api/v1/admin/metrics/timeseries": _CSV,
    "/api/v1/admin/metrics/cohorts": _CSV,
    "/api/v1/admin/offers/{offer_id}/results": _CSV,
    "/api/v1/admin/upgrades": _CSV,
    "/api/v1/admin/feedback": _CSV,
}


def _json(model: type[BaseModel]) -> dict[str, Any]:
    return {"application/json": {"schema": {"$ref": f"#/components/schemas/{model.__name__}"}}}


def _responses(op: Operation) -> dict[str, Any]:
    content = _json(op.answer) if op.answer is not None else _CONTENT[op.path]
    responses: dict[str, Any] = {
        str(op.status): {
            "description": "Created" if op.status == 201 else "OK",
            "content": {**content, **_ALSO.get(op.path, {})},
        }
    }
    if op.revalidates:
        responses["304"] = {"description": "Not Modified: `If-None-Match` matches the `ETag`"}
    for status in error_statuses(op):
        responses[str(status)] = {
            "description": ERROR_STATUSES[status],
            # A page for a person (the unsubscribe page) says its errors as a page too.
            "content": _PAGE_ERRORS.get(op.path, _json(ErrorOut)),
        }
        if status in _ERROR_HEADERS:
            responses[str(status)]["headers"] = _ERROR_HEADERS[status]
    return responses


def _operation(op: Operation) -> dict[str, Any]:
    parameters: list[dict[str, Any]] = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
        for name in re.findall(r"{(\w+)}", op.path)
    ]
    parameters += [
        {"name": p.name, "in": p.where, "required": p.required, "schema": p.schema}
        for p in op.params
    ]
    document: dict[str, Any] = {
        "summary": op.summary,
        "operationId": op.method.lower() + "_" + re.sub(r"[^a-z0-9]+", "_", op.path).strip("_"),
        "parameters": parameters,
        "responses": _responses(op),
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
                at_least={"type": "integer", "minimum": 1, "maximum": MAX_AT_LEAST},
            ),
        ),
        _rule(
            "event",
            _fields(
                ["name", "at_least", "within_days"],
                name=_NAME,
                at_least={"type": "integer", "minimum": 1, "maximum": MAX_AT_LEAST},
                within_days={"type": "integer", "minimum": 1, "maximum": RETENTION_DAYS},
            ),
        ),
        _rule("tenure", _fields(["min_days"], min_days={"type": "integer", "minimum": 0})),
        _rule(
            "order", _fields(["within_minutes"], within_minutes={"type": "integer", "minimum": 1})
        ),
    ],
}


def _by_name(models: set[type[BaseModel]]) -> list[type[BaseModel]]:
    return sorted(models, key=lambda model: model.__name__)


def document() -> dict[str, Any]:
    bodies = _by_name({op.body for op in OPERATIONS if op.body is not None})
    answers = _by_name({op.answer for op in OPERATIONS if op.answer is not None} | {ErrorOut})
    # Requests as pydantic validates them, answers as it serializes them (its two modes of
    # JSON Schema; no model is both, so none is split into `-Input` and `-Output`).
    _, schemas = models_json_schema(
        [(model, "validation") for model in bodies]
        + [(model, "serialization") for model in answers],
        ref_template="#/components/schemas/{model}",
    )
    components = dict(schemas.get("$defs", {}))
    components["Rule"] = RULE
    components["OfferIn"]["properties"]["targeting"] = {**_REF, "default": {"all": []}}
    components["OfferOut"]["properties"]["targeting"] = _REF
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
        cached = OpenAPIOut.model_validate(document()).document()
        request.app.state.openapi_document = cached
    return JSONResponse(cached)
