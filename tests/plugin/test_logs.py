"""Secrets and tokens never reach the logs."""

from __future__ import annotations

import io
import json
import logging

import pytest

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
