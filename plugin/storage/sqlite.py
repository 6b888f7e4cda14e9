"""SQLite, set up for a server.

- WAL, so readers never block the writer and the writer never blocks readers.
- `synchronous=FULL`: a webhook we acknowledged must survive power loss, because a 2xx tells
  Stripe to stop retrying (docs/reliability.md rule 12; ~4 k commits/s here, far above need).
- One writer connection per process, its transactions serialized by an `asyncio.Lock`.
  aiosqlite runs one thread per connection but transactions belong to the connection, not the
  coroutine: two coroutines sharing it merge their transactions, and one's ROLLBACK can be
  committed by the other's COMMIT (rule 11, reproduced there).
- Every write transaction is `BEGIN IMMEDIATE`: it takes SQLite's write lock up front, so when
  several processes (`uplift serve --workers N`) share the file, a transaction that reads
  then writes waits on `busy_timeout` instead of failing at once with "database is locked",
  which is what a DEFERRED transaction does when its read snapshot has gone stale.
- Reads run on a small pool of separate `query_only` connections.
- `write(steps)` (plugin/storage/steps.py) shares a transaction: the writes queued while one
  batch runs go together in the next, each in a SAVEPOINT of its own, all of it in one hop to
  a thread of its own (`_Batches`), and each caller is answered after the COMMIT.
"""

from __future__ import annotations

import asyncio
import functools
import sqlite3  # noqa: TID251 -- storage is where SQL lives
from collections.abc import AsyncIterator, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

import aiosqlite  # noqa: TID251 -- storage is where SQL lives

from plugin.storage.database import DatabaseError, Params, ReadWouldWait, Row
from plugin.storage.dialect import Dialect
from plugin.storage.mailbox import Mailbox
from plugin.storage.shared import Job, Shared, drive, run_jobs
from plugin.storage.steps import Execute, Steps

T = TypeVar("T")

BUSY_TIMEOUT_MS = 5000
# Readers map the database file into memory (up to this many bytes) instead of copying every
# page through read() into their own page cache: the metrics' scans of the ledger and the
# events cost about a quarter less CPU (bench/metrics.py). It is address space, not memory:
# the pages are the operating system's page cache, shared by every connection and process.
MMAP_BYTES = 1 << 30


class _SqliteCommon:
    """What both SQLite connections answer the same way, through their own `fetch_value`."""

    dialect: Dialect = "sqlite"

    async def fetch_value(self, sql: str, params: Params | None = None) -> Any:
        raise NotImplementedError

    async def table_exists(self, name: str) -> bool:
        found = await self.fetch_value(
            "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = :name",
            {"name": name},
        )
        return bool(found)

    async def lock(self, name: str) -> None:
        """Nothing to do: a write transaction holds SQLite's one write lock already."""


class SqliteConnection(_SqliteCommon):
    def __init__(self, raw: aiosqlite.Connection) -> None:
        self._raw = raw

    async def execute(self, sql: str, params: Params | None = None) -> int:
        cursor = await self._raw.execute(sql, params or {})
        count = cursor.rowcount
        await cursor.close()
        return count

    async def execute_script(self, sql: str) -> None:
        # `executescript` would COMMIT first and escape our transaction, so run statements
        # one by one; sqlite3.complete_statement knows where each one ends.
        statement = ""
        for line in sql.splitlines(keepends=True):
            statement += line
            if sqlite3.complete_statement(statement):
                await self._raw.execute(statement)
                statement = ""
        # A script may end with comments after its last statement; those are not a statement.
        rest = [
            ln for ln in statement.splitlines() if ln.strip() and not ln.strip().startswith("--")
        ]
        if rest:
            raise DatabaseError(f"incomplete SQL statement at the end of a script: {statement!r}")

    # Reads go through `execute_fetchall`: one hop to aiosqlite's thread per statement instead
    # of three (execute, fetch, close). Each hop wakes the event loop from another thread, and
    # on the offers endpoint those wake-ups, not SQLite, were most of the time per request.
    async def fetch_one(self, sql: str, params: Params | None = None) -> Row | None:
        rows = await self._raw.execute_fetchall(sql, params or {})
        for row in rows:
            return dict(row)
        return None

    async def fetch_all(self, sql: str, params: Params | None = None) -> list[Row]:
        rows = await self._raw.execute_fetchall(sql, params or {})
        return [dict(row) for row in rows]

    async def fetch_value(self, sql: str, params: Params | None = None) -> Any:
        rows = await self._raw.execute_fetchall(sql, params or {})
        for row in rows:
            return row[0]
        return None


