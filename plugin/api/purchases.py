"""The widget's purchase path (customer token): quote an offer, accept the quote, follow the
upgrade. The customer sees a price, and is charged exactly that, once (plugin/billing/upgrades.py).

A customer acts only on their own things: another customer's quote or upgrade is a 404, the
same answer as one that does not exist. Offers are quoted for the customer's current live
subscription (the webhooks' mirror); what Stripe has now is re-read when the quote is made,
and again at accept, where a change in between is a 409 with a fresh quote.
"""

from __future__ import annotations

import secrets
from dataclasses import asdict
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse

from plugin.api.answers import (
    ItemOut,
    PeriodOut,
    QuoteDiscountOut,
    QuoteLineOut,
    QuoteOut,
    TrialOut,
    TrialPlanOut,
    TrialQuoteOut,
    UpgradeOut,
)
from plugin.api.bodies import read_model
from plugin.api.schemas import AcceptIn, QuoteIn
from plugin.api.widget import relevant, require_customer
from plugin.auth import CustomerIdentity
from plugin.billing import quotes, quoting, trials, upgrades
from plugin.billing.catalog import Plan
from plugin.billing.money import Money
from plugin.billing.quotes import QuoteRecord
from plugin.customers import view as customers
from plugin.errors import BadRequest, Conflict, NotFound, StripeError, ValidationFailed
from plugin.logs import get_logger
from plugin.offers import experiments, schedule, targeting
from plugin.offers.model import Offer
from plugin.offers.snapshot import Snapshot
from plugin.outbound import events, timers
from plugin.outbound.outbox import announce
from plugin.services import offer_snapshot, services
from plugin.storage import Connection
from plugin.storage import offers as offer_store
from plugin.storage import subscriptions as subscription_store
from plugin.storage import trials as trial_store
from plugin.storage import upgrades as upgrade_store
from plugin.storage.upgrades import UpgradeRecord

log = get_logger("widget")

# Offer kinds that change the price of the subscription's plan item, and those that add their
# prices to the subscription as new items (add-ons). Trials are quoted apart (nothing charged);
# a retention offer is quoted when it has a discount (the coupon on the plan the customer keeps,
# nothing charged now).
QUOTABLE = frozenset({"upgrade", "interval_switch"})
ADD_ON_KINDS = frozenset({"cross_sell", "post_order", "bundle"})
MAX_KEY = 255

# The contract's statuses: `processing` (charging now) and `scheduled` (a downgrade waiting for
# the period end) are both "pending" to the widget.
PUBLIC_STATUS = {"processing": "pending", "scheduled": "pending"}


def adds_items(offer: Offer, snapshot: Snapshot) -> bool:
    """Cross-sells and bundles add their prices to the subscription as new items. A post-order
    offer does too, unless it offers a plan of the ladder ("Go annual and save"): then it is a
    plan change, quoted like an upgrade."""
    if offer.kind == "post_order":
        return not any(price in snapshot.plan_by_price for price in offer.target_prices)
    return offer.kind in ADD_ON_KINDS


def _discount_document(quote: QuoteRecord) -> QuoteDiscountOut | None:
    """The locked discount (percent_off, amount_off, duration_months, ends_at) and what it
    takes off today's invoice."""
    if quote.discount is None:
        return None
    today = sum(line.discount_amount for line in quote.lines)
    return QuoteDiscountOut.model_validate({**asdict(quote.discount), "amount_off_now": today})


def quote_document(quote: QuoteRecord, *, amounts: list[int] | None) -> QuoteOut:
    """`amounts`: each item's full price per period, for `next_invoice_amount` (what the next
    renewal bills for what the quote buys, discounted while the offer's discount runs)."""
    offer_id, variant = quote.offer_id, quote.variant
    if offer_id is None or variant is None:  # pragma: no cover -- the widget quotes offers only
        raise TypeError(f"quote {quote.id} has no offer and variant to show")
    next_invoice_amount = quotes.next_invoice(quote, amounts)
    recurring = None if amounts is None else sum(amounts)
    return QuoteOut(
        object="quote",
        quote_id=quote.id,
        offer_id=offer_id,
        variant=variant,
        currency=quote.currency,
        lines=[
            QuoteLineOut(
                type=line.type,
                product=line.product or None,
                amount=line.amount,
                display=Money(line.amount, quote.currency).format(),
                description=line.description,
                period=PeriodOut(start=line.period_start, end=line.period_end),
                proration=line.proration,
                price=line.price,
                quantity=line.quantity,
                discount_amount=line.discount_amount,
            )
            for line in quote.lines
        ],
        amount_due_now=quote.amount_due_now,
        amount_due_now_display=Money(quote.amount_due_now, quote.currency).format(),
        invoice_total=quote.invoice_total,
        next_invoice_amount=next_invoice_amount,
        next_invoice_amount_display=None
        if next_invoice_amount is None
        else Money(next_invoice_amount, quote.currency).format(),
        next_invoice_at=quotes.renews_at(quote),
        recurring_amount=recurring,
        discount=_discount_document(quote),
        next_renewal_at=quote.state.period_end if quote.timing != "now" else None,
        applies=quote.timing,
        expires_at=quote.expires_at,
        kind=quote.kind,
        added=[ItemOut(price=item.price, quantity=item.quantity) for item in quote.added],
    )


