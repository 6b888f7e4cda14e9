"""Migrations apply in order, once, and are recorded."""

from __future__ import annotations

import asyncio

from plugin import storage
from tests.support import NOW


async def test_migrations_apply_once_and_are_recorded(empty_database_url: str) -> None:
    """A second run applies nothing; every file is recorded with its version and time."""
    db = await storage.connect(empty_database_url)
    try:
        assert [m.version for m in await storage.migrations.pending(db)] == [
            m.version for m in storage.migrations.available()
        ]
        first = await storage.migrations.apply(db, now=NOW)
        second = await storage.migrations.apply(db, now=NOW + 60)
        assert [m.version for m in first] == [m.version for m in storage.migrations.available()]
        assert second == []
        assert await storage.migrations.pending(db) == []
        async with db.read() as conn:
            rows = await conn.fetch_all("SELECT version, applied_at FROM schema_migrations")
        assert rows == [{"version": m.version, "applied_at": NOW} for m in first]
    finally:
        await db.close()


async def test_concurrent_migrators_apply_each_migration_once(empty_database_url: str) -> None:
    """Workers starting together (one database handle each) never apply a migration twice."""
    handles = [await storage.connect(empty_database_url) for _ in range(3)]
    try:
        results = await asyncio.gather(*(storage.migrations.apply(db, now=NOW) for db in handles))
        applied = sorted(m.version for result in results for m in result)
        assert applied == [m.version for m in storage.migrations.available()]
    finally:
        for db in handles:
            await db.close()


def test_migration_files_are_numbered_without_gaps() -> None:
    """Files are 0001_…, 0002_…: the order is the file name, and none is skipped."""
    versions = [m.version for m in storage.migrations.available()]
    assert versions == list(range(1, len(versions) + 1))
