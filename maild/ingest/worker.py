"""The pipeline worker: processes spooled mail after the transports have answered.

How a source hands mail to the worker: commit it to the spool (`Intake.receive`, or
`Pipeline.receive` in a thread), then call `Doorbell.ring()`; `Intake` rings it after each
commit when it is built with `on_spooled=doorbell.ring`. The worker also polls the spool every
`ingest.poll_seconds`, so rows spooled by another process on the same database, or left
`received` by a crash, are processed without a ring. Several workers (processes) share the
spool through `Pipeline.process_next`, which claims rows with `FOR UPDATE SKIP LOCKED`.

Each processed mail is logged as one line on the `maild.mail` logger: spool id, source,
outcome, ticket and the milliseconds from its spool commit to the end of its processing.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime

from maild.ingest.pipeline import IngestResult, Pipeline

log = logging.getLogger("maild.worker")
mail_log = logging.getLogger("maild.mail")

# After a failed step (the database away), wait this long before the next try.
RETRY_SECONDS = 5.0


class Doorbell:
    """Wakes the pipeline worker: a source rings it after a spool commit."""

    def __init__(self) -> None:
        self._rung = asyncio.Event()

    def ring(self) -> None:
        self._rung.set()

    async def wait(self, stop: asyncio.Event, timeout: float) -> None:
        """Until rung, `stop` is set, or `timeout` seconds have passed."""
        waits = [asyncio.create_task(self._rung.wait()), asyncio.create_task(stop.wait())]
        try:
            await asyncio.wait(waits, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in waits:
                task.cancel()
        self._rung.clear()


async def run_worker(
    pipeline: Pipeline, doorbell: Doorbell, poll_seconds: float, stop: asyncio.Event
) -> None:
    """Process spooled mail until `stop` is set; the batch in hand is finished first."""
    while not stop.is_set():
        try:
            results = await asyncio.to_thread(pipeline.process_next)
        except Exception as exc:  # noqa: BLE001 - the database may come back: retry later
            log.error("processing spooled mail failed: %s: %s", type(exc).__name__, exc)
            await doorbell.wait(stop, RETRY_SECONDS)
            continue
        for result in results:
            log_result(result)
        if not results:
            # No pause to let a burst gather: it delayed every mail after a quiet moment (the
            # new ticket and its autoresponse) by that pause. Mail that arrives while a batch
            # runs is the next batch, so a burst still shares transactions.
            await doorbell.wait(stop, poll_seconds)


def log_result(result: IngestResult, now: datetime | None = None) -> None:
    """One line per received mail, with its fields also as structured `extra` for JSON logs."""
    fields = result_fields(result, now or datetime.now(UTC))
    text = " ".join(f"{key}={value}" for key, value in fields.items() if value is not None)
    mail_log.info("mail %s", text, extra={"fields": fields})


def result_fields(result: IngestResult, now: datetime) -> dict[str, object]:
    elapsed = None
    if result.received_at is not None:
        elapsed = round((now - result.received_at).total_seconds() * 1000)
    return {
        "id": result.inbound_id,
        "source": result.source,
        "outcome": result.outcome.value,
        "ticket": result.ticket,
        "ms": elapsed,
        "reason": result.reason or None,
    }
