"""PostgreSQL, for several Uplift processes on several hosts sharing one database.

- One asyncpg pool per process. `read()` lends a connection in autocommit (each statement sees
  what was committed when it started, as SQLite's readers do); `transaction()` lends one inside
  a READ COMMITTED transaction that commits on success and rolls back on error.
- READ COMMITTED, not SERIALIZABLE: every place where the SQLite code leaned on `BEGIN
  IMMEDIATE` serializing writers is decided by a constraint instead (first arm wins by PRIMARY
  KEY, one upgrade per quote by UNIQUE (quote_id), one event row per Stripe id), or takes an
  explicit lock (`lock()`: migrations, the admin audit sequence), or, for webhook claims, a
  session advisory lock per event (plugin/storage/stripe_events.py) that dies with the process
  holding it.
- Statements keep their `:name` parameters; `dialect.positional` rewrites each text once.
- `numeric` results (`sum()` of BIGINT, `avg()`) come back as int when whole and float
  otherwise, as SQLite returns them; JSON stays text.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any, TypeVar
from urllib.parse import urlsplit

import asyncpg  # type: ignore[import-untyped]  # noqa: TID251 -- storage is where SQL lives

from plugin.errors import UnstorableText
from plugin.storage.database import DatabaseError, Params, Row
from plugin.storage.dialect import Dialect, positional, postgres_ddl
from plugin.storage.shared import Job, Shared, run_jobs
from plugin.storage.steps import Steps, run

T = TypeVar("T")

_NAMED = 0x55504E  # advisory-lock space for `lock(name)`; webhook claims use others


def _numeric(text: str) -> int | float:
    if "." in text or "e" in text.lower() or "n" in text.lower():  # NaN, Infinity
        return float(text)
    return int(text)


def _args(names: tuple[str, ...], params: Params | None) -> list[Any]:
    if not names:
        return []
    if params is None:
        raise DatabaseError(f"statement needs parameters {names} but got none")
    values = [params[name] for name in names]
    for value in values:
        if isinstance(value, str) and "\x00" in value:
            # PostgreSQL's `text` cannot hold NUL (SQLite's can), and the driver's own error for it
            # would surface as a 500: refused before the statement is sent, so the transaction
            # rolls back and bad input stores nothing.
            raise UnstorableText(
                "Text may not contain the NUL character (U+0000).", code="invalid_character"
            )
    return values


def _count(status: str) -> int:
    """Rows changed, from a command tag such as `UPDATE 3` or `INSERT 0 1`."""
    last = status.rsplit(" ", 1)[-1]
    return int(last) if last.isdigit() else 0


class PostgresConnection:
    dialect: Dialect = "postgresql"

    def __init__(self, raw: asyncpg.Connection) -> None:
        self._raw = raw

    async def execute(self, sql: str, params: Params | None = None) -> int:
        text, names = positional(sql)
        return _count(await self._raw.execute(text, *_args(names, params)))

    async def execute_script(self, sql: str) -> None:
        # Without arguments asyncpg uses the simple query protocol, which takes several
        # statements at once, inside the caller's transaction.
        await self._raw.execute(postgres_ddl(sql))

    async def fetch_one(self, sql: str, params: Params | None = None) -> Row | None:
        text, names = positional(sql)
        row = await self._raw.fetchrow(text, *_args(names, params))
        return dict(row) if row is not None else None

    async def fetch_all(self, sql: str, params: Params | None = None) -> list[Row]:
        text, names = positional(sql)
        return [dict(row) for row in await self._raw.fetch(text, *_args(names, params))]

    async def fetch_value(self, sql: str, params: Params | None = None) -> Any:
        text, names = positional(sql)
        return await self._raw.fetchval(text, *_args(names, params))

    async def table_exists(self, name: str) -> bool:
        found = await self._raw.fetchval("SELECT to_regclass($1) IS NOT NULL", name)
        return bool(found)

    async def lock(self, name: str) -> None:
        """Hold a lock on `name` until this transaction ends (no-op on SQLite, whose writers
        are serialized already)."""
        await self._raw.execute("SELECT pg_advisory_xact_lock($1, hashtext($2))", _NAMED, name)


async def _keep(raw: asyncpg.Connection) -> None:
    """What the pool runs on a connection given back, after rolling back any transaction left
    open. asyncpg's default also unlistens, closes cursors, resets settings and frees advisory
    locks: one more round trip per `read()` or `transaction()`, which on the offers endpoint
    cost as much as the query. Only `session()` leaves state behind, and frees it itself."""


async def _setup(raw: asyncpg.Connection) -> None:
    await raw.set_type_codec(
        "numeric", encoder=str, decoder=_numeric, schema="pg_catalog", format="text"
    )


class PostgresDatabase:
    dialect: Dialect = "postgresql"

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    @classmethod
    async def open(cls, dsn: str, *, size: int = 10) -> PostgresDatabase:
        try:
            pool = await asyncpg.create_pool(
                dsn,
                min_size=1,
                max_size=max(2, size),
                init=_setup,
                reset=_keep,
                command_timeout=60,
            )
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            parts = urlsplit(dsn)  # never the password
            where = f"{parts.hostname}:{parts.port or 5432}{parts.path}"
            raise DatabaseError(f"cannot open PostgreSQL database at {where}: {exc}") from None
        return cls(pool)

    @asynccontextmanager
    async def read(self) -> AsyncIterator[PostgresConnection]:
        async with self._pool.acquire() as raw:
            yield PostgresConnection(raw)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[PostgresConnection]:
        async with self._pool.acquire() as raw, raw.transaction():
            yield PostgresConnection(raw)

    async def write(self, steps: Steps[T]) -> T:
        """Run `steps` in a transaction of their own (PostgreSQL commits concurrent
        transactions together by itself)."""
        async with self.transaction() as conn:
            return await run(conn, steps)

    async def shared(
        self, jobs: Sequence[Job[T]], *, yield_to: Callable[[], bool] | None = None
    ) -> Shared[T]:
        """Run `jobs` in order in one transaction (plugin/storage/shared.py)."""
        async with self.transaction() as conn:
            return await run_jobs(conn, jobs, yield_to=yield_to)

    @asynccontextmanager
    async def session(self) -> AsyncIterator[PostgresConnection]:
        """A connection of the caller's own, in autocommit, for session state (advisory locks):
        when the process dies, its connection closes and the server frees what it held."""
        async with self._pool.acquire() as raw:
            try:
                yield PostgresConnection(raw)
            finally:
                try:
                    await raw.execute("SELECT pg_advisory_unlock_all()")
                except BaseException:
                    # Locks that could not be freed must not go back to the pool with the
                    # connection: closing it frees them on the server.
                    raw.terminate()
                    raise

    async def close(self) -> None:
        await self._pool.close()
