"""What the SaaS backend tells Uplift (admin key): customers, usage, gated feature hits,
product events; and what it asks: a customer's entitlements, so features are gated from one
source."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence

from starlette.requests import Request
from starlette.responses import JSONResponse

from plugin.api.admin import require_admin
from plugin.api.answers import (
    CustomerOut,
    EntitledPlanOut,
    EntitledTrialOut,
    EntitlementsOut,
    EventOut,
    FeatureEventOut,
    UsageOut,
)
from plugin.api.bodies import read_model
from plugin.api.schemas import CustomerIn, CustomerPatchIn, EventIn, FeatureEventIn, UsageIn
from plugin.auth import CustomerIdentity
from plugin.customers import thresholds
from plugin.customers import view as customers
from plugin.errors import BadRequest, Conflict, NotFound, ValidationFailed
from plugin.offers.snapshot import Snapshot
from plugin.offers.targeting import RETENTION_DAYS
from plugin.outbound.outbox import announce_steps
from plugin.services import offer_snapshot, services
from plugin.storage import customers as customer_store
from plugin.storage import engagement as engagement_store
from plugin.storage import trials as trial_store
from plugin.storage.steps import Steps
from plugin.timespan import DAY

MAX_KEY = 255
EVENT_SKEW = 300  # seconds an event's `occurred_at` may be ahead of this server's clock


def _customer_id(request: Request) -> str:
    customer_id: str = request.path_params["customer_id"]
    if not 1 <= len(customer_id) <= 64:
        raise NotFound("No such customer.", code="customer_not_found")
    return customer_id


def _same_id(given: str | None, customer_id: str) -> None:
    if given is not None and given != customer_id:
        raise ValidationFailed("A customer's id is the one in the path.", field="id")


def customer_document(record: customer_store.CustomerRecord) -> CustomerOut:
    return CustomerOut(
        object="customer",
        id=record.id,
        stripe_customer=record.stripe_customer,
        attrs=record.attrs,
        signup_at=record.signup_at,
        created=record.created_at,
        updated=record.updated_at,
    )


async def put_customer(request: Request) -> JSONResponse:
    await require_admin(request)
    ctx = services(request)
    customer_id = _customer_id(request)
    body = await read_model(request, CustomerIn)
    _same_id(body.id, customer_id)
    async with ctx.db.transaction() as conn:
        if body.stripe_customer is not None and await customer_store.stripe_customer_taken(
            conn, stripe_customer=body.stripe_customer, by_other_than=customer_id
        ):
            raise Conflict(
                f"{body.stripe_customer} belongs to another customer.",
                code="stripe_customer_taken",
                field="stripe_customer",
            )
        record = await customer_store.upsert(
            conn,
            customer_id=customer_id,
            stripe_customer=body.stripe_customer,
            attrs=dict(body.attrs),
            signup_at=body.signup_at,
            now=ctx.clock.now(),
        )
    return JSONResponse(customer_document(record).document())


MAX_ATTRS = 50  # as `CustomerIn.attrs`


async def patch_customer(request: Request) -> JSONResponse:
    """Change only what the body names (a merge patch): `PUT` replaces the whole customer, so a
    `PUT` of `attrs` alone would clear its `stripe_customer`."""
    await require_admin(request)
    ctx = services(request)
    customer_id = _customer_id(request)
    body = await read_model(request, CustomerPatchIn)
    _same_id(body.id, customer_id)
    given = body.model_fields_set
    async with ctx.db.transaction() as conn:
        current = await customer_store.get(conn, customer_id)
        if current is None:
            raise NotFound(
                f"No customer {customer_id!r}: create it with PUT.", code="customer_not_found"
            )
        stripe_customer = body.stripe_customer if "stripe_customer" in given else None
        if "stripe_customer" not in given:
            stripe_customer = current.stripe_customer
        attrs = dict(current.attrs)
        if "attrs" in given:
            if body.attrs is None:
                attrs = {}
            else:
                for key, value in body.attrs.items():
                    if value is None:
                        attrs.pop(key, None)
                    else:
                        attrs[key] = value
        if len(attrs) > MAX_ATTRS:
            raise ValidationFailed(
                f"A customer has at most {MAX_ATTRS} attributes; this would make {len(attrs)}.",
                field="attrs",
            )
        signup_at = body.signup_at if "signup_at" in given else current.signup_at
        if (
            stripe_customer is not None
            and stripe_customer != current.stripe_customer
            and await customer_store.stripe_customer_taken(
                conn, stripe_customer=stripe_customer, by_other_than=customer_id
            )
        ):
            raise Conflict(
                f"{stripe_customer} belongs to another customer.",
                code="stripe_customer_taken",
                field="stripe_customer",
            )
        record = await customer_store.upsert(
            conn,
            customer_id=customer_id,
            stripe_customer=stripe_customer,
            attrs=attrs,
            signup_at=signup_at,
            now=ctx.clock.now(),
        )
    return JSONResponse(customer_document(record).document())


def _idempotency_key(request: Request, what: str) -> str:
    key = request.headers.get("idempotency-key", "").strip()
    if not key or len(key) > MAX_KEY:
        raise BadRequest(
            f"Send an Idempotency-Key header (1 to {MAX_KEY} characters) with {what}.",
            code="idempotency_key_required",
        )
    return key


def _fingerprint(body: UsageIn | EventIn) -> str:
    """What a retry with the same key must repeat: the body as sent (defaults unresolved)."""
    return hashlib.sha256(json.dumps(body.model_dump(), sort_keys=True).encode()).hexdigest()


async def post_usage(request: Request) -> JSONResponse:
    """Set or increment a usage metric, once per `Idempotency-Key` (a retried report is a no-op)."""
    await require_admin(request)
    ctx = services(request)
    key = _idempotency_key(request, "usage reports")
    body = await read_model(request, UsageIn)
    fingerprint = _fingerprint(body)
    snapshot = await offer_snapshot(request).get()
    now = ctx.clock.now()
    try:
        # One shared transaction with the writes queued beside it (Database.write).
        outcome = await ctx.db.write(
            _usage_steps(body, key, fingerprint, snapshot, ctx.settings.usage_thresholds, now)
        )
    except customer_store.UsageKeyReused:
        raise ValidationFailed(
            "This Idempotency-Key was used with a different body.",
            code="idempotency_key_reused",
        ) from None
    answer = UsageOut(
        object="usage",
        customer=body.customer,
        metric=body.metric,
        value=outcome.value,
        replayed=outcome.replayed,
    )
    return JSONResponse(
        answer.document(),
        headers={"Idempotent-Replayed": "true"} if outcome.replayed else None,
    )


def _usage_steps(
    body: UsageIn,
    key: str,
    fingerprint: str,
    snapshot: Snapshot,
    percents: Sequence[int],
    now: int,
) -> Steps[customer_store.UsageOutcome]:
    """The report applied once per key and, if it is new, each of `percents` (of the plan's
    limit) it took the metric to or past announced, once per crossing."""
    outcome = yield from customer_store.apply_usage_steps(
        customer_id=body.customer, metric=body.metric, value=body.value, mode=body.mode,
        idempotency_key=key, fingerprint=fingerprint, now=now,
    )  # fmt: skip
    if not outcome.replayed:
        yield from _threshold_steps(
            snapshot, percents, body.customer, body.metric, outcome.value, now
        )
    return outcome


def _threshold_steps(
    snapshot: Snapshot,
    percents: Sequence[int],
    customer_id: str,
    metric: str,
    used: int,
    now: int,
) -> Steps[None]:
    items = yield from customer_store.plan_items_steps(customer_id)
    plan = customers.current_plan(items, snapshot)
    limit = plan.plan.limits.get(metric) if plan.plan is not None else None
    previous = yield from customer_store.usage_level_steps(customer_id=customer_id, metric=metric)
    found = thresholds.crossing(used, limit, percents, previous)
    if found.level != previous:
        yield from customer_store.set_usage_level_steps(
            customer_id=customer_id, metric=metric, level=found.level
        )
    for percent in found.crossed:
        data = {
            "customer_id": customer_id,
            "metric": metric,
            "usage": used,
            "limit": limit,
            "threshold": percent,
            "plan": plan.plan.id if plan.plan is not None else None,
        }
        yield from announce_steps("usage.threshold_crossed", data, now=now)


async def post_feature_event(request: Request) -> JSONResponse:
    await require_admin(request)
    ctx = services(request)
    body = await read_model(request, FeatureEventIn)
    now = ctx.clock.now()
    await ctx.db.write(
        customer_store.record_feature_hit_steps(
            customer_id=body.customer, feature=body.feature, now=now
        )
    )
    answer = FeatureEventOut(
        object="feature_event", customer=body.customer, feature=body.feature, at=now
    )
    return JSONResponse(answer.document(), status_code=201)


async def post_event(request: Request) -> JSONResponse:
    """Count a product event for a customer, once per `Idempotency-Key`: the `event`
    targeting rule's facts (plugin/storage/engagement.py keeps them, bounded)."""
    await require_admin(request)
    ctx = services(request)
    key = _idempotency_key(request, "events")
    body = await read_model(request, EventIn)
    now = ctx.clock.now()
    occurred_at = now if body.occurred_at is None else body.occurred_at
    if occurred_at > now + EVENT_SKEW:
        raise ValidationFailed(
            f"occurred_at {occurred_at} is {occurred_at - now} s ahead of this server's clock "
            f"(at most {EVENT_SKEW} s).",
            code="event_in_future",
            field="occurred_at",
        )
    if occurred_at // DAY < engagement_store.first_kept_day(now):
        raise ValidationFailed(
            f"occurred_at {occurred_at} is older than the {RETENTION_DAYS} days events are kept.",
            code="event_too_old",
            field="occurred_at",
        )
    steps = engagement_store.record_event_steps(
        customer_id=body.customer, name=body.event, count=body.count,
        occurred_at=occurred_at, idempotency_key=key, fingerprint=_fingerprint(body), now=now,
    )  # fmt: skip
    outcome = await ctx.db.write(steps)
    answer = EventOut(
        object="event",
        customer=body.customer,
        event=body.event,
        count=body.count,
        occurred_at=outcome.occurred_at,
        replayed=outcome.replayed,
    )
    return JSONResponse(
        answer.document(),
        headers={"Idempotent-Replayed": "true"} if outcome.replayed else None,
    )


