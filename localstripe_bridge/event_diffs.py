"""What one API request changed in subscriptions and invoices, as the events Stripe sends for it.

localstripe mutates its objects in place and announces only a few changes itself. events.py takes
a `Snapshot` of every subscription and invoice of the customers a request names, before and after
the request runs, and `plan` turns the two, with the events localstripe announced meanwhile, into
Stripe's list of events for that request, in Stripe's order. Nothing here knows how a route does
its work: only what the objects look like before and after, so rewritten routes (prorations,
pending updates, discounts on invoices) get their events without changes here.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from localstripe.resources import store

SUBSCRIPTION, INVOICE = "subscription:", "invoice:"
# Statuses an invoice leaves `draft` for when it is finalized (void is reached from open only).
FINALIZED = ("open", "paid", "uncollectible")
# Ids a request may name (in its path or body) that lead to a customer, by prefix.
_ID = re.compile(r"\b(cus|sub|in|si|pi|ii|ch)_[A-Za-z0-9]+")
_STORED_AS = {
    "sub": "subscription",
    "in": "invoice",
    "si": "subscription_item",
    "pi": "payment_intent",
    "ii": "invoiceitem",
    "ch": "charge",
}


class Index:
    """The store keys of subscriptions and invoices, by customer, without scanning the store
    (which also holds every event ever sent) on each request. `added` is told of every new key;
    a key's customer is read the first time it is asked for, once the object is complete."""

    def __init__(self) -> None:
        self._pending: dict[str, None] = {}
        self._by_customer: dict[str, dict[str, None]] = {}

    def added(self, key: str) -> None:
        if key.startswith((SUBSCRIPTION, INVOICE)):
            self._pending[key] = None

    def rebuild(self, keys: Iterable[str]) -> None:
        self._by_customer.clear()
        self._pending = {}
        for key in keys:
            self.added(key)

    def keys_of(self, customers: Iterable[str]) -> list[str]:
        for key in list(self._pending):
            del self._pending[key]
            customer = getattr(store.get(key), "customer", None)
            if isinstance(customer, str):
                self._by_customer.setdefault(customer, {})[key] = None
        return [
            key
            for customer in sorted(customers)
            for key in self._by_customer.get(customer, {})
            if key in store
        ]


def customers_named(text: str) -> set[str]:
    """The customers of the objects whose ids appear in `text` (a request's path and body)."""
    found: set[str] = set()
    for match in _ID.finditer(text):
        ident, kind = match.group(0), match.group(1)
        if kind == "cus":
            found.add(ident)
            continue
        obj = store.get(f"{_STORED_AS[kind]}:{ident}")
        if kind == "si" and obj is not None:
            holder = getattr(obj, "_subscription", None)
            obj = store.get(f"{SUBSCRIPTION}{holder}") if holder else None
        customer = getattr(obj, "customer", None)
        if isinstance(customer, str):
            found.add(customer)
    return found


@dataclass(frozen=True)
class Attempt:
    """An invoice's current payment attempt: its payment intent and that intent's last charge."""

    intent: str | None = None
    status: str | None = None
    charge: str | None = None
    charge_failed: bool = False


NO_ATTEMPT = Attempt()


def _attempt(invoice: Any) -> Attempt:
    intent = None
    if invoice.payment_intent:
        intent = store.get(f"payment_intent:{invoice.payment_intent}")
    if intent is None:
        return NO_ATTEMPT
    charge = intent.latest_charge
    return Attempt(
        intent=intent.id,
        status=intent.status,
        charge=charge.id if charge is not None else None,
        charge_failed=charge is not None and charge.status == "failed",
    )


@dataclass
class InvoiceState:
    status: str
    attempt: Attempt
    invoice: Any  # the localstripe Invoice, exported only when an event needs it


@dataclass
class Snapshot:
    subscriptions: dict[str, dict[str, Any]] = field(default_factory=dict)  # id → as GET shows it
    invoices: dict[str, InvoiceState] = field(default_factory=dict)


def take(index: Index, customers: set[str]) -> Snapshot:
    snapshot = Snapshot()
    for key in index.keys_of(customers):
        obj = store[key]
        if key.startswith(SUBSCRIPTION):
            snapshot.subscriptions[obj.id] = obj._export()
        else:
            snapshot.invoices[obj.id] = InvoiceState(obj.status, _attempt(obj), obj)
    return snapshot


@dataclass
class Entry:
    """One event of the request: `captured` (a localstripe Event, sent as it is unless
    `replace_object` is set) or a new one of `type` about `object`."""

    type: str
    about: str | None  # the id of data.object
    invoice: str | None  # the invoice it concerns (invoice events; its payment intents' events)
    captured: Any = None
    replace_object: dict[str, Any] | None = None
    object: dict[str, Any] | None = None
    previous_attributes: dict[str, Any] | None = None


def _captured_entry(event: Any) -> Entry:
    obj = event.data.get("object") or {}
    about = obj.get("id") if isinstance(obj.get("id"), str) else None
    invoice = about if event.type.startswith("invoice.") else obj.get("invoice")
    return Entry(event.type, about, invoice if isinstance(invoice, str) else None, captured=event)


