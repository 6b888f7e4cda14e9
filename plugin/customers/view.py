"""A customer as targeting sees them, assembled from what Uplift stores.

Sources, in order of trust: the customer record (`PUT /api/v1/customers/{id}`), then the
token's claims (the SaaS backend signed them seconds ago) for what the record lacks; the plan
from the mirrored Stripe subscription, mapped through the admin's plan ladder; usage and
feature hits as reported; the last order from Stripe's webhooks. All of it is one statement
(`storage.customers.targeting_facts`): this runs on every offers request.

That statement is most of an offers request's cost, so each process keeps the facts it read
(`FactsCache`), and the database the process writes through (`tracked`) drops a customer's
entry when one of its transactions commits with that customer in a statement's parameters:
the customer id, their Stripe customer id or one of their subscription ids. Every writer in
the process (ingest, widget events, first exposures, webhook processing, upgrades) goes
through that database, so none has to remember the cache. Several processes on one SQLite
file (`--workers N`) also watch the file: any change to it from any process empties the
cache. With several instances on PostgreSQL there is nothing as cheap to watch, so the facts
are read every time.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from plugin.auth import CustomerIdentity
from plugin.billing.catalog import Interval, Plan
from plugin.offers.snapshot import Snapshot
from plugin.offers.targeting import CustomerContext, PlanState
from plugin.storage import Connection, Database, Params, Row
from plugin.storage import customers as customer_store
from plugin.storage import offers as offer_store
from plugin.storage.dialect import Dialect

LIVE_STATUSES = frozenset({"active", "trialing", "past_due"})
_INTERVALS: dict[str | None, Interval] = {
    "day": "day",
    "week": "week",
    "month": "month",
    "year": "year",
}


# An answer of the offers endpoint, kept (plugin/api/widget.py): (made at, good until or None,
# its body in pieces, the end of each countdown between two pieces).
KeptAnswer = tuple[int, int | None, tuple[bytes, ...], tuple[int, ...]]


@dataclass(frozen=True, slots=True)
class CustomerView:
    context: CustomerContext
    stripe_customer: str | None
    plan: Plan | None
    subscription_id: str | None
    offer_state: offer_store.CustomerOfferState
    feature_uses: dict[str, int] = dataclasses.field(default_factory=dict)  # feature -> hits
    # Where the offers endpoint may keep its answers for this customer, as they stand (None:
    # these facts are not cached). Emptied with the facts: a committed write naming the
    # customer, a new offer snapshot, another token.
    answers: dict[str | None, KeptAnswer] | None = dataclasses.field(default=None, compare=False)
    currency: str | None = None  # what the live subscription bills in


def current_plan(
    items: list[tuple[str, str, str, str | None]], snapshot: Snapshot
) -> tuple[Plan | None, Interval | None, str | None, str | None]:
    """(plan, interval, subscription id, currency) of the highest tier among live subscription
    items; the currency is the plan price's, which is the one the subscription bills in."""
    best: tuple[Plan | None, Interval | None, str | None, str | None] = (None, None, None, None)
    for subscription_id, status, price_id, interval in items:
        if status not in LIVE_STATUSES:
            continue
        plan = snapshot.plan_by_price.get(price_id)
        if plan is not None and (best[0] is None or plan.tier > best[0].tier):
            price = snapshot.prices.get(price_id)
            currency = price.currency if price is not None else None
            best = (plan, _INTERVALS.get(interval), subscription_id, currency)
    return best


# The facts cache ---------------------------------------------------------------------------

MAX_ENTRIES = 100_000  # customers whose facts a process keeps (a few KiB each at most)
MAX_AGE = 60.0  # seconds: a bound on staleness should a write ever slip past the tracking
CHECK_EVERY = 0.1  # seconds between looks for other processes' commits, when alone on the file
DAY = 86_400
_Key = tuple[str, str | None]  # (customer id, the token's Stripe customer)


