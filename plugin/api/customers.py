"""Admin routes for the SaaS's customers: find them (`GET /api/v1/admin/customers?q=`) and read
one whole (`GET /api/v1/admin/customers/{id}`): their record, their plan as targeting sees it,
usage, gated features hit, what they did with each offer, and their upgrades."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse

from plugin.api.admin import require_admin
from plugin.api.answers import (
    CustomerDetailOut,
    CustomerListOut,
    CustomerPlanOut,
    FeatureUseOut,
    OfferHistoryOut,
)
from plugin.api.ingest import customer_document
from plugin.api.paging import limit_param, list_response
from plugin.api.revenue import admin_upgrade_document
from plugin.auth import CustomerIdentity
from plugin.customers import view as customers
from plugin.errors import NotFound, ValidationFailed
from plugin.services import offer_snapshot, services
from plugin.storage import customers as customer_store
from plugin.storage import upgrades as upgrade_store

MAX_QUERY = 200


async def list_customers(request: Request) -> JSONResponse:
    await require_admin(request)
    params = request.query_params
    query = params.get("q")
    if query is not None and len(query) > MAX_QUERY:
        raise ValidationFailed(f"q must be at most {MAX_QUERY} characters.", field="q")
    limit = limit_param(params.get("limit"))
    async with services(request).db.read() as conn:
        found = await customer_store.search(
            conn, query=query or None, limit=limit, after_id=params.get("starting_after")
        )
    return list_response(CustomerListOut, [customer_document(r) for r in found], limit=limit)


async def get_customer(request: Request) -> JSONResponse:
    await require_admin(request)
    ctx = services(request)
    customer_id = request.path_params["customer_id"]
    async with ctx.db.read() as conn:
        record = await customer_store.get(conn, customer_id)
    if record is None:
        raise NotFound(f"No customer {customer_id[:80]!r}.", code="customer_not_found")
    now = ctx.clock.now()
    snapshot = await offer_snapshot(request).get()
    seen = await customers.view(
        ctx.db,
        identity=CustomerIdentity(customer_id=customer_id, expires_at=0),
        snapshot=snapshot,
        now=now,
    )
    plan = seen.plan
    offers = []
    histories = seen.offer_state.histories
    for offer_id in sorted(set(histories) | set(seen.offer_state.assignments)):
        history = histories.get(offer_id)
        impressions = history.impressions if history is not None else ()
        offers.append(
            OfferHistoryOut(
                offer_id=offer_id,
                variant=seen.offer_state.assignments.get(offer_id),
                impressions=len(impressions),
                last_impression_at=max(impressions) if impressions else None,
                dismissed_at=history.last_dismissed_at if history else None,
                declined_at=history.last_declined_at if history else None,
                declines=history.declines if history else 0,
                accepted_at=history.accepted_at if history else None,
            )
        )
    upgrades = (
        await upgrade_store.list_for_customer(ctx.db, record.stripe_customer)
        if record.stripe_customer
        else []
    )
    answer = CustomerDetailOut(
        object="customer_detail",
        customer=customer_document(record),
        plan=None if plan is None else CustomerPlanOut(id=plan.id, name=plan.name, tier=plan.tier),
        interval=seen.context.plan.interval,
        subscription=seen.subscription_id,
        currency=seen.currency,
        limits=dict(plan.limits) if plan else {},
        usage=dict(seen.context.usage),
        features=[
            FeatureUseOut(feature=feature, hits=seen.feature_uses.get(feature, 0), last_at=at)
            for feature, at in sorted(seen.context.feature_hits.items())
        ],
        offers=offers,
        upgrades=[admin_upgrade_document(u, record.id) for u in reversed(upgrades)],  # newest 1st
    )
    return JSONResponse(answer.document())
