"""The offers endpoint's answers, kept with a customer's cached facts.

Most page views ask for the same placement again within seconds, and the answer only changes
when the customer's facts, the offer snapshot or the token's claims change (the facts cache
drops an entry, and its kept answers with it, on any of those), or when time passes a point
where eligibility turns (`eligibility.stable_until`, the kept answer's `until`). Between
those, the answer differs from the one kept only by its countdowns, which count down with the
clock. So an answer is kept as its rendered bytes in pieces around each countdown's number,
with the second each countdown ends, and a later request joins the pieces with the numbers of
its own second: byte for byte what rendering it afresh would give
(tests/api/test_widget_kept_answers.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

KEPT_PER_CUSTOMER = 16  # placements whose answer is kept per customer

# A countdown is rendered first as a number no real countdown has, then split out there. The
# key's bytes with an unescaped quote only ever come from the encoder (a quote inside a string
# is `\"`), so the split cannot land inside a string.
_COUNTDOWN = b'"countdown_seconds":'
_MARK = -7_355_608_000


@dataclass(frozen=True, slots=True)
class KeptAnswer:
    made_at: int
    until: int | None  # the first second it could differ otherwise than by counting down
    parts: tuple[bytes, ...]  # the body, split where each countdown's number goes
    ends: tuple[int, ...]  # the second each countdown reaches zero, one per split

    @classmethod
    def of(
        cls,
        document: dict[str, Any],
        body: bytes,
        *,
        render: Callable[[dict[str, Any]], bytes],
        now: int,
        until: int | None,
    ) -> KeptAnswer:
        """`body`, which is `render(document)` at `now`, kept until `until`."""
        shown = [offer for offer in document["data"] if offer["countdown_seconds"] is not None]
        if not shown:
            return cls(now, until, (body,), ())
        ends = tuple(now + offer["countdown_seconds"] for offer in shown)
        marked = dict(document, data=[dict(offer) for offer in document["data"]])
        n = 0
        for offer in marked["data"]:
            if offer["countdown_seconds"] is not None:
                offer["countdown_seconds"] = _MARK - n
                n += 1
        rendered = render(marked)
        parts = []
        for n in range(len(ends)):
            head, _, rendered = rendered.partition(_COUNTDOWN + b"%d" % (_MARK - n))
            parts.append(head + _COUNTDOWN)
        parts.append(rendered)
        return cls(now, until, tuple(parts), ends)

    def fresh(self, now: int) -> bool:
        return self.made_at <= now and (self.until is None or now < self.until)

    def body(self, now: int) -> bytes:
        """The body as rendering it at `now` would give (its countdowns counted down)."""
        if not self.ends:
            return self.parts[0]
        pieces = [self.parts[0]]
        for end, part in zip(self.ends, self.parts[1:], strict=True):
            pieces += (b"%d" % max(0, end - now), part)
        return b"".join(pieces)


@dataclass(slots=True)
class KeptAnswers:
    """One customer's kept answers by placement (None: no placement), for the facts, snapshot
    and token they were made for; emptied with them."""

    by_placement: dict[str | None, KeptAnswer] = field(default_factory=dict)

    def body(self, placement: str | None, now: int) -> bytes | None:
        """The kept answer's body for `placement` at `now`, if one is kept and still fresh."""
        found = self.by_placement.get(placement)
        return found.body(now) if found is not None and found.fresh(now) else None

    def has_room(self) -> bool:
        return len(self.by_placement) < KEPT_PER_CUSTOMER

    def keep(self, placement: str | None, answer: KeptAnswer) -> None:
        self.by_placement[placement] = answer
