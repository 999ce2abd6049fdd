"""Agent status: logged in or out, available or not, receiving tickets per group.

Seed (agent status): a ticket is assigned to an agent only when the agent is logged in and set
to receive tickets for the group; going unavailable stops new tickets for a while. When that
changes so that the agent goes active in a group, the group's pool changed: allocated counts
reset, the queue drains, and, on log-in, the group may rebalance.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from maild.errors import NotFound
from maild.routing import queries
from maild.routing.distribute import drain_queue, place
from maild.routing.rebalance import rebalance_group
from maild.routing.rules import active_in_group
from maild.store.models import Agent, Group, Membership, Ticket
from maild.tickets.audit import Action
from maild.tickets.history import SYSTEM, record
from maild.values import Status


def log_in(session: Session, agent_id: int, now: datetime) -> None:
    agent = _locked_agent(session, agent_id)
    _change(session, agent, now, lambda: setattr(agent, "logged_in", True), login=True)


def set_available(session: Session, agent_id: int, available: bool, now: datetime) -> None:
    agent = _locked_agent(session, agent_id)
    _change(session, agent, now, lambda: setattr(agent, "available", available))


def set_receiving(
    session: Session, agent_id: int, group_id: int, receiving: bool, now: datetime
) -> None:
    agent = _locked_agent(session, agent_id)
    member = queries.membership(session, group_id, agent_id)
    if member is None:
        raise NotFound(
            f"agent {agent.name} is not a member of group {group_id}; add the membership first"
        )
    _change(session, agent, now, lambda: setattr(member, "receiving", receiving))


def log_out(session: Session, agent_id: int, now: datetime) -> int:
    """Log the agent out and hand their unpinned active tickets to distribution; pinned ones
    stay (seed: "A pinned ticket will remain assigned to you even if you log out and hand-off
    your tickets"). Returns how many were handed off."""
    agent = _locked_agent(session, agent_id)
    held = session.scalars(
        sa.select(Ticket.group_id).where(*_handed_off(agent_id)).distinct()
    ).all()
    queries.lock_groups(session, [*_group_ids(session, agent_id), *held])
    agent.logged_in = False
    session.flush()
    # SKIP LOCKED: a ticket another transaction holds may be waiting for one of our group locks.
    tickets = session.scalars(
        sa.select(Ticket)
        .where(*_handed_off(agent_id), Ticket.group_id.in_(held))
        .order_by(Ticket.id)
        .with_for_update(skip_locked=True)
    ).all()
    for ticket in tickets:
        record(session, ticket, agent.name, Action.HANDED_OFF, now, agent.name, "", "logged out")
        ticket.agent_id = None
        place(session, ticket, now)
    return len(tickets)


def _handed_off(agent_id: int) -> tuple[sa.ColumnElement[bool], ...]:
    return (
        Ticket.agent_id == agent_id,
        Ticket.status == Status.ACTIVE,
        Ticket.pinned.is_(False),
        Ticket.deleted_at.is_(None),
    )


def _locked_agent(session: Session, agent_id: int) -> Agent:
    agent = session.scalars(sa.select(Agent).where(Agent.id == agent_id).with_for_update()).first()
    if agent is None:
        raise NotFound(f"no agent with id {agent_id}; list agents to find the right one")
    return agent


def _group_ids(session: Session, agent_id: int) -> list[int]:
    return list(
        session.scalars(sa.select(Membership.group_id).where(Membership.agent_id == agent_id))
    )


def _active_groups(session: Session, agent: Agent) -> set[int]:
    members = session.scalars(sa.select(Membership).where(Membership.agent_id == agent.id))
    return {
        m.group_id
        for m in members
        if active_in_group(agent.logged_in, agent.available, m.receiving)
    }


def _change(
    session: Session, agent: Agent, now: datetime, change: Callable[[], None], login: bool = False
) -> None:
    """Apply `change` to the agent's status, then react in every group it went active in."""
    queries.lock_groups(session, _group_ids(session, agent.id))
    before = _active_groups(session, agent)
    change()
    session.flush()
    for group_id in sorted(_active_groups(session, agent) - before):
        went_active(session, group_id, now, login)


def went_active(session: Session, group_id: int, now: datetime, login: bool) -> None:
    """Seed: "Whenever an agent goes active in the group, the agent pool is interpreted as
    having changed" — counts reset to open active tickets; then the queue drains, and a log-in
    rebalances the groups that ask for it (seed "Rebalancing")."""
    queries.reset_allocations(session, group_id)
    drain_queue(session, group_id, now)
    group = session.get(Group, group_id)
    if login and group is not None and group.rebalance:
        rebalance_group(session, group_id, now, actor=SYSTEM)
