"""Accepting a quote: the one path that charges. Quotes are made (from what Stripe has now)
by plugin/billing/quoting.py; here they are accepted, executed, and recovered when a step was
interrupted (`resume`, `expire_unpaid`, the invoice webhooks' hooks), and period-end changes
applied (`apply_due`).

Default execution ("uplift"), which works on any Stripe account and makes the charge equal the
quote by construction:

1. claim: insert the upgrade row first; UNIQUE (quote_id) and one change in flight per
   subscription (partial unique indexes) let exactly one of several concurrent accepts, of one
   quote or of several, go on (the others get the winner's row, or a 409 naming it); then,
   with the claim held, re-read the subscription from Stripe and the offer's caps, and
   release the claim (nothing sent to Stripe) if the quote no longer holds;
2. create one invoice item per quoted line (amounts exactly as quoted) on the subscription;
3. create a one-off invoice of those pending items, finalize it (a zero or negative total is
   paid at finalization and a negative one becomes a credit on the customer balance, as Stripe
   does), and pay it off-session with the default payment method;
4. only once it is paid, switch the subscription item with `proration_behavior="none"`, so
   Stripe adds no prorations of its own and no second subscription is ever created.

A declined card voids the invoice (its items go with it), leaves the plan as it was and records
`failed` with the reason. A card that needs 3-D Secure leaves the invoice open: the upgrade is
`requires_action` with the invoice's `hosted_invoice_url`, and `on_invoice_paid` switches the
plan when the customer has paid.

Add-on quotes (cross-sell, post-order, bundle) run the same steps: their invoice items are the
quoted "Remaining time on …" lines, and step 4 adds each add-on as a new item of the same
subscription (`POST /v1/subscription_items`, `proration_behavior="none"`, one idempotency key
per item) instead of switching the plan item. They always run in "uplift" mode.

A discounted offer's quote already charges the discounted lines; after payment its coupon
(`uplift_{quote_id}`, created under the quote's key) is attached to each item the quote bought
(`discounts` on the item, never the whole subscription, so the plan or other add-ons are not
discounted) when renewals are left in its window: `repeating` for its months, or `once` when
nothing was invoiced now (a retention offer). A retention quote has no lines: no invoice, only
the coupon on the plan item.

"stripe" execution (per offer, and always for interval changes) lets Stripe prorate:
one subscription update with the quote's `proration_date`, `proration_behavior="always_invoice"`
and `payment_behavior="pending_if_incomplete"` (the change is held until the invoice is paid).
A pending update takes only the pending-update parameters (price, quantity, proration,
billing_cycle_anchor, trial_end, add_invoice_items, expand:
docs.stripe.com/billing/subscriptions/pending-updates-reference), so an offer's coupon is
attached in a second update once the change is applied (`_attach_coupon`), and the quote did
not discount the invoice for the change. Every request here is checked against the parameters
of Stripe's spec for the pinned API version, pending-update rules included
(tests/billing/test_stripe_request_shapes.py).

Every Stripe call carries an idempotency key derived from the quote id and the step
(`uplift:{quote_id}:{step}`), with parameters that depend only on the stored quote, so any retry,
from a second request, a webhook or a restart, replays instead of charging again
(docs/reliability.md rule 6). No write transaction is held across a Stripe call.
"""

from __future__ import annotations

import secrets
from typing import Literal

from plugin import storage
from plugin.billing import quotes, quoting
from plugin.billing.money import Money
from plugin.billing.quotes import QuoteDiscount, QuoteRecord, SubscriptionState
from plugin.billing.stripe_gateway import Invoice, StripeGateway, item_switch_params
from plugin.errors import (
    Conflict,
    Gone,
    NotFound,
    StripeRejected,
    StripeUnavailable,
    UpliftError,
    ValidationFailed,
)
from plugin.storage import Database
from plugin.storage.upgrades import NewUpgrade, Status, UpgradeRecord

REQUIRES_ACTION = "invoice_payment_intent_requires_action"


