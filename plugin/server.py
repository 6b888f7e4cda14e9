"""Running the app under uvicorn: Uplift's redacting logs, one write per response, and the
limits on a request's head (plugin/head_limits.py) on whichever HTTP parser uvicorn runs."""

from __future__ import annotations

import asyncio
import functools
import gc
from collections.abc import Callable
from typing import Any

import h11
import uvicorn
from h11._connection import DEFAULT_MAX_INCOMPLETE_EVENT_SIZE
from starlette.applications import Starlette
from uvicorn.config import Config
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from plugin import logs
from plugin.app import create_app
from plugin.head_limits import DEFAULT_HEAD_TIMEOUT, DEFAULT_MAX_HEAD_BYTES, HeadLimits
from plugin.settings import Settings, load_settings


def secret_values(settings: Settings) -> list[str]:
    """Every configured secret, so the log formatter can scrub exact values too."""
    values = [s.get_secret_value() for s in settings.stripe_webhook_secrets]
    for secret in (settings.stripe_api_key, settings.widget_secret, settings.admin_key):
        if secret is not None:
            values.append(secret.get_secret_value())
    return values


def app_from_environment() -> Starlette:
    """uvicorn factory for `--workers N`: each worker process builds its own app."""
    settings = load_settings()
    logs.configure(secrets=secret_values(settings))
    app = create_app(settings)
    app.state.shared_database = True  # the other workers write to the same database
    settle_memory()
    return app


# The collector's thresholds while serving: gen0 after 50,000 net allocations rather than
# 700, gen1 every 20 of those, gen2 every 100 of those. A request allocates thousands of
# objects and frees nearly all of them by reference counting, so the default ran a gen0 pass
# every few requests and a full pass over the whole heap (the customers' facts and answers
# the process keeps) every few hundred: with 20,000 customers those full passes stalled the
# event loop for 100-150 ms, the offers' p99 (bench/mixed.py, GETs only: p99 185 -> 39 ms,
# 2,600 -> 3,400 req/s). Cyclic garbage, which only the collector frees, is rare here.
GC_THRESHOLDS = (50_000, 20, 100)


def settle_memory() -> None:
    """Once everything is imported and built: `gc.freeze()`, so the collector never scans
    those objects again (they live as long as the process; a full collection under load took
    ~80 ms instead of ~25 ms in the offers benchmark), and the serving thresholds."""
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


class _JoinedWrites:
    """A transport that sends a write together with the one right after it.

    uvicorn writes a response's status line and headers as soon as the application sends
    `http.response.start`, then the body on `http.response.body`: two `send` system calls and
    two TCP segments for a small JSON answer, which were a fifth of a webhook delivery's time
    on the event loop. Here a write is held until the next one (the body, sent in the same
    step of the same task for every response Uplift makes) and both go out as one; a write
    no other follows within the current turn of the event loop goes out on the next turn,
    and `close` sends what is held first."""

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._held: bytes | None = None
        self._flush_handle: asyncio.Handle | None = None

    def write(self, data: bytes) -> None:
        held = self._held
        if held is None:
            self._held = data
            self._flush_handle = self._loop.call_soon(self._flush)
            return
        self._held = None
        if self._flush_handle is not None:
            self._flush_handle.cancel()
            self._flush_handle = None
        self._transport.write(held + data)

    def _flush(self) -> None:
        self._flush_handle = None
        held, self._held = self._held, None
        if held is not None and not self._transport.is_closing():
            self._transport.write(held)

    def close(self) -> None:
        if self._flush_handle is not None:
            self._flush_handle.cancel()
        self._flush()
        self._transport.close()

    def write_eof(self) -> None:
        """Half-close after what is held (`HeadLimits` answers, then keeps reading a while)."""
        if self._flush_handle is not None:
            self._flush_handle.cancel()
        self._flush()
        self._transport.write_eof()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class JoinedWritesProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, writing through `_JoinedWrites`."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(_JoinedWrites(transport, self.loop))  # type: ignore[arg-type]


class LimitedHttpToolsProtocol(HeadLimits, JoinedWritesProtocol):
    """What `uplift serve` runs: httptools, one write per response, the head limits."""


class LimitedH11Protocol(HeadLimits, H11Protocol):
    """uvicorn's h11 protocol with the head limits (where httptools is not available)."""

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
        *,
        max_head_bytes: int = DEFAULT_MAX_HEAD_BYTES,
        head_timeout: float = DEFAULT_HEAD_TIMEOUT,
    ) -> None:
        super().__init__(
            config,
            server_state,
            app_state,
            _loop,
            max_head_bytes=max_head_bytes,
            head_timeout=head_timeout,
        )
        # h11 has a ceiling of its own on what it buffers (16 KiB unless configured), past
        # which it answers 400: raise it to the head limit, so a head the limit allows passes.
        ceiling = config.h11_max_incomplete_event_size or DEFAULT_MAX_INCOMPLETE_EVENT_SIZE
        self.conn = h11.Connection(h11.SERVER, max(ceiling, max_head_bytes))


def http_protocol(settings: Settings) -> Callable[..., asyncio.Protocol]:
    """uvicorn's `http=`: the protocol class with the settings' limits. A partial of a
    module-level class, so it pickles by reference into `--workers N`'s processes."""
    return functools.partial(
        LimitedHttpToolsProtocol,
        max_head_bytes=settings.max_request_head_bytes,
        head_timeout=settings.request_head_timeout,
    )


def run_server(
    settings: Settings, *, host: str, port: int, workers: int = 1, demo: bool = False
) -> None:
    logs.configure(secrets=secret_values(settings))
    common = {
        "host": host,
        "port": port,
        "log_config": None,  # keep our handlers; uvicorn's default config would replace them
        "access_log": False,  # AccessLogMiddleware writes one (redacted) line per request
        "server_header": False,
        "proxy_headers": False,
        "http": http_protocol(settings),
    }
    if workers == 1:
        app = create_app(settings, demo=demo)
        # The only process serving this database (SQLite; PostgreSQL is there to be shared).
        app.state.shared_database = settings.sqlite_path is None
        settle_memory()
        uvicorn.run(app, **common)  # type: ignore[arg-type]
    else:
        # Several processes need an import string; they re-read the same environment.
        uvicorn.run(
            "plugin.server:app_from_environment",
            factory=True,
            workers=workers,
            **common,  # type: ignore[arg-type]
        )
