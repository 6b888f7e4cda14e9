"""Structured logs: one JSON object a line on stderr, with secrets scrubbed on the way out.

Redaction happens in the formatter, the last step before a line leaves the process, so a secret
that slips into a message, an argument or an exception text is still caught. Two nets: shapes
that are always secret (Stripe keys, webhook secrets, admin keys, JWTs, bearer credentials) and
the exact values of the secrets this process was configured with.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Iterable
from typing import Any

REDACTED = "[redacted]"

SECRET_SHAPES = re.compile(
    r"""
    (?:sk|rk|pk)_(?:test|live)_[A-Za-z0-9_]+      # Stripe API keys
    | whsec_[A-Za-z0-9_+/=]+                      # Stripe webhook secrets
    | uplift_sk_[A-Za-z0-9_\-]+                   # Uplift admin keys
    | eyJ[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]*   # JWTs (customer tokens)
    | (?<=Bearer\ )[^\s"',]+                      # any bearer credential
    """,
    re.VERBOSE,
)

# Fields every record carries; anything else passed with `extra=` is logged as-is (redacted).
# uvicorn adds `color_message`, an ANSI-coloured copy of the message.
_STANDARD = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {
    "message",
    "asctime",
    "color_message",
}


class Redactor:
    def __init__(self, secrets: Iterable[str] = ()) -> None:
        # Longest first, so a secret that contains another is replaced whole.
        self._exact = sorted({s for s in secrets if len(s) >= 8}, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for secret in self._exact:
            text = text.replace(secret, REDACTED)
        return SECRET_SHAPES.sub(REDACTED, text)


class JsonFormatter(logging.Formatter):
    def __init__(self, redactor: Redactor) -> None:
        super().__init__()
        self._redact = redactor

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": round(record.created, 3),
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return self._redact(json.dumps(entry, default=str, ensure_ascii=False))


def configure(*, secrets: Iterable[str] = (), level: int = logging.INFO) -> None:
    """Route Uplift's and uvicorn's logs through the redacting JSON formatter."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(Redactor(secrets)))
    for name in ("uplift", "uvicorn", "uvicorn.error"):
        logger = logging.getLogger(name)
        logger.handlers[:] = [handler]
        logger.setLevel(level)
        logger.propagate = False
    # Uplift writes its own access log (without query strings or headers); uvicorn's would
    # print the raw request line.
    logging.getLogger("uvicorn.access").disabled = True


def get_logger(name: str) -> logging.Logger:
    return logging.getLogger(f"uplift.{name}")
