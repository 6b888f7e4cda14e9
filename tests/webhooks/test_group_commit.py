"""plugin/webhooks/intake.py: concurrent deliveries share one transaction, each answered
correctly."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from typing import Any, cast

import pytest

from plugin.storage import Database
from plugin.storage import stripe_events as store
from plugin.webhooks.intake import IntakeQueue
from tests.support import NOW


def _event(n: int) -> store.NewEvent:
    return store.NewEvent(
        id=f"evt_g{n}",
        type="payout.paid",
        object_id=f"po_{n}",
        created=NOW,
        livemode=False,
        payload="{}",
        received_at=NOW,
    )


@pytest.fixture
async def intake(db: Database) -> AsyncIterator[IntakeQueue]:
    queue = IntakeQueue(db=db)
    await queue.start()
    try:
        yield queue
    finally:
        await queue.stop()


async def _count(db: Database) -> Any:
    async with db.read() as conn:
        return await conn.fetch_value("SELECT count(*) FROM webhook_events")


async def test_concurrent_deliveries_are_each_stored_once(
    intake: IntakeQueue, db: Database
) -> None:
    """Fifty deliveries at once, ten of them repeats: every answer comes after its row is
    committed, and exactly the first delivery of each id is reported as new."""
    events = [_event(n) for n in range(40)] + [_event(n) for n in range(10)]
    answers = await asyncio.gather(*(intake.store(event) for event in events))
    assert answers == [True] * 40 + [False] * 10
    assert await _count(db) == 40


async def test_a_refused_row_fails_only_its_own_delivery(intake: IntakeQueue, db: Database) -> None:
    """A row the database refuses (here a NULL type) gets the error; the deliveries that
    shared its transaction are still stored and answered."""
    bad = dataclasses.replace(_event(99), type=cast(str, None))
    results = await asyncio.gather(
        intake.store(_event(1)), intake.store(bad), intake.store(_event(2)), return_exceptions=True
    )
    assert results[0] is True
    assert results[2] is True
    assert isinstance(results[1], Exception)
    assert await _count(db) == 2


async def test_stop_commits_what_is_queued(db: Database) -> None:
    """Shutdown answers every queued delivery before the queue stops."""
    queue = IntakeQueue(db=db)
    await queue.start()
    pending = [asyncio.create_task(queue.store(_event(n))) for n in range(5)]
    await asyncio.sleep(0)  # let them queue
    await queue.stop()
    assert [await task for task in pending] == [True] * 5
    assert await _count(db) == 5


async def test_one_batch_larger_than_a_statement_reports_each_event(db: Database) -> None:
    """A batch is written a few hundred rows per statement: across the statements' seams an
    already stored id, a repeat inside the batch and new ids are each reported correctly."""
    await store.insert(db, event=_event(0))
    events = [_event(n) for n in range(1200)] + [_event(5), _event(1199)]
    answers = await store.insert_many(db, events=events)
    assert answers == [False] + [True] * 1199 + [False, False]
    assert await _count(db) == 1200
    assert await store.insert_many(db, events=[]) == []