def upgrade_document(upgrade: UpgradeRecord) -> UpgradeOut:
    document: dict[str, Any] = {
        "object": "upgrade",
        "id": upgrade.id,
        "status": PUBLIC_STATUS.get(upgrade.status, upgrade.status),
        "offer_id": upgrade.offer_id,
        "variant": upgrade.variant,
        "currency": upgrade.currency,
        "amount_quoted": upgrade.amount_quoted,
        "amount_paid": upgrade.amount_paid,
        "effective_at": upgrade.effective_at,
    }
    if upgrade.status == "requires_action":
        document["hosted_invoice_url"] = upgrade.hosted_invoice_url
    if upgrade.status == "failed":
        document["failure_reason"] = upgrade.failure_reason
    return UpgradeOut.model_validate(document)


async def create_quote(request: Request) -> JSONResponse:
    identity = require_customer(request)
    ctx = services(request)
    body = await read_model(request, QuoteIn)
    now = ctx.clock.now()
    snapshot = await offer_snapshot(request).get()
    offer = snapshot.offer(body.offer_id)
    view = await customers.view(ctx.db, identity=identity, snapshot=snapshot, now=now)
    arm = view.offer_state.assignments.get(body.offer_id)
    if offer is None or arm == experiments.HOLDOUT:
        raise NotFound(f"No offer {body.offer_id!r} for this customer.", code="offer_not_found")
    _check_eligible(offer, view, snapshot, now=now)
    if offer.kind == "trial":
        return await _trial_quote(request, offer, identity.customer_id, arm, snapshot, now=now)
    retention = offer.kind == "retention" and offer.discount is not None
    if offer.kind not in QUOTABLE | ADD_ON_KINDS and not retention:
        raise ValidationFailed(
            f"{offer.kind} offers are not quoted; upgrades, interval switches, add-ons and "
            "trials are.",
            field="offer_id",
            code="offer_not_quotable",
        )
    if view.stripe_customer is None or view.subscription_id is None:
        raise Conflict("This customer has no live subscription to change.", code="no_subscription")
    subscription = await subscription_store.get(ctx.db, view.subscription_id)
    if subscription is None or not subscription.items:  # pragma: no cover -- read just now
        raise Conflict("This customer has no live subscription to change.", code="no_subscription")
    quantity = subscription.items[0].quantity
    # The caps that protect money hold here too, not only in the offer list (accepting
    # checks them again with the subscription claimed).
    problem = await upgrades.caps_problem(
        ctx.db,
        customer_id=view.stripe_customer,
        subscription_id=view.subscription_id,
        offer_id=offer.id,
        retention=retention,
        now=now,
    )
    if problem is not None:
        raise problem
    if arm is None:  # quoted from a declarative button before the offer list was fetched
        arm = experiments.assign(offer.design, offer_id=offer.id, customer_id=identity.customer_id)
        if arm == experiments.HOLDOUT:
            raise NotFound(f"No offer {body.offer_id!r} for this customer.", code="offer_not_found")
        async with ctx.db.transaction() as conn:
            arm = await offer_store.assign(
                conn, offer_id=offer.id, customer_id=identity.customer_id, arm=arm, now=now
            )
    if adds_items(offer, snapshot):
        return await _addon_quote(
            request, offer, view.stripe_customer, view.subscription_id, arm, snapshot, now=now
        )
    quote = await quoting.quote(
        ctx.db,
        ctx.stripe(),
        customer_id=view.stripe_customer,
        subscription_id=view.subscription_id,
        to_price=None if retention else offer.target_prices[0],
        to_quantity=quantity,
        now=now,
        offer_id=offer.id,
        variant=arm,
        execution="stripe" if offer.proration == "stripe" else "uplift",
        discount=offer.discount,
    )
    target = snapshot.prices.get(quote.to_price)
    renewal = target.unit_amount * quantity if target is not None and target.unit_amount else None
    amounts = None if renewal is None else [renewal]
    return JSONResponse(quote_document(quote, amounts=amounts).document(), status_code=201)


