"""Follow-ups: a ticket set aside until a given time, then brought back to an agent.

Seed ("Scheduling Tickets For Follow-up"): scheduling makes the ticket `waiting`; when due it
becomes `active` with the follow-up's agent "regardless of the agent's actual status"; removing
restores the status it had before; closing-and-locking or deleting removes it; a customer
interaction suspends it and its values are offered again the next time one is scheduled.

The follow-up's group, agent, priority and pin are applied when it comes due; until then the
ticket stays with the agent who has it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from maild.errors import Conflict, InvalidRequest
from maild.store.models import Ticket
from maild.tickets.actors import SYSTEM, Actor
from maild.tickets.audit import Action, note
from maild.tickets.lookup import get_agent, get_group, require_live, require_member
from maild.tickets.ports import Distributor
from maild.tickets.states import hand_to, move_to, move_to_group, release_if_left
from maild.values import Priority, Status


@dataclass(frozen=True)
class FollowUp:
    """What an agent fills in when scheduling (seed: Follow Up On, New Group, New Agent, New
    Priority, Pin Ticket, Follow-up Note)."""

    at: datetime
    group_id: int
    agent_id: int | None = None  # None = auto-assign within the group when due
    priority: Priority | None = None  # None = keep the ticket's priority
    pin: bool = False
    note: str = ""


def has_pending_followup(ticket: Ticket) -> bool:
    return ticket.followup_at is not None and not ticket.followup_suspended


def followup_defaults(ticket: Ticket) -> FollowUp | None:
    """The values of the ticket's follow-up, pending or suspended, to pre-fill the next
    scheduling form (seed: "previously filled values will be filled in automatically")."""
    if ticket.followup_at is None:
        return None
    return FollowUp(
        at=ticket.followup_at,
        group_id=ticket.followup_group_id or ticket.group_id,
        agent_id=ticket.followup_agent_id,
        priority=ticket.followup_priority,
        pin=ticket.followup_pin,
        note=ticket.followup_note,
    )


def schedule_followup(
    session: Session,
    ticket: Ticket,
    followup: FollowUp,
    *,
    distributor: Distributor,
    actor: Actor,
    now: datetime,
) -> None:
    """Schedule (or re-schedule) the ticket's follow-up; the ticket becomes `waiting`."""
    require_live(ticket)
    _check(session, followup, now)
    # Re-scheduling a pending follow-up keeps the status from before the first one.
    previous = ticket.followup_prev_status if has_pending_followup(ticket) else ticket.status
    ticket.followup_at = followup.at
    ticket.followup_group_id = followup.group_id
    ticket.followup_agent_id = followup.agent_id
    ticket.followup_priority = followup.priority
    ticket.followup_pin = followup.pin
    ticket.followup_note = followup.note
    ticket.followup_suspended = False
    move_to(session, ticket, Status.WAITING, distributor=distributor, now=now)
    ticket.followup_prev_status = previous
    ticket.last_action_at = now
    note(session, ticket, actor, Action.FOLLOWUP_SCHEDULED, now, "", followup.at, followup.note)


def _check(session: Session, followup: FollowUp, now: datetime) -> None:
    if followup.at <= now:
        raise InvalidRequest(
            f"follow-up time {followup.at.isoformat()} is not in the future "
            f"(now is {now.isoformat()}); pick a later time"
        )
    group = get_group(session, followup.group_id)
    if followup.agent_id is not None:
        require_member(session, get_agent(session, followup.agent_id), group)


def remove_followup(
    session: Session,
    ticket: Ticket,
    *,
    distributor: Distributor,
    actor: Actor,
    now: datetime,
) -> None:
    """Remove the follow-up; a pending one gives the ticket back the status it had before it
    was scheduled. A suspended one only forgets its values (the customer set the status)."""
    require_live(ticket)
    if ticket.followup_at is None:
        raise Conflict(f"ticket {ticket.number} has no follow-up to remove")
    at, pending, previous = ticket.followup_at, has_pending_followup(ticket), ticket.status
    restored = ticket.followup_prev_status
    clear_followup(ticket)
    if pending and restored is not None:
        move_to(session, ticket, restored, distributor=distributor, now=now)
    ticket.last_action_at = now
    note(session, ticket, actor, Action.FOLLOWUP_REMOVED, now, previous, ticket.status, str(at))


def clear_followup(ticket: Ticket) -> None:
    """Forget the follow-up and its values (closed_locked, delete, remove, fired)."""
    ticket.followup_at = None
    ticket.followup_prev_status = None
    ticket.followup_group_id = None
    ticket.followup_agent_id = None
    ticket.followup_priority = None
    ticket.followup_pin = False
    ticket.followup_note = ""
    ticket.followup_suspended = False


def suspend_followup(session: Session, ticket: Ticket, actor: Actor, now: datetime) -> None:
    """A customer interaction suspends a pending follow-up; its values stay for next time."""
    if not has_pending_followup(ticket):
        return
    ticket.followup_suspended = True
    note(session, ticket, actor, Action.FOLLOWUP_SUSPENDED, now, ticket.followup_at)


def fire_due_followups(
    session: Session, *, distributor: Distributor, now: datetime, limit: int | None = None
) -> list[Ticket]:
    """Make every due, pending follow-up (at most `limit`, oldest first) active with its agent
    (or distributed when it was set to auto-assign). Rows are locked and skipped when another
    process holds them, so two maild processes never fire the same follow-up."""
    due = (
        sa.select(Ticket)
        .where(
            Ticket.followup_at <= now,
            Ticket.followup_suspended.is_(False),
            Ticket.deleted_at.is_(None),
        )
        .order_by(Ticket.followup_at, Ticket.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    tickets = list(session.scalars(due))
    for ticket in tickets:
        _fire(session, ticket, distributor, now)
    return tickets


def _fire(session: Session, ticket: Ticket, distributor: Distributor, now: datetime) -> None:
    held = (ticket.status, ticket.group_id, ticket.agent_id)
    values = followup_defaults(ticket)
    if values is None:  # not selected by fire_due_followups; nothing is due
        return
    move_to_group(ticket, get_group(session, values.group_id))
    ticket.priority = values.priority or ticket.priority
    ticket.status = Status.ACTIVE
    # seed: the follow-up goes to its agent "regardless of the agent's actual status".
    hand_to(session, ticket, values.agent_id, distributor=distributor, now=now)
    ticket.pinned = values.pin and ticket.agent_id is not None
    release_if_left(session, distributor, ticket, held, now)
    clear_followup(ticket)
    note(session, ticket, SYSTEM, Action.FOLLOWUP_DUE, now, str(values.at), ticket.status)
