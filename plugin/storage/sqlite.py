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
"""

from __future__ import annotations

import asyncio
import sqlite3  # noqa: TID251 -- storage is where SQL lives
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiosqlite  # noqa: TID251 -- storage is where SQL lives

from plugin.storage.database import DatabaseError, Params, ReadWouldWait, Row
from plugin.storage.dialect import Dialect

BUSY_TIMEOUT_MS = 5000
# Readers map the database file into memory (up to this many bytes) instead of copying every
# page through read() into their own page cache: the metrics' scans of the ledger and the
# events cost about a quarter less CPU (bench/metrics.py). It is address space, not memory:
# the pages are the operating system's page cache, shared by every connection and process.
MMAP_BYTES = 1 << 30


class SqliteConnection:
    dialect: Dialect = "sqlite"

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

    async def table_exists(self, name: str) -> bool:
        found = await self.fetch_value(
            "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = :name",
            {"name": name},
        )
        return bool(found)

    async def lock(self, name: str) -> None:
        """Nothing to do: a write transaction holds SQLite's one write lock already."""


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
        async with self._write_lock:
            await self._raw_writer.close()
        for reader in self._raw_readers:
            await reader.close()
        if self._now is not None:
            self._now.close()
            self._now = None