async def _addon_quote(
    request: Request,
    offer: Offer,
    stripe_customer: str,
    subscription_id: str,
    arm: str,
    snapshot: Snapshot,
    *,
    now: int,
) -> JSONResponse:
    """The offer's prices added to the customer's subscription, prorated for the rest of the
    period; `next_invoice_amount` is what the add-ons then cost each period."""
    ctx = services(request)
    quote = await quoting.quote_addons(
        ctx.db,
        ctx.stripe(),
        customer_id=stripe_customer,
        subscription_id=subscription_id,
        prices=tuple(offer.target_prices),
        now=now,
        offer_id=offer.id,
        variant=arm,
        discount=offer.discount,
    )
    prices = [snapshot.prices.get(item.price) for item in quote.added]
    amounts = [price.unit_amount for price in prices if price is not None and price.unit_amount]
    known = len(amounts) == len(prices)
    answer = quote_document(quote, amounts=amounts if known else None)
    return JSONResponse(answer.document(), status_code=201)


UNAVAILABLE = "This offer is no longer available."


def _check_eligible(
    offer: Offer, view: customers.CustomerView, snapshot: Snapshot, *, now: int
) -> None:
    """The customer must still be someone the offer targets (caps do not apply: they have
    already seen and clicked it). The end customer hears only that the offer is gone: the rule
    that says why is the admin's (in the log here, and `GET .../explain`), never theirs."""
    reason = None
    for decision in (
        schedule.in_window(offer.window, now=now),
        targeting.evaluate(offer.targeting, view.context, now=now),
    ):
        if not decision:
            reason = decision.reason
            break
    if reason is None and not relevant(offer, view, snapshot):
        reason = "the customer already has what this offer sells"
    if reason is not None:
        log.info(
            "quote refused: offer no longer applies",
            extra={"offer_id": offer.id, "customer_id": view.context.customer_id, "why": reason},
        )
        raise Conflict(UNAVAILABLE, code="offer_unavailable")


async def accept_quote(request: Request) -> JSONResponse:
    identity = require_customer(request)
    ctx = services(request)
    key = request.headers.get("idempotency-key", "").strip()
    if not key or len(key) > MAX_KEY:
        raise BadRequest(
            f"Send an Idempotency-Key header (1 to {MAX_KEY} characters) with every accept.",
            code="idempotency_key_required",
        )
    body = await read_model(request, AcceptIn)
    now = ctx.clock.now()
    snapshot = await offer_snapshot(request).get()
    view = await customers.view(ctx.db, identity=identity, snapshot=snapshot, now=now)
    if trials.is_trial_quote(body.quote_id):
        return await _accept_trial(request, body.quote_id, identity.customer_id, now=now)
    if view.stripe_customer is None:
        raise NotFound(f"No quote {body.quote_id!r} for this customer.", code="quote_not_found")
    upgrade = await upgrades.accept(
        ctx.db,
        ctx.stripe(),
        quote_id=body.quote_id,
        customer_id=view.stripe_customer,
        # Scoped to the customer, as the IETF draft asks: one customer's key never collides
        # with another's.
        idempotency_key=key,
        now=now,
    )
    if upgrade.offer_id is not None and upgrade.variant is not None:
        offer = snapshot.offer(upgrade.offer_id)
        async with ctx.db.transaction() as conn:
            if await offer_store.record_event_once(
                conn,
                offer_id=upgrade.offer_id,
                customer_id=identity.customer_id,
                arm=upgrade.variant,
                event_type="accept",
                now=now,
            ):
                await _announce_accept(
                    conn,
                    identity.customer_id,
                    upgrade.offer_id,
                    upgrade.variant,
                    offer.kind if offer is not None else None,
                    {"upgrade": upgrade.id},
                    cross_sell=offer is not None and adds_items(offer, snapshot),
                    now=now,
                )
    return JSONResponse(upgrade_document(upgrade).document())


