"""Finding where a mail belongs, in the database: its ticket, its department, a bounce's ticket.

The pure part (which numbers and Message-IDs a mail names) is `maild.ingest.thread`; here those
references are resolved, and `reply_policy` decides whether the sender may post into the ticket.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import Session

from maild.addresses import normal_form, split_stored
from maild.errors import MessageRejected
from maild.ingest.authn import NOT_CHECKED, SenderAuth
from maild.ingest.classify import Classification
from maild.ingest.parse import ParsedMessage
from maild.ingest.spool import Envelope
from maild.ingest.thread import MessageIdRef, find_ticket_refs
from maild.mailids import parse_verp
from maild.settings import TicketSettings
from maild.store import batch
from maild.store.models import Department, Message, Outbox, Ticket
from maild.tickets.incoming import incoming_transition
from maild.tickets.lookup import department_by_address, resolve_number
from maild.tickets.participants import is_agent_address, is_participant
from maild.values import Direction, Kind, ReplyPolicy

NO_DEPARTMENT = "no department address among the recipients and no default department configured"


@dataclass(frozen=True)
class Located:
    """The ticket a mail names, and whether its sender may post into it. An untrusted match
    (a stranger naming a ticket number) opens a new ticket related to it."""

    ticket: Ticket | None
    trusted: bool
    reason: str = ""
    # For a bounce found by a token: the outgoing message it reports on.
    message: Message | None = None


@dataclass(frozen=True)
class Placement:
    """Where a mail goes: `ingest` carries it out, `inspect` reports it."""

    located: Located
    joins: Ticket | None = None  # appended to it; a bounce: recorded against it


def place_mail(
    session: Session,
    msg: ParsedMessage,
    verdict: Classification,
    envelope: Envelope,
    settings: TicketSettings,
    auth: SenderAuth = NOT_CHECKED,
) -> Placement:
    """DESIGN §1: the ticket a mail joins, or none (a new ticket, related to `located.ticket`
    when `link_and_reason` says so); DESIGN §2 for bounces, which never open a ticket. `auth`
    is the sender verdict: whether the From may be believed."""
    if verdict.kind is Kind.BOUNCE:
        found = locate_bounce(session, msg, verdict, envelope, settings)
        return Placement(found, found.ticket)
    located = locate_ticket(session, msg, settings, auth)
    ticket = located.ticket
    if ticket is None or not located.trusted:
        return Placement(located)
    deleted = ticket.deleted_at is not None
    machine_made = not verdict.changes_status
    appends = incoming_transition(ticket.status, deleted, machine_made).appends
    return Placement(located, ticket if appends else None)


def link_and_reason(located: Located) -> tuple[Ticket | None, str]:
    """The ticket a new ticket is related to, and why a new one was opened. DESIGN §1: a
    closed-and-locked ticket, or one a stranger names, gets a related ticket; a deleted ticket
    stays out of sight and the new ticket stands alone."""
    ticket = located.ticket
    if ticket is None:
        return None, ""
    if ticket.deleted_at is not None:
        return None, f"ticket {ticket.number} is deleted; opened a new ticket"
    if not located.trusted:
        return ticket, located.reason
    return ticket, f"ticket {ticket.number} is closed and locked; opened a related ticket"


def locate_ticket(
    session: Session, msg: ParsedMessage, settings: TicketSettings, auth: SenderAuth = NOT_CHECKED
) -> Located:
    refs = find_ticket_refs(msg, settings)
    by_reference = _tickets_by_refs(session, refs.message_ids)
    # DESIGN §1: the subject tag wins, then In-Reply-To/References naming our Message-IDs.
    for number in refs.tag_numbers:
        ticket = resolve_number(session, number)
        if ticket is not None:
            return _judge(session, ticket, msg, settings, by_reference, auth)
    if by_reference:
        return Located(by_reference[0], trusted=True, reason="references our Message-ID")
    return Located(None, trusted=False)


def _judge(
    session: Session,
    ticket: Ticket,
    msg: ParsedMessage,
    settings: TicketSettings,
    by_reference: list[Ticket],
    auth: SenderAuth,
) -> Located:
    if settings.reply_policy is ReplyPolicy.ANY:
        return Located(ticket, trusted=True, reason="subject tag")
    if any(t.id == ticket.id for t in by_reference):
        return Located(ticket, trusted=True, reason="subject tag and our Message-ID")
    sender = msg.from_address
    if sender and is_participant(session, ticket, sender):
        doubt = sender_doubt(session, sender, auth)
        if not doubt:
            return Located(ticket, trusted=True, reason="subject tag, sender is a participant")
        return Located(ticket, trusted=False, reason=f"{doubt}; opened a related ticket")
    # A guessed ticket number must not inject into someone else's ticket (reply_policy).
    return Located(
        ticket,
        trusted=False,
        reason=f"sender is not a participant of {ticket.number}; opened a related ticket",
    )


def sender_doubt(session: Session, sender: str, auth: SenderAuth) -> str:
    """Why a participant's From address cannot stand for its owner here; "" when it can.
    Agent addresses are public and ticket numbers sequential (issue 12): an agent's From
    counts only when SPF/DKIM vouch for its domain (the ticket's token is checked before).
    Anyone's From counts for nothing when the domain's DMARC says the mail is not theirs."""
    if auth.unverified:
        return f"DMARC fails for {auth.from_domain}: the From address may be forged"
    if not auth.vouches_for(sender) and is_agent_address(session, sender):
        return (
            "an agent's address in From, but the mail is not authenticated (SPF/DKIM)"
            " and carries no token of the ticket"
        )
    return ""


def _tickets_by_refs(session: Session, refs: tuple[MessageIdRef, ...]) -> list[Ticket]:
    """Tickets owning outgoing messages named by these Message-IDs. The whole ID, token included,
    must be one we sent, so an ID cannot be forged from a ticket number alone. The message's
    current ticket is used: merged tickets' messages moved to the primary."""
    found: list[Ticket] = []
    for ref in refs:
        ticket = _ticket_by_token(session, ref.token, ref.message_id)
        if ticket is not None and ticket not in found:
            found.append(ticket)
    return found


def department_for(
    session: Session, msg: ParsedMessage, envelope: Envelope, default: str, assigned: str = ""
) -> Department | None:
    """The department a transport `assigned` (an IMAP account's: that mailbox is the
    department's, whatever addresses the mail names); otherwise DESIGN §1: the department whose
    address is among the recipients, envelope first, then To/Cc; otherwise the configured
    default."""
    if assigned:
        department = _department_named(session, assigned)
        if department is None:
            reason = f"department {assigned!r}, named by the mailbox it came from, is missing"
            raise MessageRejected(reason)
        return department
    for address in (*envelope.rcpt_to, *msg.to, *msg.cc):
        department = department_by_address(session, address)
        if department is not None:
            return department
    return _department_named(session, default) if default else None


def _department_named(session: Session, name: str) -> Department | None:
    query = sa.select(Department).where(Department.name == name)
    return batch.cached(session, ("department", name), lambda: session.scalar(query))


def locate_bounce(
    session: Session,
    msg: ParsedMessage,
    verdict: Classification,
    envelope: Envelope,
    settings: TicketSettings,
) -> Located:
    """DESIGN §2: VERP envelope recipient first, then the returned Message-ID, then the tag in
    the returned subject (of the outermost returned message only). The first two carry our
    unguessable token and are trusted; a subject tag is not."""
    refs = find_ticket_refs(msg, settings, verdict.bounce)
    tokens = [parse_verp(a) for a in (*envelope.rcpt_to, *msg.to)] + [refs.verp_token]
    for token in filter(None, tokens):
        message = _message_by_token(session, token)
        if message is not None:
            ticket = session.get(Ticket, message.ticket_id)
            return Located(ticket, trusted=True, reason="found by VERP address", message=message)
    for ref in refs.message_ids:
        message = _message_by_token(session, ref.token, ref.message_id)
        if message is not None:
            ticket = session.get(Ticket, message.ticket_id)
            reason = "found by returned Message-ID"
            return Located(ticket, trusted=True, reason=reason, message=message)
    for number in refs.tag_numbers:
        ticket = resolve_number(session, number)
        if ticket is not None:
            return Located(ticket, trusted=False, reason="found only by the returned subject tag")
    return Located(None, trusted=False)


def _ticket_by_token(session: Session, token: str, message_id: str | None = None) -> Ticket | None:
    message = _message_by_token(session, token, message_id)
    return session.get(Ticket, message.ticket_id) if message is not None else None


def _message_by_token(
    session: Session, token: str, message_id: str | None = None
) -> Message | None:
    query = sa.select(Message).where(Message.token == token, Message.direction == Direction.OUT)
    if message_id is not None:
        query = query.where(Message.message_id == message_id)
    return session.scalars(query).first()


def sent_to(session: Session, message: Message) -> frozenset[str]:
    """Every address an outgoing message went to: its To and Cc, and the envelope recipients
    of its outbox rows (Bcc, resends)."""
    stored = (*split_stored(message.to_addrs), *split_stored(message.cc_addrs))
    addresses = {normal_form(a) for a in stored}
    query = sa.select(Outbox.recipients).where(Outbox.message_row_id == message.id)
    for recipients in session.scalars(query):
        addresses.update(normal_form(a) for a in recipients)
    addresses.discard("")
    return frozenset(addresses)
