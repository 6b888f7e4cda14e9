"""The email worker: decides which lifecycle emails are due, then sends them, in the background.

Each pass (every `INTERVAL` seconds, and on `wake()`):

1. **Decide.** For the live offers with an email channel, the kept population of customers
   (plugin/customers/population.py, the admin's audience counts read the same) is run through
   `campaign.due`; each due email is recorded with the impression it counts as
   (`email_store.decide`, one transaction, UNIQUE per offer and customer: at most once, across
   processes and instances too).
2. **Send.** Due sends are taken under a lease, rendered (Jinja2 sandbox, the customer's
   values), and handed to the SMTP relay with `List-Unsubscribe` (one click, RFC 8058) and a
   Message-ID made from the send's id. A temporary failure (4xx, a connection that failed) is
   retried on the outbound webhooks' schedule for up to 3 days; a permanent one (5xx) fails
   the send. A process that dies after the relay accepted and before the send is marked sent
   sends it again when the lease runs out (at least once: SMTP gives nothing better); the
   repeat has the same Message-ID, by which mail systems drop duplicates.

Nothing is decided without a relay (`UPLIFT_SMTP_URL`), a sender (`UPLIFT_EMAIL_FROM`) and the
widget secret the links are signed with (`UPLIFT_WIDGET_SECRET`).
"""

from __future__ import annotations

import asyncio
from urllib.parse import urlsplit

from plugin import background
from plugin.clock import Clock
from plugin.customers.population import Population
from plugin.email import campaign, links
from plugin.email.message import build_message
from plugin.email.smtp import Mailer, MailRejected, MailTemporarilyFailed
from plugin.email.templates import EmailCopy, render
from plugin.errors import ValidationFailed
from plugin.logs import get_logger
from plugin.offers.eligibility import CustomerState
from plugin.offers.snapshot import OfferSnapshot, Snapshot
from plugin.outbound import backoff
from plugin.storage import Database
from plugin.storage import email as store
from plugin.timespan import DAY

log = get_logger("email")

INTERVAL = 60.0
BATCH = 16
ERROR_PAUSE = 5.0
LEASE = 120  # seconds: longer than a send can take (the relay's timeout is 10 s)
STOP_GRACE = 15.0
LINK_PARAMETER = "uplift_offer"


def link_key(widget_secret: str) -> bytes:
    return links.derive_key(widget_secret.encode(), "email-offer-link")


def unsubscribe_key(widget_secret: str) -> bytes:
    return links.derive_key(widget_secret.encode(), "email-unsubscribe")


def offer_link(url: str, token: str) -> str:
    joiner = "&" if "?" in url else "?"
    return f"{url}{joiner}{LINK_PARAMETER}={token}"


