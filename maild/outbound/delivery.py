"""The delivery worker: drains the outbox to the relay (or to `.eml` files), a `maild serve`
service.

DESIGN §3: delivered with retry and backoff; permanent failure is recorded on the ticket.
- Claiming: due rows are locked with `FOR UPDATE SKIP LOCKED` and leased in one short
  transaction (attempts + 1, next attempt pushed `lease_seconds` ahead), so several workers on
  one PostgreSQL database never take the same row, and no transaction stays open while SMTP
  talks (on SQLite that would hold the one write lock). A worker killed mid-delivery leaves
  its rows leased: they are delivered again when the lease ends, never lost.
- Outcome: 250 -> `sent`. A 4xx answer or a broken connection -> retried after an exponential
  backoff with jitter, up to `max_attempts`. A 5xx answer or the last attempt -> `failed`,
  recorded on the ticket, which becomes active as a bounce makes it (`apply_bounce`).
- Envelope sender: the row's VERP address, so a later bounce finds its message.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from maild.errors import DeliveryFailed
from maild.outbound.dkim import DkimSigner, build_signer
from maild.outbound.transport import Envelope, Transport, build_transport
from maild.outbound.wakeup import OutboxSignal
from maild.settings import OutboundSettings
from maild.store.db import Store
from maild.store.models import Outbox, Ticket
from maild.tickets.audit import Action
from maild.tickets.incoming import apply_bounce
from maild.tickets.ports import Distributor
from maild.values import OutboxState

BATCH = 50
Clock = Callable[[], datetime]


def utcnow() -> datetime:
    return datetime.now(UTC)


def retry_delay(attempts: int, base_ms: int, cap_ms: int, rand: float) -> timedelta:
    """Exponential backoff with jitter: about base * 2^(attempts-1), capped, scaled by a
    random factor in [0.5, 1) so that workers retrying together spread out. Pure."""
    exponential = min(cap_ms, base_ms * 2 ** min(max(attempts - 1, 0), 30))
    return timedelta(milliseconds=exponential * (0.5 + rand / 2))


@dataclass(frozen=True)
class Claimed:
    outbox_id: int
    attempts: int
    envelope: Envelope


@dataclass(frozen=True)
class Result:
    outbox_id: int
    attempts: int
    refused: tuple[str, ...] = ()  # sent, but these recipients were refused for good
    error: DeliveryFailed | None = None


_DUE = (
    sa.select(Outbox)
    .where(Outbox.state == OutboxState.QUEUED, Outbox.next_attempt_at <= sa.bindparam("now"))
    .order_by(Outbox.next_attempt_at, Outbox.id)
)


def claim_due(session: Session, now: datetime, lease: timedelta, limit: int) -> list[Claimed]:
    """Lease up to `limit` due rows to this worker; rows another worker has locked are
    skipped, rows it leased are not due."""
    query = _DUE.limit(limit).with_for_update(skip_locked=True)
    claimed = []
    for row in session.scalars(query, {"now": now}):
        row.attempts += 1
        row.next_attempt_at = now + lease
        name = f"{row.created_at:%Y%m%dT%H%M%S}-{row.id:08d}"
        envelope = Envelope(row.envelope_from, tuple(row.recipients), row.raw, name)
        claimed.append(Claimed(row.id, row.attempts, envelope))
    return claimed


def next_due(session: Session) -> datetime | None:
    query = sa.select(sa.func.min(Outbox.next_attempt_at)).where(Outbox.state == OutboxState.QUEUED)
    return session.scalar(query)


def record(
    session: Session,
    result: Result,
    settings: OutboundSettings,
    distributor: Distributor,
    now: datetime,
) -> None:
    """Write one delivery's outcome."""
    row = session.get(Outbox, result.outbox_id, with_for_update=True)
    if row is None or row.state is not OutboxState.QUEUED:
        return  # already settled (an admin, or a worker whose lease ran out before ours)
    error = result.error
    if error is None:
        row.state, row.sent_at, row.last_error = OutboxState.SENT, now, ""
        if result.refused:
            _ticket_failed(
                session, row, f"refused by the relay: {', '.join(result.refused)}", distributor, now
            )
        return
    row.last_error = str(error)[:2000]
    if error.permanent or result.attempts >= settings.max_attempts:
        row.state = OutboxState.FAILED
        tries = f"after {result.attempts} attempt(s)"
        _ticket_failed(session, row, f"{error} ({tries})", distributor, now)
    else:
        row.next_attempt_at = now + retry_delay(
            result.attempts, settings.retry_base_ms, settings.retry_cap_ms, random.random()
        )


