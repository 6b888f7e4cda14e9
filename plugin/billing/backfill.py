"""A Stripe subscription's past, reconstructed from what Stripe keeps of it. Pure.

`uplift import` (plugin/billing/importer.py) reads each subscription and its invoices and turns
them into the states the subscription went through, each with a deterministic source id, so the
ledger (plugin/billing/ledger.py) can derive MRR movements as if webhooks had been received
all along. What tells what:

- **The start** (`import:{sub}:start`): at `created` (when Stripe began billing; `start_date`
  differs only when backdated, docs.stripe.com/changelog/2019-10-17), or at the first invoice's
  `status_transitions.paid_at` when it was paid later (the subscription was `incomplete` until
  then, docs.stripe.com/billing/subscriptions/overview). Its items are the lines of the first
  invoice (`billing_reason=subscription_create`, since 2018-10-31; `subscription` before
  May 2018), else the current items.
- **Each later invoice** (`import:{sub}:{in_…}`): the non-proration lines of a
  `subscription_cycle` (or a billing-cycle reset) say what was billed from the new period's
  start (the lines' `period.start`; an invoice's own `period_start` is the period before).
  Proration lines (`import:{sub}:{in_…}:{t}`) tell a change at the proration time `t` (their
  `period.start`): per subscription item, the debit ("Remaining time on …") is the new price
  and quantity; a credit alone ("Unused time on …") is an item removed. A
  `subscription_update` invoice counts only once paid: unpaid, it may be a pending update
  (`payment_behavior=pending_if_incomplete`) that never applied. Draft and void invoices count
  for nothing but the start's items.
- **Trials**: `trialing` from `trial_start` to `trial_end`, then active if an invoice billed a
  period from then on or the subscription is active now (`import:{sub}:trial_end`).
- **The end** (`import:{sub}:ended`): `canceled` (or `incomplete_expired`) at `ended_at`.
- **Now** (`import:{sub}:current:{digest}`): the subscription as Stripe has it, at the import's
  time. The digest covers everything the mirror keeps, so an unchanged subscription adds nothing
  on a second run, while a changed one adds the new state at the new run's time. It is dated at
  the import rather than at a Stripe time because what changed without an invoice (a quantity
  set with `proration_behavior=none`, a status such as `unpaid`) has no time Stripe tells; and
  so a webhook event delivered late, about a state older than what the import read, never
  replaces the mirror.

Where webhooks already recorded the subscription, they are the better record: the reconstructed
states from the first webhook snapshot on are left out (`fill_before`), and only "now" is added.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace

from plugin.billing.catalog import Price
from plugin.billing.mirror import MirrorItem, MirrorSubscription

IMPORT_PREFIX = "import:"
# A trial that starts within this many seconds of the subscription is the trial it began with.
TRIAL_AT_START = 60

MakeItem = Callable[[str, Price, int], MirrorItem]


# Stripe's records, as the gateway reads them (plugin/billing/stripe_gateway.py).


@dataclass(frozen=True, slots=True)
class ItemRecord:
    id: str
    price: Price  # as embedded in the subscription (tiers unknown unless expanded)
    quantity: int


@dataclass(frozen=True, slots=True)
class SubscriptionRecord:
    id: str
    customer_id: str
    status: str
    currency: str | None
    created: int
    start_date: int
    ended_at: int | None
    canceled_at: int | None
    cancel_at_period_end: bool
    trial_start: int | None
    trial_end: int | None
    current_period_start: int | None
    current_period_end: int | None
    items: tuple[ItemRecord, ...]
    items_complete: bool = True  # False: Stripe has more items than it embedded (`has_more`)


@dataclass(frozen=True, slots=True)
class LineRecord:
    id: str
    price_id: str | None
    subscription_item_id: str | None  # None: not a subscription item's line (a one-off item)
    quantity: int | None
    amount: int
    period_start: int
    period_end: int
    proration: bool
    credit: bool  # a proration credit ("Unused time on …")


@dataclass(frozen=True, slots=True)
class InvoiceRecord:
    id: str
    subscription_id: str | None
    status: str  # draft | open | paid | uncollectible | void
    billing_reason: str | None
    created: int
    paid_at: int | None
    lines: tuple[LineRecord, ...]
    lines_complete: bool = True


# What the reconstruction gives.


@dataclass(frozen=True, slots=True)
class State:
    source_id: str
    occurred_at: int
    snapshot: MirrorSubscription
    current: bool = False  # the subscription as Stripe has it now


Items = dict[str, tuple[str, int]]  # subscription item id → (price id, quantity), in order

# Ties in the same second: the start first, then the trial's end, then what invoices say, then
# the end, then now (the order they are applied is their `seq` in the history).
_START, _TRIAL_START, _TRIAL_END, _BILLED, _ENDED = range(5)
_CREATE_REASONS = ("subscription_create", "subscription")
_COUNTED = frozenset({"open", "paid", "uncollectible"})
_ENDED_STATUSES = frozenset({"canceled", "incomplete_expired"})


@dataclass(frozen=True, slots=True)
class _Change:
    at: int
    rank: int
    source_id: str
    items: Items | None  # None: the items stay as they were
    status: str | None  # None: active, or trialing inside the trial
    period: tuple[int, int] | None = None
    replace: bool = False  # the items are the whole set, not changes to it


def _item_lines(invoice: InvoiceRecord) -> list[LineRecord]:
    return [
        line
        for line in invoice.lines
        if line.subscription_item_id is not None and line.price_id is not None
    ]


def _billed(lines: Sequence[LineRecord]) -> Items:
    return {
        str(line.subscription_item_id): (str(line.price_id), line.quantity or 1) for line in lines
    }


def _prorated(lines: Sequence[LineRecord]) -> Items:
    """Per item, the debit's price and quantity; an item with credits only maps to quantity -1
    (removed)."""
    changed: Items = {}
    for line in lines:
        key = str(line.subscription_item_id)
        if not line.credit:
            changed[key] = (str(line.price_id), line.quantity or 1)
        elif key not in changed:
            changed[key] = (str(line.price_id), -1)
    return changed


def _period(lines: Sequence[LineRecord]) -> tuple[int, int]:
    return min(line.period_start for line in lines), max(line.period_end for line in lines)


def _first_invoice(invoices: Sequence[InvoiceRecord]) -> InvoiceRecord | None:
    ordered = sorted(invoices, key=lambda invoice: invoice.created)
    return next((i for i in ordered if i.billing_reason in _CREATE_REASONS), None)


def _invoice_changes(sub: SubscriptionRecord, invoice: InvoiceRecord) -> list[_Change]:
    if invoice.status not in _COUNTED:
        return []
    if invoice.billing_reason == "subscription_update" and invoice.status != "paid":
        return []
    lines = _item_lines(invoice)
    changes = []
    prorations: dict[int, list[LineRecord]] = {}
    for line in lines:
        if line.proration:
            prorations.setdefault(line.period_start, []).append(line)
    for at, group in sorted(prorations.items()):
        source = f"{IMPORT_PREFIX}{sub.id}:{invoice.id}:{at}"
        changes.append(_Change(at, _BILLED, source, _prorated(group), None))
    full = [line for line in lines if not line.proration]
    if full and invoice.billing_reason not in _CREATE_REASONS:
        period = _period(full)
        source = f"{IMPORT_PREFIX}{sub.id}:{invoice.id}"
        changes.append(_Change(period[0], _BILLED, source, _billed(full), None, period, True))
    return changes


def _start(sub: SubscriptionRecord, first: InvoiceRecord | None, trial: bool) -> _Change:
    lines = [line for line in _item_lines(first) if not line.proration] if first else []
    items = _billed(lines) if lines else {i.id: (i.price.id, i.quantity) for i in sub.items}
    period = _period(lines) if lines else None
    source = f"{IMPORT_PREFIX}{sub.id}:start"
    if trial:
        return _Change(sub.created, _START, source, items, "trialing", period, True)
    if first is not None and first.paid_at is not None:
        at = max(sub.created, first.paid_at)
        return _Change(at, _START, source, items, "active", period, True)
    if first is not None or sub.status in ("incomplete", "incomplete_expired"):
        return _Change(sub.created, _START, source, items, "incomplete", period, True)
    return _Change(sub.created, _START, source, items, "active", period, True)


def _changes(sub: SubscriptionRecord, invoices: Sequence[InvoiceRecord], now: int) -> list[_Change]:
    trial = sub.trial_start is not None and sub.trial_start - sub.created <= TRIAL_AT_START
    changes = [_start(sub, _first_invoice(invoices), trial)]
    for invoice in invoices:
        changes.extend(_invoice_changes(sub, invoice))
    if sub.trial_start is not None and not trial:
        source = f"{IMPORT_PREFIX}{sub.id}:trial_start"
        changes.append(_Change(sub.trial_start, _TRIAL_START, source, None, "trialing"))
    if sub.trial_start is not None and sub.trial_end is not None and sub.trial_end <= now:
        trial_end = sub.trial_end
        converted = sub.status in ("active", "past_due") or any(
            c.replace and c.rank == _BILLED and c.at >= trial_end for c in changes
        )
        if converted and (sub.ended_at is None or sub.ended_at > trial_end):
            source = f"{IMPORT_PREFIX}{sub.id}:trial_end"
            changes.append(_Change(trial_end, _TRIAL_END, source, None, "active"))
    if sub.ended_at is not None:
        # Nothing an invoice says after the end (a final proration credit) brings it back.
        changes = [c for c in changes if c.rank == _START or c.at < sub.ended_at]
        status = sub.status if sub.status in _ENDED_STATUSES else "canceled"
        source = f"{IMPORT_PREFIX}{sub.id}:ended"
        changes.append(_Change(sub.ended_at, _ENDED, source, None, status))
    return sorted(changes, key=lambda c: (c.at, c.rank))


def _status(sub: SubscriptionRecord, change: _Change) -> str:
    if change.status is not None:
        return change.status
    start, end = sub.trial_start, sub.trial_end
    if start is not None and end is not None and start <= change.at < end:
        return "trialing"
    return "active"


def _digest(snapshot: MirrorSubscription, sub: SubscriptionRecord) -> str:
    document = [
        snapshot.status,
        [[item.id, item.price_id, item.quantity] for item in snapshot.items],
        snapshot.current_period_start,
        snapshot.current_period_end,
        snapshot.trial_end,
        snapshot.cancel_at_period_end,
        snapshot.canceled_at,
        sub.ended_at,
    ]
    return hashlib.sha256(json.dumps(document).encode()).hexdigest()[:16]


def reconstruct(
    subscription: SubscriptionRecord,
    invoices: Sequence[InvoiceRecord],
    *,
    prices: Mapping[str, Price],
    make_item: MakeItem,
    now: int,
) -> list[State]:
    """The states `subscription` went through, oldest first, ending with its state now.

    `invoices` are the subscription's (any order, every line of each: the caller lists the rest
    when Stripe embedded only the first ones); `prices` holds every price their lines and the
    subscription's items name; `make_item` builds a mirror item from a price (the webhooks'
    `mirror_item`, so both paths build items alike). A price missing from `prices` is a
    ValueError."""

    def price(price_id: str) -> Price:
        found = prices.get(price_id)
        if found is None:
            raise ValueError(f"price {price_id} of subscription {subscription.id} is not known")
        return found

    def snapshot(items: Items, status: str, period: tuple[int, int] | None) -> MirrorSubscription:
        mirror_items = tuple(make_item(key, price(p), q) for key, (p, q) in items.items())
        currency = subscription.currency or (mirror_items[0].currency if mirror_items else "usd")
        return MirrorSubscription(
            id=subscription.id,
            customer_id=subscription.customer_id,
            status=status,
            currency=currency.lower(),
            items=mirror_items,
            current_period_start=period[0] if period else None,
            current_period_end=period[1] if period else None,
            trial_end=subscription.trial_end,
            cancel_at_period_end=False,
            canceled_at=subscription.canceled_at if status in _ENDED_STATUSES else None,
        )

    states = []
    items: Items = {}
    period: tuple[int, int] | None = None
    for change in _changes(subscription, invoices, now):
        if change.items is not None:
            if change.replace:
                items = dict(change.items)
            else:
                for key, (price_id, quantity) in change.items.items():
                    if quantity < 0:
                        items.pop(key, None)
                    else:
                        items[key] = (price_id, quantity)
        period = change.period or period
        status = _status(subscription, change)
        states.append(State(change.source_id, change.at, snapshot(items, status, period)))
    start, end = subscription.current_period_start, subscription.current_period_end
    current = replace(
        snapshot(
            {item.id: (item.price.id, item.quantity) for item in subscription.items},
            subscription.status,
            (start, end) if start is not None and end is not None else None,
        ),
        cancel_at_period_end=subscription.cancel_at_period_end,
        canceled_at=subscription.canceled_at,
    )
    # Now, or later than anything Stripe dated (a clock behind Stripe's must not put the
    # present before the past).
    at = max([now, *(state.occurred_at for state in states)])
    source = f"{IMPORT_PREFIX}{subscription.id}:current:{_digest(current, subscription)}"
    states.append(State(source, at, current, current=True))
    return states


def fill_before(states: Sequence[State], *, first_event_at: int | None) -> list[State]:
    """The states to add to a history whose first webhook snapshot is at `first_event_at`
    (None: no webhook recorded the subscription). From that time on the webhooks said exactly
    what the subscription was; a reconstruction there could only disagree (an approximation of
    the same second interleaved with the exact one), so only the earlier states and "now" are
    added."""
    if first_event_at is None:
        return list(states)
    return [state for state in states if state.current or state.occurred_at < first_event_at]


def is_imported(source_id: str) -> bool:
    return source_id.startswith(IMPORT_PREFIX)
