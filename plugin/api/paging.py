"""Stripe-style lists: `{"object": "list", "data": [...], "has_more": bool}`, `limit` (default
100, at most 500) and `starting_after=<id>` for the next page."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

from pydantic import BaseModel
from starlette.responses import JSONResponse

from plugin.api.answers import Page
from plugin.errors import ValidationFailed

Item = TypeVar("Item", bound=BaseModel)

DEFAULT_LIMIT = 100
MAX_LIMIT = 500


def limit_param(raw: str | None) -> int:
    if raw is None:
        return DEFAULT_LIMIT
    if not raw.isascii() or not raw.isdigit() or not 1 <= int(raw) <= MAX_LIMIT:
        raise ValidationFailed(
            f"limit must be a whole number from 1 to {MAX_LIMIT}, got {raw[:20]!r}.",
            field="limit",
        )
    return int(raw)


def list_response(page: type[Page[Item]], rows: Sequence[Item], *, limit: int) -> JSONResponse:
    """`rows` holds up to `limit + 1` items: the extra one only says there is more."""
    answer = page(object="list", data=list(rows[:limit]), has_more=len(rows) > limit)
    return JSONResponse(answer.document())
