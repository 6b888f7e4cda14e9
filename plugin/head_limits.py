"""The limits on a request's head that hold whichever HTTP parser uvicorn runs.

uvicorn's httptools protocol puts no bound on a request head: a 64 MiB header was buffered
whole (and answered 200), and a head sent a byte at a time kept its connection forever. The
limits live in front of the parser, in `HeadLimits`: `HeadMeter` follows each connection's
bytes on its own (the head up to its blank line, then the body by Content-Length or chunked
coding, then the next head), so neither the bound nor the clock depends on what the parser
underneath buffers or reports. The parser never sees more of a head than the limit.

A hot path: every byte every connection sends passes `HeadMeter.feed`. It bypasses nothing
(the parser still parses everything it is given); its reference is the meter's property test.
"""

from __future__ import annotations

import asyncio
import json
import re
from http import HTTPStatus
from typing import TYPE_CHECKING, Any

from plugin import logs
from plugin.settings import Settings

if TYPE_CHECKING:
    from uvicorn.config import Config
    from uvicorn.server import ServerState

_log = logs.get_logger("server")

# -------------------------------------------------------------------

_DEFAULTS = Settings.model_fields
DEFAULT_MAX_HEAD_BYTES: int = _DEFAULTS["max_request_head_bytes"].default
DEFAULT_HEAD_TIMEOUT: float = _DEFAULTS["request_head_timeout"].default

# After a 431 or a 408 the connection is half-closed (the answer, then FIN) and what the client
# still sends is read and dropped for this long before the close. Closing at once with its
# bytes unread makes the kernel send a reset, which can destroy the answer before the client
# reads it (RFC 9112 §9.6); a client that is still uploading a huge header is the usual case.
LINGER_SECONDS = 2.0

_BLANK_LINE = re.compile(rb"\n\r?\n")  # a head's end; bare LF too, as h11 (and RFC 9112 §2.2) allow
_BODY_HEADER = re.compile(rb"\n(content-length|transfer-encoding):([^\n]*)", re.IGNORECASE)
_CHUNK_SIZE = re.compile(rb"[0-9A-Fa-f]{1,16}")
_CHUNK_LINE_KEPT = 64  # of a chunk-size line only the size is needed, never the extensions

_HEAD, _BODY, _CHUNK_LINE, _CHUNK_DATA, _CHUNK_END, _TRAILERS = range(6)


