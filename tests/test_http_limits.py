"""The request-head limits (plugin/head_limits.py: `HeadMeter`, `HeadLimits`): a head over the size
limit is answered 431 and its connection closed, a head that does not arrive in time 408, and
neither grows the server's memory; bodies, pipelining and keep-alive are left as they were.

Three layers: the meter on its own, both uvicorn protocols (httptools and h11) with the limits
on an in-process server, and `uplift serve` itself over raw sockets. Deadlines in these tests
are generous upper bounds for a loaded machine; no test asserts how fast anything is.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import re
import select
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import uvicorn
from hypothesis import given, settings
from hypothesis import strategies as st
from starlette.types import Receive, Scope, Send

from plugin.clock import SystemClock
from plugin.head_limits import HeadLimits, HeadMeter
from plugin.server import LimitedH11Protocol, LimitedHttpToolsProtocol
from tests.conftest import Served
from tests.support import WEBHOOK_SECRET, free_port, sign_webhook

MiB = 1024 * 1024
GET = b"GET /healthz HTTP/1.1\r\nHost: uplift.test\r\n\r\n"
LAST_GET = b"GET /healthz HTTP/1.1\r\nHost: uplift.test\r\nConnection: close\r\n\r\n"
# RSS a refused or timed-out client may leave behind: allocator noise, never the bytes it sent.
MEMORY_SLACK_KIB = 8 * 1024


def head_of(size: int) -> bytes:
    """A GET whose head (request line, headers, blank line) is exactly `size` bytes."""
    start = b"GET /healthz HTTP/1.1\r\nHost: uplift.test\r\nX-Pad: "
    pad = size - len(start) - len(b"\r\n\r\n")
    assert pad >= 0
    return start + b"a" * pad + b"\r\n\r\n"


def chunked(body: bytes, *, size: int = 8192, trailers: bytes = b"") -> bytes:
    pieces = [b"%x;piece\r\n%s\r\n" % (len(body[i : i + size]), body[i : i + size])
              for i in range(0, len(body), size)]  # fmt: skip
    return b"".join(pieces) + b"0\r\n" + trailers + b"\r\n"


# -- the meter ------------------------------------------------------------------------------

POST_LENGTH = b"POST /in HTTP/1.1\r\nHost: x\r\nContent-Length: 2000\r\n\r\n" + b"\r\n\r\n" * 500
POST_CHUNKED = (
    b"POST /in HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"
    + chunked(b"\r\n\r\n" * 500, size=700, trailers=b"X-Checksum: 1\r\n")
)
STREAM = b"\r\n" + GET + POST_LENGTH + POST_CHUNKED + b"GET / HTTP/1.1\nHost: x\n\n" + GET


def _feed(meter: HeadMeter, stream: bytes, cuts: list[int]) -> int:
    passed, start = 0, 0
    for cut in [*sorted(cuts), len(stream)]:
        passed += meter.feed(stream[start:cut])
        start = cut
    return passed


@settings(max_examples=300, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=len(STREAM)), max_size=12))
def test_meter_finds_every_head_however_the_stream_is_cut(cuts: list[int]) -> None:
    """Five pipelined requests (bodies of blank lines by length and by chunks, trailers, bare
    LF lines) are five heads and nothing held back, whichever reads the bytes arrive in."""
    meter = HeadMeter(1024)
    assert _feed(meter, STREAM, cuts) == len(STREAM)
    assert (meter.heads, meter.head_pending, meter.overflowed) == (5, False, False)


def test_meter_counts_bodies_and_bytes_read_one_at_a_time_alike() -> None:
    """Fed a byte per read, the meter sees the same five heads."""
    meter = HeadMeter(1024)
    assert _feed(meter, STREAM, list(range(len(STREAM)))) == len(STREAM)
    assert (meter.heads, meter.overflowed) == (5, False)


@pytest.mark.parametrize("cut", [0, 1, 1000, 16384, 16385], ids=lambda c: f"cut{c}")
def test_meter_refuses_a_head_one_byte_over_the_limit(cut: int) -> None:
    """A head of exactly the limit passes; one byte more overflows, and only the bytes before
    that head's first byte may reach the parser."""
    at_limit = HeadMeter(16384)
    assert at_limit.feed(head_of(16384)) == 16384
    assert (at_limit.heads, at_limit.overflowed) == (1, False)

    over = HeadMeter(16384)
    stream = GET + head_of(16385) + GET
    first, second = stream[:cut], stream[cut:]
    passed = over.feed(first) + over.feed(second)
    assert over.overflowed
    assert passed == (len(first) if cut > len(GET) else len(GET))
    assert over.feed(GET) == 0  # nothing after the refused head either


