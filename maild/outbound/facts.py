"""Gathering what composition needs from the database: a ticket with its department and brand,
a message with its attachments, an agent. The values are frozen; `compose` stays pure."""

from __future__ import annotations

from sqlalchemy.orm import Session

from maild.addresses import normal_form, split_stored
from maild.outbound.compose import AgentFacts, MessageFacts, TicketFacts
from maild.outbound.message import OutgoingAttachment
from maild.settings import OutboundSettings, TicketSettings
from maild.store.models import Agent, Department, Message, Ticket
from maild.tickets.lookup import department_addresses


def department_address(department: Department, settings: OutboundSettings) -> str:
    """Mail goes out from the department's first address, so answers thread back into it."""
    addresses = sorted(a.address for a in department.addresses)
    return addresses[0] if addresses else settings.from_address


def own_addresses(session: Session, settings: OutboundSettings) -> frozenset[str]:
    """Every address of ours: the sender address and every department address."""
    # The look-up's set: read once per pipeline batch, not once per autoresponse.
    return frozenset({normal_form(settings.from_address), *department_addresses(session)})


def ticket_facts(
    session: Session, ticket: Ticket, outbound: OutboundSettings, tickets: TicketSettings
) -> TicketFacts:
    department = ticket.department
    brand = ticket.brand
    return TicketFacts(
        number=ticket.number,
        tag=tickets.tag(ticket.number),
        subject=ticket.subject,
        requester=ticket.requester,
        status=ticket.status.value,
        priority=ticket.priority.value,
        department=department.name,
        from_address=department_address(department, outbound),
        from_name=brand.from_name or department.name,
        brand=brand.name,
        signature=brand.signature,
        own_addresses=own_addresses(session, outbound),
    )


def message_facts(message: Message, with_attachments: bool = False) -> MessageFacts:
    attachments = (
        tuple(OutgoingAttachment(a.filename, a.content_type, a.data) for a in message.attachments)
        if with_attachments
        else ()
    )
    return MessageFacts(
        message_id=message.message_id,
        references=tuple(message.references.split()),
        sender=message.from_addr,
        to=split_stored(message.to_addrs),
        cc=split_stored(message.cc_addrs),
        subject=message.subject,
        date=message.date,
        text=message.text,
        attachments=attachments,
    )


def agent_facts(agent: Agent) -> AgentFacts:
    return AgentFacts(name=agent.name, display_name=agent.display_name, email=agent.email)
