"""Storage: plain SQL behind a small `Database` interface, on SQLite or PostgreSQL.

Callers see three things: `read()` for a read-only connection, `transaction()` for a write
transaction that commits on success and rolls back on error, and `close()`. SQL stays portable
so both backends run the same statements: named parameters (`:name`), `ON CONFLICT`,
`RETURNING`, integer unix times, JSON stored as text. Where they differ, a statement asks
`conn.dialect` (`plugin/storage/dialect.py` holds the rest).

Import storage modules through the package (`from plugin import storage`, then
`await storage.admin_keys.create(db, ...)`) so a call site shows that it touches the database.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any, Protocol

from plugin.settings import POSTGRES_PREFIX, SQLITE_PREFIX
from plugin.storage.dialect import Dialect

Row = dict[str, Any]
Params = Mapping[str, Any]


class Connection(Protocol):
    dialect: Dialect

    async def execute(self, sql: str, params: Params | None = None) -> int:
        """Run one statement; returns the number of rows changed."""
        ...

    async def execute_script(self, sql: str) -> None:
        """Run several `;`-separated statements (migrations, written in SQLite's DDL words,
        which the PostgreSQL backend translates: `dialect.postgres_ddl`)."""
        ...

    async def fetch_one(self, sql: str, params: Params | None = None) -> Row | None: ...

    async def fetch_all(self, sql: str, params: Params | None = None) -> list[Row]: ...

    async def fetch_value(self, sql: str, params: Params | None = None) -> Any: ...

    async def table_exists(self, name: str) -> bool:
        """Catalog lookups differ per backend (sqlite_master vs information_schema)."""
        ...

    async def lock(self, name: str) -> None:
        """Serialize transactions that take the same `name`, until this one ends. A no-op on
        SQLite, where every write transaction holds the one write lock already."""
        ...


class Database(Protocol):
    dialect: Dialect

    def read(self) -> AbstractAsyncContextManager[Connection]: ...

    def transaction(self) -> AbstractAsyncContextManager[Connection]: ...

    def session(self) -> AbstractAsyncContextManager[Connection]:
        """A connection of the caller's own outside any transaction, for state that lives
        as long as the connection (PostgreSQL advisory locks: webhook claims)."""
        ...

    async def close(self) -> None: ...


class DatabaseError(Exception):
    """The database could not be opened or used; the message is one line for the operator."""


class ReadWouldWait(DatabaseError):
    """A read asked to answer at once (`fetch_one_now`) would have had to wait for a lock."""


async def connect(url: str, *, readers: int = 4) -> Database:
    if url.startswith(SQLITE_PREFIX):
        from plugin.storage.sqlite import SqliteDatabase

        return await SqliteDatabase.open(url[len(SQLITE_PREFIX) :], readers=readers)
    if url.startswith(POSTGRES_PREFIX):
        try:
            from plugin.storage.postgres import PostgresDatabase
        except ImportError:  # pragma: no cover -- asyncpg comes with the `postgres` extra
            raise DatabaseError(
                "PostgreSQL needs asyncpg: pip install 'uplift[postgres]'"
            ) from None
        return await PostgresDatabase.open(
            "postgresql://" + url[len(POSTGRES_PREFIX) :], size=readers + 6
        )
    raise DatabaseError(f"unsupported database URL scheme in {url.split(':', 1)[0]!r}")


def in_clause(name: str, values: Sequence[Any]) -> tuple[str, dict[str, Any]]:
    """`IN (...)` with named parameters: returns the SQL fragment and its parameters."""
    names = [f"{name}_{i}" for i in range(len(values))]
    return "(" + ", ".join(f":{n}" for n in names) + ")", dict(zip(names, values, strict=True))


ROWS_PER_STATEMENT = 500  # for `values_clause`: far under both databases' parameter limits
_VALUES: dict[tuple[tuple[str, ...], int], str] = {}


def values_clause(
    names: Sequence[str], rows: Sequence[Sequence[Any]]
) -> tuple[str, dict[str, Any]]:
    """`VALUES (...), (...)` for a multi-row INSERT, with named parameters: each statement is
    a hop to the database, so a batch written row by row pays one per row. `names` are the
    parameter names of a row (a name may appear twice, for one value in two columns), each
    row its values by distinct name, in first-appearance order. Write at most
    `ROWS_PER_STATEMENT` rows per statement."""
    distinct = list(dict.fromkeys(names))
    sql = _VALUES.get((tuple(names), len(rows)))
    if sql is None:
        sql = "VALUES " + ", ".join(
            "(" + ", ".join(f":{name}_{n}" for name in names) + ")" for n in range(len(rows))
        )
        if len(_VALUES) < 1024:
            _VALUES[(tuple(names), len(rows))] = sql
    params: dict[str, Any] = {}
    for n, row in enumerate(rows):
        for name, value in zip(distinct, row, strict=True):
            params[f"{name}_{n}"] = value
    return sql, params


from plugin.storage import (  # noqa: E402
    admin_keys,
    catalog,
    migrations,
    mrr,
    orders,
    quotes,
    subscriptions,
    upgrades,
)

__all__ = [
    "ROWS_PER_STATEMENT",
    "Connection",
    "Database",
    "DatabaseError",
    "Dialect",
    "Params",
    "Row",
    "admin_keys",
    "catalog",
    "connect",
    "in_clause",
    "migrations",
    "mrr",
    "orders",
    "quotes",
    "subscriptions",
    "upgrades",
    "values_clause",
]
