"""Schema migrations: `sql/NNNN_name.sql`, applied in order, each recorded once.

A released migration file is never edited; a change is a new file. Each migration runs in its
own write transaction and is re-checked inside it, so several `uplift serve` workers (or, on
PostgreSQL, several instances on several hosts) starting together apply each migration exactly
once: the second waits on the lock (SQLite's write lock; an advisory lock on PostgreSQL, taken
before even `CREATE TABLE IF NOT EXISTS`, which races with itself there), then sees it recorded.
The files are written in SQLite's DDL words; PostgreSQL's connection translates the few that
differ (`dialect.postgres_ddl`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources

from plugin.storage.database import Connection, Database, DatabaseError

_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")

_BOOKKEEPING = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version    INTEGER PRIMARY KEY,
    name       TEXT    NOT NULL,
    applied_at INTEGER NOT NULL
)
"""


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    sql: str


def available() -> list[Migration]:
    found = []
    for entry in resources.files("plugin.storage").joinpath("sql").iterdir():
        match = _NAME.match(entry.name)
        if match:
            found.append(Migration(int(match[1]), match[2], entry.read_text(encoding="utf-8")))
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    if versions != list(range(1, len(found) + 1)):
        raise DatabaseError(
            f"migration files must be numbered 0001, 0002, … without gaps: {versions}"
        )
    return found


async def _applied(conn: Connection) -> set[int]:
    if not await conn.table_exists("schema_migrations"):
        return set()
    rows = await conn.fetch_all("SELECT version FROM schema_migrations")
    return {row["version"] for row in rows}


async def pending(db: Database) -> list[Migration]:
    async with db.read() as conn:
        done = await _applied(conn)
    return [m for m in available() if m.version not in done]


async def apply(db: Database, *, now: int) -> list[Migration]:
    """Apply every pending migration; returns the ones this call applied."""
    applied = []
    for migration in available():
        async with db.transaction() as conn:
            await conn.lock("uplift.migrations")
            await conn.execute(_BOOKKEEPING)
            if migration.version in await _applied(conn):
                continue
            await conn.execute_script(migration.sql)
            await conn.execute(
                "INSERT INTO schema_migrations (version, name, applied_at)"
                " VALUES (:version, :name, :now)",
                {"version": migration.version, "name": migration.name, "now": now},
            )
        applied.append(migration)
    return applied
