"""Deleting tickets, purging them, and closing tickets left waiting (the periodic sweeps).

Seed ("Deleting Tickets"): a deleted ticket "is no longer available for review or action", is
marked closed and locked, and is purged after 90 days. DESIGN §1 Auto-close: per department,
waiting tickets idle longer than the configured time become closed; scheduled follow-ups are
exempt.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from maild.errors import Conflict
from maild.store.models import Bounce, Department, Inbound, Message, Outbox, Raw, Ticket
from maild.tickets.actors import SYSTEM, Actor
from maild.tickets.audit import Action, note
from maild.tickets.followup import clear_followup
from maild.tickets.ports import Distributor
from maild.tickets.states import move_to
from maild.values import Status


def delete_ticket(
    session: Session,
    ticket: Ticket,
    *,
    distributor: Distributor,
    actor: Actor,
    now: datetime,
) -> None:
    """Flag the ticket deleted: closed_locked, follow-up removed, hidden from every view but
    `deleted`. The agent keeps it (the history says who had it); it no longer counts as active."""
    if ticket.deleted_at is not None:
        raise Conflict(f"ticket {ticket.number} is already deleted")
    previous = move_to(session, ticket, Status.CLOSED_LOCKED, distributor=distributor, now=now)
    clear_followup(ticket)
    ticket.deleted_at = now
    note(session, ticket, actor, Action.DELETED, now, previous, Status.CLOSED_LOCKED)


def undelete_ticket(session: Session, ticket: Ticket, *, actor: Actor, now: datetime) -> None:
    """Bring a deleted ticket back before it is purged. It stays closed and locked, as deleting
    left it (seed: deleted tickets "are marked ... Closed and Locked"); an agent re-opens it
    by setting its status, which hands it to distribution as usual."""
    if ticket.deleted_at is None:
        raise Conflict(f"ticket {ticket.number} is not deleted")
    ticket.deleted_at = None
    ticket.last_action_at = now
    note(session, ticket, actor, Action.UNDELETED, now, "deleted", ticket.status)


def purge_deleted(
    session: Session, now: datetime, days: int = 90, limit: int | None = None
) -> list[str]:
    """Remove for good the tickets deleted more than `days` ago (at most `limit` of them), with
    everything of theirs nothing else references: messages, attachments, comments, history,
    forwarders (the database cascades), their spool rows and NDRs, the raw bytes of their mail,
    and their outbox rows, so a mail still queued for them is cancelled. Returns their numbers.

    Rows another process is purging are skipped (locked), so the sweep can run anywhere."""
    cutoff = now - timedelta(days=days)
    expired = (
        sa.select(Ticket.id, Ticket.number)
        .where(Ticket.deleted_at < cutoff)
        .order_by(Ticket.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    rows = session.execute(expired).all()
    if rows:
        _purge(session, [row.id for row in rows])
    return [row.number for row in rows]


def _purge(session: Session, ticket_ids: list[int]) -> None:
    raw_ids = set(
        session.scalars(sa.select(Message.raw_id).where(Message.ticket_id.in_(ticket_ids)))
    ) | set(session.scalars(sa.select(Inbound.raw_id).where(Inbound.ticket_id.in_(ticket_ids))))
    raw_ids.discard(None)
    # The spool rows of their mail, also those a crash left without a ticket.
    spooled = sa.or_(
        Inbound.ticket_id.in_(ticket_ids),
        sa.and_(Inbound.ticket_id.is_(None), Inbound.raw_id.in_(raw_ids)),
    )
    inbound_ids = list(session.scalars(sa.select(Inbound.id).where(spooled)))
    _delete(
        session,
        Bounce,
        sa.or_(Bounce.ticket_id.in_(ticket_ids), Bounce.inbound_id.in_(inbound_ids)),
    )
    _delete(session, Inbound, Inbound.id.in_(inbound_ids))
    _delete(session, Outbox, Outbox.ticket_id.in_(ticket_ids))
    _delete(session, Ticket, Ticket.id.in_(ticket_ids))
    # Bytes shared by content hash with mail of another ticket stay for it.
    used: sa.CompoundSelect = sa.union(
        sa.select(Message.raw_id).where(Message.raw_id.in_(raw_ids)),
        sa.select(Inbound.raw_id).where(Inbound.raw_id.in_(raw_ids)),
    )
    _delete(session, Raw, sa.and_(Raw.id.in_(raw_ids), Raw.id.not_in(used)))


def _delete(session: Session, model: Any, where: sa.ColumnElement[bool]) -> None:
    session.execute(sa.delete(model).where(where).execution_options(synchronize_session=False))


def auto_close(session: Session, now: datetime, limit: int | None = None) -> list[Ticket]:
    """Close the waiting tickets that sat idle past their department's auto-close time (at most
    `limit` per department). Rows another process is closing are skipped (locked), so the sweep
    can run anywhere."""
    closed: list[Ticket] = []
    departments = sa.select(Department).where(Department.auto_close_after_minutes.is_not(None))
    for department in session.scalars(departments).all():
        minutes = department.auto_close_after_minutes or 0
        idle_since = now - timedelta(minutes=minutes)
        for ticket in _idle_waiting(session, department.id, idle_since, limit):
            ticket.status = Status.CLOSED  # waiting counts toward no agent: nothing to release
            note(session, ticket, SYSTEM, Action.AUTO_CLOSED, now, Status.WAITING, Status.CLOSED)
            closed.append(ticket)
    return closed


def _idle_waiting(
    session: Session, department_id: int, idle_since: datetime, limit: int | None
) -> list[Ticket]:
    scheduled = sa.and_(Ticket.followup_at.is_not(None), Ticket.followup_suspended.is_(False))
    statement = (
        sa.select(Ticket)
        .where(
            Ticket.department_id == department_id,
            Ticket.status == Status.WAITING,
            Ticket.deleted_at.is_(None),
            Ticket.last_action_at < idle_since,
            sa.not_(scheduled),
        )
        .order_by(Ticket.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return list(session.scalars(statement))
