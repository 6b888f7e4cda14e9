"""The log handler writes a busy moment's lines together, and never loses or delays errors."""

from __future__ import annotations

import asyncio
import io
import json
import logging

import pytest
from hypothesis import given
from hypothesis import strategies as st

from plugin import logs


@pytest.fixture
def logged() -> tuple[logging.Logger, io.StringIO]:
    stream = io.StringIO()
    handler = logs.BatchingStreamHandler(stream)
    handler.setFormatter(logs.JsonFormatter(logs.Redactor()))
    logger = logging.getLogger("uplift.test-batching")
    logger.handlers[:] = [handler]
    logger.propagate = False
    logger.setLevel(logging.INFO)
    return logger, stream


def _events(stream: io.StringIO) -> list[str]:
    return [json.loads(line)["event"] for line in stream.getvalue().splitlines()]


def test_outside_an_event_loop_every_line_is_written_at_once(
    logged: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, stream = logged
    logger.info("one")
    assert _events(stream) == ["one"]


async def test_lines_in_a_busy_moment_arrive_together_and_in_order(
    logged: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, stream = logged
    for n in range(5):
        logger.info("request %d", n)
    held = _events(stream)
    await asyncio.sleep(logs.FLUSH_SECONDS * 3)  # the scheduled write runs on the loop
    assert held == []
    assert _events(stream) == [f"request {n}" for n in range(5)]


async def test_a_warning_writes_everything_held_before_it_at_once(
    logged: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, stream = logged
    logger.info("before")
    logger.warning("trouble")
    assert _events(stream) == ["before", "trouble"]


async def test_flush_writes_what_is_held(logged: tuple[logging.Logger, io.StringIO]) -> None:
    logger, stream = logged
    logger.info("held")
    for handler in logger.handlers:
        handler.flush()
    assert _events(stream) == ["held"]


_pieces = st.sampled_from(
    ["sk_test_abc123", "rk_live_X", "pk_test_", "whsec_Zm9v", "uplift_sk_k-1", "eyJa.eyJb.c",
     "Bearer tok", "Bearer", "bearer x", "sk", "_test_", "eyJ", " ", "/api/v1/x", '"', "é"]
)  # fmt: skip


@given(st.lists(st.one_of(_pieces, st.text(max_size=5)), max_size=12).map("".join))
def test_skipping_the_pattern_on_lines_without_a_marker_redacts_the_same(text: str) -> None:
    assert logs.Redactor()(text) == logs.SECRET_SHAPES.sub(logs.REDACTED, text)
