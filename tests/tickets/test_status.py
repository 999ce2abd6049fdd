"""Agent changes: status, priority, pin, subject, email address, first response; clocks."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa

from maild.errors import Conflict, InvalidRequest
from maild.store.db import Store
from maild.store.models import History, Recent
from maild.tickets.actors import SYSTEM
from maild.tickets.followup import FollowUp, schedule_followup
from maild.tickets.lifecycle import (
    change_email,
    change_subject,
    duration,
    idle,
    record_agent_response,
    set_pinned,
    set_priority,
    set_status,
)
from maild.tickets.participants import is_participant
from maild.tickets.ports import QueueOnly
from maild.values import Priority, Status
from tests.tickets.factory import RecordingDistributor, make_org, new_ticket, snapshot


@pytest.mark.parametrize("status", [Status.WAITING, Status.CLOSED, Status.CLOSED_LOCKED])
def test_agent_ticket_leaving_active_releases_the_agent(
    store: Store, now: datetime, status: Status
) -> None:
    distributor = RecordingDistributor()
    with store.transaction() as s:
        org = make_org(s)
        ticket = new_ticket(s, org, now, agent_id=org.alice_id)
        set_status(s, ticket, status, distributor=distributor, actor=org.actor(s), now=now)
    assert ticket.status is status
    assert distributor.calls == [("released", org.tier1_id, org.alice_id)]


def test_queued_ticket_made_active_again_is_placed(store: Store, now: datetime) -> None:
    distributor = RecordingDistributor()
    with store.transaction() as s:
        org = make_org(s)
        ticket = new_ticket(s, org, now)
        set_status(s, ticket, Status.CLOSED, distributor=distributor, actor=SYSTEM, now=now)
        assert ticket.queued_at is None  # a closed ticket is no longer in the queue
        set_status(s, ticket, Status.ACTIVE, distributor=distributor, actor=SYSTEM, now=now)
    assert distributor.calls == [("place", ticket.number)]
    assert ticket.queued_at == now


def test_status_change_is_an_action_with_history_and_a_recent_touch(
    store: Store, now: datetime
) -> None:
    later = now + timedelta(minutes=5)
    with store.transaction() as s:
        org = make_org(s)
        ticket = new_ticket(s, org, now)
        set_status(
            s, ticket, Status.WAITING, distributor=QueueOnly(), actor=org.actor(s), now=later
        )
        entry = s.scalars(sa.select(History).order_by(History.id.desc())).first()
        touched = s.scalars(sa.select(Recent)).all()
    assert entry is not None
    assert (entry.actor, entry.action, entry.from_value, entry.to_value) == (
        "alice",
        "status",
        "active",
        "waiting",
    )
    assert [(r.agent_id, r.ticket_id, r.at) for r in touched] == [(org.alice_id, ticket.id, later)]
    assert ticket.last_action_at == later


def test_closing_and_locking_removes_the_follow_up(store: Store, now: datetime) -> None:
    with store.transaction() as s:
        org = make_org(s)
        ticket = new_ticket(s, org, now, agent_id=org.alice_id)
        plan = FollowUp(at=now + timedelta(days=1), group_id=org.tier1_id, agent_id=org.alice_id)
        schedule_followup(s, ticket, plan, distributor=QueueOnly(), actor=SYSTEM, now=now)
        set_status(s, ticket, Status.CLOSED_LOCKED, distributor=QueueOnly(), actor=SYSTEM, now=now)
    assert ticket.followup_at is None and ticket.followup_prev_status is None


def test_priority_change_is_recorded(store: Store, now: datetime) -> None:
    with store.transaction() as s:
        ticket = new_ticket(s, make_org(s), now)
        set_priority(s, ticket, Priority.URGENT, actor=SYSTEM, now=now)
        actions = s.scalars(sa.select(History.action).order_by(History.id)).all()
    assert ticket.priority is Priority.URGENT
    assert actions == ["created", "priority"]


def test_queued_ticket_cannot_be_pinned(store: Store, now: datetime) -> None:
    with store.transaction() as s:
        ticket = new_ticket(s, make_org(s), now)
        before = snapshot(s)
        with pytest.raises(Conflict, match="in the queue"):
            set_pinned(s, ticket, True, actor=SYSTEM, now=now)
        assert snapshot(s) == before


def test_ticket_with_an_agent_can_be_pinned_and_unpinned(store: Store, now: datetime) -> None:
    with store.transaction() as s:
        org = make_org(s)
        ticket = new_ticket(s, org, now, agent_id=org.alice_id)
        set_pinned(s, ticket, True, actor=SYSTEM, now=now)
        assert ticket.pinned
        set_pinned(s, ticket, False, actor=SYSTEM, now=now)
    assert not ticket.pinned


def test_change_subject_is_used_from_now_on(store: Store, now: datetime) -> None:
    with store.transaction() as s:
        ticket = new_ticket(s, make_org(s), now)
        change_subject(s, ticket, "  Printer fixed? ", actor=SYSTEM, now=now)
    assert ticket.subject == "Printer fixed?"


def test_subject_with_a_line_break_is_refused(store: Store, now: datetime) -> None:
    with store.transaction() as s:
        ticket = new_ticket(s, make_org(s), now)
        before = snapshot(s)
        with pytest.raises(InvalidRequest, match="one non-empty line"):
            change_subject(s, ticket, "Hi\r\nBcc: evil@example.net", actor=SYSTEM, now=now)
        assert snapshot(s) == before


def test_change_email_makes_the_new_address_the_requester(store: Store, now: datetime) -> None:
    with store.transaction() as s:
        ticket = new_ticket(s, make_org(s), now)
        change_email(s, ticket, "Carol.New@Example.org", actor=SYSTEM, now=now)
        assert ticket.requester == "carol.new@example.org"
        assert is_participant(s, ticket, "carol.new@example.org")
        assert is_participant(s, ticket, "carol@example.com")  # may still write in


@pytest.mark.parametrize("bad", ["", "carol", "carol@", "a@b@c.com", "x@y.com\nBcc: z@w.com"])
def test_change_email_to_a_malformed_address_is_refused(
    store: Store, now: datetime, bad: str
) -> None:
    with store.transaction() as s:
        ticket = new_ticket(s, make_org(s), now)
        before = snapshot(s)
        with pytest.raises(InvalidRequest, match="not an email address"):
            change_email(s, ticket, bad, actor=SYSTEM, now=now)
        assert snapshot(s) == before


def test_first_response_is_kept_from_the_first_agent_reply(store: Store, now: datetime) -> None:
    with store.transaction() as s:
        org = make_org(s)
        ticket = new_ticket(s, org, now)
        record_agent_response(s, ticket, actor=org.actor(s), now=now + timedelta(minutes=10))
        record_agent_response(s, ticket, actor=org.actor(s), now=now + timedelta(minutes=20))
    assert ticket.first_response_at == now + timedelta(minutes=10)
    assert ticket.last_action_at == now + timedelta(minutes=20)


def test_duration_counts_from_creation_and_idle_from_the_last_action(
    store: Store, now: datetime
) -> None:
    with store.transaction() as s:
        ticket = new_ticket(s, make_org(s), now)
        set_priority(s, ticket, Priority.HIGH, actor=SYSTEM, now=now + timedelta(hours=1))
    later = now + timedelta(hours=3)
    assert duration(ticket, later) == timedelta(hours=3)
    assert idle(ticket, later) == timedelta(hours=2)