@dataclass(slots=True)
class _Entry:
    facts: customer_store.TargetingFacts
    since: int  # the history cut-off it was read with
    read_at: float  # loop time
    # The offer histories made from `facts` (they do not depend on the time, only the last
    # 24 hours' impressions do), made on first use.
    state: offer_store.CustomerOfferState | None = None
    impressions: tuple[int, ...] = ()
    # The targeting context last made from `facts`, with the snapshot and token identity it
    # was made for (it depends on nothing else but the identity's claims): a customer's next
    # request reuses it.
    context: (
        tuple[Snapshot, CustomerIdentity, CustomerContext, Plan | None, str | None, str | None]
        | None
    ) = None
    # The offers endpoint's answers made from this entry for `context` (emptied when it is
    # remade), by placement. See `CustomerView.answers`.
    answers: dict[str | None, KeptAnswer] = dataclasses.field(default_factory=dict)

    def offer_state(self, now: int) -> offer_store.CustomerOfferState:
        state = self.state
        if state is None:
            facts = self.facts
            state = self.state = offer_store.summarise(facts.events, facts.assignments, now=now)
            self.impressions = tuple(at for _, kind, at in facts.events if kind == "impression")
            return state
        return offer_store.CustomerOfferState(
            histories=state.histories,
            recent_impressions=tuple(t for t in self.impressions if now - DAY < t <= now),
            assignments=state.assignments,
        )


class FactsCache:
    """Targeting facts by customer, dropped when a committed write names the customer."""

    def __init__(
        self, *, watch: str | None = None, shared: bool = False, enabled: bool = True
    ) -> None:
        self._entries: dict[_Key, _Entry] = {}
        self._index: dict[str, set[_Key]] = {}  # customer/Stripe/subscription id -> keys
        # Reads in flight, each with the names dropped (or _EVERYTHING cleared) since it began:
        # a read that overlapped a commit naming its customer is not kept, others are. (One
        # counter for every drop used to refuse nearly every read while first exposures were
        # being written, and the cache never filled under load.)
        self._reading: list[set[str]] = []
        self._open = 0  # this process's write transactions begun and not yet ended
        # the SQLite file whose commits, from any process, to notice
        self._marker = _CommitMarker(watch) if watch else None
        self._shared = shared
        self._seen: bytes | None = None
        self._checked_at = float("-inf")
        self.enabled = enabled
        self.hits = 0
        self.misses = 0

    def begin_read(self) -> set[str]:
        """Note a read about to start; pass what this returns to `put` (or `abandon`)."""
        dropped: set[str] = set()
        self._reading.append(dropped)
        return dropped

    def abandon(self, read: set[str]) -> None:
        with contextlib.suppress(ValueError):
            self._reading.remove(read)

    def get(self, key: _Key, *, now: float) -> _Entry | None:
        entry = self.peek(key, now=now)
        if entry is None:
            self.misses += 1
        else:
            self.hits += 1
        return entry

    def peek(self, key: _Key, *, now: float) -> _Entry | None:
        """`get`, without counting a hit or a miss."""
        if not self.enabled:
            return None
        # Alone on the file, a look is skipped while an own transaction is open: it holds the
        # write lock (nobody else can commit), and its own half-done changes to the marker
        # would empty the whole cache; its end drops what it touched and takes the marker.
        if self._marker is not None and (
            self._shared or (not self._open and now - self._checked_at >= CHECK_EVERY)
        ):
            self._checked_at = now
            self.notice_other_writers()
        entry = self._entries.get(key)
        if entry is not None and now - entry.read_at > MAX_AGE:
            return None
        return entry

    def put(self, key: _Key, entry: _Entry, *, read: set[str]) -> None:
        """Keep `entry` (read since `begin_read` returned `read`) unless a write that named
        this customer committed while it was being read."""
        self.abandon(read)
        facts = entry.facts
        names = {key[0], facts.stripe_customer, key[1], *(item[0] for item in facts.items)}
        if not self.enabled or _EVERYTHING in read or not read.isdisjoint(names):
            return
        if len(self._entries) >= MAX_ENTRIES:
            self._entries.pop(next(iter(self._entries)))  # the oldest
            if len(self._index) > 4 * MAX_ENTRIES:
                self._reindex()
        self._entries[key] = entry
        for name in names:
            if name is not None:
                self._index.setdefault(name, set()).add(key)

    def drop(self, names: Iterable[str]) -> None:
        """Forget every customer any of `names` identifies (called after a commit)."""
        names = tuple(names)
        for dropped in self._reading:
            dropped.update(names)
        for name in names:
            for key in self._index.pop(name, ()):
                self._entries.pop(key, None)

    def clear(self) -> None:
        for dropped in self._reading:
            dropped.add(_EVERYTHING)
        self._entries.clear()
        self._index.clear()

    def opened(self) -> None:
        self._open += 1

    def closed(self) -> None:
        self._open -= 1

    def _reindex(self) -> None:
        self._index = {}
        for key, entry in self._entries.items():
            for name in (key[0], key[1], entry.facts.stripe_customer):
                if name is not None:
                    self._index.setdefault(name, set()).add(key)

    def notice_other_writers(self) -> None:
        """Start over if the database changed since this cache last looked."""
        current = self._marker.read() if self._marker is not None else None
        if current != self._seen:
            self._seen = current
            self.clear()

    def after_own_commit(self) -> None:
        """This process's own commit changed the marker; its entries are dropped already.
        Alone on the file, take the new marker as seen (another process's commit in the
        microseconds since is the one thing missed, and `MAX_AGE` bounds even that);
        shared, start over, as for anyone's commit."""
        if self._marker is None:
            return
        if self._shared:
            self.notice_other_writers()
        else:
            self._seen = self._marker.read()

    def close(self) -> None:
        if self._marker is not None:
            self._marker.close()


