"""Taking a ticket by hand: the pull-from-queue half of distribution.

Seed: "Take … is available if an agent is a part of a ticket group but does not have possession
of the ticket", whatever the agent's round-robin mode.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from maild.errors import Conflict, NotFound, PermissionDenied
from maild.routing import queries
from maild.routing.distribute import drain_queue
from maild.store.models import Agent, Group, Ticket
from maild.tickets.actors import Actor
from maild.tickets.audit import Action, note
from maild.tickets.transfer import remember_transfer
from maild.values import Status


def take(session: Session, ticket: Ticket, agent_id: int, now: datetime) -> None:
    """Give `ticket` to the member `agent_id`, from the queue or from another agent. Manual, so
    it ignores max_tickets, but counts as a ticket received (seed)."""
    agent = session.get(Agent, agent_id)
    if agent is None:
        raise NotFound(f"no agent with id {agent_id}")
    session.flush()
    session.refresh(ticket, with_for_update=True)
    _check_takeable(session, ticket, agent)
    queries.lock_groups(session, [ticket.group_id])
    previous = ticket.agent_id
    previous_name = queries.agent_name(session, previous)
    ticket.agent_id = agent.id
    ticket.queued_at = None
    queries.count_received(session, ticket.group_id, agent.id, now)
    note(session, ticket, Actor.of_agent(agent), Action.TAKEN, now, previous_name, agent.name)
    # Seed "Recently Transferred": shows tickets transferred out "or if an agent has taken" them.
    remember_transfer(session, ticket, (previous, agent.id), now)
    if previous is not None:
        drain_queue(session, ticket.group_id, now)


def _check_takeable(session: Session, ticket: Ticket, agent: Agent) -> None:
    if queries.membership(session, ticket.group_id, agent.id) is None:
        group = session.get(Group, ticket.group_id)
        raise PermissionDenied(
            f"{agent.name} is not a member of group {group.name if group else ticket.group_id};"
            " only its members can take its tickets — add the agent to the group first"
        )
    if ticket.deleted_at is not None or ticket.status != Status.ACTIVE:
        state = "deleted" if ticket.deleted_at is not None else ticket.status.value
        raise Conflict(f"ticket {ticket.number} is {state}; only active tickets can be taken")
    if ticket.agent_id == agent.id:
        raise Conflict(f"ticket {ticket.number} is already assigned to {agent.name}")
    if ticket.pinned and ticket.agent_id is not None:
        raise Conflict(
            f"ticket {ticket.number} is pinned to its agent; unpin it or transfer it instead"
        )
