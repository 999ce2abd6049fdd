"""Each job once, with a fake clock, on SQLite and PostgreSQL (seed edge cases included)."""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa

from maild.routing import RoundRobin
from maild.scheduler import Job, JobContext, find_job, run_job
from maild.store.db import Store
from maild.store.models import Agent, Group, JobRun, Outbox, Ticket
from maild.tickets.actors import SYSTEM
from maild.tickets.followup import FollowUp, schedule_followup
from maild.tickets.housekeeping import delete_ticket
from maild.tickets.incoming import apply_customer_reply
from maild.tickets.lifecycle import set_status
from maild.values import Role, Status
from tests.scheduler.conftest import Run, actions, ticket
from tests.tickets.factory import Org, make_org, new_ticket

RR = RoundRobin()
HOUR = timedelta(hours=1)


def _with_followup(store: Store, now: datetime, **org_options: object) -> tuple[Org, str]:
    """alice's ticket with a follow-up for her in an hour; alice then goes unavailable."""
    with store.transaction() as s:
        org = make_org(s, **org_options)  # type: ignore[arg-type]
        t = new_ticket(s, org, now, agent_id=org.alice_id)
        followup = FollowUp(now + HOUR, org.tier1_id, agent_id=org.alice_id, note="call back")
        schedule_followup(s, t, followup, distributor=RR, actor=SYSTEM, now=now)
        alice = s.get_one(Agent, org.alice_id)
        alice.available, alice.logged_in = False, False
        return org, t.number


def test_due_followup_goes_active_to_its_agent_even_when_unavailable(
    store: Store, run: Run, now: datetime
) -> None:
    org, number = _with_followup(store, now)
    assert run("followups", now + HOUR / 2).result == "0 follow-up(s) fired"
    assert ticket(store, number).status is Status.WAITING
    assert run("followups", now + 2 * HOUR).result == "1 follow-up(s) fired"
    fired = ticket(store, number)
    assert (fired.status, fired.agent_id, fired.followup_at) == (Status.ACTIVE, org.alice_id, None)
    assert actions(store, number).count("followup_due") == 1
    run("followups", now + 3 * HOUR)  # idempotent: nothing left to fire
    assert actions(store, number).count("followup_due") == 1


def test_customer_reply_suspends_the_followup_so_it_never_fires(
    store: Store, run: Run, now: datetime
) -> None:
    _, number = _with_followup(store, now)
    with store.transaction() as s:
        t = s.scalars(sa.select(Ticket).where(Ticket.number == number)).one()
        apply_customer_reply(
            s, t, sender="carol@example.com", distributor=RR, now=now + 1 * HOUR / 4
        )
    run("followups", now + 2 * HOUR)
    assert "followup_due" not in actions(store, number)
    assert ticket(store, number).followup_suspended


def test_auto_close_closes_idle_waiting_tickets_but_skips_one_with_a_followup(
    store: Store, run: Run, now: datetime
) -> None:
    org, scheduled = _with_followup(store, now, auto_close_after_minutes=60)
    with store.transaction() as s:
        idle = new_ticket(s, org, now, agent_id=org.bob_id)
        set_status(s, idle, Status.WAITING, distributor=RR, actor=SYSTEM, now=now)
        fresh = new_ticket(s, org, now, agent_id=org.bob_id)
        set_status(s, fresh, Status.WAITING, distributor=RR, actor=SYSTEM, now=now + HOUR / 2)
        idle_number, fresh_number = idle.number, fresh.number
    assert run("auto_close", now + HOUR * 5 / 4).result == "1 ticket(s) auto-closed"
    assert ticket(store, idle_number).status is Status.CLOSED
    assert actions(store, idle_number)[-1] == "auto_closed"
    assert ticket(store, fresh_number).status is Status.WAITING
    # The follow-up's ticket is waiting and idle, but auto-close leaves it to the follow-up.
    assert ticket(store, scheduled).status is Status.WAITING
    assert "auto_closed" not in actions(store, scheduled)


def test_a_job_stops_between_batches_when_maild_stops(
    store: Store, ctx: JobContext, now: datetime
) -> None:
    with store.transaction() as s:
        org = make_org(s, auto_close_after_minutes=60)
        for _ in range(3 * ctx.settings.scheduler.batch):
            idle = new_ticket(s, org, now, agent_id=org.bob_id)
            set_status(s, idle, Status.WAITING, distributor=RR, actor=SYSTEM, now=now)
    # SIGTERM arrives while the first batch runs: its commit is the last one.
    sa.event.listen(store.engine, "commit", lambda conn: ctx.halt.set())
    halted = run_job(find_job("auto_close"), ctx, lambda: now + 2 * HOUR)
    assert halted.ok and halted.result == f"{ctx.settings.scheduler.batch} ticket(s) auto-closed"
    with store.transaction() as s:
        closed = s.scalar(sa.select(sa.func.count()).where(Ticket.status == Status.CLOSED))
    assert closed == ctx.settings.scheduler.batch


