"""Rebalancing a group: move active tickets so eligible agents hold even shares.

Seed "Rebalancing": off unless the group enables it; runs when an agent logs in and at the
group's configured times. Pinned tickets move only when the group allows it (seed: "If the
administrator enables automatic ticket rebalancing, pinned tickets may be reassigned").
Every move is written to the ticket's history.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from maild.errors import NotFound
from maild.routing import queries
from maild.routing.balance import Load, Movable, Move, parse_times, plan_rebalance, times_due
from maild.routing.rules import Candidate
from maild.store.models import Group, Ticket
from maild.tickets.audit import Action
from maild.tickets.history import SYSTEM, record
from maild.values import Status


def rebalance_group(
    session: Session, group_id: int, now: datetime, actor: str = SYSTEM
) -> list[Move]:
    """Even out the group's movable active tickets among the agents active in it (primary and
    secondary; pull-from-queue agents never receive automatically). Returns the moves made."""
    queries.lock_groups(session, [group_id])
    group = session.get(Group, group_id)
    if group is None:
        raise NotFound(f"no group with id {group_id}")
    agents = [c for page in queries.candidate_pages(session, group_id) for c in page]
    tickets = _movable_tickets(session, group, [c.agent_id for c in agents])
    moves = plan_rebalance(_loads(agents, tickets))
    _apply(session, tickets, agents, moves, now, actor)
    if moves:
        # The pool's shares changed by hand: round robin continues from the new counts.
        queries.reset_allocations(session, group_id)
    return moves


def _movable_tickets(session: Session, group: Group, agent_ids: Sequence[int]) -> list[Ticket]:
    query = sa.select(Ticket).where(
        Ticket.group_id == group.id,
        Ticket.status == Status.ACTIVE,
        Ticket.agent_id.in_(agent_ids),
        Ticket.deleted_at.is_(None),
    )
    if not group.rebalance_pinned:
        query = query.where(Ticket.pinned.is_(False))
    # SKIP LOCKED: a ticket someone is working on right now stays where it is this round.
    return list(session.scalars(query.order_by(Ticket.id).with_for_update(skip_locked=True)))


def _loads(agents: Sequence[Candidate], tickets: Sequence[Ticket]) -> list[Load]:
    held: dict[int, list[Movable]] = defaultdict(list)
    for ticket in tickets:
        movable = Movable(ticket.id, ticket.first_response_at is not None, ticket.created_at)
        held[ticket.agent_id or 0].append(movable)
    return [_load(agent, tuple(held[agent.agent_id])) for agent in agents]


def _load(agent: Candidate, movable: tuple[Movable, ...]) -> Load:
    """max_tickets caps the agent's whole active list; the tickets that stay put use part."""
    room = None
    if agent.max_tickets is not None:
        fixed = agent.active_count - len(movable)
        room = max(agent.max_tickets - fixed, 0)
    return Load(agent.agent_id, movable, room)


def _apply(
    session: Session,
    tickets: Sequence[Ticket],
    agents: Sequence[Candidate],
    moves: Sequence[Move],
    now: datetime,
    actor: str,
) -> None:
    by_id = {t.id: t for t in tickets}
    names = {a.agent_id: a.agent_name for a in agents}
    for move in moves:
        ticket = by_id[move.ticket_id]
        ticket.agent_id = move.to_agent_id
        from_name, to_name = names[move.from_agent_id], names[move.to_agent_id]
        record(session, ticket, actor, Action.REBALANCED, now, from_name, to_name)


def run_due_rebalances(session: Session, since: datetime, now: datetime) -> list[int]:
    """The scheduler's sweep: rebalance every group that has rebalancing on and one of its
    configured times in (since, now]. Returns the groups rebalanced."""
    groups = session.scalars(
        sa.select(Group).where(Group.rebalance.is_(True)).order_by(Group.id)
    ).all()
    due = [g.id for g in groups if times_due(parse_times(g.rebalance_times), since, now)]
    for group_id in due:
        rebalance_group(session, group_id, now)
    return due