class HeadMeter:
    """Where each request head on one connection begins and ends, and how long it is.

    Fed every byte the connection receives, in order. Request heads run up to their blank line
    (leading blank lines count towards the head they precede); a body is skipped by its
    Content-Length or its chunked coding, whose trailer section is held to the same limit as a
    head; then the next head begins. A head (or trailer section) longer than `limit` bytes
    sets `overflowed`, and from then on nothing more is let through. The meter keeps at most
    `limit` bytes, the head being read. Where it reads a request differently from the parser
    (a malformed length or chunk size, which the parser then refuses), it takes what follows
    for a head: the limit errs towards holding.
    """

    __slots__ = ("_block", "_count", "_remaining", "_state", "heads", "limit", "overflowed")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.heads = 0  # request heads completed
        self.overflowed = False
        self._state = _HEAD
        self._count = 0  # bytes of the current head or trailer section so far
        self._block = bytearray()  # the current head (without leading blank lines) or chunk line
        self._remaining = 0  # bytes left of a Content-Length body or of a chunk

    @property
    def head_pending(self) -> bool:
        """Some of a request head has arrived, not all of it."""
        return self._state == _HEAD and self._count > 0

    @property
    def in_trailers(self) -> bool:
        return self._state == _TRAILERS

    def feed(self, data: bytes) -> int:
        """Follow `data`; return how many of its bytes may go on to the parser: all of them,
        or, once a head runs past the limit, those before that head began."""
        if self.overflowed:
            return 0
        pos, end = 0, len(data)
        if self._state == _HEAD and not self._count and data[:1] not in b"\r\n":
            # The usual read: a whole head at once (a body may follow), nothing buffered.
            found = _BLANK_LINE.search(data)
            if found is not None and found.end() <= self.limit:
                pos = found.end()
                self._head_done(data, 0, pos)
        while pos < end:
            state = self._state
            if state in (_HEAD, _TRAILERS):
                began = pos if self._count == 0 else 0
                pos = self._read_block(data, pos)
                if self.overflowed:
                    return began
            elif state in (_BODY, _CHUNK_DATA):
                taken = min(self._remaining, end - pos)
                pos += taken
                self._remaining -= taken
                if not self._remaining:
                    self._state = _HEAD if state == _BODY else _CHUNK_END
            elif state == _CHUNK_END:  # the CRLF after a chunk's data
                newline = data.find(b"\n", pos)
                pos = end if newline < 0 else newline + 1
                if newline >= 0:
                    self._state = _CHUNK_LINE
            else:
                pos = self._read_chunk_line(data, pos)
        return end

    def _read_block(self, data: bytes, pos: int) -> int:
        """Read a head or a trailer section from `data[pos:]`; return where reading stopped."""
        end = len(data)
        block = self._block
        start = pos
        if block:
            # The blank line may straddle two reads: look at the block's last two bytes too.
            tail = bytes(block[-2:])
            found = _BLANK_LINE.search(tail + data[pos : pos + 2])
            if found and found.end() > len(tail):
                stop = pos + found.end() - len(tail)
            else:
                found = _BLANK_LINE.search(data, pos)
                stop = found.end() if found else end
        else:
            while pos < end and data[pos] in b"\r\n":  # blank lines before a request line
                pos += 1
            found = _BLANK_LINE.search(data, pos)
            stop = found.end() if found else end
        self._count += stop - start
        if self._count > self.limit:
            self.overflowed = True
            block.clear()
            return stop
        if not found:
            block += data[pos:]
            return end
        self._count = 0
        if self._state == _TRAILERS:
            self._state = _HEAD
        elif block:
            self._head_done(bytes(block) + data[pos:stop], 0, stop - pos + len(block))
        else:
            self._head_done(data, pos, stop)
        block.clear()
        return stop

    def _head_done(self, head: bytes, start: int, stop: int) -> None:
        """`head[start:stop]` is a whole request head: what follows it is its body, if any."""
        self.heads += 1
        if _BODY_HEADER.search(head, start, stop) is None:
            return  # a GET's head, say: the next head follows
        length, chunked = _framing(head, start, stop)
        if chunked:
            self._state = _CHUNK_LINE
        elif length:
            self._state = _BODY
            self._remaining = length

    def _read_chunk_line(self, data: bytes, pos: int) -> int:
        block = self._block
        newline = data.find(b"\n", pos)
        stop = len(data) if newline < 0 else newline
        if len(block) < _CHUNK_LINE_KEPT:
            block += data[pos : min(stop, pos + _CHUNK_LINE_KEPT - len(block))]
        if newline < 0:
            return stop
        size = block.split(b";", 1)[0].strip(b" \t\r").lstrip(b"0") or b"0"
        block.clear()
        if not _CHUNK_SIZE.fullmatch(size):
            self._state = _HEAD  # the parser refuses it; whatever follows counts as a head
        elif int(size, 16):
            self._state = _CHUNK_DATA
            self._remaining = int(size, 16)
        else:
            self._state = _TRAILERS
            block += b"\n"  # a trailer section starts at a line start: a blank line ends it
        return newline + 1


def _framing(head: bytes, start: int, stop: int) -> tuple[int, bool]:
    """The body of the request head `head[start:stop]`: (its Content-Length, whether it is
    chunked). A length the parser will refuse anyway counts as no body."""
    length, coding = 0, b""
    for found in _BODY_HEADER.finditer(head, start, stop):
        value = found.group(2).strip().lower()
        if found.group(1).lower() == b"transfer-encoding":
            coding = value.rsplit(b",", 1)[-1].strip()  # the last coding applies
        else:
            values = {v.strip() for v in value.split(b",")}  # "5, 5" is allowed, "5, 6" is not
            digits = values.pop() if len(values) == 1 else b""
            if digits.isdigit():
                length = int(digits) if len(digits) <= 18 else 10**18
    return (0, True) if coding == b"chunked" else (length, False)


def _error_response(
    status: int, code: str, message: str, default_headers: list[tuple[bytes, bytes]]
) -> bytes:
    """A complete answer in the API's error shape, for a request the app never saw."""
    body = json.dumps(
        {"error": {"code": code, "message": message}}, ensure_ascii=False, separators=(",", ":")
    ).encode()
    lines = [f"HTTP/1.1 {status} {HTTPStatus(status).phrase}\r\n".encode()]
    lines += [name + b": " + value + b"\r\n" for name, value in default_headers]
    lines += [
        b"content-type: application/json\r\n",
        b"content-length: %d\r\n" % len(body),
        b"x-content-type-options: nosniff\r\n",
        b"connection: close\r\n\r\n",
        body,
    ]
    return b"".join(lines)


