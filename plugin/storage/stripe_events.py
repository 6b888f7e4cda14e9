"""The event store: every verified Stripe event, once, by its id, and what became of it.

Statuses: `pending` (stored, not finished: new, being processed, or waiting for a retry),
`processed`, `ignored` (a type Uplift does not handle) and `failed` (retries exhausted; replayable).

A pending event is due when `next_attempt_at <= now`. How a worker claims one differs:

- SQLite (one host, `uplift serve --workers N`): claiming pushes `next_attempt_at` out by a
  lease, so another worker process does not pick the same event while the first is on it; a
  worker that dies mid-event leaves the lease to run out (or, on restart, `release_claims`
  makes everything pending due again at once).
- PostgreSQL (several instances): a claim is a session advisory lock on the event's `seq`,
  taken with `pg_try_advisory_lock` on a connection the worker holds (`Claims`), and the row
  is re-checked (still pending and due) after the lock is held. Another instance skips a
  locked event; when an instance dies, its connection closes and the server frees its locks,
  so another instance takes the event over at once, with no lease to wait out and no restart
  that could steal a claim from a live instance. Events of one Stripe object (the same
  `object_id`) are also locked per object, so two instances never apply updates of one
  subscription at the same time, which the per-object ordering check could not see.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Literal, cast

from plugin.storage.database import (
    ROWS_PER_STATEMENT,
    Connection,
    Database,
    Row,
    in_clause,
    values_clause,
)
from plugin.storage.steps import FetchAll, Steps

Status = Literal["pending", "processed", "ignored", "failed"]
STATUSES: tuple[Status, ...] = ("pending", "processed", "ignored", "failed")


@dataclass(frozen=True, slots=True)
class StoredEvent:
    id: str
    type: str
    object_id: str | None
    created: int
    livemode: bool
    payload: str
    status: Status
    attempts: int
    last_error: str | None
    next_attempt_at: int
    received_at: int
    processed_at: int | None


def _event(row: Row) -> StoredEvent:
    return StoredEvent(
        id=row["id"],
        type=row["type"],
        object_id=row["object_id"],
        created=row["created"],
        livemode=bool(row["livemode"]),
        payload=row["payload"],
        status=cast(Status, row["status"]),
        attempts=row["attempts"],
        last_error=row["last_error"],
        next_attempt_at=row["next_attempt_at"],
        received_at=row["received_at"],
        processed_at=row["processed_at"],
    )


@dataclass(frozen=True, slots=True)
class NewEvent:
    """A verified event, as the endpoint hands it to the store."""

    id: str
    type: str
    object_id: str | None
    created: int
    livemode: bool
    payload: str
    received_at: int


def _row(event: NewEvent) -> tuple[object, ...]:
    """The event's values in `_COLUMNS` order (`now` once: it fills two columns)."""
    return (
        event.id,
        event.type,
        event.object_id,
        event.created,
        int(event.livemode),
        event.payload,
        event.received_at,
    )


async def insert_many(db: Database, *, events: list[NewEvent]) -> list[bool]:
    """Store each event in one transaction; per event, False if its id was already stored (a
    redelivery, or the same id earlier in `events`), which changes nothing.

    The unique id decides, not a lookup first: two deliveries racing each other both get past
    an existence check (dj-stripe #1239). One statement for the whole batch (`RETURNING` the
    ids it inserted), written as steps (`Database.write`): on SQLite the whole transaction is
    one hop to the writer's thread. With a busy event loop each hop, not SQLite, was what
    bounded intake; with one delivery at a time, the hops were most of its latency."""
    if not events:
        return []
    return await db.write(_insert_steps(events))


