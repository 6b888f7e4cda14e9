"""Write transactions per second through Uplift's `Database`, as a ratio to baselines measured
in the same run on the same file system.

    python3 bench/sqlite_writes.py [--rows 3000]

- `sqlite3 (one thread)`: the physical limit of the stack: plain sqlite3, same pragmas
  (WAL, synchronous=FULL), one INSERT + COMMIT per row, no event loop, no thread hop.
- `aiosqlite, implicit BEGIN`: one aiosqlite connection, Python's implicit DEFERRED
  transaction (the fastest asyncio option, but unsafe with several writer processes).
- `uplift Database (BEGIN IMMEDIATE)`: what Uplift does: a serialized writer connection,
  explicit BEGIN IMMEDIATE, INSERT, COMMIT.

Each row is ~1 KB, like a small webhook event.
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3  # noqa: TID251 -- the baseline talks to SQLite directly
import sys
import tempfile
import time
from pathlib import Path

import aiosqlite  # noqa: TID251 -- the baseline talks to SQLite directly

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from plugin import storage

SCHEMA = "CREATE TABLE IF NOT EXISTS bench (id INTEGER PRIMARY KEY, body TEXT NOT NULL)"
BODY = "x" * 1024


def baseline_sqlite3(path: Path, rows: int) -> float:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = FULL")
    conn.execute(SCHEMA)
    started = time.perf_counter()
    for i in range(rows):
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("INSERT INTO bench (id, body) VALUES (?, ?)", (i, BODY))
        conn.execute("COMMIT")
    elapsed = time.perf_counter() - started
    conn.close()
    return rows / elapsed


async def aiosqlite_implicit(path: Path, rows: int) -> float:
    conn = await aiosqlite.connect(path)
    await conn.execute("PRAGMA journal_mode = WAL")
    await conn.execute("PRAGMA synchronous = FULL")
    await conn.execute(SCHEMA)
    await conn.commit()
    started = time.perf_counter()
    for i in range(rows):
        await conn.execute("INSERT INTO bench (id, body) VALUES (?, ?)", (i, BODY))
        await conn.commit()
    elapsed = time.perf_counter() - started
    await conn.close()
    return rows / elapsed


async def uplift_database(path: Path, rows: int) -> float:
    db = await storage.connect(f"sqlite+aiosqlite:///{path}")
    async with db.transaction() as conn:
        await conn.execute(SCHEMA)
    started = time.perf_counter()
    for i in range(rows):
        async with db.transaction() as conn:
            await conn.execute(
                "INSERT INTO bench (id, body) VALUES (:id, :body)", {"id": i, "body": BODY}
            )
    elapsed = time.perf_counter() - started
    await db.close()
    return rows / elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=3000)
    rows = parser.parse_args().rows
    with tempfile.TemporaryDirectory(dir=".") as tmp:
        results = {
            "sqlite3 (one thread)": baseline_sqlite3(Path(tmp) / "a.db", rows),
            "aiosqlite, implicit BEGIN": asyncio.run(aiosqlite_implicit(Path(tmp) / "b.db", rows)),
            "uplift Database (BEGIN IMMEDIATE)": asyncio.run(
                uplift_database(Path(tmp) / "c.db", rows)
            ),
        }
    base = results["sqlite3 (one thread)"]
    print(f"{'variant':36} {'commits/s':>10} {'vs sqlite3':>11}")
    for name, rate in results.items():
        print(f"{name:36} {rate:10.0f} {rate / base:10.2f}x")


if __name__ == "__main__":
    main()
