"""Admin API for the plan ladder, offers, experiment results and the audit log.

Every change runs in one write transaction together with its audit row, so there is no change
without its entry, and the audit row's `seq` is the version other processes poll to refresh
their offer snapshot (plugin/offers/snapshot.py).
"""

from __future__ import annotations

import asyncio
import secrets
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from plugin.api.admin import require_admin
from plugin.api.answers import (
    ArmResultOut,
    AudienceEligibleOut,
    AuditEntryOut,
    AuditListOut,
    GateOut,
    OfferAudienceOut,
    OfferExplanationOut,
    OfferListOut,
    OfferOut,
    OfferPreviewOut,
    OfferResultsOut,
    PlanListOut,
    PlanOut,
    WidgetOfferOut,
)
from plugin.api.bodies import parse_model, read_json, read_model
from plugin.api.paging import limit_param, list_response
from plugin.api.purchases import preview_quote
from plugin.api.revenue import csv_response, wants_csv
from plugin.api.schemas import (
    READ_ONLY_OFFER_FIELDS,
    OfferCloneIn,
    OfferDraftIn,
    OfferIn,
    OfferPreviewIn,
    PlansIn,
)
from plugin.api.widget import shown_document
from plugin.billing.catalog import Plan
from plugin.customers import view as customers
from plugin.customers.population import Population
from plugin.errors import Conflict, NotFound, ValidationFailed
from plugin.offers import audience, eligibility, experiments, explain, schedule, targeting
from plugin.offers import model as offers
from plugin.offers.model import Offer, OfferError
from plugin.services import Services, offer_snapshot, services
from plugin.storage import Database
from plugin.storage import audit as audit_store
from plugin.storage import catalog as catalog_store
from plugin.storage import offers as offer_store
from plugin.storage import plans as plan_store
from plugin.storage.offers import OfferRecord

MAX_PLACEMENT = 64  # as the widget's offers route
RECURRING_KINDS = frozenset({"upgrade", "interval_switch", "cross_sell", "post_order", "bundle"})

DRAFT_ID = "offer_preview"  # a draft sent without an id


# Plans -------------------------------------------------------------------------------------


def plan_document(plan: Plan) -> PlanOut:
    return PlanOut(
        object="plan",
        id=plan.id,
        name=plan.name,
        tier=plan.tier,
        prices=list(plan.prices),
        limits=plan.limits,
        features=list(plan.features),
    )


async def list_plans(request: Request) -> JSONResponse:
    await require_admin(request)
    async with services(request).db.read() as conn:
        plans = await plan_store.list_all(conn)
    return list_response(PlanListOut, [plan_document(p) for p in plans], limit=len(plans))


async def replace_plans(request: Request) -> JSONResponse:
    admin = await require_admin(request)
    ctx = services(request)
    body = await read_model(request, PlansIn)
    plans = [p.to_domain() for p in body.plans]
    for i, plan in enumerate(plans):
        for j, price in enumerate(plan.prices):
            if await catalog_store.get_price(ctx.db, price) is None:
                raise ValidationFailed(
                    f"Unknown price {price!r}: run `uplift catalog sync` or create it in Stripe.",
                    field=f"plans[{i}].prices[{j}]",
                    code="unknown_price",
                )
    now = ctx.clock.now()
    async with ctx.db.transaction() as conn:
        await plan_store.replace(conn, plans=plans, now=now)
        await audit_store.record(
            conn,
            actor=admin.key_id,
            action="plans.replace",
            target=None,
            detail={"plans": [p.id for p in plans]},
            now=now,
        )
    _changed(request)
    ladder = [plan_document(p) for p in sorted(plans, key=lambda p: p.tier)]
    return list_response(PlanListOut, ladder, limit=50)


# Offers ------------------------------------------------------------------------------------


def offer_document(record: OfferRecord) -> OfferOut:
    return OfferOut.model_validate(
        {
            "object": "offer",
            **offers.dump(record.offer),
            "version": record.version,
            "created_at": record.created_at,
            "updated_at": record.updated_at,
        }
    )


