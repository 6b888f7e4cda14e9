"""plugin/server.py: a response's head and body leave in one write, and nothing is held back."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, cast

import httpx
import pytest

from plugin.server import _JoinedWrites
from tests.conftest import Served


class _Recorder:
    """The parts of an asyncio transport `_JoinedWrites` passes through to."""

    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closed = False
        self.extra = {"peername": ("127.0.0.1", 1)}

    def write(self, data: bytes) -> None:
        assert not self.closed
        self.writes.append(data)

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def get_extra_info(self, name: str) -> Any:
        return self.extra.get(name)


def _joined() -> tuple[_JoinedWrites, _Recorder]:
    recorder = _Recorder()
    return _JoinedWrites(cast(asyncio.Transport, recorder), asyncio.get_running_loop()), recorder


async def _next_turn() -> None:
    await asyncio.sleep(0)
    await asyncio.sleep(0)


async def test_a_head_and_its_body_go_out_as_one_write() -> None:
    """Two writes in one turn of the loop reach the socket together, in order."""
    joined, recorder = _joined()
    joined.write(b"HTTP/1.1 200 OK\r\n\r\n")
    joined.write(b"{}")
    assert recorder.writes == [b"HTTP/1.1 200 OK\r\n\r\n{}"]
    await _next_turn()
    assert recorder.writes == [b"HTTP/1.1 200 OK\r\n\r\n{}"]


async def test_a_write_nothing_follows_goes_out_on_the_next_turn() -> None:
    """A head with no body (a 304, a HEAD) is not held past the current turn."""
    joined, recorder = _joined()
    joined.write(b"HTTP/1.1 304 Not Modified\r\n\r\n")
    assert recorder.writes == []
    await _next_turn()
    assert recorder.writes == [b"HTTP/1.1 304 Not Modified\r\n\r\n"]
    joined.write(b"next")
    joined.write(b" response")
    assert recorder.writes[1:] == [b"next response"]


async def test_close_sends_what_is_held_first() -> None:
    """uvicorn closes after its last write when the connection is not kept alive."""
    joined, recorder = _joined()
    joined.write(b"HTTP/1.1 400 Bad Request\r\n\r\n")
    joined.close()
    assert recorder.writes == [b"HTTP/1.1 400 Bad Request\r\n\r\n"]
    assert recorder.closed
    await _next_turn()
    assert len(recorder.writes) == 1


async def test_nothing_is_written_to_a_closed_connection() -> None:
    """The peer went away before the held write's turn came: it is dropped, not raised."""
    joined, recorder = _joined()
    joined.write(b"HTTP/1.1 200 OK\r\n\r\n")
    recorder.closed = True
    await _next_turn()
    assert recorder.writes == []


async def test_everything_else_is_the_transports() -> None:
    """Reads of the connection's details and state reach the transport itself."""
    joined, _ = _joined()
    assert joined.get_extra_info("peername") == ("127.0.0.1", 1)
    assert not joined.is_closing()


@pytest.mark.e2e
def test_one_connection_carries_answers_with_and_without_bodies(
    serve: Callable[..., Served],
) -> None:
    """Through `uplift serve`, a kept-alive connection gets each answer whole: bodies, a 304
    and a HEAD (heads only), errors."""
    served = serve()
    with httpx.Client(base_url=served.url, timeout=5) as http:
        script = http.get("/widget/uplift.js")
        assert script.status_code == 200
        assert script.content
        tag = script.headers["etag"]
        assert http.get("/widget/uplift.js", headers={"If-None-Match": tag}).status_code == 304
        head = http.head("/widget/uplift.js")
        assert (head.status_code, head.content) == (200, b"")
        unsigned = http.post("/webhooks/stripe", content=b"{}")
        assert unsigned.json()["error"]["code"] == "signature_missing"
        assert http.get("/nope").status_code == 404
        assert http.get("/healthz").status_code == 200
