"""Subscription changes billed as Stripe bills them: prorations, immediate invoices, pending
updates, discounts on invoice lines, the customer balance and the minimum charge amount.

localstripe's own subscription update credits every earlier invoice in full, never debits the
remaining time, invoices at once only on an interval change, never discounts, and charges any
amount. Here a change of price or quantity (or an added or removed item, or a billing cycle
reset) at `proration_date` (default now) makes, with `proration_behavior`:

- `create_prorations` (Stripe's default): pending invoice items "Unused time on …" (credit, the
  old price and quantity) and "Remaining time on …" (debit, the new ones), over the item's
  current period, each rounded on its own (prorations.py), `proration: true`, period
  `[proration_date, period_end]`. They are billed by the next invoice.
- `always_invoice`: the same items, invoiced at once (`billing_reason: subscription_update`),
  finalized and charged to the customer's default payment method (Stripe's
  `charge_automatically`).
- `none`: no proration items.

A billing cycle reset (an interval change such as monthly → yearly, or `billing_cycle_anchor=
now`) starts a new period now: the invoice is made at once with the credit for the unused time
(unless `none`) and the new price in full ("we apply a credit for the unused time on the previous
price, immediately charge the customer using the new price, and reset the billing date",
docs.stripe.com/billing/subscriptions/change-price).

`payment_behavior=pending_if_incomplete` (docs.stripe.com/billing/subscriptions/pending-updates-
reference): when the invoice is not paid at once (declined, or waiting for 3-D Secure) the
subscription keeps its items, shows the change in `pending_update` (`expires_at` = the period end
or 23 hours later, whichever comes first) and `latest_invoice` is the open invoice. Paying that
invoice applies the change; voiding it, or the expiry, discards it. `error_if_incomplete`
refuses the change with a 402; `allow_incomplete` (the default) applies it and the subscription
goes `past_due`; `default_incomplete` does not attempt the payment.

Invoices: lines carry `discounts`/`discount_amounts` (an item's discounts and the subscription's;
proration amounts are already net, Stripe's default `proration_discounts=included`, so their
`discount_amounts` are 0); `total` = subtotal - discounts + tax; `amount_due` takes the customer
balance; an amount due under the currency's minimum is not charged: the invoice is marked paid
and the amount goes to the customer's balance ("If the amount due for the invoice is less than
Stripe's minimum allowed charge per currency, the invoice is automatically marked paid, and we add
the amount due to the customer's credit balance which is applied to the next invoice", the
Invoice object in Stripe's API reference; docs.stripe.com/billing/customer/balance). A `once`
coupon discounts one invoice.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from types import SimpleNamespace
from typing import Any

from localstripe.errors import UserError
from localstripe.resources import (
    Customer,
    Invoice,
    InvoiceItem,
    InvoiceLineItem,
    PaymentIntent,
    Subscription,
    SubscriptionItem,
    store,
)

from localstripe_bridge import prorations
from localstripe_bridge.errors import invalid
from localstripe_bridge.patches import _now
from localstripe_bridge.prices import price_json

# "If these times are greater than 23 hours from the time the update is made, the expires_at
# time is set to 23 hours" (pending updates reference, Expiration).
PENDING_LIFETIME = 23 * 3600
# Pending items of other subscriptions must stay out of an invoice being built (localstripe's
# constructor takes every pending item of the customer); restored before the request returns.
_HOLD = "in_bridge_hold"

Plan = Any
Part = tuple[Any, Plan, int]  # (subscription item, price, quantity)


def product_name(plan: Plan) -> str:
    product = store.get(f"product:{plan.product}")
    return str(getattr(product, "name", None) or plan.product)


def gross(plan: Plan, quantity: int) -> int:
    """A full period of `quantity` times `plan`, tiers included (localstripe's own arithmetic)."""
    if plan.billing_scheme == "per_unit":
        return int(plan.amount) * quantity
    shim = SimpleNamespace(plan=plan, quantity=quantity)
    shim._calculate_amount_in_tier = lambda q, i: SubscriptionItem._calculate_amount_in_tier(
        shim, q, i
    )
    return int(SubscriptionItem._calculate_amount(shim))


# Discounts ----------------------------------------------------------------------------------


def _discount(discount_id: str) -> Any | None:
    return store.get(f"discount:{discount_id}")


def active_discounts(sub: Any | None, item: Any, at: int) -> list[Any]:
    """The item's discounts, then the subscription's, that still apply at `at`: not ended
    (`repeating`), and a `once` coupon only until an invoice has used it."""
    ids = [*getattr(item, "_bridge_discounts", [])]
    if sub is not None:
        ids += getattr(sub, "_bridge_discounts", [])
    found = []
    for discount_id in ids:
        discount = _discount(discount_id)
        if discount is None:
            continue
        if discount._end is not None and discount._end <= at:
            continue
        if discount._coupon.duration == "once" and getattr(discount, "_bridge_used_by", None):
            continue
        found.append(discount)
    return found


def _consume(discounts: list[Any], invoice_id: str) -> None:
    for discount in discounts:
        if discount._coupon.duration == "once" and not getattr(discount, "_bridge_used_by", None):
            discount._bridge_used_by = invoice_id


def decorate(invoice: Any, sub: Any | None, *, sources: Mapping[str, Any], consume: bool) -> None:
    """Discounts on every line (and Stripe's line order: invoice items, then the period lines,
    described as `1 \u00d7 Pro (at $200.00 / year)`). `sources`: transient items by id
    (previews)."""
    invoice.lines._list.sort(key=lambda line: line.type == "subscription")
    for line in invoice.lines._list:
        if line.type == "invoiceitem":
            source = sources.get(line.invoice_item) or store.get(f"invoiceitem:{line.invoice_item}")
            ids = list(getattr(source, "discounts", None) or [])
            line.discounts = ids
            # proration_discounts=included: the amount is net, the discounts are only listed.
            line.discount_amounts = [{"amount": 0, "discount": d} for d in ids]
            line.discountable = not line.proration
            line._bridge_subscription_item = getattr(source, "_bridge_subscription_item", None)
            used = [d for d in map(_discount, ids) if d is not None]
        else:
            si = sources.get(line.subscription_item) or store.get(
                f"subscription_item:{line.subscription_item}"
            )
            used = active_discounts(sub, si, line.period["start"]) if si is not None else []
            amounts: list[dict[str, Any]] = []
            left: dict[str, int] = {}
            remaining = int(line.amount)
            for discount in used:
                coupon = discount._coupon
                if coupon.amount_off is not None:
                    left.setdefault(discount.id, int(coupon.amount_off))
                off = prorations.discount_amount(remaining, coupon, left.get(discount.id))
                if discount.id in left:
                    left[discount.id] -= off
                remaining -= off
                amounts.append({"amount": off, "discount": discount.id})
            line.discounts = [d.id for d in used]
            line.discount_amounts = amounts
            line.discountable = True
            if line.plan is not None and line.plan.billing_scheme == "per_unit":
                line.description = prorations.period_line(
                    product_name(line.plan), line.quantity, line.plan.amount,
                    line.plan.currency, line.plan.interval, line.plan.interval_count,
                )  # fmt: skip
        if consume:
            _consume(used, invoice.id)


# Invoice amounts (installed on localstripe's Invoice) ---------------------------------------


def _discount_total(invoice: Any) -> int:
    return sum(
        int(entry["amount"])
        for line in invoice.lines._list
        for entry in getattr(line, "discount_amounts", None) or []
    )


def _total(invoice: Any) -> int:
    """Stripe's total: after discounts and tax, before the customer balance (may be < 0)."""
    return int(invoice.subtotal) - _discount_total(invoice) + int(invoice.tax)


def _total_discount_amounts(invoice: Any) -> list[dict[str, Any]]:
    totals: dict[str, int] = {}
    for line in invoice.lines._list:
        for entry in getattr(line, "discount_amounts", None) or []:
            totals[entry["discount"]] = totals.get(entry["discount"], 0) + int(entry["amount"])
    return [{"amount": amount, "discount": d} for d, amount in totals.items()]


def _amount_due(invoice: Any) -> int:
    if getattr(invoice, "_bridge_too_small", None):
        return 0  # moved to the customer's balance instead (see the module docstring)
    # localstripe keeps Stripe's customer balance negated (patches.py): a credit is positive.
    return max(0, _total(invoice) - int(invoice.starting_balance))


def _amount_remaining(invoice: Any) -> int:
    return 0 if invoice.status in ("paid", "void") else int(invoice.amount_due)


def _status(invoice: Any) -> str:
    if invoice._draft:
        return "draft"
    if invoice._voided:
        return "void"
    if invoice.amount_due <= 0:
        return "paid"
    if invoice.payment_intent:
        intent = PaymentIntent._api_retrieve(invoice.payment_intent)
        if intent.status == "succeeded":
            return "paid"
        if intent.status == "canceled":
            return "void"
    return "open"


def _pay_invoice(cls: Any, id: str) -> Any:
    """localstripe's `_api_pay_invoice`, charging the amount due (after discounts and the
    customer balance) instead of its total."""
    invoice = Invoice._api_retrieve(id)
    if invoice.status == "paid":
        raise UserError(400, "Invoice is already paid")
    if invoice.status not in ("draft", "open"):
        raise UserError(400, "Bad request")
    invoice._draft = False
    if invoice.amount_due <= 0:
        invoice._on_payment_success()
        return invoice
    customer = Customer._api_retrieve(invoice.customer)
    method = customer._get_default_payment_method_or_source()
    if method is None:
        raise UserError(404, "This customer has no payment method")
    intent = PaymentIntent(
        amount=invoice.amount_due,
        currency=invoice.currency,
        customer=invoice.customer,
        payment_method=method.id,
    )
    invoice.payment_intent = intent.id
    intent.invoice = invoice.id
    intent._confirm(on_failure_now=lambda: None)
    return invoice


def _paid_then_apply(on_payment_success: Callable[[Any], None]) -> Callable[[Any], None]:
    def wrapped(invoice: Any) -> None:
        on_payment_success(invoice)
        apply_pending(invoice)

    return wrapped


def card_error(message: str, **contents: Any) -> Exception:
    """Stripe answers a failed payment with HTTP 402 and `type: card_error`."""
    error = UserError(402, message, contents)
    error.body["error"]["type"] = "card_error"
    card: Exception = error  # UserError comes from untyped localstripe
    return card


# Finalizing and collecting ------------------------------------------------------------------


def finalize(invoice: Any) -> None:
    """Draft → open (or paid when nothing is due): the customer's balance is applied, what the
    invoice does not consume stays on it (a negative total is a credit), and an amount due under
    the currency's minimum charge is moved to the balance as a debit, the invoice marked paid."""
    if invoice.status != "draft":
        raise invalid(f"This invoice is already {invoice.status}.", code="invoice_not_editable")
    customer = Customer._api_retrieve(invoice.customer)
    invoice.starting_balance = customer.account_balance
    invoice._finalize()
    owed = _total(invoice) - int(customer.account_balance)
    if 0 < owed < prorations.minimum_charge(invoice.currency):
        invoice._bridge_too_small = owed
        customer.account_balance = -owed  # Stripe's balance +owed: a debit for the next invoice
    else:
        customer.account_balance = -min(0, owed)
    invoice.ending_balance = customer.account_balance
    if invoice.status == "paid":
        invoice._on_payment_success()


def collect(invoice: Any, payment_behavior: str | None) -> bool:
    """Charge an open invoice at once (charge_automatically); True when it is paid."""
    if invoice.status == "open" and payment_behavior != "default_incomplete":
        Invoice._api_pay_invoice(invoice.id)
    return bool(invoice.status == "paid")


@contextmanager
def only_pending_items_of(customer: str, keep: Callable[[Any], bool]) -> Iterator[None]:
    """While building an invoice, hide the customer's pending items that `keep` refuses."""
    held = [
        item
        for key, item in list(store.items())
        if key.startswith("invoiceitem:")
        and item.customer == customer
        and item.invoice is None
        and not keep(item)
    ]
    for item in held:
        item.invoice = _HOLD
    try:
        yield
    finally:
        for item in held:
            item.invoice = None


def subscription_invoice(sub: Any, *, full: bool, reason: str) -> Any:
    """An invoice of the subscription's pending items, plus its items for their (new) period
    when `full`; `latest_invoice` becomes it."""
    with only_pending_items_of(sub.customer, lambda item: item.subscription == sub.id):
        invoice = Invoice(
            customer=sub.customer,
            subscription=sub.id,
            items=list(sub.items._list) if full else [],
            default_tax_rates=[rate.id for rate in sub.default_tax_rates or []] or None,
        )
    invoice.billing_reason = reason
    invoice.currency = sub.items._list[0].plan.currency
    decorate(invoice, sub, sources={}, consume=True)
    return invoice


# Prorations ---------------------------------------------------------------------------------


def proration_items(
    sub: Any, item: Any, plan: Plan, quantity: int, at: int, *, credit: bool, transient: bool
) -> InvoiceItem:
    """One proration line for `item` (credit: its old price; debit: its new one), over the
    item's current period (read before the change is applied)."""
    period = item._current_period()
    share = prorations.factor(period["start"], period["end"], at)
    discounts = active_discounts(sub, item, at)
    amount = prorations.prorated(gross(plan, quantity), share, [d._coupon for d in discounts])
    name = product_name(plan)
    made = InvoiceItem(
        subscription=sub.id,
        plan=plan.id,
        amount=-amount if credit else amount,
        currency=plan.currency,
        customer=sub.customer,
        period_start=at,
        period_end=period["end"],
        proration=True,
        description=(prorations.unused if credit else prorations.remaining)(name, quantity, at),
        tax_rates=[rate.id for rate in item.tax_rates or []],
    )
    made.quantity = quantity
    made.discounts = [d.id for d in discounts]
    made._bridge_subscription_item = item.id
    if transient:  # a preview's: never pending
        del store[f"invoiceitem:{made.id}"]
    return made


def prorate(
    sub: Any, credits: list[Part], debits: list[Part], at: int, *, transient: bool
) -> list[InvoiceItem]:
    return [
        *(
            proration_items(sub, i, p, q, at, credit=True, transient=transient)
            for i, p, q in credits
        ),
        *(
            proration_items(sub, i, p, q, at, credit=False, transient=transient)
            for i, p, q in debits
        ),
    ]


# Changing a subscription --------------------------------------------------------------------


def _snapshot(sub: Any) -> dict[str, Any]:
    return {
        "items": [(item, item.plan, item.quantity) for item in sub.items._list],
        "anchor": getattr(sub, "_bridge_anchor", None),
        "billing_cycle_anchor": sub.billing_cycle_anchor,
        "quantity": sub.quantity,
    }


def _restore(sub: Any, snap: Mapping[str, Any]) -> None:
    for item, plan, quantity in snap["items"]:
        item.plan, item.quantity = plan, quantity
    sub.items._list = [item for item, _, _ in snap["items"]]
    sub._bridge_anchor = snap["anchor"]
    sub.billing_cycle_anchor = snap["billing_cycle_anchor"]
    sub.quantity = snap["quantity"]


def _target(sub: Any) -> dict[str, Any]:
    """The subscription's items and anchor after a change, as plain data (pickled with it)."""
    return {
        "items": [
            {"id": item.id, "plan": item.plan.id, "quantity": item.quantity}
            for item in sub.items._list
        ],
        "anchor": getattr(sub, "_bridge_anchor", None),
        "billing_cycle_anchor": sub.billing_cycle_anchor,
    }


def _forget_removed(sub: Any, before: list[Any]) -> None:
    """Items a change removed are gone for good once it is applied."""
    from localstripe_bridge import discounts  # discounts.py is imported after this module

    for item in before:
        if item not in sub.items._list:
            discounts.forget(item)
            store.pop(f"subscription_item:{item.id}", None)


def change(
    sub: Any,
    *,
    apply: Callable[[], None],
    credits: list[Part],
    debits: list[Part],
    at: int | None,
    behavior: str,
    payment_behavior: str | None,
    reset: bool,
) -> Any | None:
    """Apply a change to `sub` (`apply` mutates it) and bill it as Stripe does (module
    docstring). `credits`/`debits`: the items' old/new prices and quantities. Returns the
    invoice made at once, if any."""
    now = _now()
    at = now if at is None else at
    discard_pending(sub)  # a new change replaces a pending one
    snap = _snapshot(sub)
    before = [item for item, _, _ in snap["items"]]
    period_end = int(sub.current_period_end)
    made = (
        []
        if behavior == "none"
        else prorate(sub, credits, [] if reset else debits, at, transient=False)
    )
    apply()
    if reset:
        sub._bridge_anchor = now
        sub.billing_cycle_anchor = now
    if not reset and not (behavior == "always_invoice" and made):
        _forget_removed(sub, before)
        return None
    invoice = subscription_invoice(sub, full=reset, reason="subscription_update")
    finalize(invoice)
    if collect(invoice, payment_behavior):
        _forget_removed(sub, before)
        return invoice
    if payment_behavior == "pending_if_incomplete":
        target = _target(sub)
        _restore(sub, snap)
        ends = [now + PENDING_LIFETIME, period_end]
        if sub.trial_end:
            ends.append(int(sub.trial_end))
        sub._bridge_pending = {**target, "invoice": invoice.id, "expires_at": min(ends)}
        return invoice
    if payment_behavior == "error_if_incomplete":
        added = [item for item in sub.items._list if item not in before]
        _restore(sub, snap)
        for item in added:
            store.pop(f"subscription_item:{item.id}", None)
        _void(invoice)
        raise card_error("Your card was declined.", code="card_declined")
    _forget_removed(sub, before)
    sub.status = "past_due"
    return invoice


# Pending updates ----------------------------------------------------------------------------


def _void(invoice: Any) -> None:
    if invoice.payment_intent is not None:
        PaymentIntent._api_retrieve(invoice.payment_intent)._canceled = True
    invoice._voided = True
    invoice.status_transitions["voided_at"] = _now()


def _find_item(sub: Any, item_id: str) -> Any | None:
    for item in sub.items._list:
        if item.id == item_id:
            return item
    return store.get(f"subscription_item:{item_id}")


def discard_pending(sub: Any, *, void: bool = False) -> None:
    """Drop the pending update (items it would have added go too); `void` its invoice."""
    pending = getattr(sub, "_bridge_pending", None)
    if not pending:
        return
    sub._bridge_pending = None
    for entry in pending["items"]:
        if all(item.id != entry["id"] for item in sub.items._list):
            store.pop(f"subscription_item:{entry['id']}", None)
    invoice = store.get(f"invoice:{pending['invoice']}")
    if void and invoice is not None and invoice.status == "open":
        _void(invoice)


def apply_pending(invoice: Any) -> None:
    """The pending update an invoice was paying for is applied once it is paid."""
    sub = store.get(f"subscription:{invoice.subscription}") if invoice.subscription else None
    pending = getattr(sub, "_bridge_pending", None) if sub is not None else None
    if sub is None or not pending or pending["invoice"] != invoice.id:
        return
    before = list(sub.items._list)
    chosen = []
    for entry in pending["items"]:
        item = _find_item(sub, entry["id"])
        if item is None:
            continue
        item.plan = store[f"plan:{entry['plan']}"]
        item.quantity = entry["quantity"]
        chosen.append(item)
    sub.items._list = chosen
    sub.quantity = chosen[0].quantity
    sub._bridge_anchor = pending["anchor"]
    sub.billing_cycle_anchor = pending["billing_cycle_anchor"]
    sub._bridge_pending = None
    _forget_removed(sub, before)


def on_void(invoice: Any) -> None:
    sub = store.get(f"subscription:{invoice.subscription}") if invoice.subscription else None
    pending = getattr(sub, "_bridge_pending", None) if sub is not None else None
    if pending and pending["invoice"] == invoice.id:
        discard_pending(sub)


def _pending_update(sub: Any) -> dict[str, Any] | None:
    """Stripe's `pending_update`; an expired one is discarded (and its invoice voided) here,
    when it is next looked at: the emulator has no clock of its own."""
    pending = getattr(sub, "_bridge_pending", None)
    if not pending:
        return None
    if _now() >= pending["expires_at"]:
        discard_pending(sub, void=True)
        return None
    shown = []
    for entry in pending["items"]:
        item = _find_item(sub, entry["id"])
        if item is None:
            continue
        body = item._export()
        plan = store[f"plan:{entry['plan']}"]
        body.update(plan=plan._export(), price=price_json(plan), quantity=entry["quantity"])
        shown.append(body)
    return {
        "billing_cycle_anchor": pending["billing_cycle_anchor"],
        "cancel_at_period_end": None,
        "discounts": None,
        "expires_at": pending["expires_at"],
        "metadata": None,
        "subscription_items": shown,
        "trial_end": None,
        "trial_from_plan": None,
    }


def install() -> None:
    if getattr(Invoice, "_bridge_billing", False):
        return
    Invoice._bridge_billing = True
    Invoice.total = property(_total)
    Invoice.amount_due = property(_amount_due)
    Invoice.amount_remaining = property(_amount_remaining)
    Invoice.status = property(_status)
    Invoice.total_discount_amounts = property(_total_discount_amounts)
    Invoice._api_pay_invoice = classmethod(_pay_invoice)
    Invoice._on_payment_success = _paid_then_apply(Invoice._on_payment_success)
    # Shown on every line and invoice item, also those made before the bridge acted.
    InvoiceLineItem.discounts = ()
    InvoiceLineItem.discount_amounts = ()
    InvoiceLineItem.discountable = True
    InvoiceItem.discounts = ()
    Subscription.pending_update = property(_pending_update)
