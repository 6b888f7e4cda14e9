"""SQL for outbound webhooks: endpoints, the outbox, deliveries and their attempts.

The outbox row is written by `emit`, inside the caller's transaction: an event exists exactly
when the fact it reports committed. The worker then fans each event out to the endpoints that
want it (`fan_out`: one delivery per event and endpoint, UNIQUE, so two instances doing it at
once make one) and takes due deliveries by moving their `next_attempt_at` past the attempt's
timeout (`claim`), in one statement that another instance's claim cannot interleave with
(SQLite: one writer; PostgreSQL: `FOR UPDATE SKIP LOCKED`). An attempt that never reports back
(the process died mid-request) is taken again when that lease runs out, with the same event id.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from typing import Any, Literal

from plugin.outbound.events import OutboundEvent, wants
from plugin.storage.database import Connection, Database, Row, in_clause
from plugin.storage.steps import Execute, Steps, run

DeliveryStatus = Literal["pending", "succeeded", "failed"]
FAN_OUT_BATCH = 200
INTERRUPTED = "interrupted: the process stopped during the attempt"


@dataclass(frozen=True, slots=True)
class EndpointRecord:
    id: str
    url: str
    description: str
    events: list[str]
    enabled: bool
    secret: str
    previous_secret: str | None
    previous_secret_until: int | None
    disabled_reason: str | None
    failing_since: int | None
    created_at: int
    updated_at: int

    def signing_secrets(self, now: int) -> list[str]:
        """The secrets a delivery is signed with now: the current one, and the previous one
        while its overlap lasts."""
        if self.previous_secret and (self.previous_secret_until or 0) > now:
            return [self.secret, self.previous_secret]
        return [self.secret]


def _endpoint(row: Row) -> EndpointRecord:
    return EndpointRecord(
        id=row["id"],
        url=row["url"],
        description=row["description"],
        events=json.loads(row["events"]),
        enabled=bool(row["enabled"]),
        secret=row["secret"],
        previous_secret=row["previous_secret"],
        previous_secret_until=row["previous_secret_until"],
        disabled_reason=row["disabled_reason"],
        failing_since=row["failing_since"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


# Endpoints ---------------------------------------------------------------------------------------


async def create_endpoint(
    conn: Connection,
    *,
    url: str,
    description: str,
    events: list[str],
    enabled: bool,
    secret: str,
    now: int,
) -> EndpointRecord:
    row = await conn.fetch_one(
        """
        INSERT INTO webhook_endpoints
            (id, url, description, events, enabled, secret, created_at, updated_at)
        VALUES (:id, :url, :description, :events, :enabled, :secret, :now, :now)
        RETURNING *
        """,
        {
            "id": "we_" + secrets.token_hex(12),
            "url": url,
            "description": description,
            "events": json.dumps(events),
            "enabled": int(enabled),
            "secret": secret,
            "now": now,
        },
    )
    assert row is not None  # noqa: S101 -- INSERT … RETURNING always returns the row
    return _endpoint(row)


async def get_endpoint(conn: Connection, endpoint_id: str) -> EndpointRecord | None:
    row = await conn.fetch_one(
        "SELECT * FROM webhook_endpoints WHERE id = :id AND deleted_at IS NULL",
        {"id": endpoint_id},
    )
    return _endpoint(row) if row else None


async def list_endpoints(db: Database) -> list[EndpointRecord]:
    async with db.read() as conn:
        rows = await conn.fetch_all(
            "SELECT * FROM webhook_endpoints WHERE deleted_at IS NULL ORDER BY created_at, id"
        )
    return [_endpoint(row) for row in rows]


async def update_endpoint(
    conn: Connection, endpoint_id: str, *, now: int, **changes: Any
) -> EndpointRecord | None:
    """Change `url`, `description`, `events` or `enabled`. Enabling clears why Uplift had
    disabled it and the failure streak: the admin says the endpoint is back."""
    sets: list[str] = []
    params: dict[str, Any] = {"id": endpoint_id, "now": now}
    for name in ("url", "description", "events", "enabled"):
        if name in changes:
            value = changes[name]
            params[name] = json.dumps(value) if name == "events" else value
            if name == "enabled":
                params[name] = int(value)
            sets.append(f"{name} = :{name}")
    if changes.get("enabled"):
        sets.append("disabled_reason = NULL, failing_since = NULL")
    sets.append("updated_at = :now")
    row = await conn.fetch_one(
        f"UPDATE webhook_endpoints SET {', '.join(sets)} "  # noqa: S608 -- our own column names
        "WHERE id = :id AND deleted_at IS NULL RETURNING *",
        params,
    )
    return _endpoint(row) if row else None


async def rotate_secret(
    conn: Connection, endpoint_id: str, *, secret: str, overlap_until: int, now: int
) -> EndpointRecord | None:
    row = await conn.fetch_one(
        """
        UPDATE webhook_endpoints
        SET previous_secret = secret, previous_secret_until = :until, secret = :secret,
            updated_at = :now
        WHERE id = :id AND deleted_at IS NULL RETURNING *
        """,
        {"id": endpoint_id, "secret": secret, "until": overlap_until, "now": now},
    )
    return _endpoint(row) if row else None


async def delete_endpoint(conn: Connection, endpoint_id: str, *, now: int) -> bool:
    """Delete: no more deliveries (those pending are failed), its history kept."""
    changed = await conn.execute(
        "UPDATE webhook_endpoints SET deleted_at = :now, enabled = 0, updated_at = :now"
        " WHERE id = :id AND deleted_at IS NULL",
        {"id": endpoint_id, "now": now},
    )
    if changed:
        await conn.execute(
            "UPDATE webhook_deliveries SET status = 'failed', last_error = 'endpoint deleted',"
            " updated_at = :now WHERE endpoint_id = :id AND status = 'pending'",
            {"id": endpoint_id, "now": now},
        )
    return changed == 1


# The outbox --------------------------------------------------------------------------------------


def new_event_id() -> str:
    """msg_…: an event's id, its `webhook-id` on every attempt."""
    return "msg_" + secrets.token_hex(12)


