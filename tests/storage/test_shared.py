"""Jobs sharing one write transaction (`Database.shared`, plugin/storage/shared.py): in order,
each seeing the ones before, committed together; a job that raises is undone alone and ends
the batch; on SQLite a job that would wait for anything but the database ends it the same
way; `yield_to` ends it between two jobs."""

from __future__ import annotations

import asyncio

import pytest

from plugin.storage import Database
from plugin.storage.shared import Job, WouldWait
from tests.support import NOW, ON_POSTGRES


class Refused(Exception):
    pass


def product(name: str, *, refuse: bool = False, sleep: bool = False) -> Job[int]:
    """A job that stores product `name` and returns how many products it saw stored."""

    async def job(db: Database) -> int:
        async with db.transaction() as conn:
            await conn.execute(
                "INSERT INTO stripe_products (id, name, active, metadata, synced_at)"
                " VALUES (:id, :id, 1, '{}', :now)",
                {"id": name, "now": NOW},
            )
        if sleep:
            await asyncio.sleep(0)
        if refuse:
            raise Refused(name)
        async with db.read() as conn:
            seen: int = await conn.fetch_value("SELECT count(*) FROM stripe_products")
        return seen

    return job


async def stored(db: Database) -> list[str]:
    async with db.read() as conn:
        rows = await conn.fetch_all("SELECT id FROM stripe_products ORDER BY id")
    return [row["id"] for row in rows]


async def test_jobs_run_in_order_see_each_other_and_commit_together(db: Database) -> None:
    outcome = await db.shared([product("p1"), product("p2"), product("p3")])
    assert outcome.done == [1, 2, 3]
    assert outcome.stopped_by is None
    assert await stored(db) == ["p1", "p2", "p3"]


async def test_a_job_that_raises_is_undone_alone_and_ends_the_batch(db: Database) -> None:
    outcome = await db.shared([product("p1"), product("p2", refuse=True), product("p3")])
    assert outcome.done == [1]
    assert isinstance(outcome.stopped_by, Refused)
    assert await stored(db) == ["p1"]  # p2's own insert rolled back, p3 never ran


async def test_a_job_that_would_wait_ends_the_batch_on_sqlite(db: Database) -> None:
    """On SQLite a job runs off the event loop: one that awaits anything but the database
    (here `asyncio.sleep`) cannot, and is undone like one that raised. On PostgreSQL the jobs
    run on the loop and may wait."""
    outcome = await db.shared([product("p1"), product("p2", sleep=True), product("p3")])
    if ON_POSTGRES:
        assert outcome.done == [1, 2, 3]
        return
    assert outcome.done == [1]
    assert isinstance(outcome.stopped_by, WouldWait)
    assert await stored(db) == ["p1"]


async def test_yield_to_ends_the_batch_between_two_jobs(db: Database) -> None:
    asked = [False, True]  # the second look says someone is waiting
    outcome = await db.shared(
        [product("p1"), product("p2"), product("p3")], yield_to=lambda: asked.pop(0)
    )
    assert outcome.done == [1, 2]
    assert outcome.stopped_by is None
    assert await stored(db) == ["p1", "p2"]


async def test_a_failed_inner_transaction_keeps_the_jobs_other_writes(db: Database) -> None:
    async def job(db: Database) -> str:
        async with db.transaction() as conn:
            await conn.execute(
                "INSERT INTO stripe_products (id, name, active, metadata, synced_at)"
                " VALUES ('kept', 'kept', 1, '{}', :now)",
                {"now": NOW},
            )
        with pytest.raises(Refused):
            async with db.transaction() as conn:
                await conn.execute(
                    "INSERT INTO stripe_products (id, name, active, metadata, synced_at)"
                    " VALUES ('undone', 'undone', 1, '{}', :now)",
                    {"now": NOW},
                )
                raise Refused
        return "ok"

    outcome = await db.shared([job])
    assert outcome.done == ["ok"]
    assert await stored(db) == ["kept"]
