"""The path from a transport to the worker: group commits into the spool, the doorbell, the
poll for rows spooled elsewhere, and workers that never take the same row."""

from __future__ import annotations

import asyncio
import threading
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy import event

from maild.ingest.intake import Intake
from maild.ingest.pipeline import IngestResult, Pipeline
from maild.ingest.spool import Envelope
from maild.ingest.worker import Doorbell, run_worker
from maild.store.models import Inbound
from maild.values import InboundState, Outcome
from tests.ingest.test_pipeline import _request, pipeline  # noqa: F401 - fixture

ENVELOPE = Envelope("carol@customer.example", ("support@example.com",))


def _states(pipeline: Pipeline) -> list[InboundState]:  # noqa: F811
    with pipeline.store.sessions() as session:
        return list(session.scalars(sa.select(Inbound.state).order_by(Inbound.id)))


def test_mails_arriving_together_share_one_commit(pipeline: Pipeline) -> None:  # noqa: F811
    commits = []
    event.listen(pipeline.store.engine, "commit", lambda connection: commits.append(1))

    async def arrive() -> list[int]:
        intake = Intake(pipeline)
        spooled = await asyncio.gather(*(intake.receive(_request(n), "smtp", ENVELOPE)
                                         for n in range(20)))  # fmt: skip
        return [s.inbound_id for s in spooled]

    ids = asyncio.run(arrive())
    assert len(set(ids)) == 20 and len(commits) == 1
    assert _states(pipeline) == [InboundState.RECEIVED] * 20


def _run_worker_until(pipeline: Pipeline, poll_seconds: float, spool: object) -> None:  # noqa: F811
    """Run the worker, call `spool(doorbell)` once it runs, stop when every row is done."""

    async def main() -> None:
        stop, doorbell = asyncio.Event(), Doorbell()
        worker = asyncio.create_task(run_worker(pipeline, doorbell, poll_seconds, stop))
        await spool(doorbell)  # type: ignore[operator]
        while InboundState.RECEIVED in _states(pipeline) or not _states(pipeline):
            await asyncio.sleep(0.05)
        stop.set()
        await asyncio.wait_for(worker, timeout=60)

    asyncio.run(asyncio.wait_for(main(), timeout=120))


def test_a_ring_wakes_the_worker_long_before_its_poll(pipeline: Pipeline) -> None:  # noqa: F811
    async def spool(doorbell: Doorbell) -> None:
        await asyncio.sleep(0.2)  # the worker is asleep for an hour now
        await Intake(pipeline, on_spooled=doorbell.ring).receive(_request(1), "smtp", ENVELOPE)

    _run_worker_until(pipeline, poll_seconds=3600, spool=spool)
    assert _states(pipeline) == [InboundState.DONE]


def test_the_worker_finds_rows_spooled_without_a_ring(pipeline: Pipeline) -> None:  # noqa: F811
    # Another process, or a crash, left these: nobody rings, the poll finds them.
    async def spool(doorbell: Doorbell) -> None:
        for n in range(3):
            await asyncio.to_thread(pipeline.receive, _request(n), "smtp", ENVELOPE)

    _run_worker_until(pipeline, poll_seconds=0.2, spool=spool)
    assert _states(pipeline) == [InboundState.DONE] * 3


def test_workers_running_at_once_never_take_the_same_row(pipeline: Pipeline) -> None:  # noqa: F811
    for n in range(60):
        pipeline.receive(_request(n), "smtp", ENVELOPE)
    taken: list[list[IngestResult]] = [[], []]
    start = threading.Barrier(2)

    def work(index: int) -> None:
        start.wait()
        while batch := pipeline.process_next(limit=7):
            taken[index].extend(batch)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    ids = [result.inbound_id for results in taken for result in results]
    assert sorted(ids) == sorted(set(ids)) and len(ids) == 60
    assert {result.outcome for results in taken for result in results} == {Outcome.NEW_TICKET}


def test_a_result_carries_its_spool_row_and_receipt_time(
    pipeline: Pipeline,  # noqa: F811
    now: datetime,
) -> None:
    spooled = pipeline.receive(_request(1), "smtp:192.0.2.1", ENVELOPE)
    (result,) = pipeline.process_next()
    assert (result.inbound_id, result.received_at, result.source) == (
        spooled.inbound_id, now, "smtp:192.0.2.1"
    )  # fmt: skip
    assert pipeline.process_next() == []
