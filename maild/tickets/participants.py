"""Who belongs to a ticket, and which tickets are related.

Participants decide the reply policy (DESIGN §1: "appends only when the sender is a participant
(requester, CC'd address, agent)").
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from maild.addresses import normal_form
from maild.addresses import parse_address as parse_strict
from maild.errors import InvalidRequest
from maild.store import batch
from maild.store.models import Agent, Membership, Participant, Related, Ticket
from maild.tickets._sql import insert_if_missing
from maild.tickets.actors import Actor
from maild.tickets.audit import Action, note
from maild.values import ParticipantRole


def fold_address(address: str) -> str:
    """Addresses are compared without blanks, in `maild.addresses.normal_form` (lower-cased,
    IDN domains in one spelling)."""
    return normal_form(address.strip())


def parse_address(address: str) -> str:
    """A bare address typed by a person (change email), parsed strictly and folded."""
    return fold_address(parse_strict(address, "email address"))


def add_participant(session: Session, ticket: Ticket, address: str, role: ParticipantRole) -> None:
    """Record `address` on the ticket in `role` (nothing happens when it is already there)."""
    folded = fold_address(address)
    if not folded:
        return
    values = {"ticket_id": ticket.id, "address": folded, "role": role}
    insert_if_missing(session, Participant, values, ["ticket_id", "address", "role"])


def is_participant(session: Session, ticket: Ticket, address: str) -> bool:
    """True when `address` is the requester, an address recorded on the ticket (requester, CC,
    agent) or the email of an agent of the ticket's group. Only the group's own agents: a
    forged From of some other agent must not open every ticket to its sender."""
    folded = fold_address(address)
    if not folded:
        return False
    if folded == fold_address(ticket.requester):
        return True
    recorded = sa.select(Participant.id).where(
        Participant.ticket_id == ticket.id, Participant.address == folded
    )
    staff = (
        sa.select(Agent.id)
        .join(Membership, Membership.agent_id == Agent.id)
        .where(sa.func.lower(Agent.email) == folded, Membership.group_id == ticket.group_id)
    )
    return session.execute(recorded.union_all(staff).limit(1)).first() is not None


def is_agent_address(session: Session, address: str) -> bool:
    """True when `address` is some agent's email (whatever their groups)."""
    folded = fold_address(address)
    if not folded:
        return False
    return folded in _agent_addresses(session)


_AGENT_ADDRESSES = sa.select(sa.func.lower(Agent.email))


def _agent_addresses(session: Session) -> frozenset[str]:
    """Every agent's email as the database lower-cases it (the comparison stays the one SQL
    made): agents are configuration, read once per pipeline batch rather than per reply."""
    return batch.cached(
        session, "agent addresses", lambda: frozenset(session.scalars(_AGENT_ADDRESSES))
    )


def participants(session: Session, ticket: Ticket) -> list[Participant]:
    statement = sa.select(Participant).where(Participant.ticket_id == ticket.id)
    return list(session.scalars(statement.order_by(Participant.id)))


def relate(
    session: Session,
    a: Ticket,
    b: Ticket,
    *,
    actor: Actor,
    now: datetime,
) -> None:
    """Link two tickets as related (seed: "Related Items ... pointers to other tickets").
    The link has no direction; it is stored once, lowest id first."""
    if a.id == b.id:
        raise InvalidRequest(f"ticket {a.number} cannot be related to itself")
    low, high = sorted((a.id, b.id))
    insert_if_missing(
        session, Related, {"ticket_id": low, "related_id": high}, ["ticket_id", "related_id"]
    )
    note(session, a, actor, Action.RELATED, now, to_value=b.number)
    note(session, b, actor, Action.RELATED, now, to_value=a.number)


def related_tickets(session: Session, ticket: Ticket) -> list[Ticket]:
    """The tickets linked to `ticket`, oldest first."""
    others = (
        sa.select(Related.related_id)
        .where(Related.ticket_id == ticket.id)
        .union(sa.select(Related.ticket_id).where(Related.related_id == ticket.id))
    )
    statement = sa.select(Ticket).where(Ticket.id.in_(others)).order_by(Ticket.id)
    return list(session.scalars(statement))