def emit_steps(event: OutboundEvent) -> Steps[None]:
    """Announce `event` inside the caller's transaction: it exists iff the transaction commits."""
    yield Execute(
        "INSERT INTO outbound_events (id, type, occurred_at, payload)"
        " VALUES (:id, :type, :at, :payload)",
        {"id": event.id, "type": event.type, "at": event.occurred_at, "payload": event.body},
    )


async def emit(conn: Connection, event: OutboundEvent) -> None:
    await run(conn, emit_steps(event))


async def events_of(db: Database, *, event_type: str | None = None) -> list[OutboundEvent]:
    """Every announced event, oldest first (tests and the admin's look at the outbox)."""
    async with db.read() as conn:
        rows = await conn.fetch_all(
            "SELECT id, type, occurred_at, payload FROM outbound_events"
            " WHERE (type = :type OR :type IS NULL) ORDER BY seq",
            {"type": event_type},
        )
    return [OutboundEvent(r["id"], r["type"], r["occurred_at"], r["payload"]) for r in rows]


async def fan_out(db: Database, *, now: int) -> int:
    """Make the deliveries of events not yet fanned out: one per endpoint that wants the event,
    as endpoints stand now. Returns how many events were fanned out."""
    if not await has_pending_events(db):  # a read: no write lock taken for nothing
        return 0
    async with db.transaction() as conn:
        events = await conn.fetch_all(
            "SELECT id, type FROM outbound_events WHERE fanned_out = 0 ORDER BY seq LIMIT :n",
            {"n": FAN_OUT_BATCH},
        )
        if not events:
            return 0
        endpoints = await conn.fetch_all(
            "SELECT id, events FROM webhook_endpoints WHERE enabled = 1 AND deleted_at IS NULL"
        )
        filters = [(row["id"], json.loads(row["events"])) for row in endpoints]
        for event in events:
            for endpoint_id, wanted in filters:
                if wants(wanted, event["type"]):
                    await conn.execute(
                        """
                        INSERT INTO webhook_deliveries
                            (id, event_id, endpoint_id, next_attempt_at, created_at, updated_at)
                        VALUES (:id, :event, :endpoint, :now, :now, :now)
                        ON CONFLICT (event_id, endpoint_id) DO NOTHING
                        """,
                        {
                            "id": "wd_" + secrets.token_hex(12),
                            "event": event["id"],
                            "endpoint": endpoint_id,
                            "now": now,
                        },
                    )
        # The events read, by id: on PostgreSQL a range of `seq` could take in an event that
        # committed since the read (sequence numbers are handed out before commit) and mark it
        # fanned out with no delivery made.
        done, params = in_clause("e", [event["id"] for event in events])
        await conn.execute(
            f"UPDATE outbound_events SET fanned_out = 1 WHERE id IN {done}",  # noqa: S608 -- placeholders only
            params,
        )
    return len(events)