class _CommitMarker:
    """Bytes that change with every commit to the SQLite file at `path`, by any process: the
    WAL-index header at the start of `-shm` (its change counter and last frame; sqlite.org,
    "WAL-index format"), or without one the size and mtime of the WAL and the main file.

    The `-shm` file is opened once and kept open until `close`: closing a descriptor drops
    every POSIX lock this process holds on the file, SQLite's own included (its documented
    pitfall), and then another process can corrupt the database. Call `close` only after
    this process's connections to the file are closed."""

    def __init__(self, path: str) -> None:
        self._path = path
        self._fd: int | None = None

    def read(self) -> bytes:
        if self._fd is None:
            with contextlib.suppress(OSError):
                self._fd = os.open(self._path + "-shm", os.O_RDONLY)
        if self._fd is not None:
            with contextlib.suppress(OSError):
                return os.pread(self._fd, 96, 0)  # both copies of the 48-byte header
        marker = b""  # not in WAL mode (yet): the files themselves
        for path in (self._path + "-wal", self._path):
            with contextlib.suppress(OSError):
                found = os.stat(path)
                marker += f"|{found.st_ino}:{found.st_size}:{found.st_mtime_ns}".encode()
        return marker

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


class _TrackingConnection:
    """A transaction's connection that notes every string parameter of every statement."""

    def __init__(self, conn: Connection, names: set[str]) -> None:
        self._conn = conn
        self._names = names

    def _note(self, params: Params | None) -> None:
        if params:
            self._names.update(v for v in params.values() if type(v) is str)

    async def execute(self, sql: str, params: Params | None = None) -> int:
        self._note(params)
        return await self._conn.execute(sql, params)

    async def execute_script(self, sql: str) -> None:
        self._names.add(_EVERYTHING)
        await self._conn.execute_script(sql)

    async def fetch_one(self, sql: str, params: Params | None = None) -> Row | None:
        self._note(params)
        return await self._conn.fetch_one(sql, params)

    async def fetch_all(self, sql: str, params: Params | None = None) -> list[Row]:
        self._note(params)
        return await self._conn.fetch_all(sql, params)

    async def fetch_value(self, sql: str, params: Params | None = None) -> Any:
        self._note(params)
        return await self._conn.fetch_value(sql, params)

    async def table_exists(self, name: str) -> bool:
        return await self._conn.table_exists(name)

    @property
    def dialect(self) -> Dialect:
        return self._conn.dialect

    async def lock(self, name: str) -> None:
        await self._conn.lock(name)  # serializes; writes nothing

    def __getattr__(self, name: str) -> Any:
        # Anything this wrapper does not know (a backend's own method) may write: assume it
        # touched everyone.
        self._names.add(_EVERYTHING)
        return getattr(self._conn, name)


