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

from plugin.catalog import Plan, Price
from plugin.offers import Offer
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

    def __post_init__(self) -> None:
        placed: dict[str, list[Offer]] = {}
        for offer in self.offers:
            if offer.status == "active":
                for placement in dict.fromkeys(offer.placements):
                    placed.setdefault(placement, []).append(offer)
        object.__setattr__(self, "by_placement", {k: tuple(v) for k, v in placed.items()})

    def offer(self, offer_id: str) -> Offer | None:
        return next((o for o in self.offers if o.id == offer_id), None)

    def at(self, placement: str | None) -> tuple[Offer, ...]:
        """The offers that can show at `placement` (every offer when None); inactive ones and
        other placements' offers could only ever be reasons, never shown."""
        if placement is None:
            return self.offers
        return self.by_placement.get(placement, ())


class OfferSnapshot:
    def __init__(self, db: Database, *, poll_seconds: float = POLL_SECONDS) -> None:
        self._db = db
        self._poll = poll_seconds
        self._current: Snapshot | None = None
        self._checked_at = float("-inf")
        self._lock = asyncio.Lock()

    def invalidate(self) -> None:
        self._current = None

    async def get(self) -> Snapshot:
        loop_time = asyncio.get_running_loop().time()
        current = self._current
        if current is not None and loop_time - self._checked_at < self._poll:
            return current
        async with self._lock:  # one reload at a time; the others wait and reuse it
            current = self._current
            if current is not None and loop_time - self._checked_at < self._poll:
                return current
            async with self._db.read() as conn:
                version = await audit_store.latest_seq(conn)
            if current is None or current.version != version:
                current = await self._load(version)
            self._current = current
            self._checked_at = loop_time
            return current

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
