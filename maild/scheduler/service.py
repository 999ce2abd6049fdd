"""The scheduler inside `maild serve`: APScheduler 3 (`AsyncIOScheduler`, in-memory job store)
calls each job every `[scheduler] <job>_seconds`. The job store holds nothing worth keeping:
what is due lives in the database, so every job runs once right at start (a follow-up that fell
due while maild was stopped fires then) and on its interval after that."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger

from maild.liveness import ServiceBoard
from maild.scheduler.jobs import JOBS, Job, JobContext
from maild.scheduler.runs import Clock, run_job

# APScheduler logs every run at INFO ("Running job", "executed successfully"); maild's own
# line per run (maild.scheduler) says what the job did, so only its warnings are kept.
logging.getLogger("apscheduler").setLevel(logging.WARNING)


def utc_now() -> datetime:
    return datetime.now(UTC)


async def run_scheduler(
    ctx: JobContext, stop: asyncio.Event, board: ServiceBoard, clock: Clock = utc_now
) -> None:
    """Run every job on its interval until `stop` is set, then wait for the runs in flight."""
    in_flight: set[asyncio.Task[None]] = set()

    async def run(job: Job) -> None:
        task = asyncio.current_task()
        assert task is not None  # APScheduler runs coroutine jobs as tasks
        in_flight.add(task)
        try:
            # The jobs are synchronous database work: off the event loop, one thread per run.
            outcome = await asyncio.to_thread(run_job, job, ctx, clock)
            board.job_finished(job.name, outcome.ok, outcome.result, outcome.finished_at)
        finally:
            in_flight.discard(task)

    scheduler = AsyncIOScheduler(
        timezone=UTC,
        # A run that outlasts its interval is not stacked up: one at a time, late runs merged.
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
    )
    start = datetime.now(UTC)
    for job in JOBS:
        seconds = ctx.settings.scheduler.interval(job.name)
        trigger = IntervalTrigger(seconds=seconds, timezone=UTC)
        scheduler.add_job(run, trigger, args=(job,), id=job.name, next_run_time=start)
    scheduler.start()
    try:
        await stop.wait()
    finally:
        ctx.halt.set()  # runs in flight end after their current batch
        scheduler.shutdown(wait=False)
        await asyncio.gather(*in_flight, return_exceptions=True)