class _NowConnection(_SqliteCommon):
    """A `Connection` over a `sqlite3.Connection`, on the thread that owns it: each method is
    a coroutine that makes its SQLite call and returns, never waiting, so a job of
    `SqliteDatabase.shared` runs to its end without the event loop (`shared.drive`)."""

    def __init__(self, raw: sqlite3.Connection) -> None:
        self._raw = raw

    async def execute(self, sql: str, params: Params | None = None) -> int:
        cursor = self._raw.execute(sql, params or {})
        count = cursor.rowcount
        cursor.close()
        return count

    async def execute_script(self, sql: str) -> None:
        raise DatabaseError("scripts (migrations) run in a transaction of their own")

    async def fetch_one(self, sql: str, params: Params | None = None) -> Row | None:
        row = self._raw.execute(sql, params or {}).fetchone()
        return dict(row) if row is not None else None

    async def fetch_all(self, sql: str, params: Params | None = None) -> list[Row]:
        return [dict(row) for row in self._raw.execute(sql, params or {}).fetchall()]

    async def fetch_value(self, sql: str, params: Params | None = None) -> Any:
        row = self._raw.execute(sql, params or {}).fetchone()
        return row[0] if row is not None else None


async def _at_once(job: Job[T], db: Any) -> T:
    """`job`, driven to its end here and now (`shared.drive`): one that would wait for
    anything but SQLite raises `WouldWait`, an error like any other to the batch."""
    return drive(job(db))  # type: ignore[arg-type]  # a Job's awaitable is a coroutine


def _check_directory(path: str) -> None:
    # SQLite's own message for this is "unable to open database file", which names nothing.
    parent = Path(path).expanduser().resolve().parent
    if not parent.is_dir():
        raise DatabaseError(f"cannot open SQLite database {path!r}: {parent} does not exist")


async def _open(path: str, *, read_only: bool) -> aiosqlite.Connection:
    try:
        raw = await aiosqlite.connect(path, isolation_level=None)
        raw.row_factory = aiosqlite.Row
        await raw.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        await raw.execute("PRAGMA foreign_keys = ON")
        await raw.execute("PRAGMA synchronous = FULL")
        if read_only:
            await raw.execute("PRAGMA query_only = ON")
            await raw.execute(f"PRAGMA mmap_size = {MMAP_BYTES}")
        else:
            cursor = await raw.execute("PRAGMA journal_mode = WAL")
            mode = await cursor.fetchone()
            if mode is None or mode[0] != "wal":
                raise DatabaseError(f"could not switch {path} to WAL mode")
    except sqlite3.Error as exc:
        raise DatabaseError(f"cannot open SQLite database {path!r}: {exc}") from None
    return raw


def run_now(conn: sqlite3.Connection, steps: Steps[T]) -> T:
    """Run `steps` on `conn` on this thread (the one that owns `conn`), inside its transaction."""
    answer: Any = None
    try:
        while True:
            step = steps.send(answer)
            cursor = conn.execute(step.sql, step.params)
            try:
                if type(step) is Execute:
                    answer = cursor.rowcount
                else:
                    answer = [_row(cursor, r) for r in cursor.fetchall()]
            finally:
                cursor.close()
    except StopIteration as done:
        result: T = done.value
        return result


