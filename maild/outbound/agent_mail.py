"""Mail an agent starts: new outgoing and incoming tickets, forwards and resends.

Seed ("Creating New Inbound or Outbound Tickets"): an outgoing ticket is mail to the customer;
an incoming ticket is written "as if it were the customer sending in the request", and "the
department's autoresponder would be sent to the customer's address". Seed ("Navigation Arrows
and Message Options"): "Forward - For incoming OR outgoing messages ... the message contents,
including attachments, in a new outgoing message"; "Resend - For outgoing messages".
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from maild.errors import InvalidRequest, NotFound
from maild.mailids import make_message_id, new_token
from maild.outbound.autoresponder import AutoresponseContext, autorespond
from maild.outbound.compose import ForwardRequest, ReplyRequest, Upload, compose_forward
from maild.outbound.facts import agent_facts, department_address, message_facts, ticket_facts
from maild.outbound.outbox import attachment_row, enqueue, enqueue_resend
from maild.outbound.recipients import split_addresses
from maild.outbound.replies import Mark, OutboundContext, Sent, send_reply
from maild.store.models import Agent, Group, Message, Ticket
from maild.tickets import lifecycle
from maild.tickets.actors import SYSTEM, Actor
from maild.tickets.audit import Action, note
from maild.tickets.lookup import get_group, require_live
from maild.values import Direction, Kind, Priority


@dataclass(frozen=True)
class NewTicketRequest:
    """An agent's new ticket. `customer` is To (outgoing) or From (incoming)."""

    group_id: int
    customer: str
    subject: str
    body: str
    incoming: bool = False
    agent_id: int | None = None  # None = the group's distribution decides
    cc: str = ""
    bcc: str = ""
    priority: Priority = Priority.NORMAL
    attachments: tuple[Upload, ...] = ()


def create_ticket(
    session: Session,
    request: NewTicketRequest,
    *,
    agent: Agent,
    ctx: OutboundContext,
    now: datetime,
    mark: Mark | None = None,
) -> Ticket:
    """Open a ticket for a customer: outgoing (our mail goes to them, then `mark` applies) or
    incoming (their request is recorded and the department's autoresponder answers it)."""
    customer = _one_customer(request.customer)
    if not request.subject.strip() or not request.body.strip():
        raise InvalidRequest("a new ticket needs a subject and a message")
    group = get_group(session, request.group_id)
    new = lifecycle.NewTicket(
        department_id=group.department_id,
        subject=" ".join(request.subject.split()),
        requester=customer,
        group_id=group.id,
        priority=request.priority,
        agent_id=request.agent_id,
        cc=split_addresses(request.cc, "cc"),
    )
    actor = Actor.of_agent(agent)
    opened = lifecycle.open_ticket(
        session, new, settings=ctx.tickets, distributor=ctx.distributor, actor=actor, now=now
    )
    if request.incoming:
        _record_incoming(session, opened, group, request, customer, ctx, now)
    else:
        reply = ReplyRequest(
            body=request.body,
            to=customer,
            cc=request.cc,
            bcc=request.bcc,
            attachments=request.attachments,
        )
        send_reply(session, opened, reply, agent=agent, ctx=ctx, now=now, mark=mark)
    return opened


def _one_customer(typed: str) -> str:
    addresses = split_addresses(typed, "customer address")
    if len(addresses) != 1:
        raise InvalidRequest("a new ticket is for one customer address; put others in Cc")
    return addresses[0]


def _record_incoming(
    session: Session,
    ticket: Ticket,
    group: Group,
    request: NewTicketRequest,
    customer: str,
    ctx: OutboundContext,
    now: datetime,
) -> None:
    """The customer's request as an incoming message, then the autoresponder (as for mail)."""
    message_id = make_message_id(new_token(), ticket.number, ctx.outbound.domain)
    session.add(
        Message(
            ticket_id=ticket.id,
            direction=Direction.IN,
            kind=Kind.NORMAL,
            message_id=message_id,
            from_addr=customer,
            to_addrs=department_address(group.department, ctx.outbound),
            cc_addrs=", ".join(split_addresses(request.cc, "cc")),
            subject=ticket.subject,
            date=now,
            text=request.body,
            created_at=now,
            attachments=[
                attachment_row(u.filename, u.content_type, u.data) for u in request.attachments
            ],
        )
    )
    context = AutoresponseContext(ctx.outbound, ctx.tickets, ctx.autoresponder, ctx.templates)
    skipped = autorespond(session, ticket, context, message_id, now)
    note(session, ticket, SYSTEM, Action.AUTORESPONSE, now, detail=skipped or "queued")


# --- forward and resend -------------------------------------------------------------------


def find_message(
    session: Session, ticket: Ticket, message_id: str = "", *, direction: Direction | None = None
) -> Message:
    """The ticket's message with this Message-ID, or (none given) its newest message in
    `direction`."""
    query = sa.select(Message).where(Message.ticket_id == ticket.id)
    if message_id:
        query = query.where(Message.message_id == message_id.strip())
    if direction is not None:
        query = query.where(Message.direction == direction)
    found = session.scalars(query.order_by(Message.created_at.desc(), Message.id.desc())).first()
    if found is None:
        which = f"message {message_id!r}" if message_id else "such message"
        raise NotFound(f"ticket {ticket.number} has no {which}; see `maild ticket show`")
    return found


def forward_message(
    session: Session,
    ticket: Ticket,
    message: Message,
    request: ForwardRequest,
    *,
    agent: Agent,
    ctx: OutboundContext,
    now: datetime,
) -> Sent:
    """Forward any message of the ticket, with its attachments, in a new outgoing mail."""
    require_live(ticket)
    if message.ticket_id != ticket.id:
        raise InvalidRequest(f"that message is not part of ticket {ticket.number}")
    facts = ticket_facts(session, ticket, ctx.outbound, ctx.tickets)
    mail = compose_forward(
        facts,
        message_facts(message, with_attachments=True),
        request,
        agent_facts(agent),
        ctx.templates,
        ctx.outbound.max_attachment_bytes,
    )
    row = enqueue(session, ticket, mail, ctx.outbound, now, purpose="forward", agent_id=agent.id)
    ticket.last_action_at = now
    actor = Actor.of_agent(agent)
    note(session, ticket, actor, Action.FORWARDED, now, message.message_id, ", ".join(mail.to))
    session.flush()
    return Sent(row.id, row.message.message_id if row.message else "")


def resend_message(
    session: Session,
    ticket: Ticket,
    message: Message,
    *,
    agent: Agent,
    ctx: OutboundContext,
    now: datetime,
    recipients: str = "",
) -> Sent:
    """Send an outgoing message again, to its recipients or to `recipients` (`;`/`,` list)."""
    require_live(ticket)
    if message.ticket_id != ticket.id:
        raise InvalidRequest(f"that message is not part of ticket {ticket.number}")
    sender = department_address(ticket.department, ctx.outbound)
    targets = split_addresses(recipients, "to")
    row = enqueue_resend(session, message, sender, targets, ctx.outbound, now)
    ticket.last_action_at = now
    actor = Actor.of_agent(agent)
    note(session, ticket, actor, Action.RESENT, now, message.message_id, ", ".join(row.recipients))
    session.flush()
    return Sent(row.id, message.message_id)
