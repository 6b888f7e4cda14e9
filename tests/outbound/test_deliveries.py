"""Deliveries to a real HTTP receiver, driven pass by pass with the clock in hand: signed per
Standard Webhooks, retried on the schedule, never redirected, never to private addresses
unless allowed, timed out, and an endpoint failing for days disabled."""

from __future__ import annotations

import asyncio
import socket
import threading

import pytest

from plugin import storage
from plugin.clock import FixedClock, SystemClock
from plugin.outbound import backoff
from plugin.outbound.outbox import announce
from plugin.outbound.worker import OutboundWorker
from plugin.storage import Database
from plugin.storage import outbound as store
from tests.outbound.receiver import receiver


async def _endpoint(
    db: Database, url: str, now: int, events: list[str] | None = None
) -> store.EndpointRecord:
    async with db.transaction() as conn:
        return await store.create_endpoint(
            conn, url=url, description="", events=events or ["*"], enabled=True,
            secret="whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", now=now,
        )  # fmt: skip


async def _declined(db: Database, now: int, customer: str = "acme") -> str:
    async with db.transaction() as conn:
        data = {"customer_id": customer, "offer": {"id": "offer_x", "variant": "a"}, "reason": None}
        return (await announce(conn, "offer.declined", data, now=now)).id


async def _worker(db: Database, clock: FixedClock, **options: object) -> OutboundWorker:
    worker = OutboundWorker(db=db, clock=clock, allow_private=True, **options)  # type: ignore[arg-type]
    await worker.start_http()
    return worker


async def test_an_event_reaches_the_receiver_signed_with_its_stable_id(db: Database) -> None:
    clock = FixedClock(SystemClock().now())
    with receiver() as hooks:
        endpoint = await _endpoint(db, hooks.url, clock.now())
        event_id = await _declined(db, clock.now())
        worker = await _worker(db, clock)
        try:
            assert await worker.run_once() == 1
        finally:
            await worker.stop()
        [(webhook_id, body)] = hooks.verified(endpoint.secret)
    assert webhook_id == event_id
    assert body["type"] == "offer.declined"
    assert body["data"] == {"customer_id": "acme", "offer": {"id": "offer_x", "variant": "a"},
                            "reason": None}  # fmt: skip
    [delivery] = await store.deliveries(
        db, endpoint_id=endpoint.id, status=None, before_seq=None, limit=5
    )
    assert delivery.status == "succeeded"
    assert [a.status_code for a in delivery.attempts] == [200]


async def test_failures_are_retried_on_the_schedule_with_the_same_id(db: Database) -> None:
    clock = FixedClock(SystemClock().now())
    with receiver() as hooks:
        hooks.statuses.extend([500, 302])  # then 200
        endpoint = await _endpoint(db, hooks.url, clock.now())
        await _declined(db, clock.now())
        worker = await _worker(db, clock)
        try:
            assert await worker.run_once() == 1
            assert await worker.run_once() == 0  # not due yet
            [d] = await store.deliveries(
                db, endpoint_id=endpoint.id, status=None, before_seq=None, limit=1
            )
            assert d.next_attempt_at is not None
            assert d.next_attempt_at - clock.now() <= 60
            clock.set(d.next_attempt_at)
            assert await worker.run_once() == 1  # the 302: a failure, not followed
            [d] = await store.deliveries(
                db, endpoint_id=endpoint.id, status=None, before_seq=None, limit=1
            )
            assert d.next_attempt_at is not None
            clock.set(d.next_attempt_at)
            assert await worker.run_once() == 1
        finally:
            await worker.stop()
        ids = {got.headers["webhook-id"] for got in hooks.received}
        assert len(hooks.received) == 3
        assert len(ids) == 1
        assert {got.path for got in hooks.received} == {"/hooks/uplift"}
    [d] = await store.deliveries(db, endpoint_id=endpoint.id, status=None, before_seq=None, limit=1)
    assert d.status == "succeeded"
    assert [(a.status_code, a.error) for a in d.attempts] == [
        (500, "HTTP 500"), (302, "HTTP 302: redirects are not followed"), (200, None),
    ]  # fmt: skip


async def test_private_addresses_are_refused_at_delivery(db: Database) -> None:
    clock = FixedClock(SystemClock().now())
    with receiver() as hooks:
        endpoint = await _endpoint(db, hooks.url, clock.now())
        await _declined(db, clock.now())
        worker = OutboundWorker(db=db, clock=clock, allow_private=False)
        await worker.start_http()
        try:
            assert await worker.run_once() == 1
        finally:
            await worker.stop()
        assert hooks.received == []
    [d] = await store.deliveries(db, endpoint_id=endpoint.id, status=None, before_seq=None, limit=1)
    assert d.status == "pending"
    assert d.attempts[0].error is not None
    assert "loopback, private" in d.attempts[0].error


async def test_a_receiver_that_never_answers_times_out(db: Database) -> None:
    clock = FixedClock(SystemClock().now())
    with receiver() as hooks:
        hooks.hang = threading.Event()
        endpoint = await _endpoint(db, hooks.url, clock.now())
        await _declined(db, clock.now())
        worker = await _worker(db, clock, timeout=0.5)
        try:
            assert await worker.run_once() == 1
        finally:
            hooks.released.set()
            await worker.stop()
    [d] = await store.deliveries(db, endpoint_id=endpoint.id, status=None, before_seq=None, limit=1)
    assert d.attempts[0].error == "timed out after 0.5 s"
    assert d.attempts[0].status_code is None


