"""Follow-ups: schedule -> waiting, due -> active with its agent, remove -> status restored."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

import pytest

from maild.errors import Conflict, InvalidRequest, NotFound
from maild.store.db import Store
from maild.store.models import Agent
from maild.tickets.actors import SYSTEM
from maild.tickets.followup import (
    FollowUp,
    fire_due_followups,
    followup_defaults,
    remove_followup,
    schedule_followup,
)
from maild.tickets.housekeeping import delete_ticket
from maild.tickets.incoming import apply_customer_reply
from maild.tickets.lifecycle import set_status
from maild.tickets.ports import QueueOnly
from maild.values import Priority, Status
from tests.tickets.factory import RecordingDistributor, make_org, new_ticket, snapshot

Q = QueueOnly()


def test_scheduling_a_follow_up_makes_the_ticket_waiting(store: Store, now: datetime) -> None:
    distributor = RecordingDistributor()
    with store.transaction() as s:
        org = make_org(s)
        ticket = new_ticket(s, org, now, agent_id=org.alice_id)
        plan = FollowUp(at=now + timedelta(days=1), group_id=org.tier1_id, agent_id=org.alice_id)
        schedule_followup(s, ticket, plan, distributor=distributor, actor=SYSTEM, now=now)
    assert ticket.status is Status.WAITING
    assert ticket.followup_prev_status is Status.ACTIVE
    assert distributor.calls[-1] == ("released", org.tier1_id, org.alice_id)


@pytest.mark.parametrize("offset", [timedelta(0), timedelta(minutes=-1)])
def test_follow_up_in_the_past_is_refused_and_changes_nothing(
    store: Store, now: datetime, offset: timedelta
) -> None:
    with store.transaction() as s:
        org = make_org(s)
        ticket = new_ticket(s, org, now)
        before = snapshot(s)
        plan = FollowUp(at=now + offset, group_id=org.tier1_id)
        with pytest.raises(InvalidRequest, match="pick a later time"):
            schedule_followup(s, ticket, plan, distributor=Q, actor=SYSTEM, now=now)
        assert snapshot(s) == before


def test_follow_up_for_an_unknown_agent_is_not_found(store: Store, now: datetime) -> None:
    with store.transaction() as s:
        org = make_org(s)
        ticket = new_ticket(s, org, now)
        before = snapshot(s)
        plan = FollowUp(at=now + timedelta(hours=1), group_id=org.tier1_id, agent_id=999)
        with pytest.raises(NotFound, match="agent"):
            schedule_followup(s, ticket, plan, distributor=Q, actor=SYSTEM, now=now)
        assert snapshot(s) == before


@pytest.mark.parametrize("status", [Status.ACTIVE, Status.WAITING, Status.CLOSED])
def test_removing_a_follow_up_restores_the_previous_status(
    store: Store, now: datetime, status: Status
) -> None:
    with store.transaction() as s:
        org = make_org(s)
        ticket = new_ticket(s, org, now, agent_id=org.alice_id, status=status)
        plan = FollowUp(at=now + timedelta(days=1), group_id=org.tier1_id)
        schedule_followup(s, ticket, plan, distributor=Q, actor=SYSTEM, now=now)
        # Re-scheduling keeps the status from before the first follow-up.
        schedule_followup(s, ticket, plan, distributor=Q, actor=SYSTEM, now=now)
        remove_followup(s, ticket, distributor=Q, actor=SYSTEM, now=now)
    assert ticket.status is status
    assert ticket.followup_at is None


def test_removing_a_missing_follow_up_is_refused(store: Store, now: datetime) -> None:
    with store.transaction() as s:
        ticket = new_ticket(s, make_org(s), now)
        with pytest.raises(Conflict, match="no follow-up"):
            remove_followup(s, ticket, distributor=Q, actor=SYSTEM, now=now)


def test_due_follow_up_becomes_active_with_its_agent_whatever_their_status(
    store: Store, now: datetime
) -> None:
    distributor = RecordingDistributor()
    due = now + timedelta(days=1)
    with store.transaction() as s:
        org = make_org(s)
        s.get_one(Agent, org.bob_id).logged_in = False  # seed: "even if ... inactive"
        ticket = new_ticket(s, org, now, agent_id=org.alice_id)
        plan = FollowUp(
            at=due, group_id=org.tier2_id, agent_id=org.bob_id, priority=Priority.HIGH, pin=True
        )
        schedule_followup(s, ticket, plan, distributor=Q, actor=SYSTEM, now=now)
        assert fire_due_followups(s, distributor=distributor, now=due - timedelta(seconds=1)) == []
        fired = fire_due_followups(s, distributor=distributor, now=due)
    assert fired == [ticket]
    assert (ticket.status, ticket.agent_id, ticket.group_id) == (
        Status.ACTIVE,
        org.bob_id,
        org.tier2_id,
    )
    assert ticket.priority is Priority.HIGH and ticket.pinned
    assert ticket.followup_at is None
    assert distributor.calls == [("assigned", ticket.number, org.bob_id)]


def test_due_auto_assign_follow_up_is_distributed(store: Store, now: datetime) -> None:
    distributor = RecordingDistributor()
    due = now + timedelta(hours=2)
    with store.transaction() as s:
        org = make_org(s)
        ticket = new_ticket(s, org, now, agent_id=org.alice_id)
        plan = FollowUp(at=due, group_id=org.tier1_id, agent_id=None, pin=True)
        schedule_followup(s, ticket, plan, distributor=Q, actor=SYSTEM, now=now)
        fire_due_followups(s, distributor=distributor, now=due)
    assert distributor.calls == [("place", ticket.number)]
    assert ticket.agent_id is None and not ticket.pinned  # nobody to pin it to in the queue


def test_suspended_follow_up_is_not_fired_and_can_be_rescheduled_with_its_values(
    store: Store, now: datetime
) -> None:
    due = now + timedelta(hours=2)
    with store.transaction() as s:
        org = make_org(s)
        ticket = new_ticket(s, org, now, agent_id=org.alice_id)
        plan = FollowUp(at=due, group_id=org.tier1_id, agent_id=org.alice_id, note="check")
        schedule_followup(s, ticket, plan, distributor=Q, actor=SYSTEM, now=now)
        apply_customer_reply(s, ticket, sender="carol@example.com", distributor=Q, now=now)
        assert fire_due_followups(s, distributor=Q, now=due) == []
        again = followup_defaults(ticket)
        assert again is not None and again.note == "check"
        later = replace(again, at=due + timedelta(days=1))
        schedule_followup(s, ticket, later, distributor=Q, actor=SYSTEM, now=due)
    assert not ticket.followup_suspended and ticket.status is Status.WAITING
    assert ticket.followup_prev_status is Status.ACTIVE


def test_deleting_a_ticket_removes_its_follow_up(store: Store, now: datetime) -> None:
    with store.transaction() as s:
        org = make_org(s)
        ticket = new_ticket(s, org, now)
        plan = FollowUp(at=now + timedelta(hours=1), group_id=org.tier1_id)
        schedule_followup(s, ticket, plan, distributor=Q, actor=SYSTEM, now=now)
        delete_ticket(s, ticket, distributor=Q, actor=SYSTEM, now=now)
        assert fire_due_followups(s, distributor=Q, now=now + timedelta(days=1)) == []
    assert ticket.followup_at is None


def test_closed_ticket_with_a_follow_up_comes_back_when_due(store: Store, now: datetime) -> None:
    due = now + timedelta(hours=1)
    with store.transaction() as s:
        org = make_org(s)
        ticket = new_ticket(s, org, now, agent_id=org.alice_id)
        plan = FollowUp(at=due, group_id=org.tier1_id, agent_id=org.alice_id)
        schedule_followup(s, ticket, plan, distributor=Q, actor=SYSTEM, now=now)
        set_status(s, ticket, Status.CLOSED, distributor=Q, actor=SYSTEM, now=now)
        fire_due_followups(s, distributor=Q, now=due)
    assert ticket.status is Status.ACTIVE