# Deliveries --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Claimed:
    """A delivery taken for one attempt, with what the attempt needs."""

    id: str
    event_id: str
    event_type: str
    body: str
    window_start: int  # its 3-day budget runs from here: creation, or an admin's retry
    attempts: int  # including this one
    endpoint_id: str
    url: str
    secrets: list[str]


_DUE = """
SELECT d.id FROM webhook_deliveries d
JOIN webhook_endpoints e ON e.id = d.endpoint_id
WHERE d.status = 'pending' AND d.next_attempt_at <= :now
  AND e.enabled = 1 AND e.deleted_at IS NULL
ORDER BY d.next_attempt_at, d.seq LIMIT :limit
"""


async def claim(db: Database, *, now: int, lease: int, limit: int) -> list[Claimed]:
    """Take up to `limit` due deliveries for one attempt each, until `now + lease`."""
    lock = "" if db.dialect == "sqlite" else " FOR UPDATE OF d SKIP LOCKED"
    async with db.transaction() as conn:
        rows = await conn.fetch_all(
            f"""
            UPDATE webhook_deliveries SET attempts = attempts + 1,
                next_attempt_at = :until, updated_at = :now
            WHERE id IN ({_DUE}{lock})
            RETURNING id, event_id, endpoint_id, attempts,
                COALESCE(window_start, created_at) AS window_start
            """,  # noqa: S608 -- our own fragments
            {"now": now, "until": now + lease, "limit": limit},
        )
        if not rows:
            return []
        taken, params = in_clause("d", [row["id"] for row in rows])
        # A claim before this one that never wrote its attempt: its holder died mid-attempt.
        written = {
            r["delivery_id"]: r["n"]
            for r in await conn.fetch_all(
                "SELECT delivery_id, count(*) AS n FROM webhook_attempts"  # noqa: S608 -- placeholders only
                f" WHERE delivery_id IN {taken} GROUP BY delivery_id",
                params,
            )
        }
        for row in rows:
            for _ in range(row["attempts"] - 1 - written.get(row["id"], 0)):
                await conn.execute(
                    "INSERT INTO webhook_attempts (delivery_id, at, status_code, latency_ms, error)"
                    " VALUES (:id, :now, NULL, 0, :error)",
                    {"id": row["id"], "now": now, "error": INTERRUPTED},
                )
        events = {
            r["id"]: r
            for r in await conn.fetch_all(
                "SELECT id, type, payload FROM outbound_events WHERE id IN "  # noqa: S608 -- placeholders only
                f"(SELECT event_id FROM webhook_deliveries WHERE id IN {taken})",
                params,
            )
        }
        endpoints = {
            r["id"]: _endpoint(r)
            for r in await conn.fetch_all(
                "SELECT * FROM webhook_endpoints WHERE id IN "  # noqa: S608 -- placeholders only
                f"(SELECT endpoint_id FROM webhook_deliveries WHERE id IN {taken})",
                params,
            )
        }
    claimed = []
    for row in rows:
        event, endpoint = events[row["event_id"]], endpoints[row["endpoint_id"]]
        claimed.append(
            Claimed(
                id=row["id"],
                event_id=row["event_id"],
                event_type=event["type"],
                body=event["payload"],
                window_start=row["window_start"],
                attempts=row["attempts"],
                endpoint_id=endpoint.id,
                url=endpoint.url,
                secrets=endpoint.signing_secrets(now),
            )
        )
    return claimed


