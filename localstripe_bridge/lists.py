"""Stripe's list object and cursor pagination, for the bridge's own list routes."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from localstripe_bridge import params
from localstripe_bridge.errors import invalid, no_such
from localstripe_bridge.params import Params


def page(objects: Sequence[Any], data: Params, *, kind: str) -> tuple[list[Any], bool]:
    """`limit` (1-100, default 10) objects after `starting_after` or before `ending_before`."""
    limit = params.integer(data, "limit", minimum=1)
    limit = 10 if limit is None else limit
    if limit > 100:
        raise invalid("This value must be less than or equal to 100.", param="limit")
    ids = [obj.id for obj in objects]
    after = params.text(data, "starting_after")
    before = params.text(data, "ending_before")
    for cursor, name in ((after, "starting_after"), (before, "ending_before")):
        if cursor is not None and cursor not in ids:
            raise no_such(kind, cursor, param=name)
    if after is not None:
        rest = list(objects[ids.index(after) + 1 :])
        return rest[:limit], len(rest) > limit
    if before is not None:
        rest = list(objects[: ids.index(before)])
        return rest[-limit:], len(rest) > limit
    return list(objects[:limit]), len(objects) > limit


def body(url: str, data: list[dict[str, Any]], has_more: bool) -> dict[str, Any]:
    return {"object": "list", "data": data, "has_more": has_more, "url": url}
