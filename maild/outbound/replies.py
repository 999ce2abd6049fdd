"""An agent answers a ticket: send and mark, and the ticket's one draft.

Seed ("Composing a Ticket Response"): "Send and Mark Active; ... Waiting; ... Closed; ...
Closed and Locked; Send and Schedule Follow-up; or Send and Transfer", and "There can be only
one draft per ticket ... the original draft will be overwritten". The outbox row, the outgoing
message, the agent-response clock and the mark are one transaction: the caller's.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from maild.errors import InvalidRequest, NotFound
from maild.outbound.compose import ReplyRequest, compose_reply
from maild.outbound.facts import agent_facts, message_facts, ticket_facts
from maild.outbound.outbox import enqueue
from maild.outbound.templates import Templates, department_overrides
from maild.settings import AutoresponderSettings, OutboundSettings, Settings, TicketSettings
from maild.store.models import Agent, CannedReply, Draft, Message, Outbox, Ticket
from maild.tickets import lifecycle
from maild.tickets._sql import upsert
from maild.tickets.actors import Actor
from maild.tickets.audit import Action, note
from maild.tickets.followup import FollowUp, schedule_followup
from maild.tickets.lookup import require_live
from maild.tickets.participants import add_participant, fold_address
from maild.tickets.ports import Distributor
from maild.tickets.transfer import Transfer, transfer
from maild.values import Direction, Kind, ParticipantRole, Status


@dataclass(frozen=True)
class OutboundContext:
    """What the outbound services need, built once from the settings (maild.runtime)."""

    outbound: OutboundSettings
    tickets: TicketSettings
    autoresponder: AutoresponderSettings
    distributor: Distributor
    templates: Templates = field(default_factory=Templates)

    @classmethod
    def of(cls, settings: Settings, distributor: Distributor) -> OutboundContext:
        """The context the settings describe (the departments' template overrides included)."""
        return cls(
            outbound=settings.outbound,
            tickets=settings.tickets,
            autoresponder=settings.autoresponder,
            distributor=distributor,
            templates=department_overrides(settings.departments),
        )


@dataclass(frozen=True)
class Mark:
    """What sending does to the ticket: a status, a follow-up or a transfer (one of them)."""

    status: Status = Status.WAITING  # a reply waits for the customer, unless told otherwise
    followup: FollowUp | None = None
    transfer: Transfer | None = None

    def __post_init__(self) -> None:
        if self.followup is not None and self.transfer is not None:
            raise InvalidRequest("send and mark takes a follow-up or a transfer, not both")


@dataclass(frozen=True)
class Sent:
    """A queued mail: its outbox row and the Message-ID it carries."""

    outbox_id: int
    message_id: str


def send_reply(
    session: Session,
    ticket: Ticket,
    request: ReplyRequest,
    *,
    agent: Agent,
    ctx: OutboundContext,
    now: datetime,
    mark: Mark | None = None,
    answering: Message | None = None,
) -> Sent:
    """Queue the agent's reply to `answering` (default: the newest message from the customer)
    and mark the ticket, all in the caller's transaction. Any error leaves nothing queued."""
    require_live(ticket)
    answered = answering if answering is not None else latest_customer_message(session, ticket)
    row = _queue_reply(session, ticket, request, agent, ctx, now, answered)
    actor = Actor.of_agent(agent)
    lifecycle.record_agent_response(session, ticket, actor=actor, now=now)
    apply_mark(session, ticket, mark or Mark(), actor=actor, ctx=ctx, now=now)
    session.execute(sa.delete(Draft).where(Draft.ticket_id == ticket.id))
    return Sent(row.id, row.message.message_id if row.message else "")


def _queue_reply(
    session: Session,
    ticket: Ticket,
    request: ReplyRequest,
    agent: Agent,
    ctx: OutboundContext,
    now: datetime,
    answered: Message | None,
) -> Outbox:
    facts = ticket_facts(session, ticket, ctx.outbound, ctx.tickets)
    mail = compose_reply(
        facts,
        message_facts(answered) if answered is not None else None,
        _with_canned(session, request),
        agent_facts(agent),
        ctx.templates,
        ctx.outbound.max_attachment_bytes,
    )
    row = enqueue(session, ticket, mail, ctx.outbound, now, purpose="reply", agent_id=agent.id)
    # Whoever we wrote to may answer into the ticket (DESIGN §1: CC'd addresses take part).
    for address in (*mail.to, *mail.cc):
        if address != fold_address(ticket.requester):
            add_participant(session, ticket, address, ParticipantRole.CC)
    session.flush()
    return row


def _with_canned(session: Session, request: ReplyRequest) -> ReplyRequest:
    """`canned` names a canned reply; its text (a template) replaces the name."""
    if not request.canned:
        return request
    found = session.scalar(sa.select(CannedReply).where(CannedReply.name == request.canned))
    if found is None:
        raise NotFound(f"no canned reply named {request.canned!r}; check the name")
    return ReplyRequest(**{**request.__dict__, "canned": found.body})


def apply_mark(
    session: Session,
    ticket: Ticket,
    mark: Mark,
    *,
    actor: Actor,
    ctx: OutboundContext,
    now: datetime,
) -> None:
    distributor = ctx.distributor
    if mark.followup is not None:
        schedule_followup(
            session, ticket, mark.followup, distributor=distributor, actor=actor, now=now
        )
    elif mark.transfer is not None:
        transfer(session, ticket, mark.transfer, distributor=distributor, actor=actor, now=now)
    elif mark.status is not ticket.status:
        lifecycle.set_status(
            session, ticket, mark.status, distributor=distributor, actor=actor, now=now
        )


def latest_customer_message(session: Session, ticket: Ticket) -> Message | None:
    """The message a reply answers by default: the newest normal incoming one, else the newest
    message of the ticket (an outgoing ticket starts with ours)."""
    base = sa.select(Message).where(Message.ticket_id == ticket.id)
    newest = base.order_by(Message.created_at.desc(), Message.id.desc()).limit(1)
    incoming = newest.where(Message.direction == Direction.IN, Message.kind == Kind.NORMAL)
    return session.scalars(incoming).first() or session.scalars(newest).first()


# --- the one draft per ticket -------------------------------------------------------------


@dataclass(frozen=True)
class DraftValues:
    """A reply in progress, as typed (nothing is parsed until it is sent)."""

    body: str
    to: str = ""
    cc: str = ""
    bcc: str = ""
    subject: str = ""


def save_draft(
    session: Session, ticket: Ticket, values: DraftValues, *, agent: Agent, now: datetime
) -> None:
    """Save the ticket's draft, overwriting any earlier one (seed: one draft per ticket)."""
    require_live(ticket)
    row = {
        "ticket_id": ticket.id,
        "agent_id": agent.id,
        "to_addrs": values.to,
        "cc_addrs": values.cc,
        "bcc_addrs": values.bcc,
        "subject": values.subject,
        "body": values.body,
        "updated_at": now,
    }
    upsert(session, Draft, row, ["ticket_id"])
    note(session, ticket, Actor.of_agent(agent), Action.DRAFT_SAVED, now)


def get_draft(session: Session, ticket: Ticket) -> DraftValues | None:
    row = session.get(Draft, ticket.id, populate_existing=True)
    if row is None:
        return None
    return DraftValues(row.body, row.to_addrs, row.cc_addrs, row.bcc_addrs, row.subject)


def discard_draft(session: Session, ticket: Ticket) -> None:
    session.execute(sa.delete(Draft).where(Draft.ticket_id == ticket.id))