def test_queue_drain_hands_out_tickets_a_missed_event_left_queued(
    store: Store, run: Run, now: datetime
) -> None:
    with store.transaction() as s:
        org = make_org(s)
        for agent in s.scalars(sa.select(Agent)):
            agent.logged_in = False
        numbers = [new_ticket(s, org, now, distributor=RR).number for _ in range(3)]
    with store.transaction() as s:  # alice logs in by a path that told nobody
        s.get_one(Agent, org.alice_id).logged_in = True
    assert run("queue_drain", now + HOUR).result == "3 queued ticket(s) assigned"
    assert {ticket(store, n).agent_id for n in numbers} == {org.alice_id}


def test_rebalance_runs_when_a_group_time_passed_since_the_last_run(
    store: Store, run: Run, now: datetime
) -> None:
    with store.transaction() as s:
        org = make_org(s)
        tier1 = s.get_one(Group, org.tier1_id)
        tier1.rebalance, tier1.rebalance_times = True, "09:30"
        s.get_one(Agent, org.bob_id).logged_in = False
        for _ in range(4):
            new_ticket(s, org, now, distributor=RR)  # all four go to alice
        s.get_one(Agent, org.bob_id).logged_in = True
    assert run("rebalance", now).result == "no rebalance due"  # 09:00
    # Stopped over 09:30: the first run after start looks back to the last run, at 09:00.
    assert run("rebalance", now + 2 * HOUR).result == "rebalanced: Tier 1"
    assert run("rebalance", now + 2 * HOUR + HOUR / 60).result == "no rebalance due"
    with store.sessions() as s:
        held = s.execute(
            sa.select(Ticket.agent_id, sa.func.count()).group_by(Ticket.agent_id)
        ).all()
    assert sorted(n for _, n in held) == [2, 2]


def test_queue_alert_mails_the_group_managers_once_per_ticket(
    store: Store, run: Run, now: datetime
) -> None:
    with store.transaction() as s:
        org = make_org(s)
        s.get_one(Group, org.tier1_id).queue_alert_after_minutes = 30
        for agent in s.scalars(sa.select(Agent)):
            agent.logged_in = False
        s.get_one(Agent, org.bob_id).role = Role.MANAGER
        first = new_ticket(s, org, now, distributor=RR, subject="First in line").number
    assert run("queue_alert", now + HOUR / 4).result == "0 queued ticket(s) reported"
    assert run("queue_alert", now + HOUR).result == "1 queued ticket(s) reported"
    assert run("queue_alert", now + 2 * HOUR).result == "0 queued ticket(s) reported"
    with store.transaction() as s:
        second = new_ticket(s, org, now + 2 * HOUR, distributor=RR).number
    run("queue_alert", now + 3 * HOUR)
    with store.sessions() as s:
        alerts = s.scalars(sa.select(Outbox).where(Outbox.purpose == "queue_alert")).all()
    assert [a.recipients for a in alerts] == [["bob@acme.test"], ["bob@acme.test"]]
    assert first.encode() in alerts[0].raw and second.encode() not in alerts[0].raw
    assert second.encode() in alerts[1].raw and first.encode() not in alerts[1].raw
    assert b"Auto-Submitted: auto-replied" in alerts[0].raw  # RFC 3834: nobody answers it


def test_purge_job_removes_tickets_deleted_longer_ago_than_configured(
    store: Store, run: Run, now: datetime
) -> None:
    with store.transaction() as s:
        org = make_org(s)
        old, recent = new_ticket(s, org, now), new_ticket(s, org, now)
        delete_ticket(s, old, distributor=RR, actor=SYSTEM, now=now)
        delete_ticket(s, recent, distributor=RR, actor=SYSTEM, now=now + timedelta(days=30))
    assert run("purge", now + timedelta(days=91)).result == "1 deleted ticket(s) purged"
    with store.sessions() as s:
        assert list(s.scalars(sa.select(Ticket.number))) == [recent.number]


def test_a_failing_job_is_recorded_and_runs_again_next_time(
    store: Store, ctx: JobContext, now: datetime
) -> None:
    attempts: list[datetime] = []

    def flaky(ctx: JobContext, at: datetime) -> str:
        attempts.append(at)
        if len(attempts) == 1:
            raise RuntimeError("database hiccup")
        return "fine"

    job = Job("flaky", "fails once", flaky)
    first = run_job(job, ctx, lambda: now)
    assert (first.ok, first.result) == (False, "RuntimeError: database hiccup")
    second = run_job(job, ctx, lambda: now + HOUR)
    assert (second.ok, second.result) == (True, "fine")
    with store.sessions() as s:
        row = s.get_one(JobRun, "flaky")
    assert (row.runs, row.failures, row.ok, row.started_at) == (2, 1, True, now + HOUR)
