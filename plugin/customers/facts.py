"""The per-process cache of customers' targeting facts, and the database that keeps it current.

A customer's facts are one statement (`storage.customers.targeting_facts`), and that statement
is most of an offers request's cost, so each process keeps the facts it read (`FactsCache`),
with what was made from them (`Made`: the targeting context, for one snapshot and token) and
the offers endpoint's answers (`KeptAnswers`, plugin/customers/answers.py).

The database the process writes through (`tracked`) drops a customer's entry when one of its
transactions commits with that customer in a statement's parameters: the customer id, their
Stripe customer id or one of their subscription ids. It notes every string parameter, not only
the ones it knows to be ids: a write that names a customer in any column drops them, so no
writer has to declare whom it touches (ingest, widget events, first exposures, webhook
processing, upgrades all go through it), and a string that only looks like an id costs one
re-read. Several processes on one SQLite file (`--workers N`) also watch the file: any change
to it from any process empties the cache. With several instances on PostgreSQL there is
nothing as cheap to watch, so the facts are read every time.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

from plugin.auth import CustomerIdentity
from plugin.billing.catalog import Plan
from plugin.customers.answers import KeptAnswers
from plugin.offers.snapshot import Snapshot
from plugin.offers.targeting import CustomerContext
from plugin.storage import Connection, Database, Params, Row
from plugin.storage import customers as customer_store
from plugin.storage import offers as offer_store
from plugin.storage.dialect import Dialect
from plugin.storage.shared import Job, Shared
from plugin.storage.steps import Steps
from plugin.timespan import DAY

MAX_ENTRIES = 100_000  # customers whose facts a process keeps (a few KiB each at most)
MAX_AGE = 60.0  # seconds: a bound on staleness should a write ever slip past the tracking
CHECK_EVERY = 0.1  # seconds between looks for other processes' commits, when alone on the file
_Key = tuple[str, str | None]  # (customer id, the token's Stripe customer)
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Made:
    """The targeting context and plan made from a customer's facts, for one snapshot and one
    token identity."""

    snapshot: Snapshot
    identity: CustomerIdentity
    context: CustomerContext
    plan: Plan | None
    subscription_id: str | None
    currency: str | None


@dataclass(slots=True)
class Entry:
    facts: customer_store.TargetingFacts
    since: int  # the history cut-off it was read with
    read_at: float  # loop time
    # The offer histories made from `facts` (they do not depend on the time, only the last
    # 24 hours' impressions do), made on first use.
    state: offer_store.CustomerOfferState | None = None
    impressions: tuple[int, ...] = ()
    # What was last made from `facts` (it depends on nothing else but the snapshot and the
    # identity's claims): a customer's next request reuses it.
    made: Made | None = None
    # The offers endpoint's answers made from this entry for `made` (emptied when it is
    # remade). See `CustomerView.answers`.
    answers: KeptAnswers = dataclasses.field(default_factory=KeptAnswers)

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
        self._entries: dict[_Key, Entry] = {}
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

    def get(self, key: _Key, *, now: float) -> Entry | None:
        entry = self.peek(key, now=now)
        if entry is None:
            self.misses += 1
        else:
            self.hits += 1
        return entry

    def peek(self, key: _Key, *, now: float) -> Entry | None:
        """`get`, without counting a hit or a miss."""
        if not self.enabled:
            return None
        self.look(now=now)
        entry = self._entries.get(key)
        if entry is not None and now - entry.read_at > MAX_AGE:
            return None
        return entry

    def look(self, *, now: float) -> None:
        """Notice other processes' commits to the file (at most every `CHECK_EVERY`, unless
        shared). Alone on the file, a look is skipped while an own transaction is open: it
        holds the write lock (nobody else can commit), and its own half-done changes to the
        marker would empty the whole cache; its end drops what it touched and takes the
        marker."""
        if self._marker is not None and (
            self._shared or (not self._open and now - self._checked_at >= CHECK_EVERY)
        ):
            self._checked_at = now
            self.notice_other_writers()

    def put(self, key: _Key, entry: Entry, *, read: set[str]) -> None:
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


def _noting(steps: Steps[T], names: set[str]) -> Steps[T]:
    """`steps`, noting every string parameter of their statements in `names` (on whichever
    thread runs them; `names` is read after they have finished)."""
    answer: Any = None
    try:
        while True:
            step = steps.send(answer)
            names.update(v for v in step.params.values() if type(v) is str)
            answer = yield step
    except StopIteration as done:
        result: T = done.value
        return result


def _tracking(job: Job[T], names: set[str]) -> Job[T]:
    """`job`, given a database whose connections note every string parameter in `names`."""

    async def tracked(db: Database) -> T:
        return await job(_TrackingView(db, names))

    return tracked


class _TrackingView:
    """A batch's database (`Database.shared`) whose connections note what they touch."""

    def __init__(self, db: Database, names: set[str]) -> None:
        self._db = db
        self._names = names
        self.dialect: Dialect = db.dialect

    @asynccontextmanager
    async def read(self) -> AsyncIterator[Any]:
        async with self._db.read() as conn:
            yield _TrackingConnection(conn, self._names)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Any]:
        async with self._db.transaction() as conn:
            yield _TrackingConnection(conn, self._names)

    @asynccontextmanager
    async def session(self) -> AsyncIterator[Any]:
        async with self._db.session() as conn:
            yield _TrackingConnection(conn, self._names)

    async def write(self, steps: Steps[T]) -> T:
        return await self._db.write(_noting(steps, self._names))

    async def shared(
        self, jobs: Sequence[Job[T]], *, yield_to: Callable[[], bool] | None = None
    ) -> Shared[T]:
        return await self._db.shared(
            [_tracking(job, self._names) for job in jobs], yield_to=yield_to
        )

    async def close(self) -> None:
        await self._db.close()