class EmailWorker:
    def __init__(
        self,
        *,
        db: Database,
        clock: Clock,
        snapshot: OfferSnapshot,
        population: Population,
        mailer: Mailer,
        sender: str,
        widget_secret: str,
        public_url: str,
        link_days: int = 14,
        interval: float = INTERVAL,
    ) -> None:
        self._db = db
        self._clock = clock
        self._snapshot = snapshot
        self._population = population
        self._mailer = mailer
        self._sender = sender
        self._link_key = link_key(widget_secret)
        self._unsubscribe_key = unsubscribe_key(widget_secret)
        self._public_url = public_url.rstrip("/")
        self._domain = urlsplit(public_url).hostname or "uplift.invalid"
        self._link_days = link_days
        self._interval = interval
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="uplift-email-worker")

    async def stop(self) -> None:
        if self._task is None:
            return
        self._stopping = True
        self._wake.set()
        await background.finish(self._task, grace=STOP_GRACE)
        self._task = None

    def wake(self) -> None:
        self._wake.set()

    async def run_once(self) -> tuple[int, int]:
        """One pass: (emails decided, sends attempted)."""
        now = self._clock.now()
        snapshot = await self._snapshot.get()
        offers = [o for o in snapshot.offers if o.email is not None and o.live(now)]
        states: dict[str, CustomerState] = {}
        decided = 0
        if offers:
            loop_time = asyncio.get_running_loop().time()
            read = await self._population.read(
                self._db, snapshot=snapshot, now=now, loop_time=loop_time
            )
            states = {s.context.customer_id: s for s in read}
            sent = {o.id: await store.already(self._db, offer_id=o.id) for o in offers}
            suppressed = await store.suppressed(self._db)
            for due in campaign.due(
                offers,
                states.values(),
                sent=sent,
                suppressed=suppressed,
                now=now,
                ladder=snapshot.ladder,
            ):
                async with self._db.transaction() as conn:
                    made = await store.decide(
                        conn,
                        offer_id=due.offer.id,
                        customer_id=due.customer_id,
                        variant=due.variant,
                        address=due.address,
                        now=now,
                    )
                decided += made is not None
        attempted = 0
        while not self._stopping:
            batch = await store.claim(self._db, now=self._clock.now(), lease=LEASE, limit=BATCH)
            if not batch:
                break
            for send in batch:
                await self._send(send, snapshot, states)
                attempted += 1
        return decided, attempted

    async def _send(
        self, send: store.SendRecord, snapshot: Snapshot, states: dict[str, CustomerState]
    ) -> None:
        now = self._clock.now()
        offer = snapshot.offer(send.offer_id)
        state = states.get(send.customer_id)
        if state is None:  # decided by another process, or this one's population moved on
            loop_time = asyncio.get_running_loop().time()
            read = await self._population.read(
                self._db, snapshot=snapshot, now=now, loop_time=loop_time
            )
            states.update({s.context.customer_id: s for s in read})
            state = states.get(send.customer_id)
        if offer is None or offer.email is None or state is None:
            await store.finish(
                self._db, send_id=send.id, status="failed", now=now,
                error="the offer or the customer is gone",
            )  # fmt: skip
            return
        channel = offer.email
        token = links.sign_offer_link(
            self._link_key,
            offer_id=offer.id,
            customer_id=send.customer_id,
            expires_at=now + self._link_days * DAY,
        )
        unsubscribe = links.sign_unsubscribe(self._unsubscribe_key, customer_id=send.customer_id)
        unsubscribe_url = f"{self._public_url}/email/unsubscribe/{unsubscribe}"
        due = campaign.Due(offer, send.customer_id, send.variant, send.address)
        values = campaign.variables(
            due,
            state,
            plans=snapshot.plans,
            prices=snapshot.prices,
            link=offer_link(channel.link_url, token),
            unsubscribe_url=unsubscribe_url,
        )
        try:
            rendered = render(EmailCopy(channel.subject, channel.text, channel.html), values)
            message = build_message(
                sender=self._sender,
                to=send.address,
                rendered=rendered,
                unsubscribe_url=unsubscribe_url,
                message_id=f"{send.id}@{self._domain}",
                sent_at=now,
            )
            await self._mailer.send(message)
        except MailTemporarilyFailed as exc:
            retry = backoff.next_attempt(
                send.attempts, key=send.id, window_start=send.created_at, now=now
            )
            status: store.SendStatus = "pending" if retry is not None else "failed"
            await store.finish(
                self._db, send_id=send.id, status=status, now=now, error=exc.message,
                retry_at=retry,
            )  # fmt: skip
            log.info("email not sent yet", extra={"send": send.id, "error": exc.message})
            return
        except (MailRejected, ValidationFailed, ValueError) as exc:
            error = exc.message if isinstance(exc, MailRejected | ValidationFailed) else str(exc)
            await store.finish(self._db, send_id=send.id, status="failed", now=now, error=error)
            log.warning("email not sent", extra={"send": send.id, "error": error})
            return
        await store.finish(self._db, send_id=send.id, status="sent", now=now)

    async def _run(self) -> None:
        while not self._stopping:
            self._wake.clear()
            try:
                await self.run_once()
            except Exception as exc:
                log.error("email worker error", exc_info=exc)
                await self._sleep(ERROR_PAUSE)
                continue
            await self._sleep(self._interval)

    async def _sleep(self, seconds: float) -> None:
        await background.nap(self._wake, seconds)