async def get_entitlements(request: Request) -> JSONResponse:
    await require_admin(request)
    ctx = services(request)
    customer_id = _customer_id(request)
    async with ctx.db.read() as conn:
        record = await customer_store.get(conn, customer_id)
    if record is None:
        raise NotFound(f"No customer {customer_id!r}.", code="customer_not_found")
    snapshot = await offer_snapshot(request).get()
    view = await customers.view(
        ctx.db,
        identity=CustomerIdentity(customer_id=customer_id, expires_at=0),
        snapshot=snapshot,
        now=ctx.clock.now(),
    )
    plan = view.plan
    async with ctx.db.read() as conn:
        trial = await trial_store.active(conn, customer_id=customer_id, now=ctx.clock.now())
    trial_plan = next((p for p in snapshot.plans if trial and p.id == trial.plan_id), None)
    # While a trial runs, its plan's features and limits apply if it is the higher tier.
    effective = trial_plan if trial_plan and (plan is None or trial_plan.tier > plan.tier) else plan
    answer = EntitlementsOut(
        object="entitlements",
        customer=customer_id,
        plan=None if plan is None else EntitledPlanOut(id=plan.id, name=plan.name, tier=plan.tier),
        interval=view.context.plan.interval,
        limits=effective.limits if effective else {},
        features=list(effective.features) if effective else [],
        usage=dict(view.context.usage),
        trial=None
        if trial is None
        else EntitledTrialOut(
            id=trial.id,
            offer_id=trial.offer_id,
            plan=trial.plan_id,
            starts_at=trial.starts_at,
            ends_at=trial.ends_at,
        ),
    )
    return JSONResponse(answer.document())
