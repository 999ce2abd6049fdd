"""Merge: 2 to 10 tickets become one; the others are gone for good (seed: "Merging Tickets").

The primary keeps its properties (status, follow-up, agent, ...) and custom fields; messages
(with their attachments), comments, history, time logs, participants and related links move to
it; each merged number gets a forwarder, and forwarders that pointed at a merged ticket are
re-pointed, so every old number resolves in one step.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from maild.errors import Conflict, InvalidRequest
from maild.store.models import (
    Bounce,
    Comment,
    Draft,
    Forwarder,
    History,
    Inbound,
    Message,
    Outbox,
    Participant,
    Recent,
    RecentTransfer,
    Related,
    Ticket,
    TimeLog,
)
from maild.tickets._sql import insert_if_missing
from maild.tickets.actors import Actor
from maild.tickets.audit import Action, note
from maild.tickets.ports import Distributor
from maild.tickets.states import released
from maild.values import Status

MAX_TICKETS = 10  # seed: "Up to 10 tickets can be merged at once."

# Rows that simply change owner.
_MOVED = (Message, Comment, History, TimeLog, Inbound, Bounce, Outbox)


def merge(
    session: Session,
    primary: Ticket,
    others: Sequence[Ticket],
    *,
    distributor: Distributor,
    actor: Actor,
    now: datetime,
) -> None:
    """Merge `others` into `primary`. Permanent. Refused, with nothing changed, when the set is
    not 2-10 distinct tickets, names the primary among the others, or holds a deleted ticket."""
    _check(primary, others)
    merged_ids = [t.id for t in others]
    holders = [(t.group_id, t.agent_id) for t in others if t.status is Status.ACTIVE]
    for model in _MOVED:
        _repoint(session, model, merged_ids, primary.id)
    session.execute(sa.delete(Draft).where(Draft.ticket_id.in_(merged_ids)))
    _move_participants(session, merged_ids, primary.id)
    _move_related(session, merged_ids, primary.id)
    _move_touches(session, merged_ids, primary.id)
    _forward(session, others, primary.id)
    numbers = ", ".join(t.number for t in others)
    session.execute(
        sa.delete(Ticket)
        .where(Ticket.id.in_(merged_ids))
        .execution_options(synchronize_session="fetch")
    )
    for group_id, agent_id in holders:
        released(session, distributor, group_id, agent_id, now)
    primary.last_action_at = now
    note(session, primary, actor, Action.MERGED, now, numbers, primary.number)


def _check(primary: Ticket, others: Sequence[Ticket]) -> None:
    ids = [t.id for t in others]
    if primary.id in ids:
        raise InvalidRequest(f"ticket {primary.number} cannot be merged into itself")
    if len(set(ids)) != len(ids):
        raise InvalidRequest("a ticket is listed twice; name each ticket to merge once")
    if not 2 <= len(ids) + 1 <= MAX_TICKETS:
        raise InvalidRequest(
            f"a merge takes 2 to {MAX_TICKETS} tickets, primary included; {len(ids) + 1} were given"
        )
    for ticket in (primary, *others):
        if ticket.deleted_at is not None:
            raise Conflict(f"ticket {ticket.number} is deleted; deleted tickets cannot be merged")


def _repoint(session: Session, model: Any, merged_ids: list[int], primary_id: int) -> None:
    session.execute(
        sa.update(model)
        .where(model.ticket_id.in_(merged_ids))
        .values(ticket_id=primary_id)
        .execution_options(synchronize_session="fetch")
    )


def _move_participants(session: Session, merged_ids: list[int], primary_id: int) -> None:
    rows = session.execute(
        sa.select(Participant.address, Participant.role).where(
            Participant.ticket_id.in_(merged_ids)
        )
    )
    for address, role in rows.all():
        values = {"ticket_id": primary_id, "address": address, "role": role}
        insert_if_missing(session, Participant, values, ["ticket_id", "address", "role"])


def _move_related(session: Session, merged_ids: list[int], primary_id: int) -> None:
    """Links of merged tickets become links of the primary; links among the merged set vanish."""
    involved = set(merged_ids) | {primary_id}
    rows = session.execute(
        sa.select(Related.ticket_id, Related.related_id).where(
            sa.or_(Related.ticket_id.in_(merged_ids), Related.related_id.in_(merged_ids))
        )
    )
    for a, b in rows.all():
        other = b if a in involved else a
        if other in involved:
            continue
        low, high = sorted((primary_id, other))
        values = {"ticket_id": low, "related_id": high}
        insert_if_missing(session, Related, values, ["ticket_id", "related_id"])


def _move_touches(session: Session, merged_ids: list[int], primary_id: int) -> None:
    """An agent who touched or was transferred a merged ticket keeps seeing the primary in
    their recent lists, at the latest of the times."""
    models: tuple[Any, ...] = (Recent, RecentTransfer)
    for model in models:
        latest = (
            sa.select(model.agent_id, sa.func.max(model.at))
            .where(model.ticket_id.in_([*merged_ids, primary_id]))
            .group_by(model.agent_id)
        )
        for agent_id, at in session.execute(latest).all():
            row = session.get(model, (agent_id, primary_id))
            if row is None:
                session.add(model(agent_id=agent_id, ticket_id=primary_id, at=at))
            else:
                row.at = at
    session.flush()


def _forward(session: Session, others: Sequence[Ticket], primary_id: int) -> None:
    merged_ids = [t.id for t in others]
    _repoint(session, Forwarder, merged_ids, primary_id)
    for ticket in others:
        session.add(Forwarder(number=ticket.number, ticket_id=primary_id))
    session.flush()
