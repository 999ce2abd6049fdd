"""The scheduler's jobs on a real database (both backends), driven with a fake clock."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import pytest
import sqlalchemy as sa

from maild.outbound.templates import department_overrides
from maild.routing import RoundRobin
from maild.scheduler import JobContext, JobOutcome, find_job, run_job
from maild.settings import SchedulerSettings, Settings
from maild.store.db import Store
from maild.store.models import History, Ticket

Run = Callable[[str, datetime], JobOutcome]


def job_context(store: Store, settings: Settings | None = None) -> JobContext:
    settings = settings or Settings(scheduler=SchedulerSettings(batch=7))  # several batches
    return JobContext(store, settings, RoundRobin(), department_overrides(settings.departments))


@pytest.fixture
def ctx(store: Store) -> JobContext:
    return job_context(store)


@pytest.fixture
def run(ctx: JobContext) -> Run:
    """Run the named job once, as of `at`."""

    def run_at(name: str, at: datetime) -> JobOutcome:
        outcome = run_job(find_job(name), ctx, lambda: at)
        assert outcome.ok, outcome.result
        return outcome

    return run_at


def actions(store: Store, number: str) -> list[str]:
    with store.sessions() as session:
        ticket_id = session.scalar(sa.select(Ticket.id).where(Ticket.number == number))
        query = sa.select(History.action).where(History.ticket_id == ticket_id)
        return list(session.scalars(query.order_by(History.id)))


def ticket(store: Store, number: str) -> Ticket:
    with store.sessions() as session:
        return session.scalars(sa.select(Ticket).where(Ticket.number == number)).one()
