"""`uplift import`: an existing Stripe account's subscriptions into the mirror and the MRR ledger.

Pages through the subscriptions (every status), and for each its items beyond the embedded
ones, its invoices and their lines beyond the embedded ones; reconstructs its states
(plugin/billing/backfill.py) and adds them through `ledger.apply_snapshot`, one transaction
per subscription, so webhooks processed meanwhile interleave cleanly and an interrupted import
simply runs again. Every state has a deterministic source id: running it twice adds nothing.

Rate limits and outages: stripe-python retries connection errors, 409s and 5xx itself
(`max_network_retries`, bounded by the gateway), but never a plain 429 (stripe-node #1110 says
why: the SDKs leave rate limiting to the application). So each page and price lookup that
ends in `StripeUnavailable` (a connection error, a 429 or a 5xx, after the SDK's retries) is
tried again here after `RETRY_DELAYS`, then the import stops with that error; what it added so
far stays, and the next run continues where Stripe's answers match (nothing twice).
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import TypeVar

from plugin import storage
from plugin.billing import backfill, ledger
from plugin.billing.backfill import InvoiceRecord, ItemRecord, LineRecord, SubscriptionRecord
from plugin.billing.catalog import Price
from plugin.billing.stripe_gateway import Page, StripeGateway
from plugin.errors import StripeUnavailable
from plugin.storage import Database
from plugin.webhooks.snapshots import mirror_item

# Seconds to wait before trying a page again after Stripe was unavailable (4 attempts in all,
# about half a minute): long enough for a rate limit's one-second window to pass several times.
RETRY_DELAYS = (2.0, 5.0, 15.0)
PAGE_SIZE = 100  # Stripe's largest page

T = TypeVar("T")
R = TypeVar("R")
Sleep = Callable[[float], Awaitable[None]]
Progress = Callable[[str], None]


def _quiet(_: str) -> None:
    return None


@dataclass
class Summary:
    customers: set[str] = field(default_factory=set)
    subscriptions: int = 0
    invoices: int = 0
    added: int = 0  # snapshots added to the histories
    mrr: dict[str, int] = field(default_factory=dict)  # per currency, minor units, as Stripe is now


@dataclass
class _Run:
    db: Database
    gateway: StripeGateway
    now: int
    page_size: int
    progress: Progress
    delays: Sequence[float]
    sleep: Sleep
    summary: Summary = field(default_factory=Summary)
    prices: dict[str, Price] = field(default_factory=dict)

    async def retrying(self, what: str, call: Callable[[], Awaitable[T]]) -> T:
        for delay in (*self.delays, None):
            try:
                return await call()
            except StripeUnavailable as exc:
                if delay is None:
                    raise
                self.progress(f"Stripe unavailable ({exc}); {what} again in {delay:g} s")
                await self.sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover

    async def pages(
        self, what: str, fetch: Callable[[str | None], Awaitable[Page[R]]], ids: Callable[[R], str]
    ) -> list[R]:
        found: list[R] = []
        after: str | None = None
        while True:
            page = await self.retrying(what, functools.partial(fetch, after))
            found.extend(page.data)
            if not page.has_more or not page.data:
                return found
            after = ids(page.data[-1])


async def import_account(
    db: Database,
    gateway: StripeGateway,
    *,
    now: int,
    customers: Sequence[str] = (),
    page_size: int = PAGE_SIZE,
    progress: Progress = _quiet,
    delays: Sequence[float] = RETRY_DELAYS,
    sleep: Sleep = asyncio.sleep,
) -> Summary:
    """Import every subscription of the account (or of `customers` only). `progress` gets a
    line per page of subscriptions and per retry."""
    if not 1 <= page_size <= PAGE_SIZE:
        raise ValueError(f"page_size {page_size} is not between 1 and {PAGE_SIZE}")
    run = _Run(db, gateway, now, page_size, progress, delays, sleep)
    scopes: Sequence[str | None] = customers or [None]
    for customer in scopes:
        after: str | None = None
        while True:
            listing = functools.partial(
                gateway.list_subscriptions, customer=customer, limit=page_size, starting_after=after
            )
            page = await run.retrying("listing subscriptions", listing)
            for subscription in page.data:
                await _import_subscription(run, subscription)
            if page.data:
                progress(f"subscriptions: {run.summary.subscriptions} ({page.data[-1].id})")
            if not page.has_more or not page.data:
                break
            after = page.data[-1].id
    return run.summary


async def _complete(run: _Run, subscription: SubscriptionRecord) -> SubscriptionRecord:
    if subscription.items_complete:
        return subscription
    items = await run.pages(
        f"listing the items of {subscription.id}",
        lambda after: run.gateway.list_subscription_items(
            subscription.id, limit=run.page_size, starting_after=after
        ),
        lambda item: item.id,
    )
    return replace(subscription, items=tuple(items), items_complete=True)


async def _invoices(run: _Run, subscription_id: str) -> list[InvoiceRecord]:
    invoices = await run.pages(
        f"listing the invoices of {subscription_id}",
        lambda after: run.gateway.list_invoices(
            subscription=subscription_id, limit=run.page_size, starting_after=after
        ),
        lambda invoice: invoice.id,
    )
    complete = []
    for invoice in invoices:
        if not invoice.lines_complete:
            lines = await run.pages(
                f"listing the lines of {invoice.id}",
                functools.partial(_lines_page, run, invoice.id),
                lambda line: line.id,
            )
            invoice = replace(invoice, lines=tuple(lines), lines_complete=True)
        complete.append(invoice)
    return complete


async def _lines_page(run: _Run, invoice_id: str, after: str | None) -> Page[LineRecord]:
    return await run.gateway.list_invoice_lines(
        invoice_id, limit=run.page_size, starting_after=after
    )


async def _resolve_prices(
    run: _Run, items: Sequence[ItemRecord], invoices: Sequence[InvoiceRecord]
) -> None:
    """Every price the subscription names: the local catalog first (it has tiers, which Stripe
    embeds only when expanded), else the price embedded in the subscription, else Stripe."""
    embedded = {item.price.id: item.price for item in items}
    wanted = list(embedded)
    wanted += [line.price_id for i in invoices for line in i.lines if line.price_id is not None]
    for price_id in dict.fromkeys(wanted):
        if price_id in run.prices:
            continue
        price = await storage.catalog.get_price(run.db, price_id) or embedded.get(price_id)
        if price is None:
            retrieve = functools.partial(run.gateway.retrieve_price, price_id)
            price = await run.retrying(f"retrieving {price_id}", retrieve)
        run.prices[price_id] = price


async def _import_subscription(run: _Run, listed: SubscriptionRecord) -> None:
    subscription = await _complete(run, listed)
    invoices = await _invoices(run, subscription.id)
    await _resolve_prices(run, subscription.items, invoices)
    states = backfill.reconstruct(
        subscription, invoices, prices=run.prices, make_item=mirror_item, now=run.now
    )
    async with run.db.transaction() as conn:
        history = await storage.history.load(conn, subscription_id=subscription.id)
        from_events = [
            s.point.occurred_at for s in history if not backfill.is_imported(s.point.source_id)
        ]
        wanted = backfill.fill_before(states, first_event_at=min(from_events, default=None))
        for state in wanted:
            applied = await ledger.apply_snapshot(
                conn,
                snapshot=state.snapshot,
                source_id=state.source_id,
                occurred_at=state.occurred_at,
                now=run.now,
            )
            run.summary.added += applied.added
    current = states[-1].snapshot
    summary = run.summary
    summary.subscriptions += 1
    summary.invoices += len(invoices)
    summary.customers.add(subscription.customer_id)
    summary.mrr[current.currency] = summary.mrr.get(current.currency, 0) + current.mrr()