async def _build(ctx: Services, doc: dict[str, Any]) -> Offer:
    """The domain offer from a validated body, checked against the catalog and the ladder."""
    try:
        offer = offers.load(doc)
    except OfferError as exc:
        raise ValidationFailed(str(exc), field=exc.field) from None
    except targeting.TargetingError as exc:  # pragma: no cover -- load maps it to OfferError
        raise ValidationFailed(str(exc), field=exc.field) from None
    for i, price_id in enumerate(offer.target_prices):
        price = await catalog_store.get_price(ctx.db, price_id)
        if price is None:
            raise ValidationFailed(
                f"Unknown price {price_id!r}: run `uplift catalog sync` or create it in Stripe.",
                field=f"target_prices[{i}]",
                code="unknown_price",
            )
        if offer.kind in RECURRING_KINDS and not price.recurring:
            raise ValidationFailed(
                f"{price_id!r} is a one-time price; a {offer.kind} offer needs a recurring one.",
                field=f"target_prices[{i}]",
            )
    async with ctx.db.read() as conn:
        known = {p.id for p in await plan_store.list_all(conn)}
    for path, plan_id in _plans_in(offer.targeting, "targeting"):
        if plan_id not in known:
            raise ValidationFailed(
                f"Unknown plan {plan_id!r}: add it with PUT /api/v1/admin/plans first.",
                field=path,
                code="unknown_plan",
            )
    return offer


def _plans_in(rule: targeting.Rule, path: str) -> list[tuple[str, str]]:
    match rule:
        case targeting.AllOf(rules) | targeting.AnyOf(rules):
            key = "all" if isinstance(rule, targeting.AllOf) else "any"
            return [
                found
                for i, sub in enumerate(rules)
                for found in _plans_in(sub, f"{path}.{key}[{i}]")
            ]
        case targeting.Not(sub):
            return _plans_in(sub, f"{path}.not")
        case targeting.PlanIs(plans, _):
            return [(f"{path}.plan.in[{i}]", p) for i, p in enumerate(plans)]
    return []


async def list_offers(request: Request) -> JSONResponse:
    await require_admin(request)
    params = request.query_params
    status = params.get("status")
    if status is not None and status not in ("draft", "active", "paused", "archived"):
        raise ValidationFailed("status must be draft, active, paused or archived.", field="status")
    limit = limit_param(params.get("limit"))
    async with services(request).db.read() as conn:
        rows = await offer_store.page(
            conn, status=status, limit=limit, after_id=params.get("starting_after")
        )
    return list_response(OfferListOut, [offer_document(r) for r in rows], limit=limit)


async def create_offer(request: Request) -> JSONResponse:
    admin = await require_admin(request)
    ctx = services(request)
    body = await read_model(request, OfferIn)
    offer = await _build(ctx, body.document(body.id or "offer_" + secrets.token_hex(8)))
    now = ctx.clock.now()
    async with ctx.db.transaction() as conn:
        record = await offer_store.insert(conn, offer=offer, now=now)
        if record is None:
            raise Conflict(f"An offer with id {offer.id!r} exists.", code="offer_exists")
        await _audit(conn, admin.key_id, "offer.create", record, now)
    _changed(request)
    return JSONResponse(offer_document(record).document(), status_code=201)


async def clone_offer(request: Request) -> JSONResponse:
    """A copy of the offer as a new draft: a new id (given, or made), the name given or the
    original's with " (copy)", everything else the same; results and history stay with the
    original."""
    admin = await require_admin(request)
    ctx = services(request)
    has_body = request.headers.get("content-length", "0") != "0" or (
        "transfer-encoding" in request.headers
    )
    body = await read_model(request, OfferCloneIn) if has_body else OfferCloneIn()
    source = await _get(ctx.db, request.path_params["offer_id"])
    name = body.name or f"{source.offer.name} (copy)"[: offers.MAX_TITLE]
    document = {
        **offers.dump(source.offer),
        "id": body.id or "offer_" + secrets.token_hex(8),
        "name": name,
        "status": "draft",
    }
    offer = offers.load(document)
    now = ctx.clock.now()
    async with ctx.db.transaction() as conn:
        record = await offer_store.insert(conn, offer=offer, now=now)
        if record is None:
            raise Conflict(f"An offer with id {offer.id!r} exists.", code="offer_exists")
        await audit_store.record(
            conn,
            actor=admin.key_id,
            action="offer.clone",
            target=record.offer.id,
            detail={"version": record.version, "status": "draft", "from": source.offer.id},
            now=now,
        )
    _changed(request)
    return JSONResponse(offer_document(record).document(), status_code=201)