async def _run_until_nothing_is_due(
    worker: OutboundWorker, db: Database, clock: FixedClock
) -> None:
    for _ in range(40):
        await worker.run_once()
        due = await store.next_due_at(db)
        if due is None:
            return
        clock.set(due)


async def _failed_to_the_deadline(
    db: Database, url: str, clock: FixedClock
) -> tuple[store.EndpointRecord, OutboundWorker, store.DeliveryRecord]:
    """An endpoint, one event for it, and every retry to the delivery's deadline (the caller
    stops the worker)."""
    endpoint = await _endpoint(db, url, clock.now())
    await _declined(db, clock.now())
    worker = await _worker(db, clock)
    try:
        await _run_until_nothing_is_due(worker, db, clock)
    except BaseException:
        await worker.stop()
        raise
    [delivery] = await store.deliveries(
        db, endpoint_id=endpoint.id, status=None, before_seq=None, limit=1
    )
    return endpoint, worker, delivery


async def test_given_up_after_three_days_and_disabled_after_five(db: Database) -> None:
    start = SystemClock().now()
    clock = FixedClock(start)
    with receiver() as hooks:
        hooks.statuses.extend([503] * 100)
        _, worker, first = await _failed_to_the_deadline(db, hooks.url, clock)
        try:
            assert first.status == "failed"
            assert first.attempts[-1].at == start + backoff.GIVE_UP_AFTER
            assert (await store.list_endpoints(db))[0].enabled
            clock.set(start + backoff.DISABLE_AFTER)
            await _declined(db, clock.now())
            await worker.run_once()
        finally:
            await worker.stop()
    [record] = await store.list_endpoints(db)
    assert not record.enabled
    assert record.disabled_reason is not None
    assert "every delivery failed for 5 days" in record.disabled_reason


async def test_retry_of_a_failed_delivery_gets_three_more_days_and_keeps_when_it_was_created(
    db: Database,
) -> None:
    start = SystemClock().now()
    clock = FixedClock(start)
    with receiver() as hooks:
        hooks.statuses.extend([503] * 100)
        endpoint, worker, failed = await _failed_to_the_deadline(db, hooks.url, clock)
        try:
            retried_at = start + backoff.GIVE_UP_AFTER + 3600
            clock.set(retried_at)
            async with db.transaction() as conn:
                assert await store.retry(
                    conn, endpoint_id=endpoint.id, delivery_id=failed.id, now=retried_at
                )
            await worker.run_once()  # fails again, past the first 3 days
        finally:
            await worker.stop()
    [again] = await store.deliveries(
        db, endpoint_id=endpoint.id, status=None, before_seq=None, limit=1
    )
    assert failed.status == "failed"
    assert again.status == "pending"
    assert again.next_attempt_at is not None
    assert retried_at < again.next_attempt_at <= retried_at + backoff.GIVE_UP_AFTER
    assert again.attempts[-1].at == retried_at
    assert again.created_at == failed.created_at == start


async def test_endpoints_get_only_the_types_they_asked_for(db: Database) -> None:
    clock = FixedClock(SystemClock().now())
    with receiver() as wants_all, receiver() as wants_upgrades:
        await _endpoint(db, wants_all.url, clock.now())
        await _endpoint(db, wants_upgrades.url, clock.now(), events=["upgrade.succeeded"])
        await _declined(db, clock.now())
        worker = await _worker(db, clock)
        try:
            await worker.run_once()
        finally:
            await worker.stop()
        assert len(wants_all.received) == 1
        assert wants_upgrades.received == []


async def test_two_workers_at_once_deliver_each_event_once(db: Database, database_url: str) -> None:
    """Two instances' workers (two connections to one database) fanning out and claiming at
    the same moment: one delivery per event and endpoint, each attempted once."""
    clock = FixedClock(SystemClock().now())
    other = await storage.connect(database_url)  # another instance's connection
    try:
        with receiver() as hooks:
            await _endpoint(db, hooks.url, clock.now())
            for n in range(20):
                await _declined(db, clock.now(), customer=f"c{n}")
            first, second = await _worker(db, clock), await _worker(other, clock)
            try:
                await asyncio.gather(first.run_once(), second.run_once())
            finally:
                await first.stop()
                await second.stop()
            ids = [got.headers["webhook-id"] for got in hooks.received]
        assert len(ids) == 20
        assert len(set(ids)) == 20
    finally:
        await other.close()


async def test_a_delivery_to_an_ipv6_literal_names_it_in_brackets(db: Database) -> None:
    """`http://[::1]:port/…`: the request goes to ::1 with `Host: [::1]:port`."""
    import http.server

    seen: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            seen.append(self.headers["Host"])
            self.send_response(204)
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass

    class V6(http.server.ThreadingHTTPServer):
        address_family = socket.AF_INET6

    try:
        server = V6(("::1", 0), Handler)
    except OSError:
        pytest.skip("no IPv6 loopback here")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        clock = FixedClock(SystemClock().now())
        port = server.server_address[1]
        await _endpoint(db, f"http://[::1]:{port}/hook", clock.now())
        await _declined(db, clock.now())
        worker = await _worker(db, clock)
        try:
            assert await worker.run_once() == 1
        finally:
            await worker.stop()
    finally:
        server.shutdown()
        server.server_close()
    assert seen == [f"[::1]:{port}"]
