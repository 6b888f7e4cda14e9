"""SQL for admin keys. Only SHA-256 hashes are stored: keys are 256-bit random strings, so a
slow KDF would add nothing (docs/reliability.md §3.4)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, cast

from plugin.storage.database import Connection, Database, Row

Role = Literal["admin", "read_only"]


@dataclass(frozen=True, slots=True)
class AdminKeyRecord:
    id: str
    name: str
    prefix: str
    created_at: int
    last_used_at: int | None
    revoked_at: int | None
    role: Role = "admin"


def _record(row: Row) -> AdminKeyRecord:
    return AdminKeyRecord(
        id=row["id"],
        name=row["name"],
        prefix=row["prefix"],
        created_at=row["created_at"],
        last_used_at=row["last_used_at"],
        revoked_at=row["revoked_at"],
        role=cast("Role", row["role"]),
    )


async def insert(
    conn: Connection,
    *,
    key_id: str,
    name: str,
    key_hash: str,
    prefix: str,
    role: Role = "admin",
    now: int,
) -> AdminKeyRecord:
    row = await conn.fetch_one(
        """
        INSERT INTO admin_keys (id, name, key_hash, prefix, role, created_at)
        VALUES (:id, :name, :key_hash, :prefix, :role, :now)
        RETURNING *
        """,
        {
            "id": key_id,
            "name": name,
            "key_hash": key_hash,
            "prefix": prefix,
            "role": role,
            "now": now,
        },
    )
    assert row is not None  # noqa: S101 -- INSERT … RETURNING always returns the row
    return _record(row)


async def create(
    db: Database,
    *,
    key_id: str,
    name: str,
    key_hash: str,
    prefix: str,
    role: Role = "admin",
    now: int,
) -> AdminKeyRecord:
    async with db.transaction() as conn:
        return await insert(
            conn, key_id=key_id, name=name, key_hash=key_hash, prefix=prefix, role=role, now=now
        )


async def find_by_hash(db: Database, key_hash: str) -> AdminKeyRecord | None:
    async with db.read() as conn:
        row = await conn.fetch_one(
            "SELECT * FROM admin_keys WHERE key_hash = :key_hash", {"key_hash": key_hash}
        )
    return _record(row) if row else None


async def get(conn: Connection, key_id: str) -> AdminKeyRecord | None:
    row = await conn.fetch_one("SELECT * FROM admin_keys WHERE id = :id", {"id": key_id})
    return _record(row) if row else None


async def revoke_in(conn: Connection, *, key_id: str, now: int) -> bool:
    """Revoke inside the caller's transaction; False if unknown or already revoked."""
    changed = await conn.execute(
        "UPDATE admin_keys SET revoked_at = :now WHERE id = :id AND revoked_at IS NULL",
        {"id": key_id, "now": now},
    )
    return changed == 1


async def revoke(db: Database, *, key_id: str, now: int) -> bool:
    async with db.transaction() as conn:
        return await revoke_in(conn, key_id=key_id, now=now)


async def list_all(db: Database) -> list[AdminKeyRecord]:
    async with db.read() as conn:
        rows = await conn.fetch_all("SELECT * FROM admin_keys ORDER BY created_at, id")
    return [_record(row) for row in rows]