class ChangeConflict(Conflict):
    """A 409 about another upgrade of the subscription or offer, naming it (`upgrade_id`)
    where the customer may follow it."""

    def __init__(
        self, message: str, *, code: str, field: str | None = None, upgrade_id: str | None = None
    ) -> None:
        super().__init__(message, code=code, field=field)
        self.upgrade_id = upgrade_id

    def body(self) -> dict[str, dict[str, str]]:
        body = super().body()
        if self.upgrade_id is not None:
            body["error"]["upgrade_id"] = self.upgrade_id
        return body


def _key(quote_id: str, step: str) -> str:
    return f"uplift:{quote_id}:{step}"


async def accept(
    db: Database,
    gateway: StripeGateway,
    *,
    quote_id: str,
    customer_id: str,
    idempotency_key: str,
    now: int,
) -> UpgradeRecord:
    """Execute the quote once. Returns the upgrade as it stands when this call is done:
    `succeeded`, `failed` (declined; nothing charged, plan unchanged), `requires_action`
    (3-D Secure; pay on `hosted_invoice_url`) or `scheduled` (a period-end downgrade).

    Raises NotFound (not this customer's quote), Gone (expired), StaleQuote (409, the
    subscription changed; carries a fresh quote, or the upgrade that already made the change),
    Conflict (409: the same quote is being accepted right now, another change of the
    subscription is in flight, the offer was already accepted, a retention discount is still
    running, the add-on is already there), ValidationFailed (422, this Idempotency-Key was used
    for another quote) and StripeUnavailable (503 `stripe_unavailable`: Stripe unreachable;
    nothing was charged, or the upgrade stays `processing` and `resume` finishes it with the same
    Stripe idempotency keys).

    The order is claim, then check: the claim (one row, unique per quote and per subscription
    in flight) makes this the only change of the subscription under way, and only then is the
    subscription re-read from Stripe and the caps read from the database, so nothing that
    committed before the claim can be missed. A check that fails releases the claim; nothing
    was sent to Stripe.
    """
    if not idempotency_key:
        raise ValidationFailed("An Idempotency-Key is required.", field="Idempotency-Key")
    existing = await storage.upgrades.by_quote(db, quote_id)
    if existing is not None and existing.customer_id == customer_id:
        return _replay(existing, quote_id=quote_id, idempotency_key=idempotency_key)
    stored = await quotes.get_for_accept(db, quote_id=quote_id, customer_id=customer_id, now=now)
    upgrade = await _claim(db, stored, idempotency_key=idempotency_key, now=now)
    if upgrade.quote_id != stored.id or upgrade.idempotency_key != idempotency_key:
        return _replay(upgrade, quote_id=quote_id, idempotency_key=idempotency_key, stored=stored)
    await _check_claimed(db, gateway, upgrade=upgrade, stored=stored, now=now)
    if upgrade.status == "scheduled":
        return upgrade
    return await _execute(db, gateway, upgrade=upgrade, quote=stored, now=now)


def _retention_until(stored: QuoteRecord) -> int | None:
    """The end of a retention quote's discount window: its months, or the renewal a one-time
    discount applies to. None for any other quote."""
    if not quotes.is_retention(stored) or stored.discount is None:
        return None
    return stored.discount.ends_at or stored.state.period_end


CLAIM_ATTEMPTS = 3  # a conflict whose row is gone when read (released, finished) is retried


async def _claim(
    db: Database, stored: QuoteRecord, *, idempotency_key: str, now: int
) -> UpgradeRecord:
    """Insert this accept's upgrade, or return the one it conflicted with: the same quote's,
    the same Idempotency-Key's, or the change that holds the subscription."""
    scheduled = stored.timing == "period_end"
    new = NewUpgrade(
        id="up_" + secrets.token_hex(12),
        quote_id=stored.id,
        idempotency_key=idempotency_key,
        customer_id=stored.customer_id,
        offer_id=stored.offer_id,
        variant=stored.variant,
        execution=stored.execution,
        subscription_id=stored.state.subscription_id,
        subscription_item_id=stored.state.item_id,
        from_price=stored.state.price,
        from_quantity=stored.state.quantity,
        to_price=stored.to_price,
        to_quantity=stored.to_quantity,
        currency=stored.currency,
        amount_quoted=stored.amount_due_now,
        mrr_delta=stored.mrr_delta,
        status="scheduled" if scheduled else "processing",
        effective_at=stored.state.period_end if scheduled else now,
        retention_until=_retention_until(stored),
    )
    for _ in range(CLAIM_ATTEMPTS):
        upgrade, _claimed = await storage.upgrades.claim(db, upgrade=new, now=now)
        if upgrade is not None:
            return upgrade
    raise Conflict(  # pragma: no cover -- the conflicting row vanished every time
        f"Subscription {stored.state.subscription_id} is changing right now; retry shortly.",
        code="change_in_progress",
    )


