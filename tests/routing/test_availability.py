"""Agent status (seed 004 "agent status"; DESIGN §1): logged in, available, receiving."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy.orm import Session

from maild.errors import NotFound
from maild.routing import log_in, log_out, set_available, set_receiving
from maild.store.models import Group
from maild.values import Mode
from tests.routing.factory import Org, history, join, make_agent, make_group, open_new, queued


def test_log_out_hands_off_unpinned_active_tickets_and_keeps_pinned_ones(
    session: Session, group: Group, now: datetime
) -> None:
    leaving, staying = make_agent(session, "leaving"), make_agent(session, "staying")
    join(session, leaving, group)
    join(session, staying, group, receiving=False)
    mine = [open_new(session, group, now) for _ in range(3)]
    mine[0].pinned = True
    set_receiving(session, staying.id, group.id, True, now)
    assert log_out(session, leaving.id, now + timedelta(hours=8)) == 2
    assert [t.agent_id for t in mine] == [leaving.id, staying.id, staying.id]
    assert [h.from_value for h in history(session, mine[1], "handed_off")] == ["leaving"]
    assert leaving.logged_in is False


def test_log_out_with_nobody_left_queues_the_handed_off_tickets(
    session: Session, group: Group, now: datetime
) -> None:
    agent = make_agent(session, "only")
    join(session, agent, group)
    tickets = [open_new(session, group, now) for _ in range(2)]
    log_out(session, agent.id, now)
    assert queued(session, group) == tickets


def test_logged_out_unavailable_or_not_receiving_agents_receive_nothing(
    session: Session, group: Group, now: datetime
) -> None:
    agent = make_agent(session, "agent")
    join(session, agent, group)
    for switch_off, switch_on in [
        (lambda: log_out(session, agent.id, now), lambda: log_in(session, agent.id, now)),
        (
            lambda: set_available(session, agent.id, False, now),
            lambda: set_available(session, agent.id, True, now),
        ),
        (
            lambda: set_receiving(session, agent.id, group.id, False, now),
            lambda: set_receiving(session, agent.id, group.id, True, now),
        ),
    ]:
        switch_off()
        ticket = open_new(session, group, now)
        assert ticket.agent_id is None
        switch_on()  # going active drains the queue
        assert ticket.agent_id == agent.id


def test_going_unavailable_keeps_the_agents_tickets(
    session: Session, group: Group, now: datetime
) -> None:
    """Seed 004: unavailable means "temporarily stop receiving"; only log-out hands off."""
    agent = make_agent(session, "agent")
    join(session, agent, group)
    ticket = open_new(session, group, now)
    set_available(session, agent.id, False, now)
    assert ticket.agent_id == agent.id


def test_receiving_is_per_group(session: Session, org: Org, group: Group, now: datetime) -> None:
    other = make_group(session, org, "billing")
    agent = make_agent(session, "agent")
    join(session, agent, group)
    join(session, agent, other)
    set_receiving(session, agent.id, other.id, False, now)
    assert open_new(session, group, now).agent_id == agent.id
    assert open_new(session, other, now).agent_id is None


def test_set_receiving_for_a_group_the_agent_is_not_in_is_not_found(
    session: Session, group: Group, now: datetime
) -> None:
    agent = make_agent(session, "agent")
    with pytest.raises(NotFound, match="not a member"):
        set_receiving(session, agent.id, group.id, True, now)
    with pytest.raises(NotFound, match="no agent"):
        log_in(session, 999_999, now)


def test_not_included_agent_going_active_does_not_pull_the_queue(
    session: Session, group: Group, now: datetime
) -> None:
    manager = make_agent(session, "manager", logged_in=False)
    join(session, manager, group, mode=Mode.NOT_INCLUDED)
    ticket = open_new(session, group, now)
    log_in(session, manager.id, now)
    assert ticket.agent_id is None
