"""A real HTTP receiver for outbound webhooks: a `ThreadingHTTPServer` on loopback that keeps
every request it gets and answers as told (a status, or hang until released)."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from standardwebhooks import Webhook


@dataclass(frozen=True, slots=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    url: str
    received: list[Received] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)  # answers to give, in order; then 200
    hang: threading.Event | None = None  # set: the next request waits until it is cleared
    released: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def wait_for(self, count: int, *, timeout: float = 15.0) -> list[Received]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.received) >= count:
                    return list(self.received)
            time.sleep(0.02)
        raise TimeoutError(f"{len(self.received)} of {count} deliveries after {timeout} s")

    async def arrived(self, count: int, *, within: float = 15.0) -> list[Received]:
        """`wait_for` for a test whose sender runs on the same event loop."""
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.received) >= count:
                    return list(self.received)
            await asyncio.sleep(0.02)
        raise TimeoutError(f"{len(self.received)} of {count} deliveries after {within} s")

    def verified(self, secret: str) -> list[tuple[str, dict[str, Any]]]:
        """(webhook-id, body) of every request, each verified with `standardwebhooks`."""
        out = []
        for got in self.received:
            body = Webhook(secret).verify(got.body, got.headers)
            out.append((got.headers["webhook-id"], body))
        return out


@contextmanager
def receiver(path: str = "/hooks/uplift") -> Iterator[Receiver]:
    state: Receiver

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(length)
            with state.lock:
                state.received.append(
                    Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                )
                status = state.statuses.pop(0) if state.statuses else 200
                hang = state.hang
                state.hang = None
            if hang is not None:
                hang.set()  # tell the test the request is in hand
                state.released.wait(30)
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state = Receiver(url=f"http://127.0.0.1:{server.server_address[1]}{path}")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        state.released.set()
        server.shutdown()
        server.server_close()
