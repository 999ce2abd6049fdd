"""Status moves and what distribution must hear about them.

Any change of an agent-owned active ticket away from `active` (close, waiting, delete, merge,
transfer) is reported as `released`, so the agent may drop under max_tickets and the group's
queue can drain (DESIGN §1 Distribution: "the queue drains ... as agents become eligible").
A ticket that becomes active without an agent is handed to `place`.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from maild.store.models import Group, Ticket
from maild.tickets.ports import Distributor
from maild.values import Status

# In its group's queue: active, held by no agent, not deleted. The one definition the
# distributor, the scheduler's drain and alerts, and the API's counts select by.
IN_QUEUE: tuple[sa.ColumnElement[bool], ...] = (
    Ticket.status == Status.ACTIVE,
    Ticket.agent_id.is_(None),
    Ticket.deleted_at.is_(None),
)


def move_to(
    session: Session,
    ticket: Ticket,
    status: Status,
    *,
    distributor: Distributor,
    now: datetime,
    reactivate: bool = False,
) -> Status:
    """Set `ticket.status`, keeping distribution informed; returns the status it had.

    `reactivate=True` is for a customer (or bounce) bringing the ticket back: it then goes back
    to its agent or is distributed afresh, by the distributor's rules."""
    previous = ticket.status
    ticket.status = status
    if previous is Status.ACTIVE and status is not Status.ACTIVE:
        ticket.queued_at = None  # only active tickets wait in a queue
        released(session, distributor, ticket.group_id, ticket.agent_id, now)
    elif previous is not Status.ACTIVE and status is Status.ACTIVE:
        if reactivate:
            distributor.reactivate(session, ticket, now)
        elif ticket.agent_id is None:
            distributor.place(session, ticket, now)
    return previous


def released(
    session: Session,
    distributor: Distributor,
    group_id: int,
    agent_id: int | None,
    now: datetime,
) -> None:
    """Tell distribution an active ticket left `agent_id` in `group_id` (no-op for the queue).
    Flushed first so the distributor's counts see the change."""
    if agent_id is None:
        return
    session.flush()
    distributor.released(session, group_id, agent_id, now)


def hand_to(
    session: Session,
    ticket: Ticket,
    agent_id: int | None,
    *,
    distributor: Distributor,
    now: datetime,
) -> None:
    """Give an active ticket to `agent_id` by hand, or to distribution when None (auto)."""
    ticket.agent_id = agent_id
    if agent_id is None:
        distributor.place(session, ticket, now)
    else:
        ticket.queued_at = None
        session.flush()
        distributor.assigned(session, ticket, agent_id, now)


def move_to_group(ticket: Ticket, group: Group) -> None:
    """Put the ticket in `group`; a group of another department brings that department and its
    brand along (a group belongs to a department, a department to a brand)."""
    if group.department_id != ticket.department_id:
        ticket.department_id = group.department_id
        ticket.brand_id = group.department.brand_id
    ticket.group_id = group.id


def release_if_left(
    session: Session,
    distributor: Distributor,
    ticket: Ticket,
    before: tuple[Status, int, int | None],
    now: datetime,
) -> None:
    """After a hand-over: `before` is (status, group_id, agent_id) as it was. When the ticket
    was active with an agent and is no longer active with that agent in that group, the agent
    is released."""
    status, group_id, agent_id = before
    still_held = (ticket.status, ticket.group_id, ticket.agent_id) == (
        Status.ACTIVE,
        group_id,
        agent_id,
    )
    if status is Status.ACTIVE and not still_held:
        released(session, distributor, group_id, agent_id, now)