def _insert_steps(events: list[NewEvent]) -> Steps[list[bool]]:
    inserted: set[str] = set()
    for start in range(0, len(events), ROWS_PER_STATEMENT):
        chunk = events[start : start + ROWS_PER_STATEMENT]
        values, params = values_clause(_COLUMNS, [_row(e) for e in chunk])
        rows = yield FetchAll(
            "INSERT INTO webhook_events (id, type, object_id, created, livemode, payload,"
            f" next_attempt_at, received_at) {values} ON CONFLICT (id) DO NOTHING RETURNING id",
            params,
        )
        inserted.update(row["id"] for row in rows)
    answers = []
    for event in events:
        answers.append(event.id in inserted)
        inserted.discard(event.id)  # a second copy in the same batch is a redelivery
    return answers


# The parameter names of `_row`'s values; `now` fills both next_attempt_at and received_at.
_COLUMNS = ("id", "type", "object_id", "created", "livemode", "payload", "now", "now")


async def insert(db: Database, *, event: NewEvent) -> bool:
    [stored] = await insert_many(db, events=[event])
    return stored


_DUE = """
    SELECT * FROM webhook_events
    WHERE status = 'pending' AND next_attempt_at <= :now
    ORDER BY seq LIMIT :limit
"""


async def claim_due(db: Database, *, now: int, lease: int, limit: int) -> list[StoredEvent]:
    """Take up to `limit` due events, oldest first, counting an attempt for each.

    On PostgreSQL a claim is a lock held for as long as a `claims()` block runs; taken here,
    it ends with the call (as if the claimer had died), and `lease` does not apply."""
    if db.dialect == "postgresql":
        async with claims(db) as held:
            return await held.take(now=now, lease=lease, limit=limit)
    async with db.transaction() as conn:
        rows = await conn.fetch_all(
            _DUE,
            {"now": now, "limit": limit},
        )
        if not rows:
            return []
        fragment, params = in_clause("id", [row["id"] for row in rows])
        await conn.execute(
            f"UPDATE webhook_events SET attempts = attempts + 1, next_attempt_at = :until"  # noqa: S608 -- placeholders only
            f" WHERE id IN {fragment}",
            {"until": now + lease, **params},
        )
    return [_event({**row, "attempts": row["attempts"] + 1}) for row in rows]


# PostgreSQL claims ------------------------------------------------------------------------------

# Advisory locks come in two key spaces that never meet: one bigint (here: the event's `seq`)
# and a pair of int4s (objects, under this first key; named locks use another, see
# `PostgresConnection.lock`).
_OBJECT_LOCKS = 0x55504C  # "UPL"


class Claims:
    """The events one worker holds, on its own connection (PostgreSQL) or by lease (SQLite)."""

    def __init__(self, db: Database, session: Connection | None) -> None:
        self._db = db
        self._session = session
        self._held: dict[str, tuple[int, str | None]] = {}  # event id -> (seq, object id)

    async def take(self, *, now: int, lease: int, limit: int) -> list[StoredEvent]:
        """Up to `limit` due events, oldest first, an attempt counted for each."""
        if self._session is None:
            return await claim_due(self._db, now=now, lease=lease, limit=limit)
        conn = self._session
        # More than the batch: some may be held by other instances.
        candidates = await conn.fetch_all(
            """
            SELECT seq, object_id FROM webhook_events
            WHERE status = 'pending' AND next_attempt_at <= :now
            ORDER BY seq LIMIT :limit
            """,
            {"now": now, "limit": limit * 4},
        )
        locked: list[int] = []
        for row in candidates:
            if len(locked) == limit:
                break
            if not await conn.fetch_value("SELECT pg_try_advisory_lock(:seq)", row):
                continue
            if row["object_id"] is not None and not await conn.fetch_value(
                "SELECT pg_try_advisory_lock(:space, hashtext(:object_id))",
                {"space": _OBJECT_LOCKS, "object_id": row["object_id"]},
            ):
                await conn.fetch_value("SELECT pg_advisory_unlock(:seq)", row)
                continue
            locked.append(row["seq"])
        if not locked:
            return []
        # Held now; what another instance finished meanwhile is no longer pending or due.
        rows = await conn.fetch_all(
            """
            UPDATE webhook_events SET attempts = attempts + 1
            WHERE seq = ANY(:locked) AND status = 'pending' AND next_attempt_at <= :now
            RETURNING *
            """,
            {"locked": locked, "now": now},
        )
        taken = {row["seq"] for row in rows}
        for row in candidates:
            if row["seq"] in locked and row["seq"] not in taken:
                await self._unlock(row["seq"], row["object_id"])
        for row in rows:
            self._held[row["id"]] = (row["seq"], row["object_id"])
        claimed = [_event(row) for row in sorted(rows, key=lambda r: int(r["seq"]))]
        return claimed

    async def done(self, event: StoredEvent) -> None:
        """The event reached its next state (committed); let other instances see it."""
        if self._session is None or event.id not in self._held:
            return
        seq, object_id = self._held.pop(event.id)
        await self._unlock(seq, object_id)

    async def give_back(self, events: list[StoredEvent], *, now: int) -> None:
        """Return claimed events that were not attempted (the worker is stopping)."""
        await unclaim(self._db, event_ids=[e.id for e in events], now=now)
        for event in events:
            await self.done(event)

    async def _unlock(self, seq: int, object_id: str | None) -> None:
        assert self._session is not None  # noqa: S101 -- only PostgreSQL claims lock
        await self._session.fetch_value("SELECT pg_advisory_unlock(:seq)", {"seq": seq})
        if object_id is not None:
            await self._session.fetch_value(
                "SELECT pg_advisory_unlock(:space, hashtext(:object_id))",
                {"space": _OBJECT_LOCKS, "object_id": object_id},
            )


