"""The widget's API (customer token): the offers to show now, and what the customer did.

`GET /api/v1/widget/offers` is on the hot path of every page with an upgrade button: it reads
the offer snapshot from memory, the customer's state with one read connection, evaluates, and
writes only when a customer meets an offer for the first time (the sticky experiment arm).
The answer is then kept with the customer's cached facts, per placement, until the first
second it could change (`eligibility.stable_until`) or the facts, the offers or the token do;
countdowns in it are recounted per request. A repeat request is answered from it.

`GET /api/v1/widget/plans` is the pricing table's: the ladder from the same snapshot with the
customer's place on it, worked out once per snapshot for each plan, interval and currency.
"""

from __future__ import annotations

import asyncio
from dataclasses import asdict
from typing import Any, cast

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from plugin.api.answers import PlanLadderOut
from plugin.api.bodies import read_model
from plugin.api.errors import to_response
from plugin.api.schemas import WidgetEventIn
from plugin.auth import CustomerIdentity, CustomerTokens, bearer_token
from plugin.billing.catalog import Interval, Plan, Price, YearlySaving, yearly_saving
from plugin.billing.money import Money
from plugin.customers import view as customers
from plugin.customers.answers import KeptAnswer
from plugin.customers.view import CustomerView
from plugin.errors import (
    Conflict,
    NotFound,
    NotReady,
    RateLimited,
    UpliftError,
    ValidationFailed,
)
from plugin.middleware.cors import add_vary_origin
from plugin.offers import downgrades, eligibility, experiments, relevance, targeting
from plugin.offers.eligibility import CustomerState, Shown
from plugin.offers.model import Offer, survey_document
from plugin.offers.snapshot import Snapshot
from plugin.offers.targeting import CustomerContext
from plugin.outbound import events
from plugin.outbound.outbox import announce, announce_steps
from plugin.services import exposure_recorder, offer_snapshot, services
from plugin.storage import Connection
from plugin.storage import feedback as feedback_store
from plugin.storage import offers as offer_store
from plugin.storage.steps import Steps, run

MAX_PER_DAY = eligibility.MAX_PER_DAY
MAX_PLACEMENT = 64


def require_customer(request: Request) -> CustomerIdentity:
    ctx = services(request)
    secret = ctx.settings.widget_secret
    if secret is None:
        raise NotReady(
            "Customer tokens are not configured (UPLIFT_WIDGET_SECRET).",
            code="widget_not_configured",
        )
    tokens = ctx.customer_tokens
    if tokens is None:
        tokens = ctx.customer_tokens = CustomerTokens(secret.get_secret_value())
    identity = tokens.verify(
        bearer_token(request.headers.get("authorization")), now=ctx.clock.now()
    )
    # Monotonic time, not the clock: limits protect the server, they are not business rules.
    wait = ctx.customer_limiter.take(identity.customer_id, now=asyncio.get_running_loop().time())
    if wait is not None:
        raise RateLimited(
            f"Too many requests for this customer; retry in {wait} s.", retry_after=wait
        )
    return identity


MEMO_LIMIT = 4096  # (placement, plan, interval) combinations kept per snapshot


def relevant_at(placement: str | None, view: CustomerView, snapshot: Snapshot) -> list[Offer]:
    """The offers at `placement` that are `relevant` to the customer's plan and interval: the
    same for everyone on that plan, so worked out once per snapshot (`Snapshot.memo`)."""
    plan = view.plan
    key = (
        "relevant",
        placement,
        plan.id if plan is not None else None,
        view.context.plan.interval,
        view.currency,
    )
    found = cast("list[Offer] | None", snapshot.memo.get(key))
    if found is None:
        found = [o for o in snapshot.at(placement) if relevant(o, view, snapshot)]
        if len(snapshot.memo) < MEMO_LIMIT:
            snapshot.memo[key] = found
    return found


def relevant(offer: Offer, view: CustomerView, snapshot: Snapshot) -> bool:
    """Never offer what the customer already has (plugin/offers/relevance.py)."""
    return relevance.owned(offer, view.context.plan, snapshot.ladder) is None


