"""The jobs: what each does, in batches of `[scheduler] batch` rows per transaction, so a
large backlog never sits in one transaction and a second process takes the next batch."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from maild.errors import NotFound
from maild.outbound.templates import Templates
from maild.routing import drain_queue, run_due_rebalances
from maild.scheduler.alerts import send_queue_alerts
from maild.scheduler.compress import compress_idle_raw
from maild.settings import Settings
from maild.store import batch as reference_cache
from maild.store.db import Store
from maild.store.models import Group, JobRun, Ticket
from maild.tickets.followup import fire_due_followups
from maild.tickets.housekeeping import auto_close, purge_deleted
from maild.tickets.ports import Distributor
from maild.tickets.states import IN_QUEUE


@dataclass(frozen=True)
class JobContext:
    """What the jobs need, built once by the daemon or the CLI (`runtime.build_job_context`)."""

    store: Store
    settings: Settings
    distributor: Distributor
    templates: Templates
    # Set when `maild serve` stops: a job stops between batches, so a backlog of a hundred
    # thousand tickets does not hold the shutdown until the init system kills it mid-batch.
    halt: threading.Event = field(default_factory=threading.Event, compare=False)


@dataclass(frozen=True)
class Job:
    name: str
    description: str
    run: Callable[[JobContext, datetime], str]  # returns what it did, one line


def _in_batches(ctx: JobContext, step: Callable[[Session, int], int]) -> int:
    """Run `step` (one batch, returns how many rows it changed) in one transaction each until
    a batch comes back short, or maild is stopping (the next run takes up the rest)."""
    batch, total = ctx.settings.scheduler.batch, 0
    while not ctx.halt.is_set():
        with ctx.store.transaction() as session:
            # Groups and departments are read once per batch, not once per ticket.
            reference_cache.start(session)
            done = step(session, batch)
        total += done
        if done < batch:
            break
    return total


def fire_followups(ctx: JobContext, now: datetime) -> str:
    def step(session: Session, batch: int) -> int:
        fired = fire_due_followups(session, distributor=ctx.distributor, now=now, limit=batch)
        return len(fired)

    return f"{_in_batches(ctx, step)} follow-up(s) fired"


def close_idle_waiting(ctx: JobContext, now: datetime) -> str:
    def step(session: Session, batch: int) -> int:
        return len(auto_close(session, now, limit=batch))

    return f"{_in_batches(ctx, step)} ticket(s) auto-closed"


def drain_queues(ctx: JobContext, now: datetime) -> str:
    """In case an event was missed (an agent's room freed by another process, a crash), hand
    queued tickets to whoever is eligible now; one transaction per group."""
    queued = (
        sa.select(Ticket.group_id)
        .where(
            *IN_QUEUE,
        )
        .distinct()
    )
    with ctx.store.sessions() as session:
        group_ids = sorted(session.scalars(queued))
    assigned = 0
    for group_id in group_ids:
        with ctx.store.transaction() as session:
            assigned += drain_queue(session, group_id, now)
    return f"{assigned} queued ticket(s) assigned"


def rebalance_due_groups(ctx: JobContext, now: datetime) -> str:
    """Rebalance the groups one of whose `rebalance_times` passed since this job's last run
    (by any process, also before a restart); on the first run ever, since one interval ago."""
    with ctx.store.transaction() as session:
        last = session.get(JobRun, REBALANCE)
        interval = timedelta(seconds=ctx.settings.scheduler.interval(REBALANCE))
        since = last.started_at if last is not None else now - interval
        groups = run_due_rebalances(session, since, now)
        names = session.scalars(sa.select(Group.name).where(Group.id.in_(groups))).all()
    return f"rebalanced: {', '.join(sorted(names))}" if names else "no rebalance due"


def alert_queues(ctx: JobContext, now: datetime) -> str:
    def step(session: Session, batch: int) -> int:
        return send_queue_alerts(
            session, ctx.settings.outbound, ctx.templates, now=now, limit=batch
        )

    return f"{_in_batches(ctx, step)} queued ticket(s) reported"


def purge(ctx: JobContext, now: datetime) -> str:
    days = ctx.settings.tickets.purge_deleted_after_days

    def step(session: Session, batch: int) -> int:
        return len(purge_deleted(session, now, days, limit=batch))

    return f"{_in_batches(ctx, step)} deleted ticket(s) purged"


def compress(ctx: JobContext, now: datetime) -> str:
    idle = timedelta(hours=ctx.settings.scheduler.compress_after_hours)

    def step(session: Session, batch: int) -> int:
        return compress_idle_raw(session, now, idle, limit=batch)

    return f"{_in_batches(ctx, step)} raw message(s) compressed"


REBALANCE = "rebalance"
JOBS: tuple[Job, ...] = (
    Job("followups", "due follow-ups become active with their agent", fire_followups),
    Job(
        "auto_close", "close waiting tickets idle past their department's limit", close_idle_waiting
    ),
    Job("queue_drain", "hand queued tickets to agents with room", drain_queues),
    Job(REBALANCE, "rebalance groups at their rebalance_times", rebalance_due_groups),
    Job("queue_alert", "mail managers about tickets queued too long", alert_queues),
    Job("purge", "remove tickets deleted longer ago than purge_deleted_after_days", purge),
    Job("compress", "compress the raw mail of tickets idle for a day", compress),
)


def find_job(name: str) -> Job:
    for job in JOBS:
        if job.name == name:
            return job
    names = ", ".join(job.name for job in JOBS)
    raise NotFound(f"no job named {name!r}; the jobs are: {names}")