def _ticket_failed(
    session: Session, row: Outbox, reason: str, distributor: Distributor, now: datetime
) -> None:
    """DESIGN §3: a permanent failure is recorded on the ticket, which becomes active."""
    ticket = session.get(Ticket, row.ticket_id) if row.ticket_id is not None else None
    if ticket is None:
        return  # a notification to agents belongs to no ticket; the row keeps the reason
    detail = f"outbox {row.id} to {', '.join(row.recipients)}: {reason}"[:2000]
    apply_bounce(
        session,
        ticket,
        distributor=distributor,
        now=now,
        action=Action.DELIVERY_FAILED,
        detail=detail,
    )


class DeliveryWorker:
    """One worker: claim due rows, hand them to the transport, record the outcomes."""

    def __init__(
        self,
        store: Store,
        settings: OutboundSettings,
        distributor: Distributor,
        transport: Transport,
        signer: DkimSigner | None = None,
        clock: Clock = utcnow,
    ) -> None:
        self.store = store
        self.settings = settings
        self.distributor = distributor
        self.transport = transport
        self.signer = signer
        self.clock = clock
        self._claimed: list[Claimed] = []  # leased by the last batch's transaction

    async def run_once(self, claim_next: bool = True) -> int:
        """Deliver one batch of due mail and record the outcomes; return how many rows were
        delivered. The transaction that records a batch also claims the next (`claim_next`):
        one write lock and one fsync per batch rather than two, and on SQLite a claim is a
        wait for the write lock that the autoresponse of every new ticket sits through."""
        claimed, self._claimed = self._claimed, []
        if not claimed and claim_next:
            claimed = await asyncio.to_thread(self._record_and_claim, [], True)
        results = [await self._deliver(item) for item in claimed]
        if results:
            self._claimed = await asyncio.to_thread(self._record_and_claim, results, claim_next)
        return len(claimed)

    async def finish(self) -> None:
        """Deliver what the last batch's transaction claimed, claiming nothing more (at stop:
        claimed rows would otherwise wait for their lease to end)."""
        while self._claimed:
            await self.run_once(claim_next=False)

    def _record_and_claim(self, results: list[Result], claim: bool) -> list[Claimed]:
        lease = timedelta(seconds=self.settings.lease_seconds)
        with self.store.transaction() as session:
            for result in results:
                record(session, result, self.settings, self.distributor, self.clock())
            return claim_due(session, self.clock(), lease, BATCH) if claim else []

    async def _deliver(self, item: Claimed) -> Result:
        envelope = item.envelope
        if self.signer is not None:
            signed = self.signer.sign(envelope.raw)
            envelope = Envelope(envelope.sender, envelope.recipients, signed, envelope.name)
        try:
            refused = await self.transport.send(envelope)
        except DeliveryFailed as error:
            return Result(item.outbox_id, item.attempts, error=error)
        return Result(item.outbox_id, item.attempts, refused=refused)

    def seconds_until_due(self) -> float:
        """How long the worker may sleep: until the next queued row is due, at most poll_ms."""
        poll = self.settings.poll_ms / 1000
        with self.store.sessions() as session:
            due = next_due(session)
        if due is None:
            return poll
        return min(poll, max((due - self.clock()).total_seconds(), 0.0))


async def run_delivery(
    store: Store, settings: OutboundSettings, distributor: Distributor, stop: asyncio.Event
) -> None:
    """The `maild serve` service: deliver until `stop` is set, then finish the batch in hand."""
    transport = build_transport(settings)
    worker = DeliveryWorker(store, settings, distributor, transport, build_signer(settings))
    wake = asyncio.Event()
    signal = OutboxSignal(asyncio.get_running_loop(), wake)
    signal.attach(store.factories)
    try:
        while not stop.is_set():
            wake.clear()  # before claiming: a commit from now on wakes the next wait
            if await worker.run_once():
                continue
            timeout = await asyncio.to_thread(worker.seconds_until_due)
            await _wait_any(wake, stop, timeout)
        await worker.finish()
    finally:
        signal.detach(store.factories)
        await transport.close()


async def _wait_any(wake: asyncio.Event, stop: asyncio.Event, timeout: float) -> None:
    waiters = [asyncio.create_task(wake.wait()), asyncio.create_task(stop.wait())]
    try:
        await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
