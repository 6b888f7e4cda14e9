"""One-off invoices as Stripe makes them: pending items only, finalize, pay off-session, void.

localstripe's `POST /v1/invoices` bills the subscription's plan in full plus every pending item of
the customer, ignoring `pending_invoice_items_behavior`; it has no `/finalize` (paying a draft
finalizes it); its `/pay` reports a declined card or a card that needs 3-D Secure as a 200 with an
open invoice, where Stripe answers 402; its `/void` crashes on an invoice without a payment
intent and cancels the invoice's subscription; and `DELETE /v1/invoiceitems/{id}` is a 404.
These routes do what Stripe does, on localstripe's own objects:

- `POST /v1/invoices`: a draft holding only the pending items of the customer (of `subscription`
  when given) with `pending_invoice_items_behavior=include`, and none with `exclude` (Stripe's
  default); the subscription's plan is not billed and its `latest_invoice` is left alone.
- `POST /v1/invoices/{id}/finalize`: draft → open, or paid when nothing is due; the customer's
  balance is applied (a negative total leaves a credit on the balance, as Stripe does), and an
  amount due under the currency's minimum charge is moved to the balance (billing.finalize).
- `POST /v1/invoices/{id}/pay` (`off_session`): a declined card is a 402 `card_declined`; a
  card that needs authentication is a 402 `invoice_payment_intent_requires_action`, the invoice
  stays open with its `hosted_invoice_url` and the payment intent in `requires_action`.
- `POST /v1/invoices/{id}/void`: only open invoices; the items stay on the void invoice.
- `DELETE /v1/invoiceitems/{id}`: items that are pending or on a draft.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from localstripe.resources import Invoice, PaymentIntent, store

from localstripe_bridge import billing, params, subscriptions
from localstripe_bridge.errors import invalid, no_such, not_emulated
from localstripe_bridge.routes import Router

HOSTED_INVOICE_BASE = "https://invoice.stripe.com/i/localstripe_bridge/"
CREATE_PARAMS = {
    "customer", "subscription", "pending_invoice_items_behavior", "auto_advance",
    "collection_method", "description", "metadata",
}  # fmt: skip
# Held by pending items that must stay out of an invoice being built (localstripe's constructor
# takes every item whose `invoice` is None); restored before the request returns.
_HOLD = "in_bridge_hold"


def _now() -> int:
    return int(datetime.now(UTC).timestamp())  # noqa: TID251 -- the emulator's own clock


def _invoice(invoice_id: str) -> Any:
    found = store.get(f"invoice:{invoice_id}")
    if found is None:
        raise no_such("invoice", invoice_id, status=404)
    return found


def _hosted_invoice_url(invoice: Any) -> str | None:
    # Stripe gives an invoice its payment page when it is finalized.
    return None if invoice._draft else HOSTED_INVOICE_BASE + invoice.id


def _pending_items(customer: str) -> list[Any]:
    return [
        item
        for key, item in store.items()
        if key.startswith("invoiceitem:") and item.customer == customer and item.invoice is None
    ]


async def create(request: web.Request, _: Mapping[str, str]) -> web.Response:
    data = await params.read(request)
    expand = params.expand(data)
    params.only(data, CREATE_PARAMS)
    customer = params.required_text(data, "customer")
    if store.get(f"customer:{customer}") is None:
        raise no_such("customer", customer, param="customer")
    subscription = params.text(data, "subscription")
    sub = subscriptions.retrieve(subscription, param="subscription") if subscription else None
    behavior = params.choice(
        data, "pending_invoice_items_behavior", ("include", "exclude"), param=None
    )
    if params.choice(data, "collection_method", ("charge_automatically", "send_invoice")) == (
        "send_invoice"
    ):
        raise not_emulated("collection_method=send_invoice", param="collection_method")
    auto_advance = params.boolean(data, "auto_advance")
    pending = _pending_items(customer)
    chosen = [
        item
        for item in pending
        if behavior == "include" and (subscription is None or item.subscription == subscription)
    ]
    held = [item for item in pending if item not in chosen]
    latest = sub.latest_invoice if sub is not None else None
    for item in held:
        item.invoice = _HOLD
    try:
        invoice = Invoice(
            customer=customer,
            subscription=subscription,
            items=chosen,
            description=params.text(data, "description"),
            metadata=params.metadata(data),
        )
    finally:
        for item in held:
            item.invoice = None
    if sub is not None:
        # A one-off invoice for a subscription is not one the subscription generated.
        sub.latest_invoice = latest
        invoice.currency = sub.items._list[0].plan.currency
    if chosen:
        invoice.currency = chosen[0].currency
    invoice.billing_reason = "manual"
    invoice.auto_advance = bool(auto_advance)
    billing.decorate(invoice, sub, sources={}, consume=True)
    return web.json_response(invoice._export(expand=expand))


async def finalize(request: web.Request, path: Mapping[str, str]) -> web.Response:
    invoice = _invoice(path["id"])
    data = await params.read(request)
    expand = params.expand(data)
    params.only(data, {"auto_advance"})
    billing.finalize(invoice)
    return web.json_response(invoice._export(expand=expand))


async def pay(request: web.Request, path: Mapping[str, str]) -> web.Response:
    invoice = _invoice(path["id"])
    data = await params.read(request)
    expand = params.expand(data)
    params.only(data, {"off_session"})
    off_session = params.boolean(data, "off_session")
    if invoice.status == "paid":
        raise invalid("Invoice is already paid", code="invoice_already_paid")
    if invoice.status == "void":
        raise invalid("This invoice has been voided and cannot be paid.", code="invoice_not_open")
    if invoice.status == "draft":
        billing.finalize(invoice)  # Stripe finalizes a draft before paying it
    if invoice.status == "open" and invoice.payment_intent is None:
        Invoice._api_pay_invoice(invoice.id)
    elif invoice.status == "open":
        intent = PaymentIntent._api_retrieve(invoice.payment_intent)
        if intent.status == "requires_action":
            pass  # still waiting for the customer
        else:
            # A retry after a decline: a fresh attempt on the customer's default method.
            intent._canceled = True
            invoice.payment_intent = None
            invoice.attempt_count += 1
            Invoice._api_pay_invoice(invoice.id)
    if invoice.status == "paid":
        return web.json_response(invoice._export(expand=expand))
    intent = PaymentIntent._api_retrieve(invoice.payment_intent)
    if intent.status == "requires_action" and off_session is not False:
        raise billing.card_error(
            "Payment for this invoice requires additional user action before it can be "
            "completed successfully. Payment can be completed using the PaymentIntent "
            "associated with the invoice.",
            code="invoice_payment_intent_requires_action",
            payment_intent={"id": intent.id, "object": "payment_intent", "status": intent.status},
        )
    if intent.status == "requires_action":
        return web.json_response(invoice._export(expand=expand))
    charge = intent.latest_charge
    raise billing.card_error(
        (charge.failure_message if charge else None) or "Your card was declined.",
        code=(charge.failure_code if charge else None) or "card_declined",
        decline_code="generic_decline",
        charge=charge.id if charge else None,
    )


async def void(request: web.Request, path: Mapping[str, str]) -> web.Response:
    invoice = _invoice(path["id"])
    data = await params.read(request)
    expand = params.expand(data)
    params.only(data, set())
    if invoice.status != "open":
        raise invalid(
            f"You can only void open invoices; this one is {invoice.status}.",
            code="invoice_not_open",
        )
    if invoice.payment_intent is not None:
        PaymentIntent._api_retrieve(invoice.payment_intent)._canceled = True
    invoice._voided = True
    invoice.status_transitions["voided_at"] = _now()
    billing.on_void(invoice)  # a pending update it was paying for is discarded
    return web.json_response(invoice._export(expand=expand))


async def delete_item(request: web.Request, path: Mapping[str, str]) -> web.Response:
    item = store.get(f"invoiceitem:{path['id']}")
    if item is None:
        raise no_such("invoiceitem", path["id"], status=404)
    if item.invoice is not None and _invoice(item.invoice).status != "draft":
        raise invalid(
            "You can only delete invoice items that are not attached to invoices or are "
            "attached to draft invoices.",
            code="invoice_not_editable",
        )
    if item.invoice is not None:
        draft = _invoice(item.invoice)
        draft.lines._list = [line for line in draft.lines._list if line.id != item.id]
    del store[f"invoiceitem:{item.id}"]
    return web.json_response({"id": item.id, "object": "invoiceitem", "deleted": True})


def install() -> None:
    billing.install()
    if getattr(Invoice, "_bridge_invoices", False):
        return
    Invoice._bridge_invoices = True
    Invoice.hosted_invoice_url = property(_hosted_invoice_url)
    Invoice.auto_advance = False


def register(router: Router) -> None:
    install()
    router.add("POST", "/v1/invoices", create)
    router.add("POST", "/v1/invoices/{id}/finalize", finalize)
    router.add("POST", "/v1/invoices/{id}/pay", pay)
    router.add("POST", "/v1/invoices/{id}/void", void)
    router.add("DELETE", "/v1/invoiceitems/{id}", delete_item)
