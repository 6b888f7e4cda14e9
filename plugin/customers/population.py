"""Every customer as targeting sees them, kept in the process for the admin's audience counts.

Reading and parsing 20,000 customers' facts takes seconds; an admin asks for an offer's audience
again with every edit. So the process keeps the population it read, and the facts cache's write
tracking (plugin/customers/facts.py) tells it what changed since: every name a committed
write mentioned (a customer id, a Stripe customer id, a subscription id, or any other string).
The next read re-reads only the customers those names identify, and the names that identify no
known customer as possible new customer ids, in one statement. It starts over after another
process's commit to the SQLite file, after `MAX_AGE`, after too many names, and on a database
that is not tracked (several instances on PostgreSQL), where it reads everyone every time.

The states are made again from the facts only for the customers re-read, or for all of them
when the offer snapshot (the plan ladder) changed. A state's `recent_impressions` holds every
impression of its history, not only the last 24 hours': its readers (the global cap's
`remaining_today`) count the 24 hours before their own `now`, so a state made earlier still
answers for a later `now`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from plugin.auth import CustomerIdentity
from plugin.customers import facts as facts_cache
from plugin.customers.view import customer_context
from plugin.offers.eligibility import CustomerState
from plugin.offers.snapshot import Snapshot
from plugin.storage import Database
from plugin.storage import customers as customer_store
from plugin.storage import offers as offer_store
from plugin.timespan import DAY

MAX_AGE = facts_cache.MAX_AGE  # seconds (loop time): as the facts cache's bound on staleness
MAX_NAMES = 2_000  # more names changed than this: read everyone again


def _state(facts: customer_store.TargetingFacts, snapshot: Snapshot) -> CustomerState:
    record = facts.record
    assert record is not None  # noqa: S101 -- the population holds customers with a record
    identity = CustomerIdentity(customer_id=record.id, expires_at=0)
    context = customer_context(facts, identity, snapshot)
    # `now` only bounds the 24 hours of `recent_impressions`; far ahead, it keeps them all.
    state = offer_store.summarise(facts.events, facts.assignments, now=2**62)
    return CustomerState(
        context=context,
        histories=state.histories,
        recent_impressions=tuple(at for _, kind, at in facts.events if kind == "impression"),
        assignments=state.assignments,
    )


def _trimmed(
    facts: customer_store.TargetingFacts, since: int
) -> customer_store.TargetingFacts | None:
    """None when the facts read with an earlier cut-off hold nothing older than `since`."""
    if not facts.events or facts.events[0][2] >= since:
        return None
    events = [e for e in facts.events if e[2] >= since or e[1] in ("decline", "accept")]
    return dataclasses.replace(facts, events=events)


@dataclass(slots=True)
class Population:
    facts: dict[str, customer_store.TargetingFacts] = field(default_factory=dict)
    states: dict[str, CustomerState] = field(default_factory=dict)
    names: dict[str, set[str]] = field(default_factory=dict)  # name -> customer ids
    snapshot: Snapshot | None = None
    since: int = 0
    read_at: float = float("-inf")
    changed: set[str] | None = None  # names written since the last read (the facts cache's)
    reads: int = 0  # statements made, and how many of them read everyone (for tests)
    whole_reads: int = 0

    def _index(self, facts: customer_store.TargetingFacts) -> None:
        record = facts.record
        assert record is not None  # noqa: S101 -- see `_state`
        for name in (record.id, facts.stripe_customer, *(item[0] for item in facts.items)):
            if name is not None:
                self.names.setdefault(name, set()).add(record.id)

    def _forget(self) -> None:
        self.facts.clear()
        self.states.clear()
        self.names.clear()

    async def read(
        self, db: Database, *, snapshot: Snapshot, now: int, loop_time: float
    ) -> list[CustomerState]:
        """Every customer with a record, in id order, as of now."""
        since = now - offer_store.HISTORY_DAYS * DAY
        cache: facts_cache.FactsCache | None = getattr(db, "facts", None)
        tracked = cache is not None and cache.enabled
        if tracked and cache is not None:
            cache.look(now=loop_time)
        changed = self.changed
        whole = (
            not tracked
            or changed is None
            or facts_cache.EVERYTHING in changed
            or len(changed) > MAX_NAMES
            or loop_time - self.read_at > MAX_AGE
            or since < self.since
        )
        if tracked and cache is not None:
            if changed is not None:
                cache.abandon(changed)
            self.changed = cache.begin_read()  # what commits from here on will name
        if whole:
            self._forget()
            async with db.read() as conn:
                everyone = await customer_store.population(conn, since=since)
            self.reads += 1
            self.whole_reads += 1
            for found in everyone:
                if found.record is not None:
                    self.facts[found.record.id] = found
                    self._index(found)
            self.read_at, self.since, self.snapshot = loop_time, since, None
        elif changed:
            wanted = set()
            for name in changed:
                wanted |= self.names.get(name, {name})  # unknown: perhaps a new customer
            async with db.read() as conn:
                found_now = await customer_store.population(
                    conn, since=self.since, only=sorted(wanted)
                )
            self.reads += 1
            for customer_id in wanted:
                self.facts.pop(customer_id, None)
                self.states.pop(customer_id, None)
            for found in found_now:
                if found.record is not None:
                    self.facts[found.record.id] = found
                    self._index(found)
        if since > self.since:
            for customer_id, facts in list(self.facts.items()):
                trimmed = _trimmed(facts, since)
                if trimmed is not None:
                    self.facts[customer_id] = trimmed
                    self.states.pop(customer_id, None)
            self.since = since
        if snapshot is not self.snapshot:
            self.states.clear()
            self.snapshot = snapshot
        states = self.states
        for customer_id, facts in self.facts.items():
            if customer_id not in states:
                states[customer_id] = _state(facts, snapshot)
        return [states[customer_id] for customer_id in sorted(self.facts)]
