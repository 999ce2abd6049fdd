"""Committing mail from the network transports to the spool, in groups, off the event loop.

SMTP answers 250 (and IMAP flags a message) only after the spool commit (DESIGN §3), and a
commit waits for one fsync. `Intake.receive` queues the mail and awaits its commit; one
committer task takes everything queued, commits it in one transaction in a worker thread, and
answers each waiting session. Sessions that finish DATA while a commit is running share the
next one (group commit), and the event loop keeps serving other sessions meanwhile.

After each commit `on_spooled` is called (the daemon passes the pipeline worker's
`Doorbell.ring`), so processing starts at once rather than at the next poll.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence

from maild.errors import StorageError
from maild.ingest.authn import SenderAuth
from maild.ingest.pipeline import Pipeline
from maild.ingest.spool import Arrival, Envelope, Spooled
from maild.store.db import WriterBusy

log = logging.getLogger("maild.intake")

# One group commit holds at most this much: bounded transactions, bounded memory in flight.
GROUP_MESSAGES = 200
GROUP_BYTES = 32 * 1024 * 1024
# A group larger than this (big mails) is hashed and written in a thread, off the event loop.
_AT_ONCE_BYTES = 1024 * 1024

_Waiting = tuple[Arrival, "asyncio.Future[Spooled]"]


class Intake:
    """The spool's door for async transports (SMTP, LMTP, IMAP)."""

    def __init__(self, pipeline: Pipeline, on_spooled: Callable[[], None] = lambda: None) -> None:
        self.pipeline = pipeline
        self.on_spooled = on_spooled
        self._queue: list[_Waiting] = []
        self._committer: asyncio.Task[None] | None = None

    async def receive(
        self, raw: bytes, source: str, envelope: Envelope, auth: SenderAuth | None = None
    ) -> Spooled:
        """Commit one mail (and the sender verdict its session took) to the spool and return
        its row; raise `StorageError` when the commit failed (SMTP 451: try again)."""
        future: asyncio.Future[Spooled] = asyncio.get_running_loop().create_future()
        self._queue.append((Arrival(raw, source, envelope, auth), future))
        if self._committer is None or self._committer.done():
            self._committer = asyncio.create_task(self._commit_queued())
        # Shielded: a session that disconnects meanwhile does not cancel a commit in progress.
        return await asyncio.shield(future)

    async def drain(self) -> None:
        """Wait until every mail handed over so far is committed or refused (at shutdown)."""
        while self._committer is not None and not self._committer.done():
            await asyncio.shield(self._committer)

    async def _commit_queued(self) -> None:
        while self._queue:
            group = _take_group(self._queue)
            del self._queue[: len(group)]
            arrivals = [arrival for arrival, _ in group]
            outcomes = self._commit_at_once(arrivals)
            if outcomes is None:
                outcomes = await asyncio.to_thread(self._commit, arrivals)
            for (_, future), outcome in zip(group, outcomes, strict=True):
                _settle(future, outcome)
            if any(isinstance(o, Spooled) and not o.duplicate for o in outcomes):
                self.on_spooled()

    def _commit_at_once(self, arrivals: Sequence[Arrival]) -> list[Spooled | StorageError] | None:
        """On SQLite, when nobody holds the write lock, the group is committed right here on
        the event loop (a fraction of a millisecond: two inserts and an fsync), as the
        baseline server appends and fsyncs in its handler. Handed to a thread instead, the
        commit took two to three times as long on a busy two-core machine: the thread must
        win a core and the GIL back after each database call. None when the lock is taken
        (SQLite), on PostgreSQL (a network round trip per statement) and when the commit
        failed: the thread retries it, waiting for the lock."""
        if self.pipeline.store.dialect != "sqlite":
            return None
        if sum(len(arrival.raw) for arrival in arrivals) > _AT_ONCE_BYTES:
            return None
        try:
            return list(self.pipeline.receive_many(arrivals, wait=False))
        except WriterBusy:
            return None
        except Exception as exc:  # noqa: BLE001 - the thread's run handles and reports it
            log.debug("spool commit on the event loop failed, retried: %s", exc)
            return None

    def _commit(self, arrivals: Sequence[Arrival]) -> list[Spooled | StorageError]:
        """In a worker thread: the group in one transaction; when that fails, each mail in its
        own, so one mail the database refuses does not fail the others."""
        try:
            return list(self.pipeline.receive_many(arrivals))
        except Exception as exc:  # noqa: BLE001 - retried one by one below
            if len(arrivals) == 1:
                return [_refusal(exc)]
        return [self._commit_one(arrival) for arrival in arrivals]

    def _commit_one(self, arrival: Arrival) -> Spooled | StorageError:
        try:
            return self.pipeline.receive_many([arrival])[0]
        except Exception as exc:  # noqa: BLE001 - reported to the sender as a 4xx
            return _refusal(exc)


def _take_group(queue: list[_Waiting]) -> list[_Waiting]:
    size = 0
    for count, (arrival, _) in enumerate(queue[:GROUP_MESSAGES]):
        size += len(arrival.raw)
        if size > GROUP_BYTES and count > 0:
            return queue[:count]
    return queue[:GROUP_MESSAGES]


def _refusal(exc: Exception) -> StorageError:
    log.error("spool commit failed: %s: %s", type(exc).__name__, " ".join(str(exc).split()))
    error = StorageError(f"the spool could not commit the mail ({type(exc).__name__})")
    error.__cause__ = exc
    return error


def _settle(future: asyncio.Future[Spooled], outcome: Spooled | StorageError) -> None:
    if future.done():  # cancelled: the waiting session is gone (the event loop is closing)
        return
    if isinstance(outcome, StorageError):
        future.set_exception(outcome)
    else:
        future.set_result(outcome)