_EVERYTHING = "\x00everything"


class TrackedDatabase:
    """The process's `Database`, with the facts cache its own write transactions keep
    current. Reads and everything else pass straight through."""

    def __init__(self, db: Database, cache: FactsCache) -> None:
        self._db = db
        self.facts = cache

    def read(self) -> Any:
        return self._db.read()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Any]:
        names: set[str] = set()
        began = False
        try:
            async with self._db.transaction() as conn:
                # Holding the write lock, no other process can commit until this one has:
                # notice what they committed before, so `after_own_commit` hides nothing.
                if self.facts.enabled:
                    self.facts.notice_other_writers()
                self.facts.opened()
                began = True
                yield _TrackingConnection(conn, names)
        finally:
            if began:
                self.facts.closed()
            # Committed or not (a failed COMMIT may still have landed): drop after it ended.
            if _EVERYTHING in names:
                self.facts.clear()
            elif names:
                self.facts.drop(names)
            self.facts.after_own_commit()

    async def close(self) -> None:
        await self._db.close()
        self.facts.close()  # after: see _CommitMarker

    def __getattr__(self, name: str) -> Any:
        return getattr(self._db, name)


def tracked(db: Database, *, database_url: str, shared: bool) -> Database:
    """Wrap the process's database with a facts cache (see the module docstring). `shared`:
    other processes write to the same database too (`--workers N`, several instances)."""
    sqlite_prefix = "sqlite+aiosqlite:///"
    path = database_url[len(sqlite_prefix) :] if database_url.startswith(sqlite_prefix) else None
    path = os.path.abspath(path) if path is not None and path != ":memory:" else None
    # Without a file to watch, only a process alone on its database may cache.
    cache = FactsCache(watch=path, shared=shared, enabled=path is not None or not shared)
    wrapped: Database = TrackedDatabase(db, cache)
    return wrapped


async def _facts(
    db: Database, identity: CustomerIdentity, since: int
) -> tuple[customer_store.TargetingFacts, _Entry | None]:
    """The customer's facts, and the cache entry they came from or went into (if any)."""
    cache: FactsCache | None = getattr(db, "facts", None)
    key = (identity.customer_id, identity.stripe_customer)
    loop_time = asyncio.get_running_loop().time()
    read: set[str] | None = None
    if cache is not None:
        entry = cache.get(key, now=loop_time)
        if entry is not None and entry.since <= since:
            facts = _trimmed(entry, since)
            return facts, entry if facts is entry.facts else None
        read = cache.begin_read()
    try:
        # SQLite: on this thread, at once (see `fetch_one_now`); else through the pool.
        found = customer_store.targeting_facts_now(
            db,
            customer_id=identity.customer_id,
            token_stripe_customer=identity.stripe_customer,
            since=since,
        )
        if found is None:
            async with db.read() as conn:
                found = await customer_store.targeting_facts(
                    conn,
                    customer_id=identity.customer_id,
                    token_stripe_customer=identity.stripe_customer,
                    since=since,
                )
        facts = found
    except BaseException:
        if cache is not None and read is not None:
            cache.abandon(read)
        raise
    if cache is None or read is None:
        return facts, None
    entry = _Entry(facts, since, loop_time)
    cache.put(key, entry, read=read)
    return facts, entry