async def _announce_accept(
    conn: Connection,
    customer_id: str,
    offer_id: str,
    variant: str,
    kind: str | None,
    objects: dict[str, Any],
    *,
    cross_sell: bool,
    now: int,
) -> None:
    """`offer.accepted`, and `cross_sell.accepted` for an offer that adds items, in the
    transaction that records the accept (once per customer and offer, as the accept is)."""
    data = {
        "customer_id": customer_id,
        "offer": events.offer_part(offer_id, variant, kind),
        **objects,
    }
    await announce(conn, "offer.accepted", data, now=now)
    if cross_sell:
        await announce(conn, "cross_sell.accepted", data, now=now)


async def get_upgrade(request: Request) -> JSONResponse:
    identity = require_customer(request)
    ctx = services(request)
    upgrade_id: str = request.path_params["upgrade_id"]
    snapshot = await offer_snapshot(request).get()
    view = await customers.view(ctx.db, identity=identity, snapshot=snapshot, now=ctx.clock.now())
    upgrade = await upgrade_store.get(ctx.db, upgrade_id[:64])
    if (
        upgrade is None
        or view.stripe_customer is None
        or upgrade.customer_id != view.stripe_customer
    ):
        raise NotFound(
            f"No upgrade {upgrade_id[:64]!r} for this customer.", code="upgrade_not_found"
        )
    return JSONResponse(upgrade_document(upgrade).document())


# Trials ------------------------------------------------------------------------------------


def _widget_secret(request: Request) -> str:
    secret = services(request).settings.widget_secret
    if secret is None:  # pragma: no cover -- require_customer already refused the request
        raise NotFound("No such quote.", code="quote_not_found")
    return secret.get_secret_value()


async def _trial_quote(
    request: Request,
    offer: Offer,
    customer_id: str,
    arm: str | None,
    snapshot: Snapshot,
    *,
    now: int,
) -> JSONResponse:
    """Nothing to charge: the quote is a signed statement of what the trial gives."""
    plan = snapshot.plan_by_price.get(offer.target_prices[0])
    if plan is None or offer.trial_days is None:
        raise Conflict("The trial's price is not on the plan ladder.", code="offer_unavailable")
    ctx = services(request)
    if arm is None:
        arm = experiments.assign(offer.design, offer_id=offer.id, customer_id=customer_id)
        if arm == experiments.HOLDOUT:
            raise NotFound(f"No offer {offer.id!r} for this customer.", code="offer_not_found")
        async with ctx.db.transaction() as conn:
            arm = await offer_store.assign(
                conn, offer_id=offer.id, customer_id=customer_id, arm=arm, now=now
            )
    quote = trials.TrialQuote(
        customer_id=customer_id,
        offer_id=offer.id,
        variant=arm,
        plan_id=plan.id,
        days=offer.trial_days,
        expires_at=now + trials.QUOTE_TTL,
    )
    signed = trials.sign(quote, secret=_widget_secret(request))
    answer = _trial_document(offer, quote, plan, snapshot, quote_id=signed)
    return JSONResponse(answer.document(), status_code=201)


def _trial_document(
    offer: Offer, quote: trials.TrialQuote, plan: Plan, snapshot: Snapshot, *, quote_id: str
) -> TrialQuoteOut:
    price = snapshot.prices.get(offer.target_prices[0])
    currency = price.currency if price is not None else "usd"
    return TrialQuoteOut(
        object="quote",
        quote_id=quote_id,
        offer_id=offer.id,
        variant=quote.variant,
        kind="trial",
        currency=currency,
        lines=[],
        amount_due_now=0,
        amount_due_now_display=Money(0, currency).format(),
        invoice_total=0,
        next_invoice_amount=None,
        trial_days=quote.days,
        plan=TrialPlanOut(id=plan.id, name=plan.name),
        applies="now",
        expires_at=quote.expires_at,
    )


PREVIEW_QUOTE_ID = "qt_preview"  # not a stored quote: accepting it is a 404