def _price_document(offer: Offer, snapshot: Snapshot) -> list[dict[str, Any]]:
    documents = []
    for price_id in offer.target_prices:
        price = snapshot.prices.get(price_id)
        if price is None or price.unit_amount is None:
            continue
        amount = Money(price.unit_amount, price.currency)
        document: dict[str, Any] = {
            "price": price.id,
            "currency": price.currency,
            "unit_amount": price.unit_amount,
            "display": amount.format(),
            "interval": price.interval,
            "interval_count": price.interval_count,
        }
        saving = _saving(offer, price, snapshot)
        if saving is not None:
            document["saving"] = {
                "amount": saving.amount,
                "display": Money(saving.amount, price.currency).format(),
                "free_months": saving.free_months,
            }
        if offer.discount is not None:
            discounted = Money(offer.discount.apply(price.unit_amount), price.currency)
            document["discounted_amount"] = discounted.amount
            document["discounted_display"] = discounted.format()
            document["discount_months"] = offer.discount.duration_months
        documents.append(document)
    return documents


def _saving(offer: Offer, price: Price, snapshot: Snapshot) -> YearlySaving | None:
    """An interval switch to a yearly price: what it saves against the same plan's monthly
    price in that currency (the widget says "Save $58 a year, 2 months free")."""
    if offer.kind != "interval_switch":
        return None
    plan = snapshot.plan_by_price.get(price.id)
    for sibling in plan.prices if plan is not None else ():
        monthly = snapshot.prices.get(sibling)
        if monthly is not None and monthly.currency == price.currency:
            found = yearly_saving(price, monthly)
            if found is not None:
                return found
    return None


def _discount_document(offer: Offer) -> dict[str, Any] | None:
    """The offer's discount (percent_off, amount_off, duration_months); quoting locks it."""
    return None if offer.discount is None else asdict(offer.discount)


def _usage_document(offer: Offer, context: CustomerContext) -> dict[str, Any] | None:
    """What the banner says ("You've used 9 GB of 10 GB") for an offer targeted on usage:
    the customer's reported usage against their plan's limit. None when the offer has no usage
    rule, or the usage or a finite limit is unknown (nothing true to say)."""
    metric = targeting.usage_metric(offer.targeting)
    if metric is None:
        return None
    used, limit = context.usage.get(metric), context.plan.limits.get(metric)
    if used is None or limit is None:
        return None
    return {"metric": metric, "used": used, "limit": limit}


def shown_document(shown: Shown, snapshot: Snapshot, context: CustomerContext) -> dict[str, Any]:
    """The widget's document for an offer shown (the admin's preview renders the same)."""
    offer, variant = shown.offer, shown.variant
    return {
        "object": "widget_offer",
        "offer_id": offer.id,
        "kind": offer.kind,
        "variant": variant.key,
        "copy": {
            "title": variant.copy.title,
            "body": variant.copy.body,
            "cta": variant.copy.cta,
            "decline": variant.copy.decline,
            **({"locales": variant.copy.locales_document()} if variant.copy.locales else {}),
        },
        "prices": _price_document(offer, snapshot),
        "discount": _discount_document(offer),
        "trial_days": offer.trial_days,
        "ends_at": offer.window.ends_at,
        "countdown_seconds": shown.countdown,
        "usage": _usage_document(offer, context),
        "reasons": [{"key": r.key, "label": r.label} for r in offer.reasons],
        "survey": None if offer.survey is None else survey_document(offer.survey),
    }


def _downgrade_part(to_plan: str | None, view: CustomerView, snapshot: Snapshot) -> dict[str, Any]:
    """With `?to_plan=`, what moving there would take away (the retention screen's list):
    `{"downgrade": {...}}`, or `{"downgrade": None}` when it is not a lower tier than the
    customer's plan; without it, nothing, so the hot path's answer is unchanged."""
    if to_plan is None:
        return {}
    target = downgrades.find_plan(snapshot.plans, to_plan) if len(to_plan) <= 100 else None
    if target is None:
        raise ValidationFailed(
            f"to_plan {to_plan[:100]!r} is not a plan of the ladder (give a plan id).",
            code="unknown_plan",
            field="to_plan",
        )
    lost = downgrades.lost(
        view.plan,
        target,
        usage=view.context.usage,
        last_used=view.context.feature_hits,
        uses=view.feature_uses,
    )
    return {"downgrade": lost.document() if lost is not None else None}