@asynccontextmanager
async def claims(db: Database) -> AsyncIterator[Claims]:
    """A worker's claims for one run; on PostgreSQL, whatever is still held is freed at the end
    (and by the server, if the process dies first)."""
    if db.dialect == "sqlite":
        yield Claims(db, None)
        return
    async with db.session() as session:
        yield Claims(db, session)


async def unclaim(db: Database, *, event_ids: list[str], now: int) -> None:
    """Give back claimed events that were not attempted (the worker is stopping), so another
    worker process takes them now rather than when the lease runs out."""
    if not event_ids:
        return
    fragment, params = in_clause("id", event_ids)
    async with db.transaction() as conn:
        await conn.execute(
            "UPDATE webhook_events SET attempts = attempts - 1, next_attempt_at = :now"  # noqa: S608 -- placeholders only
            f" WHERE status = 'pending' AND id IN {fragment}",
            {"now": now, **params},
        )


async def finish(conn: Connection, *, event_id: str, status: Status, now: int) -> None:
    """Mark a claimed event done, inside the caller's transaction."""
    await conn.execute(
        """
        UPDATE webhook_events SET status = :status, processed_at = :now, last_error = NULL
        WHERE id = :id AND status = 'pending'
        """,
        {"id": event_id, "status": status, "now": now},
    )


async def retry_later(db: Database, *, event_id: str, error: str, at: int) -> None:
    async with db.transaction() as conn:
        await conn.execute(
            """
            UPDATE webhook_events SET last_error = :error, next_attempt_at = :at
            WHERE id = :id AND status = 'pending'
            """,
            {"id": event_id, "error": error, "at": at},
        )


async def fail(db: Database, *, event_id: str, error: str, now: int) -> None:
    async with db.transaction() as conn:
        await conn.execute(
            """
            UPDATE webhook_events SET status = 'failed', last_error = :error, processed_at = :now
            WHERE id = :id AND status = 'pending'
            """,
            {"id": event_id, "error": error, "now": now},
        )


async def release_claims(db: Database, *, now: int) -> int:
    """On start: every unfinished event is due now (a crash may have left it claimed).

    Not on PostgreSQL: there a claim is a lock the server frees when its holder dies, and
    other instances may be alive and holding events this one must not take."""
    if db.dialect == "postgresql":
        return 0
    async with db.transaction() as conn:
        return await conn.execute(
            "UPDATE webhook_events SET next_attempt_at = :now"
            " WHERE status = 'pending' AND next_attempt_at > :now",
            {"now": now},
        )