async def preview_quote(
    request: Request, offer: Offer, *, customer_id: str, variant: str, snapshot: Snapshot, now: int
) -> tuple[QuoteOut | TrialQuoteOut | None, str | None]:
    """What POST /api/v1/widget/quotes would answer this customer for `offer` (a draft) now,
    computed the same way (Stripe read, the proration as Stripe bills it) and not stored: the
    console's modal preview. Without one, the reason instead: a kind that is not quoted, no live
    subscription to change, or the quote's own error."""
    ctx = services(request)
    if offer.kind == "trial":
        plan = snapshot.plan_by_price.get(offer.target_prices[0]) if offer.target_prices else None
        if plan is None or offer.trial_days is None:
            return None, "The trial's price is not on the plan ladder."
        trial = trials.TrialQuote(
            customer_id=customer_id,
            offer_id=offer.id,
            variant=variant,
            plan_id=plan.id,
            days=offer.trial_days,
            expires_at=now + trials.QUOTE_TTL,
        )
        return _trial_document(offer, trial, plan, snapshot, quote_id=PREVIEW_QUOTE_ID), None
    retention = offer.kind == "retention" and offer.discount is not None
    if offer.kind not in QUOTABLE | ADD_ON_KINDS and not retention:
        return None, f"A {offer.kind} offer without a discount is not quoted."
    view = await customers.view(
        ctx.db,
        identity=CustomerIdentity(customer_id=customer_id, expires_at=0),
        snapshot=snapshot,
        now=now,
    )
    subscription = (
        None
        if view.subscription_id is None
        else await subscription_store.get(ctx.db, view.subscription_id)
    )
    if view.stripe_customer is None or subscription is None or not subscription.items:
        return None, "This customer has no live subscription to change."
    try:
        if adds_items(offer, snapshot):
            quote = await quoting.quote_addons(
                ctx.db,
                ctx.stripe(),
                customer_id=view.stripe_customer,
                subscription_id=subscription.id,
                prices=tuple(offer.target_prices),
                now=now,
                offer_id=offer.id,
                variant=variant,
                discount=offer.discount,
                store=False,
            )
            prices = [snapshot.prices.get(item.price) for item in quote.added]
            amounts = [p.unit_amount for p in prices if p is not None and p.unit_amount]
            known = len(amounts) == len(prices)
            document = quote_document(quote, amounts=amounts if known else None)
        else:
            quantity = subscription.items[0].quantity
            quote = await quoting.quote(
                ctx.db,
                ctx.stripe(),
                customer_id=view.stripe_customer,
                subscription_id=subscription.id,
                to_price=None if retention else offer.target_prices[0],
                to_quantity=quantity,
                now=now,
                offer_id=offer.id,
                variant=variant,
                execution="stripe" if offer.proration == "stripe" else "uplift",
                discount=offer.discount,
                store=False,
            )
            target = snapshot.prices.get(quote.to_price)
            renewal = target.unit_amount * quantity if target and target.unit_amount else None
            document = quote_document(quote, amounts=None if renewal is None else [renewal])
    except (ValidationFailed, Conflict, NotFound, StripeError) as exc:
        return None, exc.message
    return document.model_copy(update={"quote_id": PREVIEW_QUOTE_ID}), None


async def _accept_trial(
    request: Request, quote_id: str, customer_id: str, *, now: int
) -> JSONResponse:
    quote = trials.verify(
        quote_id, secret=_widget_secret(request), customer_id=customer_id, now=now
    )
    ctx = services(request)
    async with ctx.db.transaction() as conn:
        new_id = "tr_" + secrets.token_hex(12)
        grant = await trial_store.grant(
            conn,
            grant_id=new_id,
            customer_id=customer_id,
            offer_id=quote.offer_id,
            variant=quote.variant,
            plan_id=quote.plan_id,
            starts_at=now,
            ends_at=now + quote.days * 86_400,
        )
        accepted = await offer_store.record_event_once(
            conn,
            offer_id=quote.offer_id,
            customer_id=customer_id,
            arm=quote.variant,
            event_type="accept",
            now=now,
        )
        if accepted:
            await _announce_accept(
                conn,
                customer_id,
                quote.offer_id,
                quote.variant,
                "trial",
                {"trial": grant.id},
                cross_sell=False,
                now=now,
            )
        if grant.id == new_id:  # granted now, not found from before
            await announce(conn, "trial.started", timers.trial_data(grant), now=now)
    answer = TrialOut(
        object="trial",
        id=grant.id,
        status="succeeded",
        offer_id=grant.offer_id,
        variant=grant.variant,
        plan=grant.plan_id,
        starts_at=grant.starts_at,
        ends_at=grant.ends_at,
    )
    return JSONResponse(answer.document())
