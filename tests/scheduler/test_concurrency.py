"""Two maild processes running every job at once on one PostgreSQL database: each ticket is
changed exactly once (issue 10: rows are claimed with FOR UPDATE SKIP LOCKED)."""

from __future__ import annotations

import multiprocessing
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from maild.scheduler import JOBS, run_job
from maild.settings import Settings
from maild.store.db import Store
from maild.store.models import History, JobRun, Ticket
from maild.values import Status
from tests.conftest import truncate_all
from tests.scheduler.conftest import job_context
from tests.tickets.factory import Org, make_org

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
EACH = int(__import__("os").environ.get("EACH", "5000"))


def every_job(url: str, start: Callable[[], object]) -> None:
    """One maild process: every job once, as of NOW, in the order the daemon starts them."""
    store = Store.open(url)
    ctx = job_context(store, Settings())  # the default batch, as in production
    start()
    for job in JOBS:
        outcome = run_job(job, ctx, lambda: NOW)
        assert outcome.ok, outcome.result
    store.close()


def _ticket(org: Org, number: str, **values: object) -> dict[str, object]:
    row: dict[str, object] = {
        "number": number,
        "brand_id": org.brand_id,
        "department_id": org.support_id,
        "group_id": org.tier1_id,
        "agent_id": org.alice_id,
        "status": Status.WAITING,
        "created_at": NOW - timedelta(days=3),
        "last_action_at": NOW - timedelta(days=2),
        "response_clock_at": NOW - timedelta(days=3),
    }
    return row | values


def prepare(store: Store) -> Org:
    """EACH waiting tickets whose follow-up (to alice) is due, EACH stale waiting ones; bulk
    inserted, so no history yet."""
    with store.transaction() as session:
        org = make_org(session, auto_close_after_minutes=60)
        due = {
            "followup_at": NOW - timedelta(hours=1),
            "followup_prev_status": Status.ACTIVE,
            "followup_group_id": org.tier1_id,
            "followup_agent_id": org.alice_id,
        }
        rows = [_ticket(org, f"F-{i:05d}", **due) for i in range(EACH)]
        rows += [_ticket(org, f"W-{i:05d}") for i in range(EACH)]
        session.execute(sa.insert(Ticket), rows)
    return org


@pytest.mark.slow
# Several processes each: on one xdist worker with the other such test, never both at once
# on 2 cores (a join timeout under that load is no finding).
@pytest.mark.xdist_group("many-processes")
def test_two_processes_running_every_job_change_each_ticket_once(postgres_url: str) -> None:
    store = Store.open(postgres_url)
    truncate_all(store)  # the session database is shared with the `store` fixture's tests
    try:
        prepare(store)
        context = multiprocessing.get_context("spawn")
        barrier = context.Barrier(2)
        started = time.perf_counter()
        workers = [
            context.Process(target=every_job, args=(postgres_url, barrier.wait)) for _ in range(2)
        ]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(timeout=300)
            assert worker.exitcode == 0
        print(f"two processes, every job over {2 * EACH} tickets: "
              f"{time.perf_counter() - started:.1f} s")  # fmt: skip
        with store.sessions() as session:
            entries = Counter(session.execute(sa.select(History.ticket_id, History.action)))
            statuses = Counter(session.scalars(sa.select(Ticket.status)))
            runs = dict(session.execute(sa.select(JobRun.name, JobRun.runs)).all())
        per_ticket = Counter(ticket_id for ticket_id, _ in entries.elements())
        assert len(per_ticket) == 2 * EACH and set(per_ticket.values()) == {1}
        assert Counter(action for _, action in entries.elements()) == {
            "followup_due": EACH,
            "auto_closed": EACH,
        }
        assert statuses == {Status.ACTIVE: EACH, Status.CLOSED: EACH}
        assert runs == {job.name: 2 for job in JOBS}
    finally:
        truncate_all(store)
        store.close()