async def _get(db: Database, offer_id: str) -> OfferRecord:
    async with db.read() as conn:
        record = await offer_store.get(conn, offer_id)
    if record is None:
        raise NotFound(f"No offer {offer_id[:80]!r}.", code="offer_not_found")
    return record


async def get_offer(request: Request) -> JSONResponse:
    await require_admin(request)
    record = await _get(services(request).db, request.path_params["offer_id"])
    return JSONResponse(offer_document(record).document())


async def update_offer(request: Request) -> JSONResponse:
    """PATCH: the given top-level fields replace the stored ones; the result is checked whole."""
    admin = await require_admin(request)
    ctx = services(request)
    current = await _get(ctx.db, request.path_params["offer_id"])
    patch = await read_json(request)
    if not isinstance(patch, dict):
        raise ValidationFailed("Send an object with the fields to change.")
    if "id" in patch and patch["id"] != current.offer.id:
        raise ValidationFailed("An offer's id cannot change.", field="id")
    body = parse_model(OfferIn, {**offers.dump(current.offer), **patch})
    offer = await _build(ctx, body.document(current.offer.id))
    now = ctx.clock.now()
    async with ctx.db.transaction() as conn:
        record = await offer_store.update(conn, offer=offer, now=now)
        if record is None:
            raise NotFound(f"No offer {current.offer.id!r}.", code="offer_not_found")
        changed = sorted(set(patch) - READ_ONLY_OFFER_FIELDS)
        await _audit(conn, admin.key_id, "offer.update", record, now, changed=changed)
    _changed(request)
    return JSONResponse(offer_document(record).document())


async def archive_offer(request: Request) -> JSONResponse:
    """DELETE archives: the offer stops showing, and its history and results stay readable."""
    admin = await require_admin(request)
    ctx = services(request)
    current = await _get(ctx.db, request.path_params["offer_id"])
    offer = offers.load({**offers.dump(current.offer), "status": "archived"})
    now = ctx.clock.now()
    async with ctx.db.transaction() as conn:
        record = await offer_store.update(conn, offer=offer, now=now)
        if record is None:  # pragma: no cover -- read just above; offers are never deleted
            raise NotFound(f"No offer {current.offer.id!r}.", code="offer_not_found")
        await _audit(conn, admin.key_id, "offer.archive", record, now)
    _changed(request)
    return JSONResponse(offer_document(record).document())


async def _audit(
    conn: Any,
    actor: str,
    action: str,
    record: OfferRecord,
    now: int,
    *,
    changed: list[str] | None = None,
) -> None:
    detail: dict[str, Any] = {"version": record.version, "status": record.offer.status}
    if changed is not None:
        detail["changed"] = changed
    await audit_store.record(
        conn, actor=actor, action=action, target=record.offer.id, detail=detail, now=now
    )


def _changed(request: Request) -> None:
    offer_snapshot(request).invalidate()


# Results -----------------------------------------------------------------------------------


RESULTS_CSV = (
    "offer_id", "arm", "control", "exposed", "clicked", "accepted", "paid", "currency",
    "revenue", "conversion_rate", "interval_95_low", "interval_95_high", "p_value_vs_control",
    "probability_beats_control", "lift_vs_holdout", "always_valid_p_value",
)  # fmt: skip


def _results_rows(answer: OfferResultsOut) -> list[list[object]]:
    """One row per arm and currency of its revenue (one row with an empty currency when it
    earned nothing): the JSON's numbers, unrounded."""
    rows: list[list[object]] = []
    for arm in answer.arms:
        low, high = arm.interval_95 if arm.interval_95 else (None, None)
        stats = [arm.conversion_rate, low, high, arm.p_value_vs_control,
                 arm.probability_beats_control, arm.lift_vs_holdout,
                 arm.always_valid_p_value]  # fmt: skip
        for currency, revenue in sorted(arm.revenue.items()) or [("", 0)]:
            rows.append([answer.offer_id, arm.arm, arm.control, arm.exposed, arm.clicked,
                         arm.accepted, arm.paid, currency, revenue, *stats])  # fmt: skip
    return rows