class OffersAnswer(JSONResponse):
    """The offers endpoint's 200: JSONResponse's exact bytes and headers, built directly (its
    generic header assembly was a visible share of the hot path), from `document` or from the
    `body` of a kept answer. Nearly every answer is the empty list (nothing to show now, or
    the daily cap reached), rendered once."""

    def __init__(self, document: dict[str, Any] | None = None, *, body: bytes = b"") -> None:
        if document is not None:
            body = _EMPTY_BODY if document == _EMPTY_DOCUMENT else self.render(document)
        self.status_code = 200
        self.background = None
        self.body = body
        self.raw_headers = [
            (b"cache-control", b"no-store"),
            (b"content-length", str(len(body)).encode()),
            (b"content-type", b"application/json"),
        ]


_EMPTY_DOCUMENT: dict[str, Any] = {"object": "list", "data": [], "has_more": False}
_EMPTY_BODY = bytes(JSONResponse(_EMPTY_DOCUMENT).body)


QUERIES_KEPT = 256


def _offers_query(request: Request) -> tuple[str | None, str | None]:
    """`placement` and `to_plan` as `request.query_params` gives them; a site asks with a
    handful of query strings, so the first `QUERIES_KEPT` are parsed once per app
    (`Services.offers_queries`)."""
    raw: bytes = request.scope.get("query_string", b"")
    queries = services(request).offers_queries
    found = queries.get(raw)
    if found is None:
        params = request.query_params
        found = (params.get("placement"), params.get("to_plan"))
        if len(queries) < QUERIES_KEPT:
            queries[raw] = found
    return found


async def list_offers(request: Request) -> JSONResponse:
    identity = require_customer(request)
    ctx = services(request)
    placement, to_plan = _offers_query(request)
    if placement is not None and not 1 <= len(placement) <= MAX_PLACEMENT:
        raise ValidationFailed(
            f"placement must be 1 to {MAX_PLACEMENT} characters.", field="placement"
        )
    now = ctx.clock.now()
    snapshot = await offer_snapshot(request).get()
    if to_plan is None:
        kept = customers.kept_answers(ctx.db, identity=identity, snapshot=snapshot)
        body = kept.body(placement, now) if kept is not None else None
        if body is not None:
            return OffersAnswer(body=body)
    view = await customers.view(ctx.db, identity=identity, snapshot=snapshot, now=now)
    kept = view.answers if to_plan is None else None
    downgrade = _downgrade_part(to_plan, view, snapshot)
    candidates = relevant_at(placement, view, snapshot)
    state = CustomerState(
        view.context,
        histories=view.offer_state.histories,
        recent_impressions=view.offer_state.recent_impressions,
        assignments=view.offer_state.assignments,
    )
    result = eligibility.evaluate(
        candidates, state, placement=placement, now=now, max_per_day=MAX_PER_DAY
    )
    first_seen = [
        (s.offer.id, s.variant.key)
        for s in result.shown
        if s.offer.id not in view.offer_state.assignments
    ] + [
        (o.id, experiments.HOLDOUT)
        for o in result.held_out
        if o.id not in view.offer_state.assignments
    ]
    # Record the arm on first exposure, holdout included: the holdout is the baseline that
    # lift is measured against, so it must be counted like everyone else. Written after the
    # response, in batches (plugin/offers/exposures.py): the arm is a hash, the response needs no
    # write.
    recorder = exposure_recorder(request)
    for offer_id, arm in first_seen:
        await recorder.record(offer_id=offer_id, customer_id=identity.customer_id, arm=arm, now=now)
    document = {
        "object": "list",
        "data": [shown_document(s, snapshot, view.context) for s in result.shown],
        "has_more": False,
        **downgrade,
    }
    answer = OffersAnswer(document)
    # Keep the answer until the first second it could differ otherwise than by counting down
    # (`eligibility.stable_until`), or until the facts, the snapshot or the token change (the
    # kept answers go with them). Not after a first exposure: its write is on its way, and the
    # customer's next request will see it recorded.
    if kept is not None and not first_seen and kept.has_room():
        until = eligibility.stable_until(
            candidates,
            state,
            result,
            now=now,
            max_per_day=MAX_PER_DAY,
            spans=(offer_store.HISTORY_DAYS * 86_400,),
            countdowns=False,
        )
        kept.keep(
            placement,
            KeptAnswer.of(document, bytes(answer.body), render=_render, now=now, until=until),
        )
    return answer


