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
import time
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


def _has_marker(text: str) -> bool:
    """`any(marker in text for marker in _SHAPE_MARKERS)`, without the generator (a third of
    the check on an access-log line)."""
    return (
        "sk_" in text
        or "rk_" in text
        or "pk_" in text
        or "whsec_" in text
        or "eyJ" in text
        or "Bearer " in text
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
        # Every shape starts with one of these literals: a line with none of them (most lines,
        # every access-log line without a secret in its path) has nothing for the pattern.
        if _has_marker(text):
            text = SECRET_SHAPES.sub(REDACTED, text)
        return text


class JsonFormatter(logging.Formatter):
    def __init__(self, redactor: Redactor) -> None:
        super().__init__()
        self._redact = redactor
        # The start of an INFO line by (logger, event): the access log writes the same one
        # per request.
        self._heads: dict[tuple[str, str], str] = {}

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

    def info_line(self, created: float, logger: str, event: str, fields: dict[str, Any]) -> str:
        """The line `format` makes of an INFO record with these `extra` fields and no
        arguments or exception (tests/test_logs.py compares the two). Joined by hand
        when every field is a string, an int or a finite float (the encoder's generic
        machinery was most of an access-log line's cost), byte for byte what `json.dumps`
        gives; anything else goes through `json.dumps`."""
        head = self._heads.get((logger, event))
        if head is None:
            head = f', "level": "info", "logger": {_quote(logger)}, "event": {_quote(event)}'
            if len(self._heads) < 256:
                self._heads[(logger, event)] = head
        parts = ['{"ts": ', repr(round(created, 3)), head]
        for key, value in fields.items():
            if key in _STANDARD or key.startswith("_"):
                continue
            kind = type(value)
            if key in _HEAD_KEYS:
                break  # it replaces a head value in place: the encoder's way
            if kind is str:
                parts += (", ", _quote(key), ": ", _quote(value))
            elif kind is int or (kind is float and value - value == 0):  # finite
                parts += (", ", _quote(key), ": ", repr(value))
            else:
                break
        else:
            parts.append("}")
            return self._redact("".join(parts))
        entry: dict[str, Any] = {
            "ts": round(created, 3),
            "level": "info",
            "logger": logger,
            "event": event,
        }
        for key, value in fields.items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = value
        return self._redact(json.dumps(entry, default=str, ensure_ascii=False))


_quote = json.encoder.encode_basestring  # what json.dumps(ensure_ascii=False) quotes with
_HEAD_KEYS = frozenset({"ts", "level", "logger", "event"})


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
        self.hold(line, record.levelno)

    def hold(self, line: str, levelno: int) -> None:
        """Write `line` with the next batch (at once for a warning or worse, or off a loop)."""
        self._pending.append(line)
        if levelno >= logging.WARNING or len(self._pending) >= MAX_PENDING:
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


def info_fast(logger: logging.Logger, event: str, fields: dict[str, Any]) -> bool:
    """Log an INFO line with `extra=fields` as `logger.handle(logger.makeRecord(...))` would,
    without making a `LogRecord` and walking the handler chain, when the logger is set up as
    `configure` leaves it (its one handler ours, no filters, not propagating); else do nothing
    and return False (the caller takes the standard path). For the access log: a line per
    request was ~12 µs, most of it the record and the generic formatting around the JSON."""
    if logger.filters or logger.disabled:
        return False
    handlers: list[logging.Handler] = []
    current: logging.Logger | None = logger
    while current is not None:  # the handlers `Logger.callHandlers` would call
        handlers.extend(current.handlers)
        current = current.parent if current.propagate else None
    if len(handlers) != 1:
        return False
    handler = handlers[0]
    formatter = handler.formatter
    if (
        type(handler) is not BatchingStreamHandler
        or handler.filters
        or handler.level > logging.INFO
        or type(formatter) is not JsonFormatter
        or not logger.isEnabledFor(logging.INFO)
    ):
        return False
    try:
        created = time.time()  # noqa: TID251 -- a log line's timestamp, as LogRecord.created
        line = formatter.info_line(created, logger.name, event, fields)
    except Exception:
        return False  # the standard path reports it
    handler.acquire()
    try:
        handler.hold(line, logging.INFO)
    finally:
        handler.release()
    return True


def get_logger(name: str) -> logging.Logger:
    return logging.getLogger(f"uplift.{name}")
