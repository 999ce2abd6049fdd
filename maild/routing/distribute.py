"""Placing tickets with agents: round robin, the queue and re-activation.

`RoundRobin` is the `maild.tickets.ports.Distributor` the ticket lifecycle calls inside its
transaction. Decisions come from `rules`; this module loads, locks and applies them.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from maild.routing import queries
from maild.routing.rules import Candidate, active_in_group, choose_agent
from maild.store.models import Agent, Ticket
from maild.tickets.audit import Action
from maild.tickets.history import SYSTEM, record
from maild.values import Status


def choose_for_group(session: Session, group_id: int) -> Candidate | None:
    """Whose turn it is in the group, or None. The caller holds the group's lock."""
    for page in queries.candidate_pages(session, group_id):
        chosen = choose_agent(page)
        if chosen is not None:
            return chosen
    return None


def place(session: Session, ticket: Ticket, now: datetime, actor: str = SYSTEM) -> int | None:
    """Give the ticket to the agent whose turn it is in its group, or queue it. Returns the
    agent id, None when queued."""
    queries.lock_groups(session, [ticket.group_id])
    if ticket.id is None:
        session.flush()
    chosen = choose_for_group(session, ticket.group_id)
    if chosen is None:
        enqueue(session, ticket, now, actor)
        return None
    give(session, ticket, chosen, now, actor)
    return chosen.agent_id


def give(
    session: Session, ticket: Ticket, chosen: Candidate, now: datetime, actor: str = SYSTEM
) -> None:
    """Assign by distribution; it counts as a new ticket received when the ticket is active
    (seed: an active ticket "assigned directly or indirectly to him")."""
    previous = queries.agent_name(session, ticket.agent_id)
    ticket.agent_id = chosen.agent_id
    ticket.queued_at = None
    if ticket.status == Status.ACTIVE:
        queries.count_received(session, ticket.group_id, chosen.agent_id, now)
    record(session, ticket, actor, Action.ASSIGNED, now, previous, chosen.agent_name, "round robin")


def enqueue(session: Session, ticket: Ticket, now: datetime, actor: str = SYSTEM) -> None:
    """Nobody eligible has room: the ticket waits in its group's queue (seed: "Tickets in
    Queue"). A ticket already queued keeps its place in line."""
    previous = queries.agent_name(session, ticket.agent_id)
    ticket.agent_id = None
    if ticket.queued_at is None:
        ticket.queued_at = now
        record(session, ticket, actor, Action.QUEUED, now, previous, "", "nobody eligible has room")


def drain_queue(session: Session, group_id: int, now: datetime) -> int:
    """Hand queued tickets, most urgent then oldest, to eligible agents until the queue is empty
    or nobody has room. Returns how many were assigned."""
    queries.lock_groups(session, [group_id])
    assigned = 0
    while (chosen := choose_for_group(session, group_id)) is not None:
        ticket = queries.next_queued(session, group_id)
        if ticket is None:
            break
        give(session, ticket, chosen, now)
        session.flush()
        assigned += 1
    return assigned


def receiving_for_group(session: Session, group_id: int, agent_id: int) -> bool:
    """Member of the group and active in it, whatever the mode (seed, pull from queue: waiting
    and follow-up tickets "are assigned as usual, if the agents are active in the groups")."""
    member = queries.membership(session, group_id, agent_id)
    agent = session.get(Agent, agent_id)
    if member is None or agent is None:
        return False
    return active_in_group(agent.logged_in, agent.available, member.receiving)


def reactivate(session: Session, ticket: Ticket, now: datetime) -> None:
    """DESIGN §1: a re-activated ticket goes back to its agent when pinned or when that agent is
    receiving for the group, whatever max_tickets says; otherwise it is distributed anew."""
    agent_id = ticket.agent_id
    if agent_id is not None and (
        ticket.pinned or receiving_for_group(session, ticket.group_id, agent_id)
    ):
        ticket.queued_at = None
        return
    if agent_id is not None:
        record(
            session, ticket, SYSTEM, Action.HANDED_OFF, now, queries.agent_name(session, agent_id)
        )
    ticket.agent_id = None
    place(session, ticket, now)


def assigned(session: Session, ticket: Ticket, agent_id: int, now: datetime) -> None:
    """An agent got an active ticket by hand (transfer to them, take, due follow-up): the seed
    counts it as a ticket received, against max_tickets and in the round robin."""
    queries.lock_groups(session, [ticket.group_id])
    ticket.queued_at = None
    if ticket.status == Status.ACTIVE:
        queries.count_received(session, ticket.group_id, agent_id, now)


class RoundRobin:
    """Seed "Round Robin" distribution, implementing `maild.tickets.ports.Distributor`."""

    def place(self, session: Session, ticket: Ticket, now: datetime) -> None:
        place(session, ticket, now)

    def reactivate(self, session: Session, ticket: Ticket, now: datetime) -> None:
        reactivate(session, ticket, now)

    def assigned(self, session: Session, ticket: Ticket, agent_id: int, now: datetime) -> None:
        assigned(session, ticket, agent_id, now)

    def released(
        self, session: Session, group_id: int, agent_id: int | None, now: datetime
    ) -> None:
        """The agent may be under their limit again: the queue may drain (DESIGN §1)."""
        drain_queue(session, group_id, now)