def _render(document: dict[str, Any]) -> bytes:
    return bytes(OffersAnswer(document).body)


async def plan_ladder(request: Request) -> JSONResponse:
    """The plan ladder for the widget's pricing table, the customer's plan and interval marked.
    Memory and the customer's cached facts only: no Stripe call, no write. The document
    depends on nothing but the snapshot and the customer's plan, interval and currency, so it
    is made once per snapshot for each (`Snapshot.memo`)."""
    identity = require_customer(request)
    ctx = services(request)
    snapshot = await offer_snapshot(request).get()
    view = await customers.view(ctx.db, identity=identity, snapshot=snapshot, now=ctx.clock.now())
    plan, interval, currency = view.plan, view.context.plan.interval, view.currency
    key = ("plan_ladder", plan.id if plan is not None else None, interval, currency)
    document = cast("dict[str, Any] | None", snapshot.memo.get(key))
    if document is None:
        document = PlanLadderOut.model_validate(
            _ladder_document(snapshot, plan=plan, interval=interval, currency=currency)
        ).document()
        if len(snapshot.memo) < MEMO_LIMIT:
            snapshot.memo[key] = document
    return JSONResponse(document)


def _ladder_document(
    snapshot: Snapshot, *, plan: Plan | None, interval: Interval | None, currency: str | None
) -> dict[str, Any]:
    return {
        "object": "plan_ladder",
        "currency": currency,
        "current_plan": plan.id if plan is not None else None,
        "current_interval": interval,
        "plans": [
            _ladder_plan(
                rung,
                snapshot,
                current=plan is not None and rung.id == plan.id,
                interval=interval,
                currency=currency,
            )
            for rung in sorted(snapshot.plans, key=lambda p: p.tier)
        ],
    }


def _ladder_plan(
    plan: Plan,
    snapshot: Snapshot,
    *,
    current: bool,
    interval: Interval | None,
    currency: str | None,
) -> dict[str, Any]:
    """One rung: the view names the customer's plan and interval, not their price, so the
    current prices are the plan's prices billed every one of that interval."""
    prices = _ladder_prices(plan, snapshot, currency)
    saving = _ladder_saving(prices)
    return {
        "object": "widget_plan",
        "id": plan.id,
        "name": plan.name,
        "tier": plan.tier,
        "features": list(plan.features),
        "limits": dict(plan.limits),
        "current": current,
        "prices": [
            {
                "price": price.id,
                "currency": price.currency,
                "unit_amount": price.unit_amount,
                "interval": price.interval,
                "interval_count": price.interval_count,
                "current": current and price.interval == interval and price.interval_count == 1,
            }
            for price in prices
        ],
        "yearly_saving": (
            None if saving is None else {"amount": saving.amount, "free_months": saving.free_months}
        ),
    }


def _ladder_prices(plan: Plan, snapshot: Snapshot, currency: str | None) -> list[Price]:
    """The plan's prices a pricing table can show, in the plan's order: active, recurring, one
    whole amount per unit (not tiered, metered or packaged), in `currency` when it is known
    (the customer can only move within their subscription's currency); every currency when
    it is not."""
    listed = []
    for price_id in plan.prices:
        price = snapshot.prices.get(price_id)
        if (
            price is not None
            and price.active
            and price.recurring
            and price.per_unit
            and price.unit_amount is not None
            and (currency is None or price.currency == currency)
        ):
            listed.append(price)
    return listed


def _ladder_saving(prices: list[Price]) -> YearlySaving | None:
    """The first yearly price against twelve payments of the first monthly price in its
    currency (the annual toggle's "Save $58 a year, 2 months free")."""
    yearly = next((p for p in prices if p.interval == "year" and p.interval_count == 1), None)
    if yearly is None:
        return None
    monthly = next(
        (
            p
            for p in prices
            if p.interval == "month" and p.interval_count == 1 and p.currency == yearly.currency
        ),
        None,
    )
    return None if monthly is None else yearly_saving(yearly, monthly)