def _trimmed(entry: _Entry, since: int) -> customer_store.TargetingFacts:
    """The cached facts as a read at `since` would return them: history before the cut-off
    drops out (declines and accepts are kept forever, as the statement keeps them)."""
    facts = entry.facts
    if entry.since == since or not facts.events or facts.events[0][2] >= since:
        return facts
    events = [e for e in facts.events if e[2] >= since or e[1] in ("decline", "accept")]
    return dataclasses.replace(facts, events=events)


def _same(kept: CustomerIdentity, identity: CustomerIdentity) -> bool:
    """Whether what was made for `kept` holds for `identity`: the same customer and claims.
    Not the expiry (checked on every request before this): a SaaS that signs a fresh token
    per page view keeps its customers' contexts and answers from one view to the next."""
    return kept is identity or (
        kept.customer_id == identity.customer_id
        and kept.stripe_customer == identity.stripe_customer
        and kept.attrs == identity.attrs
    )


def kept_answers(
    db: Database, *, identity: CustomerIdentity, snapshot: Snapshot
) -> dict[str | None, KeptAnswer] | None:
    """`view(...).answers` when it can be had without reading or building anything: the
    customer's facts are cached and their answers were kept for this snapshot and token.
    The offers endpoint looks here first."""
    cache: FactsCache | None = getattr(db, "facts", None)
    if cache is None:
        return None
    key = (identity.customer_id, identity.stripe_customer)
    entry = cache.peek(key, now=asyncio.get_running_loop().time())
    made = entry.context if entry is not None else None
    if entry is None or made is None or made[0] is not snapshot or not _same(made[1], identity):
        return None
    return entry.answers


async def view(
    db: Database, *, identity: CustomerIdentity, snapshot: Snapshot, now: int
) -> CustomerView:
    facts, entry = await _facts(db, identity, now - offer_store.HISTORY_DAYS * 86_400)
    made = entry.context if entry is not None else None
    if made is not None and made[0] is snapshot and _same(made[1], identity):
        context, plan, subscription_id, currency = made[2], made[3], made[4], made[5]
    else:
        context, plan, subscription_id, currency = _context(facts, identity, snapshot)
        if entry is not None:
            entry.context = (snapshot, identity, context, plan, subscription_id, currency)
            entry.answers = {}
    if entry is not None:
        state = entry.offer_state(now)
    else:
        state = offer_store.summarise(facts.events, facts.assignments, now=now)
    return CustomerView(
        context,
        facts.stripe_customer,
        plan,
        subscription_id,
        state,
        facts.feature_uses,
        entry.answers if entry is not None else None,
        currency,
    )


def _context(
    facts: customer_store.TargetingFacts, identity: CustomerIdentity, snapshot: Snapshot
) -> tuple[CustomerContext, Plan | None, str | None, str | None]:
    record = facts.record
    attrs = {**identity.attrs, **(record.attrs if record else {})}
    signup_at = record.signup_at if record else None
    if signup_at is None and type(identity.attrs.get("signup_at")) is int:
        signup_at = identity.attrs["signup_at"]
    orders = [t for t in (record.last_order_at if record else None, facts.last_order_at) if t]
    plan, interval, subscription_id, currency = current_plan(facts.items, snapshot)
    context = CustomerContext(
        customer_id=identity.customer_id,
        plan=PlanState(
            plan=plan.id if plan else None,
            interval=interval,
            limits=plan.limits if plan else {},
        ),
        attrs=attrs,
        usage=facts.usage,
        feature_hits=facts.feature_hits,
        signup_at=signup_at,
        last_order_at=max(orders) if orders else None,
    )
    return context, plan, subscription_id, currency