def _previous_attributes(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """Stripe's rule: the previous values of exactly the top-level attributes that changed; "If
    an array attribute has any updated elements, this object contains the entire array"
    (stripe/openapi, `notification_event_data.previous_attributes`). A nested object (`items`,
    `pending_update`) is compared and reported whole, so its whole previous value is given."""
    keys = list(after) + [key for key in before if key not in after]
    return {key: before.get(key) for key in keys if before.get(key) != after.get(key)}


def _invoice_events(
    invoice_id: str,
    state: InvoiceState,
    prior: InvoiceState | None,
    captured: list[Entry],
) -> list[str]:
    """The event types Stripe sends for what happened to one invoice during the request."""
    mine = [e for e in captured if e.invoice == invoice_id]
    sent = {e.type for e in mine}
    types: list[str] = []
    if prior is not None:
        before_status, before_attempt = prior.status, prior.attempt
    else:
        created = next((e for e in mine if e.type == "invoice.created"), None)
        before_attempt = NO_ATTEMPT
        before_status = "draft"
        if created is None:
            types.append("invoice.created")
        else:
            before_status = str(created.captured.data["object"].get("status", "draft"))
    after_attempt = state.attempt
    # https://docs.stripe.com/invoicing/integration/workflow-transitions: finalize (draft → open)
    # emits invoice.finalized, /pay invoice.paid or invoice.payment_failed, /void invoice.voided.
    # A zero invoice is paid at finalization: finalized, then paid.
    if before_status == "draft" and state.status in FINALIZED:
        types.append("invoice.finalized")
    if after_attempt != before_attempt:
        # A payment attempt that failed: localstripe announces only some (3-D Secure failures);
        # its /pay and a subscription's first invoice fail silently.
        new_charge = after_attempt.charge != before_attempt.charge
        if after_attempt.charge_failed and new_charge and "invoice.payment_failed" not in sent:
            types.append("invoice.payment_failed")
        # invoice.payment_action_required: the attempt needs the customer (3-D Secure).
        if after_attempt.status == "requires_action" and (
            after_attempt.intent != before_attempt.intent
            or before_attempt.status != "requires_action"
        ):
            types.append("invoice.payment_action_required")
    if before_status != "paid" and state.status == "paid":
        # Stripe sends both for every paid invoice, a zero one too; localstripe sends
        # payment_succeeded only when it charged (or paid a zero invoice through /pay).
        if "invoice.payment_succeeded" not in sent:
            types.append("invoice.payment_succeeded")
        types.append("invoice.paid")
    if before_status != "void" and state.status == "void":
        types.append("invoice.voided")
    return types


def _position(entries: list[Entry], new: Entry) -> int:
    """Where Stripe puts an invoice's event among the request's others: created first,
    finalized right after created, paid right after payment_succeeded, the rest after
    everything already about that invoice."""
    about = [i for i, e in enumerate(entries) if e.invoice == new.invoice]
    if not about:
        return len(entries)
    if new.type == "invoice.created":
        return about[0]
    if new.type == "invoice.finalized":
        created = [i for i in about if entries[i].type == "invoice.created"]
        return created[0] + 1 if created else about[0]
    if new.type == "invoice.paid":
        succeeded = [i for i in about if entries[i].type == "invoice.payment_succeeded"]
        return succeeded[-1] + 1 if succeeded else about[-1] + 1
    return about[-1] + 1


def plan(before: Snapshot, after: Snapshot, captured_events: list[Any]) -> list[Entry]:
    """The request's events, in order: the subscriptions it created, then per invoice its
    events (localstripe's and the missing ones), then `customer.subscription.updated` for each
    subscription that changed. E.g. an update that invoices: invoice.created,
    invoice.finalized, (payment_intent.succeeded,) invoice.payment_succeeded, invoice.paid,
    customer.subscription.updated."""
    captured = [_captured_entry(event) for event in captured_events]
    created_subs = {e.about for e in captured if e.type == "customer.subscription.created"}
    deleted_subs = {e.about for e in captured if e.type == "customer.subscription.deleted"}

    for entry in captured:
        if entry.type == "customer.subscription.created" and entry.about in after.subscriptions:
            # Creating a subscription is one operation on Stripe: its created event shows the
            # subscription as the create call returns it (localstripe exported it before the
            # bridge finished, e.g. before `billing_mode` was set).
            entry.replace_object = after.subscriptions[entry.about]
        elif entry.type == "invoice.created" and entry.about in after.invoices:
            state = after.invoices[entry.about]
            shown = entry.captured.data["object"]
            if shown.get("status") == state.status:
                # Still the draft it was created as: show it with the bridge's finishing
                # touches (billing_reason, currency …). One that moved on keeps its draft.
                entry.replace_object = state.invoice._export()

    entries = [e for e in captured if e.type == "customer.subscription.created"]
    for sub_id, shown in after.subscriptions.items():
        if sub_id not in before.subscriptions and sub_id not in created_subs:
            entries.append(Entry("customer.subscription.created", sub_id, None, object=shown))
    entries += [e for e in captured if e.type != "customer.subscription.created"]

    for invoice_id, state in after.invoices.items():
        types = _invoice_events(invoice_id, state, before.invoices.get(invoice_id), captured)
        if not types:
            continue
        shown = state.invoice._export()
        for event_type in types:
            new = Entry(event_type, invoice_id, invoice_id, object=shown)
            entries.insert(_position(entries, new), new)

    for sub_id, shown in after.subscriptions.items():
        previous = before.subscriptions.get(sub_id)
        if previous is None or sub_id in deleted_subs or sub_id in created_subs:
            continue
        changed = _previous_attributes(previous, shown)
        if changed:
            entries.append(
                Entry(
                    "customer.subscription.updated",
                    sub_id,
                    None,
                    object=shown,
                    previous_attributes=changed,
                )
            )
    return entries
