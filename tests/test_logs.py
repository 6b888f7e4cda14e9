"""Secrets and tokens never reach the logs."""

from __future__ import annotations

import io
import json
import logging

import pytest
from hypothesis import given
from hypothesis import strategies as st

from plugin import auth, logs
from tests.support import NOW, WIDGET_SECRET

CANARIES = [
    "sk_live_CANARY0123456789abcdef",
    "rk_test_CANARY0123456789abcdef",
    "whsec_CANARY0123456789abcdef",
    "uplift_sk_CANARY-0123456789_abcdef",
]


@pytest.fixture
def captured() -> io.StringIO:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logs.JsonFormatter(logs.Redactor(["my-own-widget-secret-value"])))
    logger = logging.getLogger("uplift.test-redaction")
    logger.handlers[:] = [handler]
    logger.propagate = False
    logger.setLevel(logging.INFO)
    return stream


@pytest.mark.parametrize("secret", CANARIES)
def test_secret_shapes_are_redacted_from_messages_and_fields(
    captured: io.StringIO, secret: str
) -> None:
    """A secret in the message, in an extra field or in an exception never prints."""
    logger = logging.getLogger("uplift.test-redaction")
    logger.info("calling with %s", secret, extra={"detail": {"key": secret}})
    try:
        raise ValueError(f"bad key {secret}")
    except ValueError:
        logger.exception("failed")
    output = captured.getvalue()
    assert secret not in output
    assert output.count(logs.REDACTED) >= 3
    for line in output.splitlines():
        json.loads(line)  # still one JSON object a line


def test_customer_tokens_and_bearer_values_are_redacted(captured: io.StringIO) -> None:
    """JWTs, and anything after `Bearer `, are scrubbed."""
    token = auth.issue_customer_token(secret=WIDGET_SECRET, customer_id="c", now=NOW)
    logger = logging.getLogger("uplift.test-redaction")
    logger.info("auth %s", f"Authorization: Bearer {token}")
    logger.info("opaque", extra={"header": "Bearer opaque-credential-123"})
    output = captured.getvalue()
    assert token not in output
    assert "opaque-credential-123" not in output


def test_configured_secret_values_are_redacted_whatever_their_shape(
    captured: io.StringIO,
) -> None:
    """A widget secret has no recognisable shape, so its exact value is scrubbed."""
    logging.getLogger("uplift.test-redaction").info("value my-own-widget-secret-value here")
    assert "my-own-widget-secret-value" not in captured.getvalue()


def _batching(name: str, secrets: list[str]) -> tuple[logging.Logger, io.StringIO]:
    stream = io.StringIO()
    handler = logs.BatchingStreamHandler(stream)
    handler.setFormatter(logs.JsonFormatter(logs.Redactor(secrets)))
    parent = logging.getLogger(name)
    parent.handlers[:] = [handler]
    parent.propagate = False
    parent.setLevel(logging.INFO)
    return logging.getLogger(f"{name}.http"), stream


def test_the_access_logs_fast_line_is_the_standard_line() -> None:
    """`info_fast` (no LogRecord) writes what `handle(makeRecord(...))` writes, redacted."""
    logger, stream = _batching("uplift.test-fast", ["my-own-widget-secret-value"])
    fields = {
        "method": "GET",
        "path": "/x/my-own-widget-secret-value/sk_live_CANARY0123456789abcdef",
        "status": 200,
        "duration_ms": 0.12,
        "request_id": "abc",
        "_private": 1,
        "odd": object(),
    }
    assert logs.info_fast(logger, "request", dict(fields))
    record = logger.makeRecord(logger.name, logging.INFO, "f", 0, "request", (), None, extra=fields)
    logger.handle(record)
    logging.getLogger("uplift.test-fast").handlers[0].flush()
    fast, standard = (json.loads(line) for line in stream.getvalue().splitlines())
    assert fast.pop("ts") == pytest.approx(standard.pop("ts"), abs=5)
    fast["odd"] = standard["odd"] = "<object>"  # its repr holds an address
    assert list(fast) == list(standard)
    assert fast == standard
    assert "my-own-widget-secret-value" not in stream.getvalue()
    assert "CANARY" not in stream.getvalue()


def test_the_access_log_takes_the_standard_path_when_set_up_otherwise(
    captured: io.StringIO,
) -> None:
    """A logger with a handler of another kind (a test's capture, a user's config) gets its
    records through the logging module as before."""
    logger = logging.getLogger("uplift.test-redaction")
    assert not logs.info_fast(logger, "request", {"path": "/"})
    _, stream = _batching("uplift.test-fast-2", [])
    child = logging.getLogger("uplift.test-fast-2.http")
    child.addHandler(logging.StreamHandler(io.StringIO()))
    try:
        assert not logs.info_fast(child, "request", {"path": "/"})
    finally:
        child.handlers.clear()
    child.setLevel(logging.WARNING)
    assert not logs.info_fast(child, "request", {"path": "/"})
    assert stream.getvalue() == ""


@pytest.mark.parametrize("text", ["plain line", *CANARIES, *logs._SHAPE_MARKERS])
def test_the_marker_check_knows_every_shape_marker(text: str) -> None:
    assert logs._has_marker(text) == any(m in text for m in logs._SHAPE_MARKERS)


_values = st.one_of(
    st.text(),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.none(),
    st.lists(st.integers(), max_size=2),
)


@given(
    st.dictionaries(st.sampled_from(["path", "status", "ts", "event", "_x", "msg"]) | st.text(),
                    _values, max_size=6),
    st.floats(0, 2e9),
)  # fmt: skip
def test_an_info_line_is_the_standard_formatters_line_byte_for_byte(
    fields: dict[str, object], created: float
) -> None:
    """Any fields, those it joins by hand (strings, ints, finite floats) and those it leaves
    to the encoder: the same bytes as `format` of the record `makeRecord` would make."""
    formatter = logs.JsonFormatter(logs.Redactor([]))
    if any(key in logs._STANDARD for key in fields):
        return  # makeRecord refuses to overwrite a record's own attributes
    record = logging.makeLogRecord(
        {"name": "uplift.t", "levelno": logging.INFO, "levelname": "INFO", "msg": "request"}
    )
    record.created = created
    record.__dict__.update(fields)
    assert formatter.info_line(created, "uplift.t", "request", fields) == formatter.format(record)
