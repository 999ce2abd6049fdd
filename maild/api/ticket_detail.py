"""One ticket with everything on it, as `GET /tickets/{number}` returns it."""

from __future__ import annotations

from datetime import datetime
from urllib.parse import quote

import sqlalchemy as sa
from sqlalchemy.orm import Session, selectinload

from maild.api.html import safe_html
from maild.api.ticket_models import (
    AttachmentOut,
    CommentOut,
    FollowUpOut,
    HistoryOut,
    MessageOut,
    ParticipantOut,
    RelatedOut,
    TicketDetail,
    TicketSummary,
    TimeLogOut,
)
from maild.store.models import Agent, Attachment, Forwarder, Group, History, Message, Ticket
from maild.tickets.items import comments, time_logs
from maild.tickets.participants import participants, related_tickets
from maild.tickets.rows import fetch_rows, row_select

PREFIX = "/api/v1/tickets"


def summary(session: Session, ticket: Ticket, now: datetime) -> TicketSummary:
    (row,) = fetch_rows(session, row_select().where(Ticket.id == ticket.id), now)
    return TicketSummary.of(row, now)


def ticket_detail(
    session: Session, ticket: Ticket, now: datetime, *, raw_html: bool = False
) -> TicketDetail:
    notes, logs = comments(session, ticket), time_logs(session, ticket)
    authors = {c.agent_id for c in notes} | {t.agent_id for t in logs}
    names = _agent_names(session, authors | {ticket.followup_agent_id})
    messages = [_message(m, ticket.number, raw_html) for m in _messages(session, ticket)]
    return TicketDetail(
        **summary(session, ticket, now).model_dump(),
        first_response_at=ticket.first_response_at,
        response_clock_at=ticket.response_clock_at,
        follow_up=_follow_up(session, ticket, names),
        participants=[
            ParticipantOut(address=p.address, role=p.role) for p in participants(session, ticket)
        ],
        messages=messages,
        attachments=[a for m in messages for a in m.attachments],
        comments=[
            CommentOut(
                id=c.id,
                kind=c.kind,
                body=c.body,
                agent=names.get(c.agent_id or 0),
                created_at=c.created_at,
            )
            for c in notes
        ],
        time_logs=[
            TimeLogOut(
                id=t.id,
                minutes=t.minutes,
                note=t.note,
                agent=names.get(t.agent_id or 0),
                created_at=t.created_at,
            )
            for t in logs
        ],
        history=_history(session, ticket),
        related=[
            RelatedOut(number=r.number, subject=r.subject, status=r.status)
            for r in related_tickets(session, ticket)
        ],
        merged=sorted(
            session.scalars(sa.select(Forwarder.number).where(Forwarder.ticket_id == ticket.id))
        ),
    )


def _agent_names(session: Session, ids: set[int | None]) -> dict[int, str]:
    wanted = [i for i in ids if i is not None]
    if not wanted:
        return {}
    rows = session.execute(sa.select(Agent.id, Agent.name).where(Agent.id.in_(wanted)))
    return {agent_id: name for agent_id, name in rows}


def _messages(session: Session, ticket: Ticket) -> list[Message]:
    statement = (
        sa.select(Message)
        .where(Message.ticket_id == ticket.id)
        .order_by(Message.created_at, Message.id)
        # The attachments' bytes stay in the database: they are downloaded one by one.
        .options(selectinload(Message.attachments).defer(Attachment.data))
    )
    return list(session.scalars(statement))


def _message(message: Message, number: str, raw_html: bool) -> MessageOut:
    base = f"{PREFIX}/{quote(number, safe='')}"
    return MessageOut(
        id=message.id,
        direction=message.direction,
        kind=message.kind,
        message_id=message.message_id,
        from_=message.from_addr,
        to=message.to_addrs,
        cc=message.cc_addrs,
        subject=message.subject,
        date=message.date,
        text=message.text,
        html=message.html if raw_html else safe_html(message.html),
        attachments=[
            AttachmentOut(
                id=a.id,
                message=message.id,
                filename=a.filename,
                content_type=a.content_type,
                size=a.size,
                url=f"{base}/attachments/{a.id}",
            )
            for a in message.attachments
        ],
        raw_url=f"{base}/messages/{message.id}/raw" if message.raw_id is not None else None,
    )


def _follow_up(session: Session, ticket: Ticket, names: dict[int, str]) -> FollowUpOut | None:
    if ticket.followup_at is None:
        return None
    group = session.get(Group, ticket.followup_group_id or ticket.group_id)
    return FollowUpOut(
        at=ticket.followup_at,
        group=group.name if group else "",
        agent=names.get(ticket.followup_agent_id or 0),
        priority=ticket.followup_priority,
        pin=ticket.followup_pin,
        note=ticket.followup_note,
        suspended=ticket.followup_suspended,
        previous_status=ticket.followup_prev_status,
    )


def _history(session: Session, ticket: Ticket) -> list[HistoryOut]:
    entries = session.scalars(
        sa.select(History).where(History.ticket_id == ticket.id).order_by(History.at, History.id)
    )
    return [
        HistoryOut(
            at=h.at,
            actor=h.actor,
            action=h.action,
            from_=h.from_value,
            to=h.to_value,
            detail=h.detail,
        )
        for h in entries
    ]
