"""Agents' own items on a ticket: comments, resolutions and time logs (never seen by customers)."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from maild.errors import InvalidRequest
from maild.store.models import Comment, Ticket, TimeLog
from maild.tickets.actors import Actor
from maild.tickets.audit import Action, note
from maild.tickets.lookup import require_live
from maild.values import CommentKind


def add_comment(
    session: Session,
    ticket: Ticket,
    body: str,
    *,
    kind: CommentKind = CommentKind.COMMENT,
    actor: Actor,
    now: datetime,
) -> Comment:
    """Add a comment or a resolution (seed: "only visible to agents and managers")."""
    require_live(ticket)
    if not body.strip():
        raise InvalidRequest(f"the {kind.value} is empty; write some text")
    comment = Comment(
        ticket_id=ticket.id, agent_id=actor.agent_id, kind=kind, body=body, created_at=now
    )
    session.add(comment)
    ticket.last_action_at = now
    action = Action.RESOLUTION if kind is CommentKind.RESOLUTION else Action.COMMENT
    note(session, ticket, actor, action, now)
    return comment


def comments(session: Session, ticket: Ticket) -> list[Comment]:
    statement = sa.select(Comment).where(Comment.ticket_id == ticket.id)
    return list(session.scalars(statement.order_by(Comment.created_at, Comment.id)))


def log_time(
    session: Session,
    ticket: Ticket,
    minutes: int,
    *,
    note_text: str = "",
    actor: Actor,
    now: datetime,
) -> TimeLog:
    """Record time an agent spent on the ticket."""
    require_live(ticket)
    if minutes <= 0:
        raise InvalidRequest(f"time spent must be a positive number of minutes, not {minutes}")
    entry = TimeLog(
        ticket_id=ticket.id,
        agent_id=actor.agent_id,
        minutes=minutes,
        note=note_text,
        created_at=now,
    )
    session.add(entry)
    ticket.last_action_at = now
    note(session, ticket, actor, Action.TIME_LOG, now, "", minutes, note_text)
    return entry


def time_logs(session: Session, ticket: Ticket) -> list[TimeLog]:
    statement = sa.select(TimeLog).where(TimeLog.ticket_id == ticket.id)
    return list(session.scalars(statement.order_by(TimeLog.created_at, TimeLog.id)))