async def _check_claimed(
    db: Database, gateway: StripeGateway, *, upgrade: UpgradeRecord, stored: QuoteRecord, now: int
) -> None:
    """With the claim held: the subscription in Stripe is still as quoted, and the offer's caps
    still allow it. Otherwise release the claim and raise why; else mark it verified."""
    try:
        problem = await _problem(db, gateway, upgrade=upgrade, stored=stored, now=now)
    except BaseException:
        await storage.upgrades.release(db, upgrade_id=upgrade.id)
        raise
    if problem is not None:
        await storage.upgrades.release(db, upgrade_id=upgrade.id)
        raise problem
    await storage.upgrades.verify(db, upgrade_id=upgrade.id, now=now)


async def _problem(
    db: Database, gateway: StripeGateway, *, upgrade: UpgradeRecord, stored: QuoteRecord, now: int
) -> UpliftError | None:
    try:
        subscription = await quoting.customer_subscription(
            gateway, customer_id=stored.customer_id, subscription_id=stored.state.subscription_id
        )
    except StripeUnavailable as exc:
        return StripeUnavailable(f"Stripe is unreachable: {exc}")
    if stored.kind == "add":
        try:
            quotes.check_not_subscribed(
                tuple(item.price for item in stored.added), quoting.subscribed_prices(subscription)
            )
        except quotes.AlreadySubscribed as exc:
            return exc  # added meanwhile (another quote, the dashboard): nothing to charge
    state = quoting.plan_state(subscription)
    if not quotes.accepted_state_matches(stored, state):
        return await _stale(db, gateway, stored, state, now=now)
    return await caps_problem(
        db,
        customer_id=stored.customer_id,
        subscription_id=stored.state.subscription_id,
        offer_id=stored.offer_id,
        retention=quotes.is_retention(stored),
        now=now,
        other_than=upgrade.id,
    )


async def _stale(
    db: Database, gateway: StripeGateway, stored: QuoteRecord, state: SubscriptionState, *, now: int
) -> UpliftError:
    """The 409 for a quote the subscription no longer matches: with a fresh quote of the same
    change, or, when the subscription already is what the quote would make it, the upgrade
    that made it."""
    if stored.kind == "change" and (state.price, state.quantity) == (
        stored.to_price,
        stored.to_quantity,
    ):
        applied = await storage.upgrades.latest_applied(
            db,
            subscription_id=state.subscription_id,
            to_price=stored.to_price,
            to_quantity=stored.to_quantity,
        )
        return quotes.StaleQuote(stored, None, applied_by=applied.id if applied else None)
    try:
        fresh = await quoting.requote(db, gateway, stored, now=now)
    except UpliftError as exc:
        return exc
    return quotes.StaleQuote(stored, fresh)


async def caps_problem(
    db: Database,
    *,
    customer_id: str,
    subscription_id: str,
    offer_id: str | None,
    retention: bool,
    now: int,
    other_than: str | None = None,
) -> UpliftError | None:
    """Why the offer may not be quoted or accepted again, if it may not: it was accepted
    (a non-failed upgrade of this customer for it), or it is a retention discount and one is
    still running on the subscription. Checked at quote time, and at accept with the claim
    held (`other_than`: the accept's own upgrade)."""
    if offer_id is not None:
        taken = await storage.upgrades.taken(
            db, customer_id=customer_id, offer_id=offer_id, other_than=other_than
        )
        if taken is not None:
            return ChangeConflict(
                f"Offer {offer_id} was already accepted (upgrade {taken.id}).",
                code="offer_already_accepted",
                field="offer_id",
                upgrade_id=taken.id,
            )
    if retention:
        running = await storage.upgrades.retention_running(
            db, subscription_id=subscription_id, now=now, other_than=other_than
        )
        if running is not None:
            return ChangeConflict(
                "A retention discount already runs on this subscription until "
                f"{running.retention_until}.",
                code="retention_discount_active",
                field="offer_id",
                upgrade_id=running.id,
            )
    return None


