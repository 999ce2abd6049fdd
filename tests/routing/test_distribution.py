"""Round robin in a group (DESIGN §1 Distribution; seed "Ticket Distribution Methods")."""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from maild.routing import log_in, place, set_available, set_receiving
from maild.store.models import Group, Membership
from maild.values import Mode, Status
from tests.routing.factory import (
    Org,
    active_counts,
    bare_ticket,
    history,
    join,
    make_agent,
    make_group,
    open_new,
    queued,
)


def test_new_ticket_goes_to_the_eligible_agent_with_the_lowest_allocated_count(
    session: Session, group: Group, now: datetime
) -> None:
    busy, idle = make_agent(session, "busy"), make_agent(session, "idle")
    join(session, busy, group).allocated_count = 5
    join(session, idle, group).allocated_count = 2
    assert open_new(session, group, now).agent_id == idle.id


def test_equal_counts_go_to_the_agent_longest_since_last_assignment(
    session: Session, group: Group, now: datetime
) -> None:
    recent, longest = make_agent(session, "recent"), make_agent(session, "longest")
    join(session, recent, group).last_assigned_at = now - timedelta(minutes=1)
    join(session, longest, group).last_assigned_at = now - timedelta(hours=1)
    assert open_new(session, group, now).agent_id == longest.id


def test_round_robin_spreads_new_tickets_evenly_among_equal_agents(
    session: Session, group: Group, now: datetime
) -> None:
    agents = [make_agent(session, f"agent{i}") for i in range(4)]
    for agent in agents:
        join(session, agent, group)
    for minute in range(4 * 5 + 2):
        open_new(session, group, now + timedelta(minutes=minute))
    counts = active_counts(session, group)
    assert sorted(counts.values()) == [5, 5, 6, 6]


def test_secondary_agents_receive_only_when_no_primary_is_eligible(
    session: Session, group: Group, now: datetime
) -> None:
    primary, secondary = make_agent(session, "senior"), make_agent(session, "trainee")
    join(session, primary, group, max_tickets=2)
    join(session, secondary, group, mode=Mode.SECONDARY)
    owners = [open_new(session, group, now).agent_id for _ in range(3)]
    assert owners == [primary.id, primary.id, secondary.id]
    set_available(session, primary.id, False, now)
    session.execute(sa.update(Membership).values(max_tickets=None))
    assert open_new(session, group, now).agent_id == secondary.id


def test_not_included_agents_never_receive_automatically(
    session: Session, group: Group, now: datetime
) -> None:
    manager = make_agent(session, "manager")
    join(session, manager, group, mode=Mode.NOT_INCLUDED)
    ticket = open_new(session, group, now)
    assert ticket.agent_id is None
    assert ticket.queued_at == now


def test_nobody_eligible_queues_the_ticket_with_a_history_entry(
    session: Session, group: Group, now: datetime
) -> None:
    join(session, make_agent(session, "away", logged_in=False), group)
    join(session, make_agent(session, "unavailable", available=False), group)
    join(session, make_agent(session, "not-receiving"), group, receiving=False)
    ticket = open_new(session, group, now)
    assert (ticket.agent_id, ticket.queued_at) == (None, now)
    assert [h.detail for h in history(session, ticket, "queued")] == ["nobody eligible has room"]


def test_max_tickets_counts_active_tickets_in_that_group_only(
    session: Session, org: Org, group: Group, now: datetime
) -> None:
    """Decision: max_tickets is a membership setting (seed: set "when adding agents to a
    group"), so it caps the agent's active tickets in that group, not across groups."""
    other = make_group(session, org, "second-line")
    agent = make_agent(session, "agent")
    join(session, agent, group, max_tickets=2)
    join(session, agent, other)
    for _ in range(3):
        open_new(session, other, now)
    assert [open_new(session, group, now).agent_id for _ in range(3)] == [agent.id, agent.id, None]


def test_tickets_that_leave_active_free_room_under_max_tickets(
    session: Session, group: Group, now: datetime
) -> None:
    agent = make_agent(session, "agent")
    join(session, agent, group, max_tickets=1)
    first = open_new(session, group, now)
    first.status = Status.WAITING
    assert open_new(session, group, now).agent_id == agent.id


def test_every_assignment_is_in_history_with_the_agent(
    session: Session, group: Group, now: datetime
) -> None:
    join(session, make_agent(session, "alice"), group)
    ticket = open_new(session, group, now)
    [entry] = history(session, ticket, "assigned")
    assert (entry.actor, entry.from_value, entry.to_value, entry.at) == ("system", "", "alice", now)


def test_agent_going_active_resets_every_members_allocated_count_to_open_active_tickets(
    session: Session, group: Group, now: datetime
) -> None:
    """Seed: "This prevents people that are on vacation from getting 20 tickets when their day
    starts"."""
    veteran, holiday = make_agent(session, "veteran"), make_agent(session, "holiday")
    join(session, veteran, group)
    join(session, holiday, group, receiving=False)
    for _ in range(3):
        open_new(session, group, now)
    veteran_member = session.scalars(sa.select(Membership).filter_by(agent_id=veteran.id)).one()
    veteran_member.allocated_count = 40  # a long history of tickets since closed
    set_receiving(session, holiday.id, group.id, True, now)
    rows = session.execute(sa.select(Membership.agent_id, Membership.allocated_count))
    counts = {agent_id: allocated for agent_id, allocated in rows}
    assert counts == {veteran.id: 3, holiday.id: 0}
    owners = [open_new(session, group, now).agent_id for _ in range(4)]
    assert owners.count(holiday.id) == 3  # catches up to the pool, not to 40


def test_agent_who_is_already_active_does_not_reset_the_pool(
    session: Session, group: Group, now: datetime
) -> None:
    agent = make_agent(session, "agent")
    member = join(session, agent, group)
    member.allocated_count = 7
    log_in(session, agent.id, now)  # already logged in: nobody went active
    session.refresh(member)
    assert member.allocated_count == 7


def test_place_of_a_waiting_ticket_assigns_without_counting_it_as_received(
    session: Session, group: Group, now: datetime
) -> None:
    """Seed: a ticket counts as received when it is active; a waiting one gets an owner only."""
    agent = make_agent(session, "agent")
    member = join(session, agent, group)
    ticket = bare_ticket(session, group, now, status=Status.WAITING)
    place(session, ticket, now)
    session.refresh(member)
    assert (ticket.agent_id, member.allocated_count) == (agent.id, 0)
    assert queued(session, group) == []
