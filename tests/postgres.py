"""A throwaway PostgreSQL cluster for the test suite and CI, and fresh databases per test.

`python3 -m tests.postgres start DIR` runs `initdb` into DIR (as the `postgres` user when we are
root: initdb refuses root), starts `postgres` on a free loopback port with its socket in DIR,
and prints the DSN; `python3 -m tests.postgres stop DIR` stops it. `.ci/run` uses both and
hands the DSN to pytest as `UPLIFT_TEST_POSTGRES_DSN`.

The cluster is for tests only: `fsync=off` and friends trade crash safety for speed, and
`--no-locale` makes text sort by bytes, as SQLite does.

Per test, `Databases.fresh()` clones a migrated template (`CREATE DATABASE … TEMPLATE`), which
costs a few tens of milliseconds where running the migrations would cost several times that.
"""

from __future__ import annotations

import itertools
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg  # type: ignore[import-untyped]  # noqa: TID251 -- tests make PostgreSQL databases


def _newest_bin() -> Path:
    """Debian's newest installed server (`/usr/lib/postgresql/<major>/bin`), 15 if none."""
    found = [p.parent for p in Path("/usr/lib/postgresql").glob("*/bin/postgres")]
    found.sort(key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0)
    return found[-1] if found else Path("/usr/lib/postgresql/15/bin")


BIN = Path(os.environ.get("UPLIFT_TEST_POSTGRES_BIN") or _newest_bin())
SUPERUSER = "postgres"
TEST_SETTINGS = (
    "fsync=off",
    "synchronous_commit=off",
    "full_page_writes=off",
    "max_connections=400",
    "shared_buffers=64MB",
)


def _as_owner(command: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return command
    return ["runuser", "-u", "postgres", "--", *command]


def _free_port() -> int:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


_RUNNING: dict[Path, subprocess.Popen[bytes]] = {}

DURABLE_SETTINGS = ("max_connections=400", "shared_buffers=64MB")  # fsync on: for benchmarks


def start(
    directory: Path, *, settings: tuple[str, ...] = TEST_SETTINGS, timeout: float = 30
) -> str:
    """Create and start a cluster in `directory`; returns its DSN (asyncpg/libpq form)."""
    directory.mkdir(parents=True, exist_ok=True)
    if os.geteuid() == 0:
        shutil.chown(directory, "postgres", "postgres")
    data = directory / "data"
    initdb = subprocess.run(
        _as_owner(
            [str(BIN / "initdb"), "-D", str(data), "-U", SUPERUSER, "--auth=trust",
             "--no-locale", "-E", "UTF8", "--no-sync"]
        ),
        check=False,
        capture_output=True,
        text=True,
    )  # fmt: skip
    if initdb.returncode != 0:
        # e.g. `postgres` cannot enter a parent directory that only root may read
        raise RuntimeError(f"initdb failed in {directory}: {initdb.stderr.strip()}")
    port = _free_port()
    options = [arg for s in settings for arg in ("-c", s)]
    log = directory / "postgres.log"
    with log.open("w") as sink:
        if os.geteuid() == 0:
            shutil.chown(log, "postgres", "postgres")
        process = subprocess.Popen(
            _as_owner(
                [str(BIN / "postgres"), "-D", str(data), "-k", str(directory), "-h", "127.0.0.1",
                 "-p", str(port), *options]
            ),
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    _RUNNING[directory] = process  # kept (and waited for by `stop`) while it runs
    dsn = f"postgresql://{SUPERUSER}@127.0.0.1:{port}/postgres"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"postgres exited with {process.returncode}:\n{log.read_text()}")
        ready = subprocess.run(
            [str(BIN / "pg_isready"), "-h", "127.0.0.1", "-p", str(port), "-U", SUPERUSER],
            capture_output=True,
            check=False,
        )
        if ready.returncode == 0:
            return dsn
        time.sleep(0.1)
    raise TimeoutError(f"postgres was not ready after {timeout} s:\n{log.read_text()}")


def stop(directory: Path) -> None:
    """Stop the cluster started in `directory` (fast shutdown) and remove the directory."""
    data = directory / "data"
    if data.is_dir():
        subprocess.run(
            _as_owner([str(BIN / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"]),
            capture_output=True,
            check=False,
        )
    process = _RUNNING.pop(directory, None)
    if process is not None:
        process.wait(30)
    shutil.rmtree(directory, ignore_errors=True)


def with_database(dsn: str, name: str) -> str:
    parts = urlsplit(dsn)
    return urlunsplit(parts._replace(path=f"/{name}"))


def uplift_url(dsn: str) -> str:
    """The DSN as `UPLIFT_DATABASE_URL` spells it."""
    return "postgresql+asyncpg://" + dsn.split("://", 1)[1]


class Databases:
    """Fresh databases for one pytest process, each a clone of a migrated template."""

    def __init__(self, dsn: str) -> None:
        self.dsn = dsn
        self.prefix = f"uplift_test_{os.getpid()}"
        self.template = f"{self.prefix}_template"
        self._names = itertools.count(1)

    async def _admin(self) -> asyncpg.Connection:
        return await asyncpg.connect(self.dsn)

    async def prepare(self, *, migrate: bool) -> None:
        conn = await self._admin()
        try:
            await self._drop_leftovers(conn)
            await conn.execute(f'CREATE DATABASE "{self.template}"')
        finally:
            await conn.close()
        if migrate:
            from plugin import storage
            from tests.support import NOW

            database = await storage.connect(uplift_url(with_database(self.dsn, self.template)))
            try:
                await storage.migrations.apply(database, now=NOW)
            finally:
                await database.close()

    async def _drop_leftovers(self, conn: asyncpg.Connection) -> None:
        rows = await conn.fetch(
            "SELECT datname FROM pg_database WHERE datname LIKE $1", self.prefix + "%"
        )
        for row in rows:
            await conn.execute(f'DROP DATABASE IF EXISTS "{row["datname"]}" WITH (FORCE)')

    async def fresh(self, *, migrated: bool = True) -> str:
        """A new database (a migrated clone, or empty); returns its DSN."""
        name = f"{self.prefix}_{next(self._names)}"
        conn = await self._admin()
        try:
            template = self.template if migrated else "template0"
            await conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
        finally:
            await conn.close()
        return with_database(self.dsn, name)

    async def drop(self, dsn: str) -> None:
        name = urlsplit(dsn).path.lstrip("/")
        conn = await self._admin()
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()

    async def finish(self) -> None:
        conn = await self._admin()
        try:
            await self._drop_leftovers(conn)
        finally:
            await conn.close()


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] not in ("start", "stop"):
        sys.stderr.write("usage: python3 -m tests.postgres start|stop DIR\n")
        return 2
    directory = Path(argv[1])
    if argv[0] == "start":
        sys.stdout.write(start(directory) + "\n")
    else:
        stop(directory)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))


__all__ = ["Databases", "start", "stop", "uplift_url", "with_database"]
