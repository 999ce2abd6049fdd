"""Transfer: new group/agent/priority/status/pin; idle kept, response clock reset."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa

from maild.errors import InvalidRequest, NotFound
from maild.store.db import Store
from maild.store.models import Agent, Comment, RecentTransfer
from maild.tickets.actors import SYSTEM
from maild.tickets.lifecycle import record_agent_response
from maild.tickets.ports import QueueOnly
from maild.tickets.transfer import Transfer, transfer
from maild.values import Priority, Status
from tests.tickets.factory import RecordingDistributor, make_org, new_ticket, snapshot


def test_transfer_keeps_idle_time_and_resets_the_response_clock(
    store: Store, now: datetime
) -> None:
    later = now + timedelta(hours=4)
    with store.transaction() as s:
        org = make_org(s)
        ticket = new_ticket(s, org, now, agent_id=org.alice_id)
        record_agent_response(s, ticket, actor=org.actor(s), now=now + timedelta(minutes=5))
        request = Transfer(group_id=org.tier2_id, agent_id=org.bob_id)
        transfer(s, ticket, request, distributor=QueueOnly(), actor=org.actor(s), now=later)
    assert ticket.last_action_at == now + timedelta(minutes=5)  # seed: idle not reset
    assert ticket.response_clock_at == later  # seed: response time IS reset
    assert ticket.first_response_at is None  # bob has not answered yet
    assert (ticket.group_id, ticket.agent_id) == (org.tier2_id, org.bob_id)


def test_both_agents_see_a_transfer_in_recently_transferred(store: Store, now: datetime) -> None:
    distributor = RecordingDistributor()
    with store.transaction() as s:
        org = make_org(s)
        ticket = new_ticket(s, org, now, agent_id=org.alice_id)
        request = Transfer(group_id=org.tier2_id, agent_id=org.bob_id, comment="needs tier 2")
        transfer(s, ticket, request, distributor=distributor, actor=org.actor(s), now=now)
        seen = s.execute(sa.select(RecentTransfer.agent_id, RecentTransfer.ticket_id)).all()
        comments = s.scalars(sa.select(Comment.body)).all()
    assert set(seen) == {(org.alice_id, ticket.id), (org.bob_id, ticket.id)}
    assert comments == ["needs tier 2"]
    assert distributor.calls[-2:] == [
        ("assigned", ticket.number, org.bob_id),
        ("released", org.tier1_id, org.alice_id),
    ]


def test_transfer_with_auto_assign_is_distributed(store: Store, now: datetime) -> None:
    distributor = RecordingDistributor()
    with store.transaction() as s:
        org = make_org(s)
        ticket = new_ticket(s, org, now, agent_id=org.alice_id)
        request = Transfer(group_id=org.tier2_id, agent_id=None, pin=True)
        transfer(s, ticket, request, distributor=distributor, actor=SYSTEM, now=now)
    assert ("place", ticket.number) in distributor.calls
    assert ticket.agent_id is None and ticket.queued_at == now and not ticket.pinned


def test_transfer_to_another_department_brings_its_department_along(
    store: Store, now: datetime
) -> None:
    with store.transaction() as s:
        org = make_org(s)
        ticket = new_ticket(s, org, now)
        request = Transfer(
            group_id=org.sales_desk_id,
            agent_id=org.bob_id,
            priority=Priority.URGENT,
            status=Status.WAITING,
            pin=True,
        )
        transfer(s, ticket, request, distributor=QueueOnly(), actor=SYSTEM, now=now)
    assert (ticket.department_id, ticket.group_id) == (org.sales_id, org.sales_desk_id)
    assert (ticket.status, ticket.priority, ticket.pinned) == (
        Status.WAITING,
        Priority.URGENT,
        True,
    )


@pytest.mark.parametrize(("group", "agent"), [(999, None), ("tier2", 999)])
def test_transferring_to_a_group_or_agent_that_does_not_exist_changes_nothing(
    store: Store, now: datetime, group: object, agent: int | None
) -> None:
    with store.transaction() as s:
        org = make_org(s)
        ticket = new_ticket(s, org, now, agent_id=org.alice_id)
        before = snapshot(s)
        group_id = org.tier2_id if group == "tier2" else int(str(group))
        request = Transfer(group_id=group_id, agent_id=agent)
        with pytest.raises(NotFound, match="pick an existing"):
            transfer(s, ticket, request, distributor=QueueOnly(), actor=SYSTEM, now=now)
        assert snapshot(s) == before


def test_transferring_to_an_agent_outside_the_group_is_refused(store: Store, now: datetime) -> None:
    with store.transaction() as s:
        org = make_org(s)
        carl = Agent(name="carl")
        s.add(carl)
        s.flush()
        ticket = new_ticket(s, org, now)
        before = snapshot(s)
        request = Transfer(group_id=org.tier2_id, agent_id=carl.id)
        with pytest.raises(InvalidRequest, match="not a member of group Tier 2"):
            transfer(s, ticket, request, distributor=QueueOnly(), actor=SYSTEM, now=now)
        assert snapshot(s) == before


def test_transfer_that_only_changes_priority_keeps_the_agent_without_recounting(
    store: Store, now: datetime
) -> None:
    distributor = RecordingDistributor()
    with store.transaction() as s:
        org = make_org(s)
        ticket = new_ticket(s, org, now, agent_id=org.alice_id)
        request = Transfer(group_id=org.tier1_id, agent_id=org.alice_id, priority=Priority.HIGH)
        transfer(s, ticket, request, distributor=distributor, actor=SYSTEM, now=now)
    assert distributor.calls == []
    assert (ticket.agent_id, ticket.priority) == (org.alice_id, Priority.HIGH)


def test_transfer_of_an_active_ticket_to_waiting_releases_its_agent(
    store: Store, now: datetime
) -> None:
    distributor = RecordingDistributor()
    with store.transaction() as s:
        org = make_org(s)
        ticket = new_ticket(s, org, now, agent_id=org.alice_id)
        request = Transfer(group_id=org.tier1_id, agent_id=org.alice_id, status=Status.WAITING)
        transfer(s, ticket, request, distributor=distributor, actor=SYSTEM, now=now)
    assert distributor.calls == [("released", org.tier1_id, org.alice_id)]