_EVERYTHING = "\x00everything"
EVERYTHING = _EVERYTHING  # among the names a read was told of: everything may have changed


class TrackedDatabase:
    """The process's `Database`, with the facts cache its own write transactions keep
    current. Reads and everything else pass straight through."""

    def __init__(self, db: Database, cache: FactsCache) -> None:
        self._db = db
        self.facts = cache
        before_write = getattr(db, "before_write", None)
        if before_write is not None and cache.enabled:
            # A shared write transaction notices other processes' commits as `transaction`
            # does, with the write lock held.
            before_write(cache.notice_other_writers)

    def read(self) -> Any:
        return self._db.read()

    async def write(self, steps: Steps[T]) -> T:
        """`Database.write`, dropping the customers its statements named once it committed
        (as `transaction` does)."""
        names: set[str] = set()
        self.facts.opened()
        try:
            return await self._db.write(_noting(steps, names))
        finally:
            self.facts.closed()
            self._ended(names)

    async def shared(
        self, jobs: Sequence[Job[T]], *, yield_to: Callable[[], bool] | None = None
    ) -> Shared[T]:
        """`Database.shared`, dropping the customers the jobs' statements named once the
        batch committed (as `write` does)."""
        names: set[str] = set()
        self.facts.opened()
        try:
            return await self._db.shared([_tracking(job, names) for job in jobs], yield_to=yield_to)
        finally:
            self.facts.closed()
            self._ended(names)

    def _ended(self, names: set[str]) -> None:
        """A write transaction ended (committed or not: a failed COMMIT may still have
        landed): forget the customers it named."""
        if _EVERYTHING in names:
            self.facts.clear()
        elif names:
            self.facts.drop(names)
        self.facts.after_own_commit()

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
            self._ended(names)

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


async def read(
    db: Database, identity: CustomerIdentity, since: int
) -> tuple[customer_store.TargetingFacts, Entry | None]:
    """The customer's facts (history since `since`), and the cache entry they came from or
    went into (if any)."""
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
    entry = Entry(facts, since, loop_time)
    cache.put(key, entry, read=read)
    return facts, entry


def _trimmed(entry: Entry, since: int) -> customer_store.TargetingFacts:
    """The cached facts as a read at `since` would return them: history before the cut-off
    drops out (declines and accepts are kept forever, as the statement keeps them)."""
    facts = entry.facts
    if entry.since == since or not facts.events or facts.events[0][2] >= since:
        return facts
    events = [e for e in facts.events if e[2] >= since or e[1] in ("decline", "accept")]
    return dataclasses.replace(facts, events=events)