async def offer_results(request: Request) -> Response:
    await require_admin(request)
    ctx = services(request)
    record = await _get(ctx.db, request.path_params["offer_id"])
    offer = record.offer
    arms = [v.key for v in offer.variants] + [experiments.HOLDOUT]
    async with ctx.db.read() as conn:
        counts = await offer_store.arm_counts(conn, offer_id=offer.id, arms=arms)
    control = offer.design.control
    stats = {
        r.key: r
        for r in experiments.compare(
            [experiments.Arm(c.arm, c.exposed, c.paid) for c in counts], control=control
        )
    }
    holdout = next(c for c in counts if c.arm == experiments.HOLDOUT)
    holdout_rate = holdout.paid / holdout.exposed if holdout.exposed else None
    data = []
    for c in counts:
        s = stats[c.arm]
        lift = (
            s.rate - holdout_rate
            if s.rate is not None and holdout_rate is not None and c.arm != experiments.HOLDOUT
            else None
        )
        data.append(
            ArmResultOut(
                arm=c.arm,
                control=c.arm == control,
                exposed=c.exposed,
                clicked=c.clicked,
                accepted=c.accepted,
                paid=c.paid,
                revenue=c.revenue,
                conversion_rate=s.rate,
                interval_95=list(s.interval) if s.interval else None,
                p_value_vs_control=s.p_value,
                always_valid_p_value=s.always_valid_p_value,
                probability_beats_control=s.probability_beats_control,
                lift_vs_holdout=lift,
            )
        )
    answer = OfferResultsOut(
        object="offer_results",
        offer_id=offer.id,
        metric="paid conversions / exposed customers",
        arms=data,
        warning=experiments.sample_warning(
            [experiments.Arm(c.arm, c.exposed, c.paid) for c in counts if c.arm in stats]
        ),
    )
    if wants_csv(request):
        return csv_response(RESULTS_CSV, _results_rows(answer), f"offer_results_{offer.id}")
    return JSONResponse(answer.document())


# Audience and explanations -------------------------------------------------------------------


def _population(request: Request) -> Population:
    """The app's kept population of customers (plugin/customers/population.py)."""
    found: Population | None = getattr(request.app.state, "population", None)
    if found is None:
        found = request.app.state.population = Population()
    return found


async def _draft(ctx: Services, document: dict[str, Any]) -> Offer:
    """A draft offer (not saved) checked as POST /api/v1/admin/offers checks one, as it will be
    once active; errors name their field under `offer.`."""
    try:
        draft = parse_model(OfferIn, document)
        offer = await _build(ctx, draft.document(draft.id or DRAFT_ID))
    except ValidationFailed as exc:
        field = f"offer.{exc.field}" if exc.field else "offer"
        raise ValidationFailed(exc.message, field=field, code=exc.code) from None
    return offers.load({**offers.dump(offer), "status": "active"})


async def _audience(request: Request, offer: Offer, *, offer_id: str | None) -> JSONResponse:
    ctx = services(request)
    snapshot = await offer_snapshot(request).get()
    now = ctx.clock.now()
    population = await _population(request).read(
        ctx.db, snapshot=snapshot, now=now, loop_time=asyncio.get_running_loop().time()
    )
    found = audience.count(
        offer, population, at_placement=snapshot.by_placement, now=now, ladder=snapshot.ladder
    )
    answer = OfferAudienceOut(
        object="offer_audience",
        offer_id=offer_id,
        at=now,
        considered=found.considered,
        eligible=AudienceEligibleOut(
            total=found.eligible, held_out=found.held_out, by_placement=found.by_placement
        ),
        excluded=found.excluded,
    )
    return JSONResponse(answer.document())


async def draft_audience(request: Request) -> JSONResponse:
    """`POST /api/v1/admin/offers/audience`: the audience of a draft offer (not saved) as if it
    were active now, the console's count while the admin edits; a draft with an error is a 422
    naming the field, so the same call validates as the admin types."""
    await require_admin(request, changes=False)
    body = await read_model(request, OfferDraftIn)
    offer = await _draft(services(request), body.offer)
    return await _audience(request, offer, offer_id=None if offer.id == DRAFT_ID else offer.id)


async def offer_audience(request: Request) -> JSONResponse:
    """How many customers the offer reaches now, and the first gate keeping out each other one
    (plugin/offers/audience.py)."""
    await require_admin(request)
    ctx = services(request)
    record = await _get(ctx.db, request.path_params["offer_id"])
    snapshot = await offer_snapshot(request).get()
    # The snapshot's own offer when it is this version: it remembers its customers' arms.
    offer = snapshot.offer(record.offer.id)
    if offer is None or offer != record.offer:
        offer = record.offer
    return await _audience(request, offer, offer_id=record.offer.id)


