"""Opening a ticket and the agent's everyday changes: status, priority, pin, subject, email,
first response; plus the ticket's clocks (duration and idle).

Every change is an action: it moves `last_action_at` (idle restarts) and writes history.
Transfer is the exception (see maild.tickets.transfer).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session, make_transient_to_detached

from maild.errors import Conflict, InvalidRequest
from maild.settings import TicketSettings
from maild.store.models import Department, Group, Ticket
from maild.store.prepared import Prepared
from maild.tickets import history
from maild.tickets.actors import Actor
from maild.tickets.audit import Action, note
from maild.tickets.followup import clear_followup
from maild.tickets.lookup import (
    get_agent,
    get_department,
    get_group,
    require_live,
    require_member,
)
from maild.tickets.numbers import allocate_number
from maild.tickets.participants import add_participant, fold_address, parse_address
from maild.tickets.ports import Distributor
from maild.tickets.states import hand_to, move_to
from maild.values import ParticipantRole, Priority, Status


@dataclass(frozen=True)
class NewTicket:
    """Everything needed to open a ticket, from a mail or from an agent."""

    department_id: int
    subject: str
    requester: str
    group_id: int | None = None  # None = the department's default group
    priority: Priority = Priority.NORMAL
    status: Status = Status.ACTIVE
    agent_id: int | None = None  # None = distributed (when active)
    automatic: bool = False  # automatic mail (monitoring alert, order notification)
    cc: tuple[str, ...] = ()


_TICKET: sa.Table = Ticket.__table__  # type: ignore[assignment]


def _scalar_default(column: sa.Column[Any]) -> Any:
    default = column.default
    if default is None:
        return None
    if not default.is_scalar:
        raise TypeError(f"ticket.{column.key}: insert_ticket needs plain defaults")
    return default.arg  # type: ignore[attr-defined]


_INSERT_TICKET = Prepared(sa.insert(_TICKET).returning(_TICKET.c.id))
# Every column but the id, with its default: a new ticket is made with all of them and its row
# inserted with them, so the object is exactly the row and never needs to load one.
_TICKET_DEFAULTS = {
    column.key: _scalar_default(column) for column in _TICKET.columns if not column.primary_key
}


def open_ticket(
    session: Session,
    new: NewTicket,
    *,
    settings: TicketSettings,
    distributor: Distributor,
    actor: Actor,
    now: datetime,
) -> Ticket:
    """Create the ticket with the next number, record its participants and place it: with the
    given agent, or through distribution when it is active and has none."""
    department = get_department(session, new.department_id)
    group = _initial_group(session, department, new.group_id)
    if new.agent_id is not None:
        require_member(session, get_agent(session, new.agent_id), group)
    ticket = Ticket(
        **{
            **_TICKET_DEFAULTS,
            "number": allocate_number(session, settings),
            "brand_id": department.brand_id,
            "department_id": department.id,
            "group_id": group.id,
            "agent_id": None,
            "status": new.status,
            "priority": new.priority,
            "subject": new.subject,
            "requester": fold_address(new.requester),
            "automatic": new.automatic,
            "created_at": now,
            "last_action_at": now,
            "response_clock_at": now,
        }
    )
    # Placed before its row is written, so the row is inserted with its agent or queue time
    # rather than updated after; the placement's history follows the creation's all the same.
    with history.held_back(session) as placement:
        _place_new(session, ticket, new.agent_id, distributor, now)
    _insert(session, ticket)
    _record_participants(session, ticket, new)
    note(session, ticket, actor, Action.CREATED, now, "", ticket.number)
    history.release(session, placement)
    return ticket


def _insert(session: Session, ticket: Ticket) -> None:
    """Insert the new ticket's row (Core, one statement) and make the object persistent in the
    session, as if loaded: the unit of work would flush it as an object of its own, which costs
    several times the insert on every new ticket. Later changes to it are flushed as usual."""
    row = {key: getattr(ticket, key) for key in _TICKET_DEFAULTS}
    ticket.id = int(_INSERT_TICKET.scalar(session, row))
    make_transient_to_detached(ticket)
    session.add(ticket)


def _initial_group(session: Session, department: Department, group_id: int | None) -> Group:
    chosen = group_id if group_id is not None else department.default_group_id
    if chosen is None:
        raise InvalidRequest(
            f"department {department.name} has no default group; set one or name a group"
        )
    group = get_group(session, chosen)
    if group.department_id != department.id:
        raise InvalidRequest(
            f"group {group.name} is not in department {department.name}; pick one of its groups"
        )
    return group


def _record_participants(session: Session, ticket: Ticket, new: NewTicket) -> None:
    add_participant(session, ticket, new.requester, ParticipantRole.REQUESTER)
    for address in new.cc:
        add_participant(session, ticket, address, ParticipantRole.CC)


def _place_new(
    session: Session,
    ticket: Ticket,
    agent_id: int | None,
    distributor: Distributor,
    now: datetime,
) -> None:
    if ticket.status is Status.ACTIVE:
        hand_to(session, ticket, agent_id, distributor=distributor, now=now)
    else:
        ticket.agent_id = agent_id


def set_status(
    session: Session,
    ticket: Ticket,
    status: Status,
    *,
    distributor: Distributor,
    actor: Actor,
    now: datetime,
) -> None:
    """An agent marks the ticket active, waiting, closed or closed_locked. Closing-and-locking
    removes its follow-up (seed: "removes any follow-ups ... if closed and locked")."""
    require_live(ticket)
    previous = move_to(session, ticket, status, distributor=distributor, now=now)
    if status is Status.CLOSED_LOCKED:
        clear_followup(ticket)
    ticket.last_action_at = now
    note(session, ticket, actor, Action.STATUS, now, previous, status)


def set_priority(
    session: Session, ticket: Ticket, priority: Priority, *, actor: Actor, now: datetime
) -> None:
    require_live(ticket)
    previous, ticket.priority = ticket.priority, priority
    ticket.last_action_at = now
    note(session, ticket, actor, Action.PRIORITY, now, previous, priority)


def set_pinned(
    session: Session, ticket: Ticket, pinned: bool, *, actor: Actor, now: datetime
) -> None:
    """Pin the ticket to its agent, or unpin it. A queued ticket has nobody to be pinned to
    (seed: "tickets in the queue cannot be pinned to an agent")."""
    require_live(ticket)
    if pinned and ticket.agent_id is None:
        raise Conflict(
            f"ticket {ticket.number} has no agent (it is in the queue); "
            "take or transfer it to an agent before pinning"
        )
    previous, ticket.pinned = ticket.pinned, pinned
    ticket.last_action_at = now
    note(session, ticket, actor, Action.PIN, now, previous, pinned)


def change_subject(
    session: Session, ticket: Ticket, subject: str, *, actor: Actor, now: datetime
) -> None:
    """The new subject is used for all future replies (seed: "Change Subject")."""
    require_live(ticket)
    cleaned = subject.strip()
    if not cleaned or "\r" in cleaned or "\n" in cleaned:
        raise InvalidRequest("the subject must be one non-empty line")
    previous, ticket.subject = ticket.subject, cleaned
    ticket.last_action_at = now
    note(session, ticket, actor, Action.SUBJECT, now, previous, cleaned)


def change_email(
    session: Session, ticket: Ticket, address: str, *, actor: Actor, now: datetime
) -> None:
    """Future replies go to the new requester address (seed: "Change Email Address"). The old
    address stays a participant: it may still write in."""
    require_live(ticket)
    folded = parse_address(address)
    previous, ticket.requester = ticket.requester, folded
    add_participant(session, ticket, folded, ParticipantRole.REQUESTER)
    ticket.last_action_at = now
    note(session, ticket, actor, Action.EMAIL, now, previous, folded)


def record_agent_response(session: Session, ticket: Ticket, *, actor: Actor, now: datetime) -> None:
    """An agent answered the customer (called by the outbound side when a reply is queued).

    `first_response_at` is the first agent response since the response clock started
    (`response_clock_at`: creation, or the last transfer), so the response time of the agent
    holding the ticket is `first_response_at - response_clock_at`."""
    require_live(ticket)
    if ticket.first_response_at is None:
        ticket.first_response_at = now
    ticket.last_action_at = now
    note(session, ticket, actor, Action.AGENT_RESPONSE, now)


def duration(ticket: Ticket, now: datetime) -> timedelta:
    """Time since the ticket was created (seed: "Duration")."""
    return now - ticket.created_at


def idle(ticket: Ticket, now: datetime) -> timedelta:
    """Time since the last action on the ticket (seed: "Idle")."""
    return now - ticket.last_action_at