if TYPE_CHECKING:

    class _UvicornHttp(asyncio.Protocol):
        """What `HeadLimits` uses of uvicorn's HTTP protocols (`HttpToolsProtocol` and
        `H11Protocol` both have it); at run time the mixin's base is `asyncio.Protocol`, so
        each concrete class gets uvicorn's own methods through `super()`."""

        transport: asyncio.Transport
        loop: asyncio.AbstractEventLoop
        server_state: ServerState
        cycle: Any  # each protocol's RequestResponseCycle; `.response_complete` is read

        def __init__(
            self,
            config: Config,
            server_state: ServerState,
            app_state: dict[str, Any],
            _loop: asyncio.AbstractEventLoop | None = None,
        ) -> None: ...

        def on_response_complete(self) -> None: ...

        def _unset_keepalive_if_required(self) -> None: ...

else:
    _UvicornHttp = asyncio.Protocol


class HeadLimits(_UvicornHttp):
    """A mixin for a uvicorn HTTP protocol (first in the bases): the limits on request heads.

    - **Size.** A head (request line and headers, up to the blank line) over `max_head_bytes`
      is answered 431 `request_header_too_large`, and the connection closes. The parser
      is not fed that head past the limit, nor anything after it.
    - **Time.** A head has `head_timeout` seconds to arrive whole, counted from the
      connection's opening for its first request, and for a later one from the first byte
      of it (or from the previous response, if that finished later: the server, not the
      client, was the one keeping it waiting). A head begun but not finished by then is
      answered 408 `request_timeout`; a connection that sent nothing at all is closed
      without an answer. Between requests a kept-alive connection is uvicorn's keep-alive
      timeout's to close.

    The answer goes out only when every earlier response on the connection has (pipelining);
    until then the connection is not read. Then the connection is half-closed, and what the
    client still sends is dropped for `LINGER_SECONDS`. A trailer section over the limit
    closes the connection at once: its request's own response is still owed.
    """

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
        super().__init__(config, server_state, app_state, _loop)
        self._meter = HeadMeter(max_head_bytes)
        self._head_timeout = head_timeout
        self._head_timer: asyncio.TimerHandle | None = None
        self._owed: tuple[int, str, str] | None = None  # an answer waiting on earlier responses
        self._answered = False
        self._linger: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._head_timer = self.loop.call_later(self._head_timeout, self._head_timed_out)

    def connection_lost(self, exc: Exception | None) -> None:
        for timer in (self._head_timer, self._linger):
            if timer is not None:
                timer.cancel()
        self._head_timer = self._linger = None
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._answered:
            return  # refused and answered: what the client still sends is dropped
        if self._owed is not None:
            self.transport.pause_reading()  # uvicorn resumed reading after a response
            return
        meter = self._meter
        heads = meter.heads
        passed = meter.feed(data)
        if passed:
            super().data_received(data if passed == len(data) else data[:passed])
        if meter.overflowed:
            self._head_too_large()
            return
        if meter.heads != heads and self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None
        if meter.head_pending and self._head_timer is None and not self._response_pending():
            self._start_head_timer()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if self._owed is None and not self._meter.head_pending:
            return  # the usual case: nothing waited for this response
        if self._response_pending() or self.transport.is_closing():
            return
        if self._owed is not None:
            self._answer(*self._owed)
        elif self._meter.head_pending and self._head_timer is None:
            self._start_head_timer()

    def _response_pending(self) -> bool:
        """An earlier request's response is not all sent (or, pipelined, not yet begun)."""
        cycle = self.cycle
        pending = cycle is not None and not cycle.response_complete
        return pending or bool(getattr(self, "pipeline", None))  # httptools' queue

    def _start_head_timer(self) -> None:
        self._head_timer = self.loop.call_later(self._head_timeout, self._head_timed_out)

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if self.transport.is_closing() or self._answered or self._owed is not None:
            return
        if self._response_pending():
            return  # `on_response_complete` starts the clock again
        if not self._meter.head_pending:
            self.transport.close()  # nothing was asked, so nothing is answered
            return
        message = f"The request head did not arrive whole within {self._head_timeout:g} s."
        self._answer(408, "request_timeout", message)

    def _head_too_large(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None
        if self.transport.is_closing():
            return  # the parser refused what came before (a 400) and closed
        if self._meter.in_trailers:
            self.transport.close()
            return
        limit = self._meter.limit
        message = f"The request head (request line and headers) is over {limit} bytes."
        self._owed = (431, "request_header_too_large", message)
        self.transport.pause_reading()
        if not self._response_pending():
            self._answer(*self._owed)

    def _answer(self, status: int, code: str, message: str) -> None:
        self._owed = None
        self._answered = True
        self._unset_keepalive_if_required()
        _log.warning("request refused", extra={"status": status, "code": code})
        transport = self.transport
        transport.write(_error_response(status, code, message, self.server_state.default_headers))
        if not transport.can_write_eof():
            transport.close()
            return
        transport.write_eof()
        transport.resume_reading()
        self._linger = self.loop.call_later(LINGER_SECONDS, transport.close)
