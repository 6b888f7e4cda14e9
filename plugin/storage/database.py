"""The `Database` interface every backend implements, its errors, and the helpers
that build portable SQL fragments. The package's `__init__` re-exports all of it."""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from plugin.errors import UpliftError
from plugin.storage.dialect import Dialect

if TYPE_CHECKING:
    from plugin.storage.shared import Job, Shared
    from plugin.storage.steps import Steps

T = TypeVar("T")

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

    async def write(self, steps: Steps[T]) -> T:
        """Run `steps` (plugin/storage/steps.py) as a write transaction of their own and
        return their result once it has committed. SQLite shares one transaction among the
        writes queued at the same moment; a write that raises is rolled back alone."""
        ...

    async def shared(
        self, jobs: Sequence[Job[T]], *, yield_to: Callable[[], bool] | None = None
    ) -> Shared[T]:
        """Run `jobs` in order in one write transaction, each in a SAVEPOINT, until one
        raises or `yield_to()` asks for the write lock; commit the ones done
        (plugin/storage/shared.py)."""
        ...

    def session(self) -> AbstractAsyncContextManager[Connection]:
        """A connection of the caller's own outside any transaction, for state that lives
        as long as the connection (PostgreSQL advisory locks: webhook claims)."""
        ...

    async def close(self) -> None: ...


class DatabaseError(UpliftError):
    """The database could not be opened or used; the message is one line for the operator.
    No request ends with it on purpose: at the HTTP edge it is an internal error."""

    default_code = "database_error"


class ReadWouldWait(DatabaseError):
    """A read asked to answer at once (`fetch_one_now`) would have had to wait for a lock."""


def in_clause(name: str, values: Sequence[Any]) -> tuple[str, dict[str, Any]]:
    """`IN (...)` with named parameters: returns the SQL fragment and its parameters."""
    names = [f"{name}_{i}" for i in range(len(values))]
    return "(" + ", ".join(f":{n}" for n in names) + ")", dict(zip(names, values, strict=True))


ROWS_PER_STATEMENT = 500  # for `values_clause`: far under both databases' parameter limits


def values_clause(
    names: Sequence[str], rows: Sequence[Sequence[Any]]
) -> tuple[str, dict[str, Any]]:
    """`VALUES (...), (...)` for a multi-row INSERT, with named parameters: each statement is
    a hop to the database, so a batch written row by row pays one per row. `names` are the
    parameter names of a row (a name may appear twice, for one value in two columns), each
    row its values by distinct name, in first-appearance order. Write at most
    `ROWS_PER_STATEMENT` rows per statement."""
    distinct = list(dict.fromkeys(names))
    sql = _values_sql(tuple(names), len(rows))
    params: dict[str, Any] = {}
    for n, row in enumerate(rows):
        for name, value in zip(distinct, row, strict=True):
            params[f"{name}_{n}"] = value
    return sql, params


@functools.lru_cache(maxsize=1024)
def _values_sql(names: tuple[str, ...], count: int) -> str:
    """The text of `values_clause`, a pure function of the row shape (a memo, not state)."""
    return "VALUES " + ", ".join(
        "(" + ", ".join(f":{name}_{n}" for name in names) + ")" for n in range(count)
    )
