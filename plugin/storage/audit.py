"""SQL for the admin audit log: who changed what, newest first."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from plugin.storage.database import Connection, ReadWouldWait, Row


@dataclass(frozen=True, slots=True)
class AuditEntry:
    seq: int
    actor: str
    action: str
    target: str | None
    detail: dict[str, Any]
    at: int


def _entry(row: Row) -> AuditEntry:
    return AuditEntry(
        seq=row["seq"],
        actor=row["actor"],
        action=row["action"],
        target=row["target"],
        detail=json.loads(row["detail"]),
        at=row["at"],
    )


async def record(
    conn: Connection,
    *,
    actor: str,
    action: str,
    target: str | None,
    detail: dict[str, Any],
    now: int,
) -> None:
    """Write inside the same transaction as the change, so there is no change without its entry.

    The lock makes `seq` order commit order on PostgreSQL, where a sequence hands out numbers
    at insert time: without it, a change given seq 9 could commit after one given seq 10, and
    a process that had already seen 10 as the latest version would never reload for 9."""
    await conn.lock("uplift.audit_log")
    await conn.execute(
        """
        INSERT INTO audit_log (actor, action, target, detail, at)
        VALUES (:actor, :action, :target, :detail, :now)
        """,
        {
            "actor": actor,
            "action": action,
            "target": target,
            "detail": json.dumps(detail, sort_keys=True),
            "now": now,
        },
    )


async def page(conn: Connection, *, limit: int, before_seq: int | None) -> list[AuditEntry]:
    """Newest first; `before_seq` continues a previous page. Returns up to `limit + 1` rows so
    the caller can tell whether there is more."""
    rows = await conn.fetch_all(
        """
        SELECT * FROM audit_log
        WHERE seq < :before OR :before IS NULL
        ORDER BY seq DESC LIMIT :limit
        """,
        {"before": before_seq, "limit": limit + 1},
    )
    return [_entry(row) for row in rows]


_LATEST = "SELECT coalesce(max(seq), 0) AS seq FROM audit_log"


async def latest_seq(conn: Connection) -> int:
    """The configuration version: every admin change writes one row (a primary-key lookup)."""
    return int(await conn.fetch_value(_LATEST))


def latest_seq_now(db: object) -> int | None:
    """`latest_seq` read on the caller's own thread, when the database offers that (SQLite:
    `fetch_one_now`) and can answer without waiting; else None (use `latest_seq`). The offer
    snapshot asks once a second from a busy event loop, where a hop to a reader thread made
    the loop wait for the GIL."""
    fetch = getattr(db, "fetch_one_now", None)
    if fetch is None:
        return None
    try:
        row = fetch(_LATEST, {})
    except ReadWouldWait:
        return None
    return int(row["seq"])