def _same_change(upgrade: UpgradeRecord, stored: QuoteRecord) -> bool:
    return (upgrade.subscription_id, upgrade.to_price, upgrade.to_quantity) == (
        stored.state.subscription_id,
        stored.to_price,
        stored.to_quantity,
    )


def _replay(
    upgrade: UpgradeRecord,
    *,
    quote_id: str,
    idempotency_key: str,
    stored: QuoteRecord | None = None,
) -> UpgradeRecord:
    """A second accept: the same quote returns its one upgrade; the same Idempotency-Key for
    another quote is the IETF draft's 422; a first request still running is its 409; another
    change holding the subscription is a 409 naming it when it is the same change."""
    if upgrade.quote_id != quote_id:
        if upgrade.idempotency_key == idempotency_key:
            raise ValidationFailed(
                "This Idempotency-Key was already used to accept another quote.",
                code="idempotency_key_reused",
                field="Idempotency-Key",
            )
        same = stored is not None and _same_change(upgrade, stored)
        raise ChangeConflict(
            f"Subscription {upgrade.subscription_id} has another change "
            f"{'scheduled' if upgrade.status == 'scheduled' else 'in progress'}"
            f"{f' (upgrade {upgrade.id}, the same change)' if same else ''}; nothing was charged.",
            code="change_in_progress",
            field="quote_id",
            upgrade_id=upgrade.id if same else None,
        )
    if upgrade.status == "processing":
        raise Conflict(
            f"Quote {quote_id} is being accepted right now; retry shortly.",
            code="accept_in_progress",
        )
    return upgrade


async def resume(
    db: Database, gateway: StripeGateway, *, upgrade_id: str, now: int
) -> UpgradeRecord:
    """Finish an upgrade left `processing` (Stripe was unreachable, or the process died). Every
    step replays with its original idempotency key, so nothing is created or charged twice."""
    upgrade = await storage.upgrades.get(db, upgrade_id)
    if upgrade is None:
        raise NotFound(f"No upgrade {upgrade_id!r}.")
    if upgrade.status != "processing":
        return upgrade
    stored = await storage.quotes.get(db, upgrade.quote_id)
    if stored is None:  # pragma: no cover -- the foreign key keeps the quote
        raise NotFound(f"No quote {upgrade.quote_id!r}.")
    if upgrade.verified_at is None:
        # Claimed, then the process died before its checks: nothing reached Stripe yet. Past
        # the quote's expiry the customer was never told it went through: let it go. Else
        # check now (a failed check releases the claim and raises why).
        if now >= stored.expires_at:
            await storage.upgrades.release(db, upgrade_id=upgrade.id)
            raise Gone(
                f"Upgrade {upgrade.id} was claimed but never started before its quote expired; "
                "it was released and nothing was charged.",
                code="quote_expired",
            )
        await _check_claimed(db, gateway, upgrade=upgrade, stored=stored, now=now)
    return await _execute(db, gateway, upgrade=upgrade, quote=stored, now=now)


async def _execute(
    db: Database, gateway: StripeGateway, *, upgrade: UpgradeRecord, quote: QuoteRecord, now: int
) -> UpgradeRecord:
    try:
        if quote.execution == "stripe":
            await _execute_in_stripe(db, gateway, upgrade=upgrade, quote=quote, now=now)
        else:
            await _execute_in_uplift(db, gateway, upgrade=upgrade, quote=quote, now=now)
    except (StripeUnavailable, StripeRejected) as exc:
        # Unreachable, or refused at a step with no safe fallback (finalize, void, the switch
        # after payment): the upgrade stays `processing` with the reason in its history, and
        # `resume` retries every step under the same keys once the cause is fixed.
        await storage.upgrades.note(
            db, upgrade_id=upgrade.id, status="processing", detail=f"stripe: {exc}", now=now
        )
        raise StripeUnavailable(
            f"Stripe did not complete upgrade {upgrade.id}; it will be finished on retry."
        ) from None
    final = await storage.upgrades.get(db, upgrade.id)
    if final is None:  # pragma: no cover -- rows are never deleted
        raise NotFound(f"No upgrade {upgrade.id!r}.")
    return final


