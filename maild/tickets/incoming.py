"""Incoming mail on an existing ticket: what it does to the ticket (DESIGN §1 table).

`incoming_transition` is the decision (a pure function of the ticket's state);
`apply_customer_reply` and `apply_bounce` are the changes. Appending the message itself, and
opening the new ticket for NEW_RELATED / NEW_TICKET, belong to the caller (maild.ingest).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy.orm import Session

from maild.errors import Conflict
from maild.store.models import Ticket
from maild.tickets.actors import SYSTEM, Actor
from maild.tickets.audit import Action, note
from maild.tickets.followup import suspend_followup
from maild.tickets.ports import Distributor
from maild.tickets.states import move_to
from maild.values import Status


class IncomingTransition(StrEnum):
    KEEP = "keep"  # appended; the ticket stays active
    REACTIVATE = "reactivate"  # appended; waiting/closed -> active
    APPEND_ONLY = "append_only"  # machine-made mail: appended, the status left as it is
    NEW_RELATED = "new_related"  # closed_locked: a new ticket, related to this one
    NEW_TICKET = "new_ticket"  # deleted: a new ticket, unrelated

    @property
    def appends(self) -> bool:
        return self in (
            IncomingTransition.KEEP,
            IncomingTransition.REACTIVATE,
            IncomingTransition.APPEND_ONLY,
        )


def incoming_transition(
    status: Status, deleted: bool, machine_made: bool = False
) -> IncomingTransition:
    """What a customer's mail does to a ticket in `status` (DESIGN §1 "Incoming mail on an
    existing ticket"). A deleted ticket is checked first: it is also closed_locked.

    DESIGN §1: machine-made mail (out-of-office notices, feedback reports, success reports) is
    appended but changes no status, whatever the status: a vacation notice answering a
    closed-and-locked ticket opens nothing, and one answering a closed ticket re-opens nothing."""
    if deleted:
        return IncomingTransition.NEW_TICKET
    if machine_made:
        return IncomingTransition.APPEND_ONLY
    if status is Status.ACTIVE:
        return IncomingTransition.KEEP
    if status is Status.CLOSED_LOCKED:
        # seed: closed and locked "prohibits the customer from reopening the ticket"
        return IncomingTransition.NEW_RELATED
    return IncomingTransition.REACTIVATE


def apply_customer_reply(
    session: Session,
    ticket: Ticket,
    *,
    sender: str,
    distributor: Distributor,
    now: datetime,
) -> IncomingTransition:
    """The customer wrote into the ticket: a pending follow-up is suspended, a waiting or
    closed ticket becomes active again and goes back to its agent or is distributed.

    Raises Conflict for a closed_locked or deleted ticket: the caller opens a new ticket."""
    transition = incoming_transition(ticket.status, ticket.deleted_at is not None)
    if not transition.appends:
        raise Conflict(
            f"ticket {ticket.number} is {_state(ticket)}; the customer cannot re-open it, "
            "open a new ticket instead"
        )
    actor = Actor.customer(sender)
    suspend_followup(session, ticket, actor, now)
    previous = move_to(
        session, ticket, Status.ACTIVE, distributor=distributor, now=now, reactivate=True
    )
    ticket.last_action_at = now
    note(session, ticket, actor, Action.CUSTOMER_REPLY, now, previous, ticket.status)
    return transition


def _state(ticket: Ticket) -> str:
    return "deleted" if ticket.deleted_at is not None else ticket.status.value


def apply_bounce(
    session: Session,
    ticket: Ticket,
    *,
    distributor: Distributor,
    now: datetime,
    action: Action = Action.BOUNCE,
    detail: str = "",
) -> None:
    """A non-delivery report for our mail makes the ticket active whatever its status, even
    closed_locked (seed: "the ticket will revert to active status"); nothing else is removed.
    A relay refusing our mail for good is the same news, recorded as `DELIVERY_FAILED`.

    A deleted ticket stays deleted: deletion is the agents' decision that the ticket needs no
    more work, so the report is only noted in its history."""
    if ticket.deleted_at is not None:
        note(session, ticket, SYSTEM, action, now, ticket.status, ticket.status, "deleted")
        return
    # Like a customer reply, the report needs an agent now: a pending follow-up would otherwise
    # fire later or, removed, send the ticket back to waiting behind the agent's back.
    suspend_followup(session, ticket, SYSTEM, now)
    previous = move_to(
        session, ticket, Status.ACTIVE, distributor=distributor, now=now, reactivate=True
    )
    ticket.last_action_at = now
    note(session, ticket, SYSTEM, action, now, previous, ticket.status, detail)