def _row(cursor: sqlite3.Cursor, values: Any) -> Row:
    if isinstance(values, sqlite3.Row):
        return dict(values)
    return {column[0]: value for column, value in zip(cursor.description, values, strict=True)}


MAX_BATCH = 128  # writes one shared transaction takes at most
_Queued = tuple[Steps[Any], "asyncio.Future[Any]"]


class _Batches:
    """Writes that share a transaction (`SqliteDatabase.write`).

    Each caller queues its steps and waits. One task takes everything queued (up to
    `MAX_BATCH`), holds the database's write lock, and runs the whole batch on a thread of
    its own, on a connection of its own: BEGIN IMMEDIATE, each write between SAVEPOINT and
    RELEASE (one that raises is rolled back to its savepoint, alone), COMMIT. Then every
    caller is answered: its result, or its own error. Under load batches grow by themselves;
    alone, a write waits for nothing but its own transaction. No caller is answered before
    the COMMIT of its write, so durability is as with `transaction`; a failed COMMIT (or a
    statement after which SQLite rolled the whole transaction back) fails every write of the
    batch. A caller cancelled before its batch began is dropped; one cancelled after is
    written all the same.

    The statements skip the event loop: the lock was held across one hop per statement
    before, and with many requests in flight each hop waited its turn in a busy loop, so the
    lock, not SQLite, set the rate of writes (docs/benchmarks.md, the mix's first run)."""

    def __init__(self, path: str, lock: asyncio.Lock) -> None:
        self._path = path
        self._lock = lock
        self._queued: Mailbox[_Queued] = Mailbox()
        self._task: asyncio.Task[None] | None = None
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="uplift-writes")
        self._conn: sqlite3.Connection | None = None  # used on `_thread` only
        # Called on the event loop with the write lock held, before each batch (the facts
        # cache notices other processes' commits there: plugin/customers/facts.py).
        self.before: Callable[[], None] | None = None

    async def submit(self, steps: Steps[T]) -> T:
        loop = asyncio.get_running_loop()
        if self._task is None or self._task.done():
            self._queued.restart()
            self._task = loop.create_task(self._run(), name="uplift-sqlite-writes")
        future: asyncio.Future[T] = loop.create_future()
        self._queued.put((steps, future))
        return await future

    async def stop(self) -> None:
        """Write what is queued, then close the connection and the thread."""
        if self._task is not None:
            self._queued.stop()
            await self._task
            self._task = None
        if self._conn is not None:  # the task has ended: nothing else uses it now
            await asyncio.get_running_loop().run_in_executor(self._thread, self._close)
        self._thread.shutdown(wait=True)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while taken := await self._queued.take(MAX_BATCH):
            batch: list[_Queued] = []
            try:
                async with self._lock:
                    batch = [item for item in taken if not item[1].done()]  # still waiting
                    if not batch:
                        continue
                    if self.before is not None:
                        self.before()
                    outcomes = await _finished(
                        loop.run_in_executor(self._thread, self._transaction, batch)
                    )
            except asyncio.CancelledError:
                # The task itself cancelled (the loop closing without `stop`): no caller is
                # left waiting for ever, whether its write committed or never ran.
                for _, future in [*taken, *self._queued.take_all()]:
                    future.cancel()
                raise
            except Exception as exc:
                outcomes = [(False, exc)] * len(batch)
            for (_, future), (ok, value) in zip(batch, outcomes, strict=True):
                if future.done():
                    continue
                if ok:
                    future.set_result(value)
                else:
                    future.set_exception(value)

    def _transaction(self, batch: list[_Queued]) -> list[tuple[bool, Any]]:
        conn = self._conn
        if conn is None:
            conn = self._conn = _open_now(self._path)
        conn.execute("BEGIN IMMEDIATE")
        outcomes: list[tuple[bool, Any]] = []
        try:
            for steps, _ in batch:
                conn.execute("SAVEPOINT uplift_write")
                try:
                    value = run_now(conn, steps)
                except Exception as exc:
                    if not conn.in_transaction:  # SQLite rolled back everything: fail all
                        raise
                    conn.execute("ROLLBACK TO uplift_write")
                    conn.execute("RELEASE uplift_write")
                    outcomes.append((False, exc))
                    continue
                conn.execute("RELEASE uplift_write")
                outcomes.append((True, value))
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        return outcomes

    async def jobs(self, jobs: Sequence[Job[T]], yield_to: Callable[[], bool] | None) -> Shared[T]:
        """`SqliteDatabase.shared`: the jobs, in order, in one transaction on this thread."""
        loop = asyncio.get_running_loop()
        async with self._lock:
            if self.before is not None:
                self.before()
            return await _finished(loop.run_in_executor(self._thread, self._jobs, jobs, yield_to))

    def _jobs(self, jobs: Sequence[Job[T]], yield_to: Callable[[], bool] | None) -> Shared[T]:
        conn = self._conn
        if conn is None:
            conn = self._conn = _open_now(self._path)
        at_once: list[Job[T]] = [functools.partial(_at_once, job) for job in jobs]
        conn.execute("BEGIN IMMEDIATE")
        try:
            # `yield_to` is called on this thread: it may only read what the loop sets.
            outcome = drive(run_jobs(_NowConnection(conn), at_once, yield_to=yield_to))
            if outcome.stopped_by is not None and not conn.in_transaction:
                # SQLite rolled the whole transaction back (a full disk, say): nothing of
                # the batch committed, and the job that stopped it says why.
                return Shared([], outcome.stopped_by)
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        return outcome

    def _close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


