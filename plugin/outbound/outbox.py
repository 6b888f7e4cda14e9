"""Announcing an outbound event, inside the transaction of the fact it reports.

`announce` is the one way an event is made: the body is built (plugin/outbound/events.py) and
written to the outbox on the caller's connection, so it commits with the fact or not at all.
The worker delivers it after the commit (plugin/outbound/worker.py).
"""

from __future__ import annotations

from typing import Any

from plugin.outbound import events
from plugin.storage import Connection
from plugin.storage import outbound as store
from plugin.storage.steps import Steps, run


def announce_steps(
    event_type: str, data: dict[str, Any], *, now: int
) -> Steps[events.OutboundEvent]:
    event = events.make(event_type, data, now=now, event_id=store.new_event_id())
    yield from store.emit_steps(event)
    return event


async def announce(
    conn: Connection, event_type: str, data: dict[str, Any], *, now: int
) -> events.OutboundEvent:
    return await run(conn, announce_steps(event_type, data, now=now))
