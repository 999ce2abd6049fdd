"""Running mail through the pipeline: spool first, then process each spooled row.

A batch of rows is processed in one transaction that also marks each row `done`, so a crash at
any point leaves either the whole effect or none of it, and a restart processes the rows again
from their raw bytes. The batch runs first without savepoints; when a mail raises, it is rolled
back and run again with a savepoint per mail, so that mail alone is retried. An exception is
retried up to `max_attempts` times, then the row is `held` with the error (Mailman's "shunt");
it never blocks the rows behind it. A mail that breaks a limit is held at once with the reason:
retrying cannot help.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from maild.errors import MessageRejected
from maild.ingest.apply import Applied, ApplyContext, apply_mail
from maild.ingest.authn import SenderAuth
from maild.ingest.sources import SourceMessage
from maild.ingest.spool import Arrival, Envelope, Received, Spooled, spool_many
from maild.store import batch as reference_cache
from maild.store.db import Store
from maild.store.models import Inbound, Raw, Ticket
from maild.store.prepared import Prepared
from maild.store.rawbytes import unpack
from maild.tickets import history
from maild.values import InboundState, Outcome

Clock = Callable[[], datetime]
BATCH_MESSAGES = 50
BATCH_BYTES = 8 * 1024 * 1024
_RECEIVED = InboundState.RECEIVED
_DONE = InboundState.DONE
_CLAIM_SLICE = 500


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class IngestResult:
    source: str
    message_id: str
    outcome: Outcome
    ticket: str | None
    reason: str = ""
    inbound_id: int = 0  # the spool row; for logs, not part of the JSON line
    received_at: datetime | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "message_id": self.message_id,
            "outcome": self.outcome.value,
            "ticket": self.ticket,
            "reason": self.reason,
        }


class Pipeline:
    """One mail pipeline over a store; transports and `maild ingest` feed it."""

    def __init__(self, store: Store, context: ApplyContext, clock: Clock = utcnow) -> None:
        self.store = store
        self.context = context
        self.clock = clock

    def receive(self, raw: bytes, source: str, envelope: Envelope) -> Spooled:
        """Commit the raw mail to the spool. SMTP's 250 and IMAP's flag wait for this."""
        return self.receive_many([Arrival(raw, source, envelope)])[0]

    def receive_many(self, arrivals: Sequence[Arrival], wait: bool = True) -> list[Spooled]:
        """Commit several received mails to the spool in one transaction: one fsync for all
        (the group commit of `ingest.intake`). All are committed, or none. With `wait` false
        the transaction starts only if the database's write lock is free this moment; else
        `WriterBusy` is raised and nothing is written (SQLite only)."""
        with self.store.transaction() if wait else self.store.transaction_now() as session:
            now = self.clock()
            return spool_many(session, arrivals, now)

    def process(
        self, inbound_ids: Iterable[int], raws: Mapping[int, bytes] | None = None
    ) -> list[IngestResult]:
        """Process spooled rows in one transaction. `raws` may give rows' bytes already known
        (just spooled), so they are not read back.

        The batch first runs without savepoints, which cost two statements and two flushes per
        mail. When a mail raises, that run is rolled back and the batch runs again with a
        savepoint per mail, the failure counting as the mail's first attempt: every mail still
        gets the same retries, hold and outcome as if each had run in its own savepoint."""
        ids = list(inbound_ids)
        if not ids:
            return []
        claim = _claim_ids(ids)
        try:
            return self._process_batch(claim, raws or {}, failed=None)
        except _FirstFailure as failure:
            return self._process_batch(claim, raws or {}, failed=failure)

    def process_next(self, limit: int = BATCH_MESSAGES) -> list[IngestResult]:
        """The pipeline worker's step: claim up to `limit` received rows that no other process
        holds (`FOR UPDATE SKIP LOCKED`) and process them; [] when none is waiting. Several
        processes on one PostgreSQL database each take different rows."""
        try:
            return self._process_batch(_claim_next(limit), {}, failed=None)
        except _FirstFailure as failure:
            # Rows another worker claimed after the rollback are left to it, not reported.
            claim = _claim_ids(failure.batch)
            return self._process_batch(claim, {}, failed=failure, only_claimed=True)

    def _process_batch(
        self, claim: _Claim, raws: Mapping[int, bytes], failed: _FirstFailure | None,
        only_claimed: bool = False,
    ) -> list[IngestResult]:  # fmt: skip
        with self.store.transaction() as session:
            reference_cache.start(session)
            history.defer(session)
            ids, rows = claim(session)
            results: list[IngestResult] = []
            for inbound_id in ids:
                row = rows.get(inbound_id)
                # Checked per mail, not at the claim: an id given twice is processed once.
                if row is None or row.state is not InboundState.RECEIVED:
                    if not only_claimed:
                        results.append(_duplicate(session, Spooled(inbound_id, True, _DONE)))
                    continue
                mail = _received(session, row, raws.get(inbound_id))
                results.append(self._apply(session, row, mail, failed, ids))
            _write_history(session, ids)
            return results

    def _apply(
        self, session: Session, row: Inbound, mail: Received, failed: _FirstFailure | None,
        batch: list[int],
    ) -> IngestResult:  # fmt: skip
        if failed is not None:
            first = failed.error if failed.inbound_id == row.id else None
            return self._apply_isolated(session, row, mail, first)
        try:
            return self._apply_optimistic(session, row, mail)
        except _FirstFailure as failure:
            failure.batch = batch  # the rows to run again, isolated
            raise

    def ingest(
        self, messages: Iterable[SourceMessage], envelope: Envelope | None = None
    ) -> Iterator[IngestResult]:
        """Spool and process messages from files, in batches (one commit per batch: the files
        are the durable copy until then)."""
        for batch in _batches(messages):
            yield from self._ingest_batch(batch, envelope or Envelope())

    def pending(self) -> list[int]:
        """Rows received but not yet processed (left by a crash or a concurrent receiver)."""
        with self.store.transaction() as session:
            query = sa.select(Inbound.id).where(Inbound.state == InboundState.RECEIVED)
            return list(session.scalars(query.order_by(Inbound.id)))

    def reprocess(self, inbound_ids: Iterable[int]) -> list[IngestResult]:
        """Run held (or any unfinished) rows again after a fix, with a fresh attempt count."""
        ids = list(inbound_ids)
        with self.store.transaction() as session:
            for row in session.scalars(sa.select(Inbound).where(Inbound.id.in_(ids))):
                if row.state is InboundState.HELD:
                    row.state, row.attempts, row.outcome = InboundState.RECEIVED, 0, ""
        return self.process(ids)

    def _ingest_batch(
        self, batch: list[SourceMessage], envelope: Envelope
    ) -> Iterator[IngestResult]:
        now = self.clock()
        with self.store.transaction() as session:
            arrivals = [Arrival(m.raw, m.source, envelope) for m in batch]
            spooled = spool_many(session, arrivals, now)
        # A row left `received` by a crash is processed now, reported by its first copy only.
        to_process = list(dict.fromkeys(s.inbound_id for s in spooled if s.state is _RECEIVED))
        raws = {s.inbound_id: m.raw for m, s in zip(batch, spooled, strict=True)}
        processed = dict(zip(to_process, self.process(to_process, raws), strict=True))
        with self.store.transaction() as session:
            for message, entry in zip(batch, spooled, strict=True):
                result = processed.pop(entry.inbound_id, None) or _duplicate(session, entry)
                yield _with_source(result, message.source)

    def _apply_optimistic(self, session: Session, row: Inbound, mail: Received) -> IngestResult:
        now = self.clock()
        try:
            # The mail's reads need none of its own pending rows (the core flushes explicitly
            # where it does), so they do not flush them: one flush below writes the mail.
            with session.no_autoflush:
                applied = apply_mail(session, mail, self.context, now)
            result = _finish(session, row, applied, now)
            # Written now: a write that fails is this mail's failure, not the next one's. The
            # history entries wait for the batch's end (`_write_history`).
            session.flush()
        except Exception as exc:  # noqa: BLE001 - the isolated run retries or holds it
            raise _FirstFailure(row.id, exc) from exc
        return result

    def _apply_isolated(
        self, session: Session, row: Inbound, mail: Received, first: Exception | None
    ) -> IngestResult:
        """Apply in a savepoint per attempt; an exception is retried, then the row is held.
        `first` is the exception the first attempt raised, when it already ran."""
        limit = self.context.limits.max_attempts
        while True:
            now = self.clock()
            # Attempts are counted after the savepoint, so the row is written once per mail; the
            # count is committed together with the outcome either way.
            try:
                if first is not None:
                    raise first
                with session.begin_nested():
                    with session.no_autoflush:
                        applied = apply_mail(session, mail, self.context, now)
                    _write(session)
            except MessageRejected as exc:
                history.drop_deferred(session)
                row.attempts += 1
                return _hold(row, str(exc))
            except Exception as exc:  # noqa: BLE001 - any failure is retried, then held
                history.drop_deferred(session)
                first = None
                row.attempts += 1
                row.last_error = f"{type(exc).__name__}: {exc}"[:2000]
                if row.attempts >= limit:
                    return _hold(row, f"failed {row.attempts} times: {row.last_error}")
            else:
                return _finish(session, row, applied, now)


class _FirstFailure(Exception):
    """A mail raised during the run without savepoints: the batch is run again isolated."""

    def __init__(self, inbound_id: int, error: Exception) -> None:
        super().__init__(inbound_id, error)
        self.inbound_id = inbound_id
        self.error = error
        self.batch: list[int] = []


# Which rows a batch runs: (ids in the order to report, the rows locked by this transaction).
_Claim = Callable[[Session], tuple[list[int], dict[int, Inbound]]]


def _claim_ids(ids: list[int]) -> _Claim:
    return lambda session: (ids, _claim(session, ids))


def _claim_next(limit: int) -> _Claim:
    def claim(session: Session) -> tuple[list[int], dict[int, Inbound]]:
        query = (
            sa.select(Inbound)
            .where(Inbound.state == InboundState.RECEIVED)
            .order_by(Inbound.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        rows = {row.id: row for row in session.scalars(query)}
        return list(rows), rows

    return claim


def _claim(session: Session, ids: list[int]) -> dict[int, Inbound]:
    """The rows, locked for this transaction in one statement; a row another process holds
    (SKIP LOCKED) or that does not exist is left out."""
    rows: dict[int, Inbound] = {}
    # In slices: a `reprocess` of every pending row must stay under SQLite's bound-value limit.
    for start in range(0, len(ids), _CLAIM_SLICE):
        wanted = Inbound.id.in_(ids[start : start + _CLAIM_SLICE])
        query = sa.select(Inbound).where(wanted).with_for_update(skip_locked=True)
        rows.update((row.id, row) for row in session.scalars(query.order_by(Inbound.id)))
    return rows


def _received(session: Session, row: Inbound, raw: bytes | None) -> Received:
    data = raw if raw is not None else _raw_bytes(session, row.raw_id)
    auth = SenderAuth.from_json(row.sender_auth)
    department = row.department or ""
    return Received(
        row.id, row.raw_id, data, _envelope(row), department, row.received_at, auth=auth
    )


def _batches(messages: Iterable[SourceMessage]) -> Iterator[list[SourceMessage]]:
    batch: list[SourceMessage] = []
    size = 0
    for message in messages:
        batch.append(message)
        size += len(message.raw)
        if len(batch) >= BATCH_MESSAGES or size >= BATCH_BYTES:
            yield batch
            batch, size = [], 0
    if batch:
        yield batch


def _write(session: Session) -> None:
    """Write everything one mail did: its collected history entries and its ORM rows."""
    history.write_deferred(session)
    session.flush()


def _write_history(session: Session, batch: list[int]) -> None:
    """The history entries of the batch's mails, in one executemany (nothing in a batch reads
    history back). Should it fail, the batch runs again isolated, where each mail writes its
    own entries in its savepoint, so the failure stays with its mail."""
    try:
        history.write_deferred(session)
    except Exception as exc:  # noqa: BLE001 - the isolated run finds the mail
        failure = _FirstFailure(0, exc)  # no mail's attempt: each is run afresh
        failure.batch = batch
        raise failure from exc


def _raw_bytes(session: Session, raw_id: int) -> bytes:
    # Columns, not the ORM object: the bytes need not stay in the session's identity map.
    query = sa.select(Raw.data, Raw.compressed).where(Raw.id == raw_id)
    data, compressed = session.execute(query).one()
    return unpack(data, compressed)


def _envelope(row: Inbound) -> Envelope:
    return Envelope(mail_from=row.envelope_from, rcpt_to=tuple(row.rcpt_to))


_INBOUND: sa.Table = Inbound.__table__  # type: ignore[assignment]
_MARK_DONE = Prepared(
    sa.update(_INBOUND)
    .where(_INBOUND.c.id == sa.bindparam("row_id"))
    .values(
        state=_DONE,
        attempts=sa.bindparam("attempts"),
        outcome=sa.bindparam("outcome"),
        ticket_id=sa.bindparam("ticket_id"),
        processed_at=sa.bindparam("processed_at"),
    )
)


def _finish(session: Session, row: Inbound, applied: Applied, now: datetime) -> IngestResult:
    """The row is `done` (this attempt counted): one Core UPDATE, and the loaded row is told
    the values as committed, so the unit of work has nothing left to write for it. It flushed
    every spool row as an object of its own, the most costly statement of a mail."""
    values = {
        "state": _DONE,
        "attempts": row.attempts + 1,
        "outcome": applied.outcome.value,
        "ticket_id": applied.ticket.id if applied.ticket is not None else None,
        "processed_at": now,
    }
    _MARK_DONE.execute(session, {"row_id": row.id, **values})
    for name, value in values.items():
        set_committed_value(row, name, value)
    number = applied.ticket.number if applied.ticket is not None else None
    return IngestResult(
        row.source, row.message_key, applied.outcome, number, applied.reason, row.id,
        row.received_at,
    )  # fmt: skip


def _hold(row: Inbound, reason: str) -> IngestResult:
    row.state = InboundState.HELD
    row.outcome = Outcome.HELD.value
    row.last_error = reason[:2000]
    return IngestResult(
        row.source, row.message_key, Outcome.HELD, None, reason, row.id, row.received_at
    )


def _duplicate(session: Session, entry: Spooled) -> IngestResult:
    row = session.get(Inbound, entry.inbound_id)
    assert row is not None
    ticket = session.get(Ticket, row.ticket_id) if row.ticket_id else None
    reason = f"already received as spool entry {row.id} ({row.state.value})"
    number = ticket.number if ticket is not None else None
    return IngestResult(
        row.source, row.message_key, Outcome.DUPLICATE, number, reason, row.id, row.received_at
    )


def _with_source(result: IngestResult, source: str) -> IngestResult:
    if result.source == source:
        return result
    return dataclasses.replace(result, source=source)
