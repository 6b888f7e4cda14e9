"""The in-memory picture of active offers and the plan ladder that every offers request uses.

Reading 50 offers from SQLite and rebuilding them per request would cost more than evaluating
them, so each process keeps a snapshot and reloads it only when the configuration changed. Every
admin change writes an audit row in the same transaction, so the audit log's last `seq` is a
version that covers offers and plans alike, and reading it is one lookup on the rowid.

A process reloads (a) at once after its own admin changes (`invalidate`), and (b) when the
version moved, checked at most every `poll_seconds`, so a change made through another process
(several `--workers`) is live within that delay.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from plugin.billing.catalog import Plan, Price
from plugin.offers.model import Offer
from plugin.offers.relevance import Ladder
from plugin.storage import Database
from plugin.storage import audit as audit_store
from plugin.storage import catalog as catalog_store
from plugin.storage import offers as offer_store
from plugin.storage import plans as plan_store

POLL_SECONDS = 1.0


@dataclass(frozen=True, slots=True)
class Snapshot:
    version: int
    offers: tuple[Offer, ...]
    plans: tuple[Plan, ...]
    plan_by_price: dict[str, Plan] = field(default_factory=dict)
    prices: dict[str, Price] = field(default_factory=dict)  # the catalog, for display prices
    # placement -> the active offers placed there, in `offers` order (built once per reload:
    # most offers are not at the placement asked for, and need not be looked at)
    by_placement: dict[str, tuple[Offer, ...]] = field(init=False, repr=False, compare=False)
    # Answers worked out from this snapshot alone, by whoever needs them (the offers endpoint
    # keeps the offers relevant to each plan there); they go when the snapshot is replaced.
    memo: dict[object, object] = field(init=False, repr=False, compare=False)
    # What plugin.offers.relevance reads: the prices, and the ladder by price and by id.
    ladder: Ladder = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        placed: dict[str, list[Offer]] = {}
        for offer in self.offers:
            if offer.status == "active":
                for placement in dict.fromkeys(offer.placements):
                    placed.setdefault(placement, []).append(offer)
        object.__setattr__(self, "by_placement", {k: tuple(v) for k, v in placed.items()})
        object.__setattr__(self, "memo", {})
        ladder = Ladder(self.prices, self.plan_by_price, {plan.id: plan for plan in self.plans})
        object.__setattr__(self, "ladder", ladder)

    def offer(self, offer_id: str) -> Offer | None:
        return next((o for o in self.offers if o.id == offer_id), None)

    def at(self, placement: str | None) -> tuple[Offer, ...]:
        """The offers that can show at `placement` (every offer when None); inactive ones and
        other placements' offers could only ever be reasons, never shown."""
        if placement is None:
            return self.offers
        return self.by_placement.get(placement, ())


class OfferSnapshot:
    """The current snapshot, reloaded when the configuration version moves.

    No request waits for another: when the version is due for a look, the one request that
    noticed reads it (and reloads if it moved) while every other request keeps the snapshot
    in hand. The version check used to sit behind an `asyncio.Lock` that every request took
    once the poll interval had passed; under load each waiter was woken one event-loop turn
    after the previous one, so once a second every in-flight request queued behind the check
    for up to a third of a second (the offers benchmark's p99). Only with no snapshot at all
    (the first request, or after this process's own admin change) do requests wait, on one
    shared load."""

    def __init__(self, db: Database, *, poll_seconds: float = POLL_SECONDS) -> None:
        self._db = db
        self._poll = poll_seconds
        self._current: Snapshot | None = None
        self._checked_at = float("-inf")
        self._checking = False
        self._loading: asyncio.Future[Snapshot] | None = None
        self._generation = 0  # bumped by `invalidate`: a look begun before it is not kept

    def invalidate(self) -> None:
        self._current = None
        self._loading = None
        self._generation += 1

    async def get(self) -> Snapshot:
        current = self._current
        if current is None:
            return await self._load_shared()
        loop_time = asyncio.get_running_loop().time()
        if self._checking or loop_time - self._checked_at < self._poll:
            return current
        self._checking, self._checked_at = True, loop_time
        generation = self._generation
        try:
            version = audit_store.latest_seq_now(self._db)
            if version is None:
                async with self._db.read() as conn:
                    version = await audit_store.latest_seq(conn)
            if version != current.version:
                current = await self._load(version)
                if generation == self._generation:
                    self._current = current
        finally:
            self._checking = False
        return current

    async def _load_shared(self) -> Snapshot:
        loading = self._loading
        if loading is None:
            loading = self._loading = asyncio.ensure_future(self._first_load())
        # shielded: a caller that goes away must not cancel the load the others wait for
        return await asyncio.shield(loading)

    async def _first_load(self) -> Snapshot:
        generation = self._generation
        try:
            loop_time = asyncio.get_running_loop().time()
            async with self._db.read() as conn:
                version = await audit_store.latest_seq(conn)
            snapshot = await self._load(version)
            if generation == self._generation:
                self._current, self._checked_at = snapshot, loop_time
            return snapshot
        finally:
            if generation == self._generation:
                self._loading = None

    async def _load(self, version: int) -> Snapshot:
        async with self._db.read() as conn:
            offers = await offer_store.active(conn)
            plans = await plan_store.list_all(conn)
        # Prices change through webhooks, not admin changes; they are re-read with every
        # reload (the catalog is small).
        prices = await catalog_store.list_prices(self._db)
        return Snapshot(
            version=version,
            offers=tuple(offers),
            plans=tuple(plans),
            plan_by_price={price: p for p in plans for price in p.prices},
            prices={p.id: p for p in prices},
        )