def _reason(exc: StripeRejected) -> str:
    return exc.decline_code or exc.stripe_code or str(exc)


async def _execute_in_uplift(
    db: Database, gateway: StripeGateway, *, upgrade: UpgradeRecord, quote: QuoteRecord, now: int
) -> None:
    customer, subscription = quote.customer_id, quote.state.subscription_id
    if not quote.lines:
        # A retention quote: nothing to invoice, only the coupon to attach.
        await _switch(db, gateway, upgrade=upgrade, invoice=None, now=now)
        return
    items = []
    try:
        for index, line in enumerate(quote.lines):
            items.append(
                await gateway.create_invoice_item(
                    {
                        "customer": customer,
                        "subscription": subscription,
                        "amount": line.amount,
                        "currency": quote.currency,
                        "description": line.description,
                        "period": {"start": line.period_start, "end": line.period_end},
                        "metadata": {"uplift_quote": quote.id, "uplift_line": str(index)},
                    },
                    idempotency_key=_key(quote.id, f"item:{index}"),
                )
            )
        draft = await gateway.create_invoice(
            {
                "customer": customer,
                "subscription": subscription,
                "pending_invoice_items_behavior": "include",
                "auto_advance": False,
                "collection_method": "charge_automatically",
                "description": "Add-on" if quote.kind == "add" else "Plan change",
                "metadata": {"uplift_quote": quote.id, "uplift_upgrade": upgrade.id},
            },
            idempotency_key=_key(quote.id, "invoice"),
        )
    except StripeRejected as exc:
        for item in items:
            await gateway.delete_invoice_item(item.id)
        await _fail(db, upgrade, reason=_reason(exc), now=now)
        return
    await storage.upgrades.set_invoice(
        db, upgrade_id=upgrade.id, invoice_id=draft.id, hosted_invoice_url=None, now=now
    )
    if draft.subtotal != quote.invoice_total:
        # Someone else's pending items for this subscription were swept in: charging would not
        # be the quote. Take ours back out of the draft and stop.
        for item in items:
            await gateway.delete_invoice_item(item.id)
        await _fail(
            db,
            upgrade,
            reason=f"invoice_mismatch: draft {draft.subtotal} != quote {quote.invoice_total}",
            now=now,
        )
        return

    invoice = await gateway.finalize_invoice(draft.id, idempotency_key=_key(quote.id, "finalize"))
    if invoice.status != "paid":
        try:
            invoice = await gateway.pay_invoice(invoice.id, idempotency_key=_key(quote.id, "pay"))
        except StripeRejected as exc:
            if exc.stripe_code == REQUIRES_ACTION:
                open_invoice = await gateway.retrieve_invoice(invoice.id)
                await storage.upgrades.transition(
                    db,
                    upgrade_id=upgrade.id,
                    status="requires_action",
                    allowed_from=("processing",),
                    now=now,
                    detail=exc.stripe_code,
                    hosted_invoice_url=open_invoice.hosted_invoice_url,
                )
                return
            await gateway.void_invoice(invoice.id, idempotency_key=_key(quote.id, "void"))
            await _fail(db, upgrade, reason=_reason(exc), now=now)
            return
    await _switch(db, gateway, upgrade=upgrade, invoice=invoice, now=now)


async def _fail(db: Database, upgrade: UpgradeRecord, *, reason: str, now: int) -> None:
    await storage.upgrades.transition(
        db,
        upgrade_id=upgrade.id,
        status="failed",
        allowed_from=("processing", "requires_action"),
        now=now,
        detail=reason,
        failure_reason=reason,
    )


