"""Running one job once: its outcome is logged, recorded in `job_run` (shared by every process,
kept across restarts) and returned. A job that raises is a failed run, never an exception out
of here: the scheduler and the daemon go on, and the job runs again at its next time."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from maild.scheduler.jobs import Job, JobContext
from maild.store.models import JobRun

Clock = Callable[[], datetime]
log = logging.getLogger("maild.scheduler")


@dataclass(frozen=True)
class JobOutcome:
    name: str
    ok: bool
    result: str  # what it did, or the error
    started_at: datetime
    finished_at: datetime


def run_job(job: Job, ctx: JobContext, clock: Clock) -> JobOutcome:
    started = clock()
    try:
        result, ok = job.run(ctx, started), True
        log.info("job %s: %s", job.name, result)
    except Exception as exc:  # any fault of one run; the next run starts afresh
        result, ok = f"{type(exc).__name__}: {' '.join(str(exc).split())[:500]}", False
        log.exception("job %s failed: %s", job.name, result)
    outcome = JobOutcome(job.name, ok, result, started, clock())
    try:
        with ctx.store.transaction() as session:
            record_run(session, outcome)
    except Exception:  # the database is gone: the log has it; the next run records again
        log.exception("job %s: cannot record its run", job.name)
    return outcome


def record_run(session: Session, outcome: JobOutcome) -> None:
    """Upsert the job's row: two processes finishing the same job at once both count."""
    values = {
        "name": outcome.name,
        "started_at": outcome.started_at,
        "finished_at": outcome.finished_at,
        "ok": outcome.ok,
        "result": outcome.result,
        "runs": 1,
        "failures": 0 if outcome.ok else 1,
    }
    insert = (postgresql if session.get_bind().dialect.name == "postgresql" else sqlite).insert
    statement = insert(JobRun).values(values)
    excluded = statement.excluded
    session.execute(
        statement.on_conflict_do_update(
            index_elements=["name"],
            set_={
                "started_at": excluded.started_at,
                "finished_at": excluded.finished_at,
                "ok": excluded.ok,
                "result": excluded.result,
                "runs": JobRun.runs + 1,
                "failures": JobRun.failures + excluded.failures,
            },
        )
    )


def last_runs(session: Session) -> dict[str, JobRun]:
    return {row.name: row for row in session.scalars(sa.select(JobRun))}