def test_meter_holds_a_trailer_section_to_the_limit() -> None:
    """Trailers are buffered like headers, so they are held to the same limit."""
    meter = HeadMeter(1024)
    request = b"POST /in HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
    meter.feed(request + chunked(b"data", trailers=b"X-Big: " + b"a" * 2000 + b"\r\n"))
    assert meter.overflowed
    assert meter.in_trailers


# -- both uvicorn protocols, in process ------------------------------------------------------


async def _echo_app(scope: Scope, receive: Receive, send: Send) -> None:
    """Answers with the length of the body it read; `/slow` first waits half a second."""
    assert scope["type"] == "http"
    length, more = 0, True
    while more:
        message = await receive()
        length += len(message.get("body", b""))
        more = message.get("more_body", False)
    if scope["path"] == "/slow":
        await asyncio.sleep(0.5)
    body = json.dumps({"body": length}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


@contextlib.contextmanager
def in_process_server(
    protocol: type[HeadLimits], *, loop: str = "asyncio", max_head_bytes: int = 2048
) -> Iterator[int]:
    """uvicorn serving `_echo_app` on a thread of its own through `protocol` with these limits
    (and a 1 s head timeout); yields its port."""
    port = free_port()
    limited = functools.partial(protocol, max_head_bytes=max_head_bytes, head_timeout=1.0)
    config = uvicorn.Config(
        _echo_app,
        host="127.0.0.1",
        port=port,
        http=limited,  # type: ignore[arg-type]
        loop=loop,
        lifespan="off",
        log_config=None,
        access_log=False,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert thread.is_alive(), "uvicorn exited"
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    try:
        yield port
    finally:
        server.should_exit = True
        thread.join(10)


@pytest.fixture(
    params=[
        (LimitedHttpToolsProtocol, "asyncio"),
        (LimitedHttpToolsProtocol, "uvloop"),
        (LimitedH11Protocol, "asyncio"),
        (LimitedH11Protocol, "uvloop"),
    ],
    ids=["httptools-asyncio", "httptools-uvloop", "h11-asyncio", "h11-uvloop"],
)
def in_process(request: pytest.FixtureRequest) -> Iterator[int]:
    """The port of an in-process server with a 2 KiB head limit, for each protocol and loop."""
    protocol, loop = request.param
    with in_process_server(protocol, loop=loop) as port:
        yield port


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    def error_code(self) -> str:
        code: str = json.loads(self.body)["error"]["code"]
        return code


def parse_answers(raw: bytes) -> list[Answer]:
    """Consecutive HTTP/1.1 responses, each with a Content-Length."""
    answers = []
    while raw:
        head, _, rest = raw.partition(b"\r\n\r\n")
        status_line, *lines = head.decode("latin-1").split("\r\n")
        headers = dict(line.lower().split(": ", 1) for line in lines)
        length = int(headers["content-length"])
        answers.append(Answer(int(status_line.split()[1]), headers, rest[:length]))
        raw = rest[length:]
    return answers


def connect(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def read_to_close(sock: socket.socket) -> bytes:
    """Everything until the server closes its side (a reset after the answer ends it too)."""
    received = bytearray()
    while True:
        try:
            data = sock.recv(65536)
        except ConnectionResetError:
            break
        if not data:
            break
        received += data
    return bytes(received)


def read_one(sock: socket.socket) -> Answer:
    """One response off a kept-alive connection, and not a byte more."""
    received = b""
    while b"\r\n\r\n" not in received:
        data = sock.recv(65536)
        assert data, "the server closed instead of answering"
        received += data
    head = received.split(b"\r\n\r\n", 1)[0]
    found = re.search(rb"(?im)^content-length: *(\d+)", head)
    assert found is not None
    while len(received) < len(head) + 4 + int(found.group(1)):
        received += sock.recv(65536)
    [answer] = parse_answers(received)
    return answer


def exchange(port: int, data: bytes) -> list[Answer]:
    with connect(port) as sock:
        sock.sendall(data)
        return parse_answers(read_to_close(sock))


def trickle_until_answered(sock: socket.socket, *, within: float) -> tuple[bytes, float]:
    """Send a header byte every half second until the server answers or closes; return what
    it sent before closing and after how many seconds."""
    started = time.monotonic()
    while time.monotonic() - started < within:
        if select.select([sock], [], [], 0.5)[0]:
            return read_to_close(sock), time.monotonic() - started
        try:
            sock.send(b"a")
        except (BrokenPipeError, ConnectionResetError):
            return read_to_close(sock), time.monotonic() - started
    raise AssertionError(f"the server still waited for the head after {within} s")


def test_each_protocol_refuses_a_head_over_the_limit(in_process: int) -> None:
    """A head of exactly 2 KiB is served; one byte more is a 431 in the API's error shape,
    with `Connection: close`, and the connection closes."""
    assert [a.status for a in exchange(in_process, head_of(2048) + LAST_GET)] == [200, 200]
    [refused] = exchange(in_process, head_of(2049))
    assert refused.status == 431
    assert refused.headers["connection"] == "close"
    assert refused.headers["content-type"] == "application/json"
    assert refused.error_code() == "request_header_too_large"


def test_each_protocol_answers_a_slow_head_408(in_process: int) -> None:
    """A head begun and still unfinished after the timeout is answered 408, then closed."""
    with connect(in_process) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        raw, _ = trickle_until_answered(sock, within=15)
    [answer] = parse_answers(raw)
    assert (answer.status, answer.error_code()) == (408, "request_timeout")


def test_each_protocol_leaves_bodies_and_pipelining_alone(in_process: int) -> None:
    """Pipelined on one connection: bodies far over the head limit, by length and chunked
    (with a trailer), all reach the app whole."""
    body = b"x" * 200 * 1024
    answers = exchange(
        in_process,
        GET
        + b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(body)
        + body
        + b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
        + chunked(body, trailers=b"X-Checksum: 1\r\n")
        + LAST_GET,
    )
    assert [(a.status, json.loads(a.body)["body"]) for a in answers] == [
        (200, 0),
        (200, len(body)),
        (200, len(body)),
        (200, 0),
    ]


def test_a_refusal_waits_for_the_responses_pipelined_before_it(in_process: int) -> None:
    """A head over the limit behind a request still being answered: that request gets its
    200 first, then the 431, then the close."""
    answers = exchange(in_process, b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n" + head_of(4096))
    assert [a.status for a in answers] == [200, 431]


def test_h11_serves_a_head_its_own_ceiling_would_refuse() -> None:
    """h11 holds at most 16 KiB of an unfinished head unless told otherwise; with the head
    limit at 32 KiB, a 20 KB head arriving in two parts is served, not refused by h11 (400)."""
    head = head_of(20_000)
    with in_process_server(LimitedH11Protocol, max_head_bytes=32 * 1024) as port:
        with connect(port) as sock:
            sock.sendall(head[:18_000])
            time.sleep(0.3)  # the first part is read alone (were it not, h11 would pass anyway)
            sock.sendall(head[18_000:] + LAST_GET)
            assert [a.status for a in parse_answers(read_to_close(sock))] == [200, 200]
        assert [a.status for a in exchange(port, head_of(32 * 1024 + 1))] == [431]


# -- `uplift serve` --------------------------------------------------------------------------


def port_of(served: Served) -> int:
    return int(served.url.rsplit(":", 1)[1])


def rss_kib(served: Served) -> int:
    status = Path(f"/proc/{served.process.pid}/status").read_text()
    found = re.search(r"^VmRSS:\s+(\d+) kB", status, re.MULTILINE)
    assert found is not None
    return int(found.group(1))


def upload_header(port: int, total: int) -> tuple[bytes, int]:
    """Stream one header of `total` bytes in 64 KiB sends, as a client that ignores the answer
    would, reading the answer as soon as one arrives. Return the answer and the bytes sent."""
    answer = b""
    sent = 0
    with connect(port) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: uplift.test\r\nX-Big: ")
        chunk = b"a" * 65536
        while sent < total:
            try:
                sock.sendall(chunk)
            except (BrokenPipeError, ConnectionResetError):
                break  # the server has closed: it stopped reading long ago
            sent += len(chunk)
            if not answer and select.select([sock], [], [], 0)[0]:
                answer = read_to_close(sock)
        if not answer:
            answer = read_to_close(sock)
    return answer, sent


@pytest.mark.e2e
def test_a_64_mib_header_is_refused_431_without_growing_memory(
    serve: Callable[..., Served],
) -> None:
    """A client streaming a 64 MiB header gets a 431 and a closed connection; the server's
    resident memory does not grow by what it sent, and it keeps serving."""
    served = serve()
    port = port_of(served)
    exchange(port, GET + LAST_GET)  # warm: the paths below are imported and allocated once
    upload_header(port, 64 * 1024)
    before = rss_kib(served)

    raw, sent = upload_header(port, 64 * MiB)

    [answer] = parse_answers(raw)
    assert answer.status == 431
    assert answer.headers["connection"] == "close"
    assert answer.error_code() == "request_header_too_large"
    assert sent > 1 * MiB  # the server took far more than the limit without keeping it
    assert rss_kib(served) - before < MEMORY_SLACK_KIB
    assert [a.status for a in exchange(port, LAST_GET)] == [200]


@pytest.mark.e2e
def test_many_small_headers_over_the_limit_are_refused(serve: Callable[..., Served]) -> None:
    """Four hundred 50-byte headers (20 KB, each one harmless) are over the 16 KiB limit
    together: 431, and the connection closes."""
    served = serve()
    headers = b"".join(b"X-Header-%03d: %s\r\n" % (i, b"v" * 34) for i in range(400))
    request = b"GET /healthz HTTP/1.1\r\nHost: uplift.test\r\n" + headers + b"\r\n"
    assert 20_000 <= len(request) <= 21_000
    [answer] = exchange(port_of(served), request)
    assert (answer.status, answer.error_code()) == (431, "request_header_too_large")


@pytest.mark.e2e
def test_a_head_at_the_default_limit_is_served_and_one_byte_more_is_not(
    serve: Callable[..., Served],
) -> None:
    """The default limit is 16 KiB for the whole head, request line and blank line included."""
    served = serve()
    port = port_of(served)
    assert [a.status for a in exchange(port, head_of(16 * 1024) + LAST_GET)] == [200, 200]
    assert [a.status for a in exchange(port, head_of(16 * 1024 + 1))] == [431]


@pytest.mark.e2e
def test_the_head_limit_is_configurable(serve: Callable[..., Served]) -> None:
    """`UPLIFT_MAX_REQUEST_HEAD_BYTES=4096`: 4 KiB passes, 5 KB is refused."""
    served = serve(max_request_head_bytes="4096")
    port = port_of(served)
    assert [a.status for a in exchange(port, head_of(4096) + LAST_GET)] == [200, 200]
    assert [a.status for a in exchange(port, head_of(5000))] == [431]


@pytest.mark.e2e
def test_a_slow_head_is_answered_408_and_closed(serve: Callable[..., Served]) -> None:
    """A head trickling in a byte every half second is cut off after
    `UPLIFT_REQUEST_HEAD_TIMEOUT` (1 s here; long before the 10 s default would)."""
    served = serve(request_head_timeout="1")
    with connect(port_of(served)) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        raw, waited = trickle_until_answered(sock, within=30)
    [answer] = parse_answers(raw)
    assert (answer.status, answer.error_code()) == (408, "request_timeout")
    assert answer.headers["connection"] == "close"
    assert waited < 8


@pytest.mark.e2e
def test_many_slow_heads_are_all_closed_without_growing_memory(
    serve: Callable[..., Served],
) -> None:
    """Fifty connections each holding 8 KiB of an unfinished head and trickling more are all
    answered 408 and closed; afterwards the server's memory is where it was."""
    served = serve(request_head_timeout="1")
    port = port_of(served)
    with connect(port) as sock:  # warm the 408 path once
        sock.sendall(b"GET / HTTP/1.1\r\n")
        trickle_until_answered(sock, within=30)
    before = rss_kib(served)
    socks = [connect(port) for _ in range(50)]
    try:
        for sock in socks:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 8192)
        answered: dict[int, bytes] = {}
        deadline = time.monotonic() + 60
        while len(answered) < len(socks):
            assert time.monotonic() < deadline, f"{len(socks) - len(answered)} still open"
            waiting = [s for i, s in enumerate(socks) if i not in answered]
            for sock in select.select(waiting, [], [], 0.5)[0]:
                answered[socks.index(sock)] = read_to_close(sock)
            for sock in waiting:
                if socks.index(sock) not in answered:
                    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                        sock.send(b"a")  # an error means answered: the next select sees it
    finally:
        for sock in socks:
            sock.close()
    assert {parse_answers(raw)[0].status for raw in answered.values()} == {408}
    assert rss_kib(served) - before < MEMORY_SLACK_KIB
    assert [a.status for a in exchange(port, LAST_GET)] == [200]


@pytest.mark.e2e
def test_a_connection_that_sends_nothing_is_closed_after_the_head_timeout(
    serve: Callable[..., Served],
) -> None:
    """The head timeout starts when the connection opens; silence is closed without an answer
    (uvicorn alone would keep such a connection for ever)."""
    served = serve(request_head_timeout="1")
    with connect(port_of(served)) as sock:
        started = time.monotonic()
        assert read_to_close(sock) == b""
        assert time.monotonic() - started < 8


@pytest.mark.e2e
def test_an_idle_kept_alive_connection_is_timed_by_the_keep_alive_timeout(
    serve: Callable[..., Served],
) -> None:
    """Between requests the head timeout does not run: a connection idle for longer than it
    still gets its next request served. The idle one is closed by uvicorn's keep-alive timeout
    (5 s), without an answer; a request begun on it is timed from its first byte."""
    served = serve(request_head_timeout="1")
    with connect(port_of(served)) as sock:
        sock.sendall(GET)
        assert read_one(sock).status == 200
        time.sleep(2.5)
        sock.sendall(GET)
        assert read_one(sock).status == 200
        sock.sendall(b"GET /healthz HTTP/1.1\r\n")
        raw, _ = trickle_until_answered(sock, within=30)
        assert parse_answers(raw)[0].status == 408
    with connect(port_of(served)) as sock:
        sock.sendall(GET)
        assert read_one(sock).status == 200
        started = time.monotonic()
        assert read_to_close(sock) == b""
        assert time.monotonic() - started < 30


@pytest.mark.e2e
def test_bodies_do_not_count_and_pipelined_requests_are_all_answered(
    serve: Callable[..., Served],
) -> None:
    """With a 4 KiB head limit, signed 200 KiB webhook bodies (by length and chunked) are read
    whole (the signature over all of it matches, the JSON does not parse), between two
    GETs, all pipelined on one connection."""
    served = serve(max_request_head_bytes="4096", stripe_webhook_secrets=WEBHOOK_SECRET)
    body = b"x" * 200 * 1024
    signature = sign_webhook(body, WEBHOOK_SECRET, SystemClock().now()).encode()
    post = b"POST /webhooks/stripe HTTP/1.1\r\nHost: x\r\nStripe-Signature: " + signature
    answers = exchange(
        port_of(served),
        GET
        + post + b"\r\nContent-Length: %d\r\n\r\n" % len(body) + body
        + post + b"\r\nTransfer-Encoding: chunked\r\n\r\n" + chunked(body)
        + LAST_GET,
    )  # fmt: skip
    assert [a.status for a in answers] == [200, 400, 400, 200]
    assert [a.error_code() for a in answers[1:3]] == ["invalid_json", "invalid_json"]


@pytest.mark.e2e
def test_the_limits_hold_with_several_workers(serve: Callable[..., Served]) -> None:
    """`--workers 2`: the worker processes, which get the protocol from the parent pickled,
    apply the configured limits."""
    served = serve("--workers", "2", max_request_head_bytes="4096", request_head_timeout="1")
    port = port_of(served)
    for _ in range(4):  # connections spread over the workers
        assert [a.status for a in exchange(port, head_of(4096) + LAST_GET)] == [200, 200]
        assert [a.status for a in exchange(port, head_of(5000))] == [431]
        with connect(port) as sock:
            sock.sendall(b"GET /healthz HTTP/1.1\r\n")
            raw, waited = trickle_until_answered(sock, within=30)
        assert parse_answers(raw)[0].status == 408
        assert waited < 8