async def _record_paid(
    db: Database,
    upgrade: UpgradeRecord,
    invoice: Invoice | None,
    *,
    allowed_from: tuple[Status, ...],
    now: int,
) -> None:
    """The upgrade's invoice is paid (or there was nothing to invoice): `succeeded`, with what
    Stripe says was paid."""
    await storage.upgrades.transition(
        db,
        upgrade_id=upgrade.id,
        status="succeeded",
        allowed_from=allowed_from,
        now=now,
        detail="nothing to invoice" if invoice is None else f"invoice {invoice.id} paid",
        amount_paid=0 if invoice is None else invoice.amount_paid,
    )


def _coupon_name(d: QuoteDiscount, currency: str) -> str:
    """What the customer's invoices print for the coupon: "30 % off for 3 months"."""
    off = (
        f"{d.percent_off} % off"
        if d.amount_off is None
        else f"{Money(d.amount_off, currency).format()} off"
    )
    return off + (" once" if d.duration_months is None else f" for {d.duration_months} months")


async def _coupon(
    gateway: StripeGateway, quote: QuoteRecord, duration: Literal["once", "repeating"] | None
) -> str | None:
    """Create the quote's coupon (replayed under the quote's key) and return its id; None when
    there is nothing to attach."""
    d = quote.discount
    if d is None or duration is None:
        return None
    coupon = await gateway.create_coupon(
        coupon_id=f"uplift_{quote.id}",
        name=_coupon_name(d, quote.currency),
        percent_off=d.percent_off,
        amount_off=d.amount_off,
        currency=quote.currency,
        duration_in_months=d.duration_months if duration == "repeating" else None,
        metadata={"uplift_quote": quote.id, "uplift_offer": quote.offer_id or ""},
        idempotency_key=_key(quote.id, "coupon"),
    )
    return coupon.id


async def _switch(
    db: Database,
    gateway: StripeGateway,
    *,
    upgrade: UpgradeRecord,
    invoice: Invoice | None,
    now: int,
) -> None:
    """The invoice is paid: move the item to the new price (or add the add-ons as new items of
    the same subscription), adding no prorations of Stripe's, with the offer's coupon on what
    it sold when renewals are left in the discount's window."""
    stored = await storage.quotes.get(db, upgrade.quote_id)
    duration = None if stored is None else quotes.coupon_duration(stored)
    coupon = None if stored is None else await _coupon(gateway, stored, duration)
    if stored is not None and stored.kind == "add":
        for index, added in enumerate(stored.added):
            await gateway.create_subscription_item(
                {
                    "subscription": upgrade.subscription_id,
                    "price": added.price,
                    "quantity": added.quantity,
                    "proration_behavior": "none",
                    "metadata": {"uplift_quote": stored.id, "uplift_upgrade": upgrade.id},
                },
                idempotency_key=_key(upgrade.quote_id, f"add:{index}"),
                coupon=coupon,
            )
        await _record_paid(
            db, upgrade, invoice, allowed_from=("processing", "requires_action"), now=now
        )
        return
    await gateway.update_subscription(
        upgrade.subscription_id,
        item_switch_params(
            item_id=upgrade.subscription_item_id,
            price=upgrade.to_price,
            quantity=upgrade.to_quantity,
        ),
        idempotency_key=_key(upgrade.quote_id, "switch"),
        coupon=coupon,
    )
    await _record_paid(
        db, upgrade, invoice, allowed_from=("processing", "requires_action"), now=now
    )