@dataclass(frozen=True, slots=True)
class Outcome:
    status_code: int | None
    latency_ms: int
    error: str | None  # None: delivered (2xx)
    retry_at: int | None  # failed: when to try again; None: give up


async def record(
    db: Database, delivery: Claimed, outcome: Outcome, *, now: int, disable_after: int
) -> str | None:
    """Write an attempt and its consequence. Returns why the endpoint was disabled, if this
    attempt disabled it (no success for `disable_after` seconds)."""
    status: DeliveryStatus
    if outcome.error is None:
        status = "succeeded"
    else:
        status = "pending" if outcome.retry_at is not None else "failed"
    async with db.transaction() as conn:
        await conn.execute(
            "INSERT INTO webhook_attempts (delivery_id, at, status_code, latency_ms, error)"
            " VALUES (:id, :now, :code, :ms, :error)",
            {
                "id": delivery.id,
                "now": now,
                "code": outcome.status_code,
                "ms": outcome.latency_ms,
                "error": outcome.error,
            },
        )
        await conn.execute(
            """
            UPDATE webhook_deliveries SET status = :status, last_status_code = :code,
                last_error = :error, next_attempt_at = :next, updated_at = :now
            WHERE id = :id AND status = 'pending'
            """,
            {
                "id": delivery.id,
                "status": status,
                "code": outcome.status_code,
                "error": outcome.error,
                "next": outcome.retry_at if outcome.retry_at is not None else now,
                "now": now,
            },
        )
        if outcome.error is None:
            await conn.execute(
                "UPDATE webhook_endpoints SET failing_since = NULL WHERE id = :id",
                {"id": delivery.endpoint_id},
            )
            return None
        since = await conn.fetch_value(
            """
            UPDATE webhook_endpoints SET failing_since = COALESCE(failing_since, :now)
            WHERE id = :id RETURNING failing_since
            """,
            {"id": delivery.endpoint_id, "now": now},
        )
        if since is None or now - int(since) < disable_after:
            return None
        reason = f"every delivery failed for {(now - int(since)) // 86_400} days ({outcome.error})"
        changed = await conn.execute(
            "UPDATE webhook_endpoints SET enabled = 0, disabled_reason = :reason,"
            " updated_at = :now WHERE id = :id AND enabled = 1",
            {"id": delivery.endpoint_id, "reason": reason[:500], "now": now},
        )
        return reason if changed else None


async def release(db: Database, *, now: int) -> int:
    """On start (SQLite, one process or several on one file): what a dead process held is due
    now, rather than when its lease runs out. A claim without its attempt row is such an
    attempt (`claim` writes it down as interrupted when it takes the delivery again). Not on
    PostgreSQL, where other instances may be alive and mid-attempt: there the lease runs out."""
    if db.dialect != "sqlite":
        return 0
    async with db.transaction() as conn:
        return await conn.execute(
            """
            UPDATE webhook_deliveries SET next_attempt_at = :now
            WHERE status = 'pending' AND next_attempt_at > :now
              AND attempts > (SELECT count(*) FROM webhook_attempts a
                              WHERE a.delivery_id = webhook_deliveries.id)
            """,
            {"now": now},
        )


async def next_due_at(db: Database) -> int | None:
    async with db.read() as conn:
        found = await conn.fetch_value(
            "SELECT min(d.next_attempt_at) FROM webhook_deliveries d"
            " JOIN webhook_endpoints e ON e.id = d.endpoint_id"
            " WHERE d.status = 'pending' AND e.enabled = 1 AND e.deleted_at IS NULL"
        )
    return int(found) if found is not None else None


async def has_pending_events(db: Database) -> bool:
    async with db.read() as conn:
        return bool(
            await conn.fetch_value(
                "SELECT EXISTS (SELECT 1 FROM outbound_events WHERE fanned_out = 0)"
            )
        )


@dataclass(frozen=True, slots=True)
class Attempt:
    at: int
    status_code: int | None
    latency_ms: int
    error: str | None


@dataclass(frozen=True, slots=True)
class DeliveryRecord:
    seq: int
    id: str
    event_id: str
    event_type: str
    endpoint_id: str
    status: DeliveryStatus
    attempts: list[Attempt]
    next_attempt_at: int | None  # pending only
    created_at: int
    updated_at: int


