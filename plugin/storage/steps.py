"""A write written once as steps, run where it is cheapest (issue 24).

A storage operation that is a write transaction's whole work is a generator of SQL statements:
it yields `Execute` (sent back: the number of rows changed) or `FetchAll` (sent back: the
rows), decides between them in plain Python, and returns its result. The same generator runs
two ways:

- `run(conn, steps)`: each statement awaited on a `Connection`, inside any transaction (the
  PostgreSQL backend, and every caller that has a transaction of its own);
- `run_now(conn, steps)` (plugin/storage/sqlite.py): every statement at once on a
  `sqlite3.Connection`, on the thread that owns it: SQLite's writer runs a batch of writes as
  one transaction in one hop from the event loop (`SqliteDatabase.write`).

So a generator must be pure apart from its statements: no awaiting, no event loop, nothing
shared that another thread could see half-done. It may raise (its writes are rolled back).
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass
from typing import Any, TypeVar

from plugin.storage.database import Connection, Params

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Execute:
    sql: str
    params: Params


@dataclass(frozen=True, slots=True)
class FetchAll:
    sql: str
    params: Params


Step = Execute | FetchAll
Steps = Generator[Step, Any, T]


async def run(conn: Connection, steps: Steps[T]) -> T:
    """Run `steps` on `conn`, each statement awaited, inside the caller's transaction."""
    answer: Any = None
    try:
        while True:
            step = steps.send(answer)
            if type(step) is Execute:
                answer = await conn.execute(step.sql, step.params)
            else:
                answer = await conn.fetch_all(step.sql, step.params)
    except StopIteration as done:
        result: T = done.value
        return result
