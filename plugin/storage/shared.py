"""Jobs that share one write transaction, in order (`Database.shared`; issue 24).

A job is an async function of a `Database`: the one it is given (`Within`) is bound to the
shared transaction, so its `read()` sees what the jobs before it wrote, its `transaction()`
and `write()` are SAVEPOINTs inside, and nothing it does commits on its own. The batch runs
the jobs one after another, each in a SAVEPOINT of its own, and stops at the first that
raises: that job is rolled back, the ones before it commit together, the rest are not run.
The caller learns how far it got (`Shared`) and runs the stopped job (and what follows) as it
would have alone. So a batch leaves the state that one job at a time would. A batch may also
end early, between two jobs, when `yield_to()` says someone else needs the write lock: the
jobs done so far commit, and the caller runs the rest in another batch.

On SQLite the whole batch runs on the writer's thread, away from the event loop, each job's
coroutine driven to its end without the loop (`drive`): its statements are SQLite calls made
then and there. A job that would wait for anything else (a Stripe call, a timer) stops the
batch like an error (`WouldWait`), and runs again alone, on the loop. On PostgreSQL the jobs
are awaited in one transaction on one pooled connection.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from plugin.storage.dialect import Dialect

if TYPE_CHECKING:
    from plugin.storage.database import Connection, Database
    from plugin.storage.steps import Steps

T = TypeVar("T")

Job = Callable[["Database"], Awaitable[T]]


@dataclass(frozen=True, slots=True)
class Shared(Generic[T]):
    """How far a batch got: the results of the jobs that committed (a prefix of the jobs, in
    order), and the error of the job that stopped it (None: every job ran)."""

    done: list[T]
    stopped_by: Exception | None


class WouldWait(Exception):
    """A job run off the event loop awaited something other than the database."""


def drive(job: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine that never suspends to its end, here, without an event loop: every
    `await` inside it is a database call that answers at once (the connection's methods are
    coroutines that return without waiting). One that suspends is closed, and `WouldWait`."""
    try:
        job.send(None)
    except StopIteration as done:
        result: T = done.value
        return result
    job.close()
    raise WouldWait("the job awaited something other than the database")


class Within:
    """A `Database` bound to a connection inside a write transaction it does not own."""

    def __init__(self, conn: Connection, *, spare: str = "uplift_job") -> None:
        self._conn = conn
        self._depth = 0
        self._name = spare
        self.dialect: Dialect = conn.dialect

    @asynccontextmanager
    async def read(self) -> AsyncIterator[Connection]:
        yield self._conn

    @asynccontextmanager
    async def session(self) -> AsyncIterator[Connection]:
        yield self._conn

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Connection]:
        """A SAVEPOINT: rolled back alone if its block raises, kept (until the batch
        commits) if not."""
        self._depth += 1
        name = f"{self._name}_{self._depth}"
        await self._conn.execute(f"SAVEPOINT {name}")
        try:
            yield self._conn
        except BaseException:
            await self._conn.execute(f"ROLLBACK TO {name}")
            await self._conn.execute(f"RELEASE {name}")
            raise
        finally:
            self._depth -= 1
        await self._conn.execute(f"RELEASE {name}")

    async def write(self, steps: Steps[T]) -> T:
        from plugin.storage.steps import run

        async with self.transaction() as conn:
            return await run(conn, steps)

    async def shared(
        self, jobs: Sequence[Job[T]], *, yield_to: Callable[[], bool] | None = None
    ) -> Shared[T]:
        return await run_jobs(self._conn, jobs, yield_to=yield_to)

    async def close(self) -> None:
        raise RuntimeError("a batch's database is the batch's to close")


async def run_jobs(
    conn: Connection, jobs: Sequence[Job[T]], *, yield_to: Callable[[], bool] | None = None
) -> Shared[T]:
    """Run `jobs` on `conn`, inside its transaction, each in a SAVEPOINT, until one raises
    (rolled back; the rest not run) or, after the first, `yield_to()` is true. The caller
    commits."""
    done: list[T] = []
    db: Database = Within(conn)
    for job in jobs:
        if done and yield_to is not None and yield_to():
            break
        await conn.execute("SAVEPOINT uplift_batch")
        try:
            value = await job(db)
        except Exception as exc:
            await conn.execute("ROLLBACK TO uplift_batch")
            await conn.execute("RELEASE uplift_batch")
            return Shared(done, exc)
        await conn.execute("RELEASE uplift_batch")
        done.append(value)
    return Shared(done, None)
