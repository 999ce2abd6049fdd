"""The queue and `take` (seed "Tickets in Queue", "Pull from Queue"; DESIGN §1)."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from maild.errors import Conflict, PermissionDenied
from maild.routing import log_in, set_receiving, take
from maild.store.models import Group, RecentTransfer
from maild.tickets.actors import SYSTEM
from maild.tickets.lifecycle import set_status
from maild.tickets.transfer import Transfer, transfer
from maild.values import Mode, Priority, Status
from tests.routing.factory import (
    ROUND_ROBIN,
    Org,
    history,
    join,
    make_agent,
    make_group,
    open_new,
    queued,
)


def test_queue_drains_most_urgent_first_then_oldest_when_an_agent_goes_active(
    session: Session, group: Group, now: datetime
) -> None:
    agent = make_agent(session, "agent", logged_in=False)
    join(session, agent, group, max_tickets=3)
    old_normal = open_new(session, group, now, Priority.NORMAL)
    new_urgent = open_new(session, group, now + timedelta(minutes=5), Priority.URGENT)
    new_normal = open_new(session, group, now + timedelta(minutes=9), Priority.NORMAL)
    old_low = open_new(session, group, now - timedelta(hours=1), Priority.LOW)
    log_in(session, agent.id, now + timedelta(minutes=10))
    assert [t.agent_id for t in (new_urgent, old_normal, new_normal)] == [agent.id] * 3
    assert queued(session, group) == [old_low]


def test_queue_drains_when_an_agent_drops_under_max_tickets(
    session: Session, group: Group, now: datetime
) -> None:
    agent = make_agent(session, "agent")
    join(session, agent, group, max_tickets=1)
    first, waiting = open_new(session, group, now), open_new(session, group, now)
    assert waiting.agent_id is None
    set_status(session, first, Status.CLOSED, distributor=ROUND_ROBIN, actor=SYSTEM, now=now)
    assert waiting.agent_id == agent.id
    assert [h.to_value for h in history(session, waiting, "assigned")] == ["agent"]


def test_any_member_can_take_a_queued_ticket_whatever_their_mode(
    session: Session, group: Group, now: datetime
) -> None:
    puller = make_agent(session, "puller")
    join(session, puller, group, mode=Mode.NOT_INCLUDED)
    ticket = open_new(session, group, now)
    take(session, ticket, puller.id, now)
    assert (ticket.agent_id, ticket.queued_at) == (puller.id, None)
    [entry] = history(session, ticket, "taken")
    assert (entry.actor, entry.to_value) == ("puller", "puller")


def test_take_by_an_agent_outside_the_group_is_permission_denied(
    session: Session, group: Group, now: datetime
) -> None:
    outsider = make_agent(session, "outsider")
    ticket = open_new(session, group, now)
    with pytest.raises(PermissionDenied, match="not a member of group first-line"):
        take(session, ticket, outsider.id, now)
    assert ticket.agent_id is None


def test_take_refuses_pinned_inactive_and_own_tickets(
    session: Session, group: Group, now: datetime
) -> None:
    owner, other = make_agent(session, "owner"), make_agent(session, "other")
    join(session, owner, group)
    join(session, other, group, receiving=False)
    ticket = open_new(session, group, now)
    with pytest.raises(Conflict, match="already assigned to owner"):
        take(session, ticket, owner.id, now)
    ticket.pinned = True
    with pytest.raises(Conflict, match="pinned"):
        take(session, ticket, other.id, now)
    ticket.pinned, ticket.status = False, Status.CLOSED
    with pytest.raises(Conflict, match="only active tickets"):
        take(session, ticket, other.id, now)


def test_taking_from_another_agent_frees_their_room_and_shows_in_recently_transferred(
    session: Session, group: Group, now: datetime
) -> None:
    owner, taker = make_agent(session, "owner"), make_agent(session, "taker")
    join(session, owner, group, max_tickets=1)
    join(session, taker, group, mode=Mode.NOT_INCLUDED)
    ticket, waiting = open_new(session, group, now), open_new(session, group, now)
    take(session, ticket, taker.id, now)
    assert (ticket.agent_id, waiting.agent_id) == (taker.id, owner.id)
    seen = set(session.scalars(sa.select(RecentTransfer.agent_id)))
    assert seen == {owner.id, taker.id}


def test_transfer_with_auto_assign_uses_round_robin_in_the_target_group(
    session: Session, org: Org, group: Group, now: datetime
) -> None:
    billing = make_group(session, org, "billing")
    first, busy, free = (make_agent(session, n) for n in ("first", "busy", "free"))
    join(session, first, group)
    join(session, busy, billing).allocated_count = 4
    join(session, free, billing, mode=Mode.SECONDARY)
    join(session, make_agent(session, "puller"), billing, mode=Mode.NOT_INCLUDED)
    ticket = open_new(session, group, now)
    request = Transfer(group_id=billing.id)
    transfer(session, ticket, request, distributor=ROUND_ROBIN, actor=SYSTEM, now=now)
    assert (ticket.group_id, ticket.agent_id) == (billing.id, busy.id)
    set_receiving(session, busy.id, billing.id, False, now)
    again = open_new(session, group, now)
    transfer(session, again, request, distributor=ROUND_ROBIN, actor=SYSTEM, now=now)
    assert again.agent_id == free.id
