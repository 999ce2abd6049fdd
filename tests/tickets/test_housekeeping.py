"""Delete (flag + closed_locked), purge after 90 days, auto-close of idle waiting tickets."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa

from maild.errors import Conflict
from maild.store.db import Store
from maild.store.models import History, Message, Ticket
from maild.tickets.actors import SYSTEM
from maild.tickets.followup import FollowUp, schedule_followup
from maild.tickets.housekeeping import auto_close, delete_ticket, purge_deleted
from maild.tickets.incoming import apply_customer_reply
from maild.tickets.lifecycle import set_priority, set_status
from maild.tickets.ports import QueueOnly
from maild.values import Direction, Priority, Status
from tests.tickets.factory import RecordingDistributor, make_org, new_ticket, snapshot

Q = QueueOnly()


def test_deleted_ticket_is_closed_locked_and_releases_its_agent(
    store: Store, now: datetime
) -> None:
    distributor = RecordingDistributor()
    with store.transaction() as s:
        org = make_org(s)
        ticket = new_ticket(s, org, now, agent_id=org.alice_id)
        delete_ticket(s, ticket, distributor=distributor, actor=org.actor(s), now=now)
    assert (ticket.status, ticket.deleted_at) == (Status.CLOSED_LOCKED, now)
    assert distributor.calls[-1] == ("released", org.tier1_id, org.alice_id)


def test_deleted_ticket_takes_no_more_actions(store: Store, now: datetime) -> None:
    with store.transaction() as s:
        ticket = new_ticket(s, make_org(s), now)
        delete_ticket(s, ticket, distributor=Q, actor=SYSTEM, now=now)
        before = snapshot(s)
        with pytest.raises(Conflict, match="is deleted"):
            set_priority(s, ticket, Priority.HIGH, actor=SYSTEM, now=now)
        with pytest.raises(Conflict, match="already deleted"):
            delete_ticket(s, ticket, distributor=Q, actor=SYSTEM, now=now)
        with pytest.raises(Conflict, match="deleted"):
            apply_customer_reply(s, ticket, sender="carol@example.com", distributor=Q, now=now)
        assert snapshot(s) == before


def test_tickets_deleted_more_than_90_days_ago_are_purged(store: Store, now: datetime) -> None:
    with store.transaction() as s:
        org = make_org(s)
        old, recent, kept = (new_ticket(s, org, now) for _ in range(3))
        s.add(Message(ticket_id=old.id, direction=Direction.IN, text="bye", created_at=now))
        delete_ticket(s, old, distributor=Q, actor=SYSTEM, now=now - timedelta(days=91))
        delete_ticket(s, recent, distributor=Q, actor=SYSTEM, now=now - timedelta(days=89))
        purged = purge_deleted(s, now)
        left = set(s.scalars(sa.select(Ticket.number)))
        orphans = s.scalar(sa.select(sa.func.count()).where(History.ticket_id == old.id))
        messages = s.scalar(sa.select(sa.func.count(Message.id)))
    assert purged == [old.number]
    assert left == {recent.number, kept.number}
    assert (orphans, messages) == (0, 0)


def test_waiting_tickets_idle_past_the_department_limit_are_auto_closed(
    store: Store, now: datetime
) -> None:
    with store.transaction() as s:
        org = make_org(s, auto_close_after_minutes=60)
        stale, fresh, active = (new_ticket(s, org, now) for _ in range(3))
        for ticket in (stale, fresh):
            set_status(s, ticket, Status.WAITING, distributor=Q, actor=SYSTEM, now=now)
        fresh.last_action_at = now + timedelta(minutes=30)
        closed = auto_close(s, now + timedelta(minutes=61))
        action = s.scalars(
            sa.select(History.action).where(History.ticket_id == stale.id).order_by(History.id)
        ).all()[-1]
    assert closed == [stale]
    assert (stale.status, fresh.status, active.status) == (
        Status.CLOSED,
        Status.WAITING,
        Status.ACTIVE,
    )
    assert action == "auto_closed"


def test_waiting_ticket_with_a_scheduled_follow_up_is_not_auto_closed(
    store: Store, now: datetime
) -> None:
    with store.transaction() as s:
        org = make_org(s, auto_close_after_minutes=60)
        ticket = new_ticket(s, org, now)
        plan = FollowUp(at=now + timedelta(days=7), group_id=org.tier1_id)
        schedule_followup(s, ticket, plan, distributor=Q, actor=SYSTEM, now=now)
        assert auto_close(s, now + timedelta(days=2)) == []
    assert ticket.status is Status.WAITING


def test_department_without_auto_close_never_closes(store: Store, now: datetime) -> None:
    with store.transaction() as s:
        org = make_org(s)
        ticket = new_ticket(s, org, now, status=Status.WAITING)
        assert auto_close(s, now + timedelta(days=365)) == []
    assert ticket.status is Status.WAITING


def test_purge_removes_the_spool_raw_bytes_and_outbox_of_the_ticket(
    store: Store, now: datetime
) -> None:
    from maild.ingest.pipeline import Pipeline
    from maild.ingest.spool import Envelope
    from maild.provision import apply_config
    from maild.runtime import build_apply_context
    from maild.store.models import Inbound, Outbox, Raw
    from maild.values import OutboxState
    from tests.ingest.test_flows import FLOWS, make_settings

    settings = make_settings()  # the autoresponder is on: each new ticket queues a mail
    with store.transaction() as s:
        apply_config(s, settings, now)
    pipeline = Pipeline(store, build_apply_context(settings), clock=lambda: now)
    request = (FLOWS / "new-request.eml").read_bytes()
    for n in (1, 2):
        body = request.replace(b"<req-1@", f"<req-{n}-purge@".encode())
        pipeline.receive(body, "smtp", Envelope("carol@customer.example", ()))
    gone, kept = (r.ticket for r in pipeline.process(pipeline.pending()))

    def rows(s: sa.orm.Session, number: str | None) -> tuple[int, int, int]:
        ticket_id = s.scalar(sa.select(Ticket.id).where(Ticket.number == number))
        raws = sa.select(Inbound.raw_id).where(Inbound.ticket_id == ticket_id)
        return (
            s.scalar(sa.select(sa.func.count()).where(Inbound.ticket_id == ticket_id)) or 0,
            s.scalar(sa.select(sa.func.count(Raw.id)).where(Raw.id.in_(raws))) or 0,
            s.scalar(sa.select(sa.func.count()).where(Outbox.ticket_id == ticket_id)) or 0,
        )

    with store.transaction() as s:
        assert rows(s, gone) == rows(s, kept) == (1, 1, 1)
        ticket = s.scalars(sa.select(Ticket).where(Ticket.number == gone)).one()
        delete_ticket(s, ticket, distributor=Q, actor=SYSTEM, now=now)
        raw_id = s.scalar(sa.select(Inbound.raw_id).where(Inbound.ticket_id == ticket.id))
    with store.transaction() as s:
        assert purge_deleted(s, now + timedelta(days=91)) == [gone]
    with store.transaction() as s:
        assert s.get(Raw, raw_id) is None  # the customer's text is gone ...
        assert s.scalar(sa.select(sa.func.count(Inbound.id))) == 1
        # ... and so is the autoresponse still queued for the purged ticket
        queued = s.scalars(sa.select(Outbox).where(Outbox.state == OutboxState.QUEUED)).all()
        assert [row.ticket_id for row in queued] == [
            s.scalar(sa.select(Ticket.id).where(Ticket.number == kept))
        ]
        assert rows(s, kept) == (1, 1, 1)
