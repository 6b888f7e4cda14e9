"""The database as `uplift serve` (one process) writes through it, for the facts cache's and
the population's tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from plugin import storage
from plugin.storage import Database
from tests.customers.test_facts_cache import _open, _setup
from tests.support import NOW


@pytest.fixture
async def tracked(database_url: str) -> AsyncIterator[Database]:
    """The database as `uplift serve` (one process) writes through it, set up."""
    db = await _open(database_url, shared=False)
    await storage.migrations.apply(db, now=NOW)
    await _setup(db)
    try:
        yield db
    finally:
        await db.close()