async def next_due_at(db: Database) -> int | None:
    async with db.read() as conn:
        found = await conn.fetch_value(
            "SELECT min(next_attempt_at) FROM webhook_events WHERE status = 'pending'"
        )
    return int(found) if found is not None else None


async def get(db: Database, event_id: str) -> StoredEvent | None:
    async with db.read() as conn:
        row = await conn.fetch_one("SELECT * FROM webhook_events WHERE id = :id", {"id": event_id})
    return _event(row) if row else None


async def list_events(
    db: Database, *, status: Status | None, limit: int, starting_after: str | None
) -> tuple[list[StoredEvent], bool]:
    """Newest first, Stripe-style: (page, has_more). `starting_after` must be a stored id."""
    async with db.read() as conn:
        after_seq = None
        if starting_after is not None:
            after_seq = await conn.fetch_value(
                "SELECT seq FROM webhook_events WHERE id = :id", {"id": starting_after}
            )
            if after_seq is None:
                raise KeyError(starting_after)
        rows = await conn.fetch_all(
            """
            SELECT * FROM webhook_events
            WHERE (status = :status OR :status IS NULL)
              AND (seq < :after_seq OR :after_seq IS NULL)
            ORDER BY seq DESC LIMIT :limit
            """,
            {"status": status, "after_seq": after_seq, "limit": limit + 1},
        )
    return [_event(row) for row in rows[:limit]], len(rows) > limit


async def replay(db: Database, *, event_id: str, now: int) -> StoredEvent | None:
    """Make the event due now: a finished one is processed again with a fresh retry budget, a
    pending one waiting out its backoff is retried at once. None if no such event is stored."""
    async with db.transaction() as conn:
        await conn.execute(
            """
            UPDATE webhook_events
            SET attempts = CASE WHEN status = 'pending' THEN attempts ELSE 0 END,
                status = 'pending', next_attempt_at = :now, processed_at = NULL
            WHERE id = :id
            """,
            {"id": event_id, "now": now},
        )
        row = await conn.fetch_one("SELECT * FROM webhook_events WHERE id = :id", {"id": event_id})
    return _event(row) if row else None


async def counts(db: Database) -> dict[str, int]:
    async with db.read() as conn:
        rows = await conn.fetch_all(
            "SELECT status, count(*) AS n FROM webhook_events GROUP BY status"
        )
    return {row["status"]: row["n"] for row in rows}


# Per-object ordering: the newest event applied to each object.


@dataclass(frozen=True, slots=True)
class ObjectVersion:
    event_created: int
    event_id: str


async def object_version(conn: Connection, object_id: str) -> ObjectVersion | None:
    row = await conn.fetch_one(
        "SELECT event_created, event_id FROM webhook_object_versions WHERE object_id = :id",
        {"id": object_id},
    )
    return ObjectVersion(row["event_created"], row["event_id"]) if row else None


async def advance_version(conn: Connection, *, object_id: str, created: int, event_id: str) -> None:
    """Record `event_id` as the newest applied to the object, unless a newer one already is."""
    await conn.execute(
        """
        INSERT INTO webhook_object_versions (object_id, event_created, event_id)
        VALUES (:object_id, :created, :event_id)
        ON CONFLICT (object_id) DO UPDATE SET
            event_created = excluded.event_created, event_id = excluded.event_id
        WHERE excluded.event_created >= webhook_object_versions.event_created
        """,
        {"object_id": object_id, "created": created, "event_id": event_id},
    )


async def ensure_product(conn: Connection, *, product_id: str, now: int) -> None:
    """A price can arrive before its product (no ordering across objects); keep the foreign key
    satisfied with a placeholder that the product's own event fills in."""
    await conn.execute(
        """
        INSERT INTO stripe_products (id, name, active, metadata, synced_at)
        VALUES (:id, :id, 1, '{}', :now)
        ON CONFLICT (id) DO NOTHING
        """,
        {"id": product_id, "now": now},
    )