async def _execute_in_stripe(
    db: Database, gateway: StripeGateway, *, upgrade: UpgradeRecord, quote: QuoteRecord, now: int
) -> None:
    """Stripe prorates with the same `proration_date`; the change waits for the payment (a
    pending update). An offer's coupon is attached once the change is applied
    (`_attach_coupon`): a pending update takes no discounts."""
    try:
        subscription = await gateway.update_subscription(
            upgrade.subscription_id,
            item_switch_params(
                item_id=upgrade.subscription_item_id,
                price=upgrade.to_price,
                quantity=upgrade.to_quantity,
                prorate_at=quote.proration_date,
            ),
            idempotency_key=_key(quote.id, "stripe"),
        )
    except StripeRejected as exc:
        await _fail(db, upgrade, reason=_reason(exc), now=now)
        return
    invoice = (
        await gateway.retrieve_invoice(subscription.latest_invoice_id)
        if subscription.latest_invoice_id
        else None
    )
    if invoice is None or invoice.billing_reason != "subscription_update":
        # Nothing to bill (e.g. the prorations netted to zero): Stripe applied the change at
        # once and the latest invoice is an older one, which must not be reported as paid here.
        await _attach_coupon(gateway, upgrade, quote)
        await storage.upgrades.transition(
            db,
            upgrade_id=upgrade.id,
            status="succeeded",
            allowed_from=("processing",),
            now=now,
            detail="applied by Stripe without an invoice",
            amount_paid=0,
        )
        return
    await storage.upgrades.set_invoice(
        db,
        upgrade_id=upgrade.id,
        invoice_id=invoice.id,
        hosted_invoice_url=invoice.hosted_invoice_url,
        now=now,
    )
    if invoice.status == "paid":
        await _attach_coupon(gateway, upgrade, quote)
        await _record_paid(db, upgrade, invoice, allowed_from=("processing",), now=now)
    else:
        # pending_if_incomplete: Stripe holds the change as `pending_update` and applies it
        # itself when the invoice is paid (`on_invoice_paid` then only records it).
        await storage.upgrades.transition(
            db,
            upgrade_id=upgrade.id,
            status="requires_action",
            allowed_from=("processing",),
            now=now,
            detail=f"invoice {invoice.id} {invoice.status}",
        )


async def _attach_coupon(
    gateway: StripeGateway, upgrade: UpgradeRecord, quote: QuoteRecord
) -> None:
    """A Stripe-executed change is applied: attach the offer's coupon to the item it changed,
    in an update of its own (no prorations: a discount alone creates none), replayed under the
    quote's key. Nothing without a discount."""
    coupon = await _coupon(gateway, quote, quotes.coupon_duration(quote))
    if coupon is None:
        return
    await gateway.update_subscription(
        upgrade.subscription_id,
        {"items": [{"id": upgrade.subscription_item_id}], "proration_behavior": "none"},
        idempotency_key=_key(quote.id, "stripe-coupon"),
        coupon=coupon,
    )


async def apply_due(db: Database, gateway: StripeGateway, *, now: int) -> list[UpgradeRecord]:
    """Apply scheduled (period-end) changes whose time has come: no charge, no prorations."""
    done = []
    for upgrade in await storage.upgrades.due(db, now=now):
        subscription = await gateway.retrieve_subscription(upgrade.subscription_id)
        plan = subscription.items[0] if subscription.items else None
        if plan is None or (plan.id, plan.price_id, plan.quantity) != (
            upgrade.subscription_item_id,
            upgrade.from_price,
            upgrade.from_quantity,
        ):
            # Changed since it was scheduled (an upgrade accepted meanwhile, the dashboard):
            # switching now would undo that change. Nothing was charged for this one.
            await storage.upgrades.transition(
                db,
                upgrade_id=upgrade.id,
                status="failed",
                allowed_from=("scheduled",),
                now=now,
                detail="superseded: the subscription changed before the period end",
                failure_reason="superseded",
            )
            continue
        await gateway.update_subscription(
            subscription.id,
            item_switch_params(
                item_id=upgrade.subscription_item_id,
                price=upgrade.to_price,
                quantity=upgrade.to_quantity,
            ),
            idempotency_key=_key(upgrade.quote_id, "scheduled-switch"),
        )
        if await storage.upgrades.transition(
            db,
            upgrade_id=upgrade.id,
            status="succeeded",
            allowed_from=("scheduled",),
            now=now,
            detail="applied at period end",
            amount_paid=0,
        ):
            done.append(upgrade)
    return done


PAYMENT_WINDOW = 23 * 3600  # as Stripe's pending updates, which expire after 23 hours