async def deliveries(
    db: Database,
    *,
    endpoint_id: str,
    status: str | None,
    before_seq: int | None,
    limit: int,
    only: str | None = None,
) -> list[DeliveryRecord]:
    """An endpoint's deliveries, newest first, each with its attempts (oldest first)."""
    async with db.read() as conn:
        rows = await conn.fetch_all(
            """
            SELECT d.*, o.type AS event_type FROM webhook_deliveries d
            JOIN outbound_events o ON o.id = d.event_id
            WHERE d.endpoint_id = :endpoint AND (d.status = :status OR :status IS NULL)
              AND (d.seq < :before OR :before IS NULL) AND (d.id = :only OR :only IS NULL)
            ORDER BY d.seq DESC LIMIT :limit
            """,
            {
                "endpoint": endpoint_id,
                "status": status,
                "before": before_seq,
                "only": only,
                "limit": limit,
            },
        )
        attempts: dict[str, list[Attempt]] = {}
        if rows:
            ids, params = in_clause("d", [row["id"] for row in rows])
            for a in await conn.fetch_all(
                "SELECT delivery_id, at, status_code, latency_ms, error FROM webhook_attempts"  # noqa: S608 -- placeholders only
                f" WHERE delivery_id IN {ids} ORDER BY seq",
                params,
            ):
                attempts.setdefault(a["delivery_id"], []).append(
                    Attempt(a["at"], a["status_code"], a["latency_ms"], a["error"])
                )
    return [
        DeliveryRecord(
            seq=r["seq"],
            id=r["id"],
            event_id=r["event_id"],
            event_type=r["event_type"],
            endpoint_id=r["endpoint_id"],
            status=r["status"],
            attempts=attempts.get(r["id"], []),
            next_attempt_at=r["next_attempt_at"] if r["status"] == "pending" else None,
            created_at=r["created_at"],
            updated_at=r["updated_at"],
        )
        for r in rows
    ]


async def delivery_seq(conn: Connection, *, endpoint_id: str, delivery_id: str) -> int | None:
    found = await conn.fetch_value(
        "SELECT seq FROM webhook_deliveries WHERE id = :id AND endpoint_id = :endpoint",
        {"id": delivery_id, "endpoint": endpoint_id},
    )
    return int(found) if found is not None else None


async def retry(conn: Connection, *, endpoint_id: str, delivery_id: str, now: int) -> bool:
    """Due now, whatever it was (a failed one gets a fresh 3 days: the admin asked; when it
    was created stays as it was)."""
    changed = await conn.execute(
        """
        UPDATE webhook_deliveries SET status = 'pending', next_attempt_at = :now,
            window_start = CASE WHEN status = 'failed' THEN :now ELSE window_start END,
            updated_at = :now
        WHERE id = :id AND endpoint_id = :endpoint
        """,
        {"id": delivery_id, "endpoint": endpoint_id, "now": now},
    )
    return changed == 1


async def prune(db: Database, *, before: int) -> None:
    """Remove finished events older than `before`, with their deliveries and attempts."""
    async with db.read() as conn:
        old = await conn.fetch_value(
            "SELECT EXISTS (SELECT 1 FROM outbound_events WHERE occurred_at < :before)",
            {"before": before},
        )
    if not old:
        return
    async with db.transaction() as conn:
        await conn.execute(
            """
            DELETE FROM webhook_attempts WHERE delivery_id IN (
                SELECT d.id FROM webhook_deliveries d JOIN outbound_events o ON o.id = d.event_id
                WHERE o.occurred_at < :before AND d.status != 'pending')
            """,
            {"before": before},
        )
        await conn.execute(
            """
            DELETE FROM webhook_deliveries WHERE status != 'pending' AND event_id IN (
                SELECT id FROM outbound_events WHERE occurred_at < :before)
            """,
            {"before": before},
        )
        await conn.execute(
            """
            DELETE FROM outbound_events WHERE occurred_at < :before AND fanned_out = 1
              AND NOT EXISTS (SELECT 1 FROM webhook_deliveries d
                              WHERE d.event_id = outbound_events.id)
            """,
            {"before": before},
        )