async def post_event(request: Request) -> JSONResponse:
    """impression, click, dismiss, decline: the funnel and the inputs of caps and cooldowns;
    a decline or dismiss may say why (`reason`); `answer` answers a survey (once)."""
    identity = require_customer(request)
    ctx = services(request)
    body = await read_model(request, WidgetEventIn)
    snapshot = await offer_snapshot(request).get()
    offer = snapshot.offer(body.offer_id)
    if offer is None:
        raise NotFound(f"No active offer {body.offer_id!r}.", code="offer_not_found")
    if offer.variant(body.variant) is None:
        raise ValidationFailed(f"{body.variant!r} is not a variant of this offer.", field="variant")
    reason = _reason(offer, body)
    answer = _answer(offer, body)
    now = ctx.clock.now()
    if answer is not None:
        async with ctx.db.transaction() as conn:
            arm = await offer_store.assign(
                conn, offer_id=offer.id, customer_id=identity.customer_id, arm=body.variant,
                now=now,
            )  # fmt: skip
            _check_arm(arm, body)
            await _answered(conn, identity.customer_id, offer, arm, answer, now=now)
    else:
        # The widget's most frequent write (an impression per offer shown): one shared
        # transaction with the writes queued beside it (Database.write).
        arm = await ctx.db.write(_event_steps(identity.customer_id, offer, body, reason, now))
        _check_arm(arm, body)
    return JSONResponse(
        {
            "object": "widget_event",
            "offer_id": offer.id,
            "variant": arm,
            "type": body.type,
            "at": now,
        },
        status_code=201,
    )


# Widget events the SaaS's systems hear of (plugin/outbound/), by the event type they are.
ANNOUNCED_EVENTS = {"decline": "offer.declined", "dismiss": "offer.dismissed"}


def _check_arm(arm: str, body: WidgetEventIn) -> None:
    if arm != body.variant:
        raise ValidationFailed(
            f"This customer sees variant {arm!r} of the offer, not {body.variant!r}.",
            field="variant",
        )


def _event_steps(
    customer_id: str, offer: Offer, body: WidgetEventIn, reason: dict[str, Any] | None, now: int
) -> Steps[str]:
    """An impression, click, dismiss or decline, with its first exposure; nothing is written
    but the exposure (the first recorded arm) when the customer sees another variant."""
    arm = yield from offer_store.assign_steps(
        offer_id=offer.id, customer_id=customer_id, arm=body.variant, now=now
    )
    if arm != body.variant:
        return arm
    yield from offer_store.record_event_steps(
        offer_id=offer.id, customer_id=customer_id, arm=arm, event_type=body.type, now=now
    )
    if body.type in ANNOUNCED_EVENTS:
        yield from _announce_event(customer_id, offer, arm, body, reason, now=now)
    return arm


def _reason(offer: Offer, body: WidgetEventIn) -> dict[str, Any] | None:
    """The reason given, as announced (`key`, `label`, `text`), checked against the offer's."""
    if body.to_plan is not None and body.type != "decline":
        raise ValidationFailed("to_plan goes with a decline only.", field="to_plan")
    if body.reason is None:
        return None
    if body.type not in ANNOUNCED_EVENTS:
        raise ValidationFailed("A reason goes with a decline or a dismiss only.", field="reason")
    known = offer.reason(body.reason.key)
    if known is None:
        raise ValidationFailed(
            f"{body.reason.key!r} is not one of this offer's reasons.", field="reason.key"
        )
    text = (body.reason.text or "").strip() or None
    _plain(text, "reason.text")
    return {"key": known.key, "label": known.label, "text": text}


