"""Re-activated tickets (DESIGN §1 "Incoming mail on an existing ticket"; seed "Follow-ups and
Agent Status" and "A Note on Round Robin, Agent Workload and Assignment Groups")."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from maild.routing import log_out, set_receiving
from maild.store.models import Group, Ticket
from maild.tickets.actors import SYSTEM
from maild.tickets.followup import FollowUp, fire_due_followups, schedule_followup
from maild.tickets.incoming import apply_customer_reply
from maild.tickets.lifecycle import set_status
from maild.values import Status
from tests.routing.factory import ROUND_ROBIN, join, make_agent, open_new


def reply(session: Session, ticket: Ticket, now: datetime) -> None:
    apply_customer_reply(
        session, ticket, sender="customer@example.com", distributor=ROUND_ROBIN, now=now
    )


def close(session: Session, ticket: Ticket, now: datetime) -> None:
    set_status(session, ticket, Status.CLOSED, distributor=ROUND_ROBIN, actor=SYSTEM, now=now)


def test_customer_reply_returns_ticket_to_its_receiving_agent_even_over_max_tickets(
    session: Session, group: Group, now: datetime
) -> None:
    agent = make_agent(session, "agent")
    join(session, agent, group, max_tickets=1)
    old = open_new(session, group, now)
    close(session, old, now)
    open_new(session, group, now)  # the agent is at the limit again
    reply(session, old, now + timedelta(hours=1))
    assert (old.status, old.agent_id) == (Status.ACTIVE, agent.id)


def test_reactivated_tickets_count_toward_max_tickets(
    session: Session, group: Group, now: datetime
) -> None:
    agent = make_agent(session, "agent")
    join(session, agent, group, max_tickets=2)
    old = open_new(session, group, now)
    close(session, old, now)
    open_new(session, group, now)
    reply(session, old, now)
    assert open_new(session, group, now).agent_id is None


def test_reactivated_pinned_ticket_returns_to_its_agent_whatever_their_status(
    session: Session, group: Group, now: datetime
) -> None:
    """Seed: "If a ticket is pinned, all correspondence relating to the ticket will be
    assigned to you, regardless of your status"."""
    owner, other = make_agent(session, "owner"), make_agent(session, "other")
    join(session, owner, group)
    ticket = open_new(session, group, now)
    ticket.pinned = True
    join(session, other, group)
    close(session, ticket, now)
    log_out(session, owner.id, now)
    reply(session, ticket, now)
    assert ticket.agent_id == owner.id


def test_reactivated_ticket_is_distributed_when_its_agent_is_not_receiving(
    session: Session, group: Group, now: datetime
) -> None:
    owner, other = make_agent(session, "owner"), make_agent(session, "other")
    join(session, owner, group)
    ticket = open_new(session, group, now)
    join(session, other, group)
    close(session, ticket, now)
    set_receiving(session, owner.id, group.id, False, now)
    reply(session, ticket, now)
    assert ticket.agent_id == other.id


def test_reactivated_ticket_with_nobody_receiving_waits_in_the_queue(
    session: Session, group: Group, now: datetime
) -> None:
    owner = make_agent(session, "owner")
    join(session, owner, group)
    ticket = open_new(session, group, now)
    close(session, ticket, now)
    log_out(session, owner.id, now)
    reply(session, ticket, now)
    assert (ticket.agent_id, ticket.queued_at) == (None, now)


def test_due_followup_goes_to_its_agent_whatever_their_status(
    session: Session, group: Group, now: datetime
) -> None:
    owner, other = make_agent(session, "owner"), make_agent(session, "other")
    join(session, owner, group)
    ticket = open_new(session, group, now)
    join(session, other, group)
    followup = FollowUp(at=now + timedelta(days=1), group_id=group.id, agent_id=owner.id)
    schedule_followup(session, ticket, followup, distributor=ROUND_ROBIN, actor=SYSTEM, now=now)
    log_out(session, owner.id, now)
    fire_due_followups(session, distributor=ROUND_ROBIN, now=now + timedelta(days=1))
    assert (ticket.status, ticket.agent_id) == (Status.ACTIVE, owner.id)
