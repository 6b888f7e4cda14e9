"""Structured logs: one JSON object a line on stderr, with secrets scrubbed on the way out.

Redaction happens in the formatter, the last step before a line leaves the process, so a secret
that slips into a message, an argument or an exception text is still caught. Two nets: shapes
that are always secret (Stripe keys, webhook secrets, admin keys, JWTs, bearer credentials) and
the exact values of the secrets this process was configured with.
"""

from __future__ import annotations

import asyncio
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

_SHAPE_MARKERS = ("sk_", "rk_", "pk_", "whsec_", "eyJ", "Bearer ")
_MARKERS = re.compile("|".join(re.escape(m) for m in _SHAPE_MARKERS))  # one scan, not six

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
        # Every shape starts with one of these literals: a line with none of them (most lines,
        # every access-log line without a secret in its path) has nothing for the pattern.
        if _MARKERS.search(text) is not None:
            text = SECRET_SHAPES.sub(REDACTED, text)
        return text


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


FLUSH_SECONDS = 0.1  # how late a line may reach stderr while a server is busy
MAX_PENDING = 256  # lines held at most before they are written


class BatchingStreamHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """A stream handler that writes the lines of one busy moment with one `write`.

    Writing a line to stderr is a system call, which cost more than building the line (the
    access log writes one per request). Inside an event loop lines are held for at most
    `FLUSH_SECONDS` (or `MAX_PENDING` lines) and written together; warnings and errors, and
    anything logged outside an event loop (the CLI, threads), are written at once. `flush`
    (called by `logging.shutdown` at exit) writes whatever is held."""

    def __init__(self, stream: Any = None) -> None:
        super().__init__(stream)
        self._pending: list[str] = []
        self._scheduled = False

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record)
        except Exception:
            self.handleError(record)
            return
        self._pending.append(line)
        if record.levelno >= logging.WARNING or len(self._pending) >= MAX_PENDING:
            self.flush()
            return
        if not self._scheduled:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:  # not on an event loop's thread
                self.flush()
                return
            self._scheduled = True
            loop.call_later(FLUSH_SECONDS, self._flush_later)

    def _flush_later(self) -> None:
        self._scheduled = False
        self.flush()

    def flush(self) -> None:
        self.acquire()
        try:
            if self._pending:
                lines, self._pending = self._pending, []
                try:
                    self.stream.write("\n".join(lines) + "\n")
                except Exception:
                    self.handleError(logging.makeLogRecord({"msg": "log write failed"}))
            super().flush()
        finally:
            self.release()


def configure(*, secrets: Iterable[str] = (), level: int = logging.INFO) -> None:
    """Route Uplift's and uvicorn's logs through the redacting JSON formatter."""
    handler = BatchingStreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(Redactor(secrets)))
    for name in ("uplift", "uvicorn", "uvicorn.error"):
        logger = logging.getLogger(name)
        logger.handlers[:] = [handler]
        logger.setLevel(level)
        logger.propagate = False
    # Uplift writes its own access log (without query strings or headers); uvicorn's would
    # print the raw request line.
    logging.getLogger("uvicorn.access").disabled = True
    # A line shows none of the thread, process or multiprocessing fields (`_STANDARD`), so
    # records need not look them up (three calls per record, per request for the access log).
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False


def get_logger(name: str) -> logging.Logger:
    return logging.getLogger(f"uplift.{name}")