async def explain_offer(request: Request) -> JSONResponse:
    """Every gate between one customer and the offer now, with the fact each one read."""
    await require_admin(request)
    ctx = services(request)
    params = request.query_params
    customer_id = params.get("customer")
    if not customer_id:
        raise ValidationFailed("Name the customer: ?customer=ID.", field="customer")
    placement = params.get("placement")
    if placement is not None and not 1 <= len(placement) <= MAX_PLACEMENT:
        raise ValidationFailed(
            f"placement must be 1 to {MAX_PLACEMENT} characters.", field="placement"
        )
    record = await _get(ctx.db, request.path_params["offer_id"])
    snapshot = await offer_snapshot(request).get()
    now = ctx.clock.now()
    state = await customers.recorded(ctx.db, customer_id=customer_id, snapshot=snapshot, now=now)
    if state is None:
        raise NotFound(f"No customer {customer_id[:80]!r}.", code="customer_not_found")
    found = explain.explain(
        record.offer, state, placement=placement, now=now, ladder=snapshot.ladder
    )
    answer = OfferExplanationOut(
        object="offer_explanation",
        offer_id=record.offer.id,
        customer=customer_id,
        placement=placement,
        at=now,
        eligible=found.eligible,
        shown=found.shown,
        variant=found.arm,
        gates=[
            GateOut(gate=g.gate, passed=g.passed, detail=g.detail, rule=g.rule) for g in found.gates
        ],
    )
    return JSONResponse(answer.document())


async def preview_offer(request: Request) -> JSONResponse:
    """A draft offer, not saved, as the widget would receive it for one customer: its document
    in the chosen variant (or the customer's own, or the first), and every gate between the
    customer and it once it is active. The console renders the real widget with it."""
    await require_admin(request, changes=False)
    ctx = services(request)
    body = await read_model(request, OfferPreviewIn)
    offer = await _draft(ctx, body.offer)
    snapshot = await offer_snapshot(request).get()
    now = ctx.clock.now()
    state = await customers.recorded(ctx.db, customer_id=body.customer, snapshot=snapshot, now=now)
    if state is None:
        raise NotFound(f"No customer {body.customer!r}.", code="customer_not_found")
    found = explain.explain(offer, state, placement=body.placement, now=now, ladder=snapshot.ladder)
    key = body.variant or (found.arm if found.arm in offer.by_key else offer.variants[0].key)
    variant = offer.by_key.get(key)
    if variant is None:
        raise ValidationFailed(
            f"The offer has no variant {key!r}: one of {sorted(offer.by_key)}.", field="variant"
        )
    shown = eligibility.Shown(offer, variant, schedule.countdown(offer.window, now=now))
    quote, unavailable = await preview_quote(
        request, offer, customer_id=body.customer, variant=key, snapshot=snapshot, now=now
    )
    answer = OfferPreviewOut(
        object="offer_preview",
        customer=body.customer,
        placement=body.placement,
        offer=WidgetOfferOut.model_validate(shown_document(shown, snapshot, state.context)),
        eligible=found.eligible,
        shown=found.shown,
        gates=[
            GateOut(gate=g.gate, passed=g.passed, detail=g.detail, rule=g.rule) for g in found.gates
        ],
        quote=quote,
        quote_unavailable=unavailable,
    )
    return JSONResponse(answer.document())


# Audit -------------------------------------------------------------------------------------


async def list_audit(request: Request) -> JSONResponse:
    await require_admin(request)
    params = request.query_params
    limit = limit_param(params.get("limit"))
    raw = params.get("starting_after")
    before = None
    if raw is not None:
        # At most 18 digits: a larger number would overflow SQLite's 64-bit integer (a 500).
        digits = raw.removeprefix("audit_")
        if (
            not raw.startswith("audit_")
            or not digits.isascii()
            or not digits.isdigit()
            or len(digits) > 18
        ):
            raise ValidationFailed(
                "starting_after must be an audit entry id.", field="starting_after"
            )
        before = int(digits)
    async with services(request).db.read() as conn:
        entries = await audit_store.page(conn, limit=limit, before_seq=before)
    return list_response(
        AuditListOut,
        [
            AuditEntryOut(
                object="audit_entry",
                id=f"audit_{e.seq}",
                actor=e.actor,
                action=e.action,
                target=e.target,
                detail=e.detail,
                created=e.at,
            )
            for e in entries
        ],
        limit=limit,
    )