async def _finished(step: asyncio.Future[T]) -> T:
    """`step`'s result, waited for to the end even if the caller is cancelled meanwhile (the
    write lock must not be let go while the thread still holds SQLite's), then the
    cancellation let through."""
    cancelled = False
    while not step.done():
        try:
            await asyncio.shield(step)
        except asyncio.CancelledError:
            cancelled = True
    result = step.result()
    if cancelled:
        raise asyncio.CancelledError
    return result


def _open_now(path: str) -> sqlite3.Connection:
    """The batches' own writer connection, with the pragmas of `_open`'s writer."""
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=True)
    conn.row_factory = sqlite3.Row
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    conn.execute("PRAGMA foreign_keys = ON")
    conn.execute("PRAGMA synchronous = FULL")
    return conn


class SqliteDatabase:
    dialect: Dialect = "sqlite"

    def __init__(
        self, path: str, writer: aiosqlite.Connection, readers: list[aiosqlite.Connection]
    ):
        self.path = path
        self._writer = SqliteConnection(writer)
        self._raw_writer = writer
        self._write_lock = asyncio.Lock()
        self._raw_readers = readers
        self._now: sqlite3.Connection | None = None  # fetch_one_now's, opened on first use
        self._readers: asyncio.Queue[SqliteConnection] = asyncio.Queue()
        for reader in readers:
            self._readers.put_nowait(SqliteConnection(reader))
        self._batches = _Batches(path, self._write_lock)

    def before_write(self, hook: Callable[[], None]) -> None:
        """Call `hook` on the event loop with the write lock held, before each shared write
        transaction (`write`)."""
        self._batches.before = hook

    async def write(self, steps: Steps[T]) -> T:
        """Run `steps` as a write transaction, shared with the writes queued at the same
        moment (`_Batches`); returns their result after the COMMIT."""
        return await self._batches.submit(steps)

    async def shared(
        self, jobs: Sequence[Job[T]], *, yield_to: Callable[[], bool] | None = None
    ) -> Shared[T]:
        """Run `jobs` in order in one write transaction (plugin/storage/shared.py), on the
        shared writes' thread and connection, off the event loop (where `yield_to` is
        called too: it must only read state the loop sets)."""
        return await self._batches.jobs(jobs, yield_to)

    @classmethod
    async def open(cls, path: str, *, readers: int = 4) -> SqliteDatabase:
        if path == ":memory:" or path.startswith("file:"):
            # Every connection to ":memory:" is a different database; a server needs a file.
            raise DatabaseError("SQLite needs a file path, not an in-memory or URI database")
        _check_directory(path)
        writer = await _open(path, read_only=False)
        pool = [await _open(path, read_only=True) for _ in range(max(1, readers))]
        return cls(path, writer, pool)

    def fetch_one_now(self, sql: str, params: Params) -> Row | None:
        """One read statement on the calling thread (the event loop's), for the offers
        endpoint's customer facts: a primary-key read of a few pages costs ~50 µs here, while
        the hop to a reader thread and back cost more than that in CPU and, with the loop busy,
        tens to hundreds of ms of waiting for the GIL (the cold-start tail of the offers
        benchmark). WAL readers take no lock a writer holds; should SQLite still be busy
        (recovery, another process's checkpoint), `ReadWouldWait` at once instead of blocking
        the loop, and the caller reads through the pool."""
        conn = self._now
        if conn is None:
            conn = self._now = sqlite3.connect(self.path, isolation_level=None)
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA busy_timeout = 0")
            conn.execute("PRAGMA query_only = ON")
            conn.execute(f"PRAGMA mmap_size = {MMAP_BYTES}")
        try:
            row = conn.execute(sql, params).fetchone()
        except sqlite3.OperationalError as exc:
            if "locked" in str(exc) or "busy" in str(exc):
                raise ReadWouldWait(str(exc)) from None
            raise
        return dict(row) if row is not None else None

    @asynccontextmanager
    async def read(self) -> AsyncIterator[SqliteConnection]:
        connection = await self._readers.get()
        try:
            yield connection
        finally:
            self._readers.put_nowait(connection)

    @asynccontextmanager
    async def session(self) -> AsyncIterator[SqliteConnection]:
        """SQLite has no session state worth holding; a reader will do."""
        async with self.read() as connection:
            yield connection

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[SqliteConnection]:
        async with self._write_lock:
            try:
                await self._settle("BEGIN IMMEDIATE")
            except asyncio.CancelledError:
                if self._raw_writer.in_transaction:  # it began; nobody will use it
                    await self._settle("ROLLBACK")
                raise
            try:
                yield self._writer
            except BaseException:
                if self._raw_writer.in_transaction:
                    await self._settle("ROLLBACK")
                raise
            try:
                await self._settle("COMMIT")
            except asyncio.CancelledError:
                raise  # the COMMIT finished; only the caller was cancelled meanwhile
            except BaseException:
                if self._raw_writer.in_transaction:  # e.g. SQLITE_BUSY from another process
                    await self._settle("ROLLBACK")
                raise

    async def _settle(self, sql: str) -> None:
        """Run a transaction-control statement to the end even if the caller is cancelled
        meanwhile, then let the cancellation through.

        The statement runs on aiosqlite's thread whatever happens to the awaiting task: a
        cancelled `await` of COMMIT used to release the write lock while the COMMIT was still
        running, and the cleanup's ROLLBACK then failed with "no transaction is active" on a
        transaction that had in fact committed. Waiting keeps the connection's state known
        before the lock is released.
        """
        # execute_fetchall: one hop to the database thread, and no cursor left to close.
        step = asyncio.ensure_future(self._raw_writer.execute_fetchall(sql))
        cancelled = False
        while not step.done():
            try:
                await asyncio.shield(step)
            except asyncio.CancelledError:
                if step.cancelled():  # pragma: no cover -- nothing cancels the step itself
                    raise
                cancelled = True
        step.result()  # the statement's own error, if it failed
        if cancelled:
            raise asyncio.CancelledError

    async def close(self) -> None:
        await self._batches.stop()
        async with self._write_lock:
            await self._raw_writer.close()
        for reader in self._raw_readers:
            await reader.close()
        if self._now is not None:
            self._now.close()
            self._now = None