async def expire_unpaid(db: Database, gateway: StripeGateway, *, now: int) -> list[UpgradeRecord]:
    """End the upgrades whose invoice the customer has not paid within `PAYMENT_WINDOW`: one
    change in flight per subscription means an abandoned 3-D Secure page would otherwise hold
    the subscription for ever. An invoice paid meanwhile is recorded (and the plan switched) as
    `on_invoice_paid` would; an open one is voided, so it can no longer be paid, and the upgrade
    fails `expired`, nothing charged. A void that loses to a payment is refused by Stripe and
    the next pass sees the invoice paid."""
    ended = []
    for upgrade in await storage.upgrades.awaiting_payment(db, created_before=now - PAYMENT_WINDOW):
        if upgrade.invoice_id is None:  # pragma: no cover -- requires_action is set with one
            continue
        invoice = await gateway.retrieve_invoice(upgrade.invoice_id)
        if invoice.status == "paid":
            await on_invoice_paid(db, gateway, invoice_id=invoice.id, now=now)
            continue
        if invoice.status == "open":
            await gateway.void_invoice(invoice.id, idempotency_key=_key(upgrade.quote_id, "expire"))
        await _fail(db, upgrade, reason="expired: the invoice was not paid in time", now=now)
        ended.append(upgrade)
    return ended


# Webhook hooks. Each re-reads the invoice from Stripe rather than trusting the event's copy
# (events arrive late and out of order, docs/reliability.md rule 4), does nothing when no upgrade
# references the invoice, and is idempotent: status changes are compare-and-set, and the plan
# switch replays under the same Stripe idempotency key as the accept request's.


async def on_invoice_paid(
    db: Database, gateway: StripeGateway, *, invoice_id: str, now: int
) -> None:
    """A `requires_action` upgrade whose invoice got paid: record success and switch the plan."""
    upgrade = await storage.upgrades.by_invoice(db, invoice_id)
    if upgrade is None or upgrade.status not in ("requires_action", "processing"):
        return
    invoice = await gateway.retrieve_invoice(invoice_id)
    if invoice.status != "paid":
        return
    if upgrade.execution == "stripe":
        # Stripe applied the pending update when the invoice was paid.
        stored = await storage.quotes.get(db, upgrade.quote_id)
        if stored is not None:
            await _attach_coupon(gateway, upgrade, stored)
        await _record_paid(db, upgrade, invoice, allowed_from=("requires_action",), now=now)
        return
    await _switch(db, gateway, upgrade=upgrade, invoice=invoice, now=now)


async def on_invoice_payment_failed(
    db: Database, gateway: StripeGateway, *, invoice_id: str, reason: str | None, now: int
) -> None:
    """A payment attempt failed. Stripe sends this for the off-session 3-D Secure attempt too,
    and the customer may still pay the open invoice, so the upgrade only fails once the invoice
    is void or uncollectible; until then the attempt is written to its history."""
    upgrade = await storage.upgrades.by_invoice(db, invoice_id)
    if upgrade is None or upgrade.status not in ("requires_action", "processing"):
        return
    invoice = await gateway.retrieve_invoice(invoice_id)
    detail = f"payment failed: {reason or 'unknown'}"
    if invoice.status in ("void", "uncollectible"):
        await _fail(db, upgrade, reason=reason or f"invoice {invoice.status}", now=now)
    else:
        await storage.upgrades.note(
            db, upgrade_id=upgrade.id, status=upgrade.status, detail=detail, now=now
        )


async def on_invoice_action_required(
    db: Database,
    gateway: StripeGateway,
    *,
    invoice_id: str,
    hosted_invoice_url: str | None,
    now: int,
) -> None:
    """The customer must authenticate: record `requires_action` with the page to do it on."""
    upgrade = await storage.upgrades.by_invoice(db, invoice_id)
    if upgrade is None:
        return
    if upgrade.status == "processing":
        await storage.upgrades.transition(
            db,
            upgrade_id=upgrade.id,
            status="requires_action",
            allowed_from=("processing",),
            now=now,
            detail="invoice.payment_action_required",
            hosted_invoice_url=hosted_invoice_url,
        )
    elif upgrade.status == "requires_action" and upgrade.hosted_invoice_url is None:
        await storage.upgrades.set_invoice(
            db,
            upgrade_id=upgrade.id,
            invoice_id=invoice_id,
            hosted_invoice_url=hosted_invoice_url,
            now=now,
        )


__all__ = [
    "Status",
    "UpgradeRecord",
    "accept",
    "apply_due",
    "expire_unpaid",
    "on_invoice_action_required",
    "on_invoice_paid",
    "on_invoice_payment_failed",
    "resume",
]
