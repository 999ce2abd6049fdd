"""Transfer: hand a ticket to another group and agent, or to the group's distribution.

Seed ("Transferring Tickets"): "idle time is not reset for the new agent. However, agent
response time IS reset" — so `last_action_at` is left alone, `response_clock_at` restarts and
`first_response_at` is cleared (it counts the first response since the clock started).
Both agents see the ticket in "recently transferred" (DESIGN §1).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from maild.errors import NotFound
from maild.store.models import Agent, Brand, Comment, Group, RecentTransfer, Ticket
from maild.tickets._sql import upsert
from maild.tickets.actors import Actor
from maild.tickets.audit import Action, note
from maild.tickets.followup import clear_followup
from maild.tickets.lookup import get_agent, get_group, require_live, require_member
from maild.tickets.ports import Distributor
from maild.tickets.states import hand_to, move_to_group, release_if_left
from maild.values import CommentKind, Priority, Status


@dataclass(frozen=True)
class Transfer:
    """The transfer form (seed: New Brand, New Group, New Agent, New Priority, New Status, Pin
    Ticket, Transfer Comment). None keeps the ticket's current value."""

    group_id: int
    agent_id: int | None = None  # None = auto-assign within the group
    priority: Priority | None = None
    status: Status | None = None
    pin: bool = False
    comment: str = ""
    brand_id: int | None = None  # None = the brand of the group's department


def transfer(
    session: Session,
    ticket: Ticket,
    request: Transfer,
    *,
    distributor: Distributor,
    actor: Actor,
    now: datetime,
) -> None:
    """Move the ticket to the requested group and agent. Checks everything before changing
    anything: an unknown group or agent is NotFound and leaves the ticket as it was."""
    require_live(ticket)
    group = _checked_target(session, request)
    held = (ticket.status, ticket.group_id, ticket.agent_id)
    before = _describe(session, ticket)
    move_to_group(ticket, group)
    if request.brand_id is not None:
        ticket.brand_id = request.brand_id
    ticket.priority = request.priority or ticket.priority
    _settle(session, ticket, request, held, distributor, now)
    release_if_left(session, distributor, ticket, held, now)
    # seed: "agent response time IS reset" (idle is not: last_action_at stays).
    ticket.response_clock_at = now
    ticket.first_response_at = None
    remember_transfer(session, ticket, (held[2], ticket.agent_id), now)
    _add_comment(session, ticket, request.comment, actor, now)
    after = _describe(session, ticket)
    note(session, ticket, actor, Action.TRANSFER, now, before, after, request.comment)


def _checked_target(session: Session, request: Transfer) -> Group:
    group = get_group(session, request.group_id)
    if request.agent_id is not None:
        require_member(session, get_agent(session, request.agent_id), group)
    if request.brand_id is not None and session.get(Brand, request.brand_id) is None:
        raise NotFound(f"no brand with id {request.brand_id}; pick an existing brand")
    return group


def _settle(
    session: Session,
    ticket: Ticket,
    request: Transfer,
    held: tuple[Status, int, int | None],
    distributor: Distributor,
    now: datetime,
) -> None:
    """Apply the new status and agent; an active ticket is handed over (or distributed).
    An agent who keeps the active ticket in the same group is not counted as receiving it."""
    status = request.status or ticket.status
    if status is Status.CLOSED_LOCKED:
        clear_followup(ticket)
    kept = request.agent_id is not None and held == (status, ticket.group_id, request.agent_id)
    ticket.status = status
    ticket.queued_at = None  # a queued ticket joins the new group's queue afresh
    if status is Status.ACTIVE and not kept:
        hand_to(session, ticket, request.agent_id, distributor=distributor, now=now)
    else:
        ticket.agent_id = request.agent_id
    # seed: queued tickets cannot be pinned; pin only when someone holds the ticket.
    ticket.pinned = request.pin and ticket.agent_id is not None


def remember_transfer(
    session: Session, ticket: Ticket, agents: tuple[int | None, int | None], now: datetime
) -> None:
    """Seed "Recently Transferred": both the agent it left and the one it reached see it."""
    for agent_id in set(agents):
        if agent_id is not None:
            values = {"agent_id": agent_id, "ticket_id": ticket.id, "at": now}
            upsert(session, RecentTransfer, values, ["agent_id", "ticket_id"])


def _add_comment(session: Session, ticket: Ticket, text: str, actor: Actor, now: datetime) -> None:
    if text.strip():
        session.add(
            Comment(
                ticket_id=ticket.id,
                agent_id=actor.agent_id,
                kind=CommentKind.COMMENT,
                body=text,
                created_at=now,
            )
        )


def _describe(session: Session, ticket: Ticket) -> str:
    """`Tier 1 / alice / active / normal`, for the history's from -> to."""
    group = session.get(Group, ticket.group_id)
    agent = session.get(Agent, ticket.agent_id) if ticket.agent_id is not None else None
    parts = (group.name if group else "?", agent.name if agent else "queue")
    return " / ".join((*parts, ticket.status.value, ticket.priority.value))