def _answer(offer: Offer, body: WidgetEventIn) -> dict[str, Any] | None:
    """A survey's answer, checked against its question: a choice's key, or a score."""
    if (body.type == "answer") != (body.answer is not None):
        raise ValidationFailed("An answer event carries an `answer`, and only it.", field="answer")
    if body.answer is None:
        return None
    survey = offer.survey
    if survey is None:
        raise ValidationFailed("This offer asks no question.", field="answer")
    given = body.answer
    label = None
    if survey.type == "choice":
        choice = next((c for c in survey.choices if c.key == given.choice), None)
        if choice is None or given.score is not None:
            raise ValidationFailed(
                "Answer with the key of one of the question's choices.", field="answer.choice"
            )
        label = choice.label
    elif given.score is None or given.choice is not None:
        raise ValidationFailed("Answer with a score from 1 to 5.", field="answer.score")
    text = (given.text or "").strip() or None
    if text is not None and not survey.comment:
        raise ValidationFailed("This question takes no comment.", field="answer.text")
    _plain(text, "answer.text")
    return {"choice": given.choice, "label": label, "score": given.score, "text": text}


def _plain(text: str | None, field: str) -> None:
    if text is not None and any(ord(ch) < 32 and ch not in "\n\t" for ch in text):
        raise ValidationFailed("The text must not contain control characters.", field=field)


async def _answered(
    conn: Connection,
    customer_id: str,
    offer: Offer,
    arm: str,
    answer: dict[str, Any],
    *,
    now: int,
) -> None:
    """A survey answered: once per customer (it counts as the offer's accept, so the survey
    is not shown again), kept, and announced as `feedback.submitted`."""
    if not await offer_store.record_event_once(
        conn, offer_id=offer.id, customer_id=customer_id, arm=arm, event_type="accept", now=now
    ):
        raise Conflict("This customer has answered this survey.", code="already_answered")
    kept = await run(
        conn,
        feedback_store.record_steps(
            customer_id=customer_id, offer_id=offer.id, variant=arm, kind="survey",
            answer=answer["choice"], score=answer["score"], text=answer["text"], now=now,
        ),
    )  # fmt: skip
    feedback = {"id": kept.id, "kind": "survey", **answer}
    data = {
        "customer_id": customer_id,
        "offer": events.offer_part(offer.id, arm, offer.kind),
        "feedback": feedback,
    }
    await announce(conn, "feedback.submitted", data, now=now)


def _announce_event(
    customer_id: str,
    offer: Offer,
    arm: str,
    body: WidgetEventIn,
    reason: dict[str, Any] | None,
    *,
    now: int,
) -> Steps[None]:
    """A decline or dismiss, its reason kept (`feedback`) and announced, in the event's own
    transaction; a decline on the retention screen is also a `downgrade.requested`, and its
    reason is kept as a downgrade's."""
    downgrade = body.type == "decline" and offer.kind == "retention"
    if reason is not None:
        yield from feedback_store.record_steps(
            customer_id=customer_id,
            offer_id=offer.id,
            variant=arm,
            kind="downgrade" if downgrade else body.type,
            answer=reason["key"],
            score=None,
            text=reason["text"],
            now=now,
        )
    part = events.offer_part(offer.id, arm, offer.kind)
    data = {"customer_id": customer_id, "offer": part, "reason": reason}
    yield from announce_steps(ANNOUNCED_EVENTS[body.type], data, now=now)
    if downgrade:
        yield from announce_steps("downgrade.requested", {**data, "to_plan": body.to_plan}, now=now)


async def offers_fast(scope: Scope, receive: Receive, send: Send, rest: ASGIApp) -> None:
    """The fast answer of `GET /api/v1/widget/offers` (plugin/middleware/fast_path.py): every
    page view of the SaaS asks it, and the layers it skips cost about as much as the handler's
    own work on a customer whose answer is kept. It does itself what they would do for a
    request with neither an `Origin` nor a `Content-Length` header: CORS adds `Vary: Origin`
    (`add_vary_origin`), the body limit has nothing to check, and the router and exception
    layer would call `list_offers` and make an `UpliftError` its JSON answer. A browser's
    cross-origin request (CORS proper) or one declaring a body (the limit) goes to `rest`, the
    full stack. tests/api/test_widget_fast_path.py compares the answers."""
    if any(name == b"origin" or name == b"content-length" for name, _ in scope["headers"]):
        await rest(scope, receive, send)
        return
    try:
        response = await list_offers(Request(scope, receive))
    except UpliftError as error:
        response = to_response(error)
    add_vary_origin(response.raw_headers)
    await response(scope, receive, send)
