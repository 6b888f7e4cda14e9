"""SQLite behaves as a server database: durable, isolated, serialized writes."""

from __future__ import annotations

import asyncio

import pytest

from plugin import storage
from plugin.storage import Database, DatabaseError
from tests.support import NOW, sqlite_only


async def _pragma(db: Database, name: str) -> object:
    async with db.read() as conn:
        return await conn.fetch_value(f"PRAGMA {name}")


@sqlite_only
async def test_database_runs_in_wal_with_full_sync_and_foreign_keys(db: Database) -> None:
    """WAL for concurrent readers, FULL so an acknowledged write survives power loss."""
    assert await _pragma(db, "journal_mode") == "wal"
    assert await _pragma(db, "synchronous") == 2  # FULL
    assert await _pragma(db, "foreign_keys") == 1
    assert await _pragma(db, "busy_timeout") == 5000


async def test_failed_transaction_leaves_nothing(db: Database) -> None:
    """An exception inside a transaction rolls back every statement in it."""
    with pytest.raises(RuntimeError):
        async with db.transaction() as conn:
            await conn.execute(
                "INSERT INTO stripe_products (id, name, active, synced_at)"
                " VALUES ('prod_a', 'A', 1, :now)",
                {"now": NOW},
            )
            raise RuntimeError("handler failed")
    async with db.read() as conn:
        assert await conn.fetch_value("SELECT count(*) FROM stripe_products") == 0


async def test_concurrent_transactions_do_not_merge(db: Database) -> None:
    """One coroutine's rollback is never committed by another's commit (RELIABILITY rule 11)."""
    inside = asyncio.Event()

    async def doomed() -> None:
        with pytest.raises(RuntimeError):
            async with db.transaction() as conn:
                await conn.execute(
                    "INSERT INTO stripe_products (id, name, active, synced_at)"
                    " VALUES ('prod_doomed', 'Doomed', 1, :now)",
                    {"now": NOW},
                )
                inside.set()
                await asyncio.sleep(0.05)  # as if awaiting Stripe while holding the transaction
                raise RuntimeError("rolled back")

    async def committed() -> None:
        await inside.wait()
        async with db.transaction() as conn:
            await conn.execute(
                "INSERT INTO stripe_products (id, name, active, synced_at)"
                " VALUES ('prod_kept', 'Kept', 1, :now)",
                {"now": NOW},
            )

    await asyncio.gather(doomed(), committed())
    async with db.read() as conn:
        rows = await conn.fetch_all("SELECT id FROM stripe_products ORDER BY id")
    assert rows == [{"id": "prod_kept"}]


async def test_cancelled_transaction_rolls_back_and_releases_the_writer(db: Database) -> None:
    """A request cancelled mid-transaction leaves no row and no lock behind."""

    async def slow_write() -> None:
        async with db.transaction() as conn:
            await conn.execute(
                "INSERT INTO stripe_products (id, name, active, synced_at)"
                " VALUES ('prod_cancelled', 'C', 1, :now)",
                {"now": NOW},
            )
            await asyncio.sleep(10)

    task = asyncio.create_task(slow_write())
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    async with asyncio.timeout(5), db.transaction() as conn:
        await conn.execute("UPDATE stripe_products SET name = 'x'")
    async with db.read() as conn:
        assert await conn.fetch_value("SELECT count(*) FROM stripe_products") == 0


@sqlite_only
async def test_read_connections_refuse_writes(db: Database) -> None:
    """Writes go through `transaction()` only; a read connection is query-only."""
    async with db.read() as conn:
        with pytest.raises(Exception, match="readonly"):
            await conn.execute("DELETE FROM stripe_products")


async def test_writes_from_two_databases_on_one_file_both_land(database_url: str) -> None:
    """Two writers on one file (as with `--workers 2`) wait for each other instead of failing."""
    first = await storage.connect(database_url)
    second = await storage.connect(database_url)
    try:
        await storage.migrations.apply(first, now=NOW)

        async def write(db: Database, prefix: str) -> None:
            for i in range(25):
                async with db.transaction() as conn:
                    count = await conn.fetch_value("SELECT count(*) FROM stripe_products")
                    await conn.execute(
                        "INSERT INTO stripe_products (id, name, active, synced_at)"
                        " VALUES (:id, :name, 1, :now)",
                        {"id": f"{prefix}_{i}", "name": str(count), "now": NOW},
                    )

        await asyncio.gather(write(first, "a"), write(second, "b"))
        async with first.read() as conn:
            assert await conn.fetch_value("SELECT count(*) FROM stripe_products") == 50
    finally:
        await first.close()
        await second.close()


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("sqlite+aiosqlite:///:memory:", "needs a file path"),
        ("sqlite+aiosqlite:///does/not/exist/uplift.db", "does not exist"),
        (
            "postgresql+asyncpg://uplift:hunter2@127.0.0.1:1/uplift",
            r"cannot open PostgreSQL database at 127\.0\.0\.1:1/uplift: (?!.*hunter2)",
        ),
    ],
    ids=["memory", "missing-directory", "postgres-unreachable"],
)
async def test_unusable_database_url_fails_with_a_clear_message(url: str, message: str) -> None:
    """An unusable database is one clear error, not a traceback from deep inside the driver,
    and never with the password in it."""
    with pytest.raises(DatabaseError, match=message):
        await storage.connect(url)


@sqlite_only
async def test_scripts_may_end_with_a_comment_but_not_half_a_statement(db: Database) -> None:
    """A trailing comment is not a statement; an unterminated statement is refused, not run."""
    async with db.transaction() as conn:
        await conn.execute_script("CREATE TABLE notes (id INTEGER);\n-- more to come\n")
    async with db.read() as conn:
        assert await conn.table_exists("notes")
    with pytest.raises(DatabaseError, match="incomplete SQL statement"):
        async with db.transaction() as conn:
            await conn.execute_script("CREATE TABLE half (id INTEGER)\n")
    async with db.read() as conn:
        assert not await conn.table_exists("half")


async def test_cancellation_at_any_point_leaves_a_usable_writer(db: Database) -> None:
    """Cancel writers at every step, including while their COMMIT runs: each write is either
    fully there or not at all, and the next transaction starts cleanly (no "no transaction is
    active", no lock left behind)."""

    async def write(i: int) -> None:
        async with db.transaction() as conn:
            await conn.execute(
                "INSERT INTO stripe_products (id, name, active, synced_at)"
                " VALUES (:id, 'P', 1, :now)",
                {"id": f"prod_{i}", "now": NOW},
            )

    finished = 0
    for i in range(120):
        task = asyncio.create_task(write(i))
        for _ in range(i % 12):  # cancel after 0..11 trips round the event loop
            await asyncio.sleep(0)
        task.cancel()
        try:
            await task
            finished += 1
        except asyncio.CancelledError:
            pass
    async with asyncio.timeout(5), db.transaction() as conn:
        await conn.execute("UPDATE stripe_products SET name = 'after'")
    async with db.read() as conn:
        rows = await conn.fetch_value("SELECT count(*) FROM stripe_products")
        renamed = await conn.fetch_value(
            "SELECT count(*) FROM stripe_products WHERE name = 'after'"
        )
    assert finished <= rows <= 120  # a write cancelled during COMMIT is committed
    assert renamed == rows
