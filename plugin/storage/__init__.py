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

from plugin.settings import POSTGRES_PREFIX, SQLITE_PREFIX
from plugin.storage import (
    admin_keys,
    catalog,
    history,
    migrations,
    mrr,
    orders,
    quotes,
    subscriptions,
    upgrades,
)
from plugin.storage.database import (
    ROWS_PER_STATEMENT,
    Connection,
    Database,
    DatabaseError,
    Params,
    ReadWouldWait,
    Row,
    in_clause,
    values_clause,
)
from plugin.storage.dialect import Dialect


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


__all__ = [
    "ROWS_PER_STATEMENT",
    "Connection",
    "Database",
    "DatabaseError",
    "Dialect",
    "Params",
    "ReadWouldWait",
    "Row",
    "admin_keys",
    "catalog",
    "connect",
    "history",
    "in_clause",
    "migrations",
    "mrr",
    "orders",
    "quotes",
    "subscriptions",
    "upgrades",
    "values_clause",
]
