"""The ticket list row shared by views, search, `ticket list --json` and `export`.

A row is a frozen snapshot with the organisation's names resolved and the clocks computed, so
the edges never need the ORM to print a list.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from maild.store.models import (
    Agent,
    Brand,
    CustomField,
    Department,
    Group,
    Message,
    Ticket,
    TicketField,
)
from maild.values import Priority, Status


@dataclass(frozen=True)
class TicketRow:
    number: str
    status: Status
    priority: Priority
    pinned: bool
    subject: str
    requester: str
    brand: str
    department: str
    group: str
    agent: str | None  # None = in the group's queue (or waiting/closed without an agent)
    automatic: bool
    created_at: datetime
    last_action_at: datetime
    followup_at: datetime | None  # a pending follow-up (suspended ones are not shown)
    deleted_at: datetime | None
    message_count: int
    duration: timedelta  # since created (seed: "Duration")
    idle: timedelta  # since the last action (seed: "Idle")
    fields: tuple[tuple[str, str], ...]  # custom field (name, value), by name

    def followup_due(self, now: datetime) -> bool:
        """The seed's red follow-up icon: scheduled and past due."""
        return self.followup_at is not None and self.followup_at <= now


MESSAGE_COUNT = (
    sa.select(sa.func.count(Message.id))
    .where(Message.ticket_id == Ticket.id)
    .correlate(Ticket)
    .scalar_subquery()
    .label("message_count")
)


def row_select() -> sa.Select[Any]:
    """Tickets with the names and counts a row shows; views and search add WHERE and ORDER BY."""
    return (
        sa.select(Ticket, Brand.name, Department.name, Group.name, Agent.name, MESSAGE_COUNT)
        .join(Brand, Brand.id == Ticket.brand_id)
        .join(Department, Department.id == Ticket.department_id)
        .join(Group, Group.id == Ticket.group_id)
        .outerjoin(Agent, Agent.id == Ticket.agent_id)
    )


def fetch_rows(session: Session, statement: sa.Select[Any], now: datetime) -> list[TicketRow]:
    """Run a `row_select()`-based statement and build its rows."""
    results = session.execute(statement).all()
    fields = _fields_of(session, [result[0].id for result in results])
    return [_row(*result, fields=fields.get(result[0].id, ()), now=now) for result in results]


def _row(
    ticket: Ticket,
    brand: str,
    department: str,
    group: str,
    agent: str | None,
    message_count: int,
    *,
    fields: tuple[tuple[str, str], ...],
    now: datetime,
) -> TicketRow:
    pending = ticket.followup_at if not ticket.followup_suspended else None
    return TicketRow(
        number=ticket.number,
        status=ticket.status,
        priority=ticket.priority,
        pinned=ticket.pinned,
        subject=ticket.subject,
        requester=ticket.requester,
        brand=brand,
        department=department,
        group=group,
        agent=agent,
        automatic=ticket.automatic,
        created_at=ticket.created_at,
        last_action_at=ticket.last_action_at,
        followup_at=pending,
        deleted_at=ticket.deleted_at,
        message_count=message_count,
        duration=now - ticket.created_at,
        idle=now - ticket.last_action_at,
        fields=fields,
    )


def _fields_of(session: Session, ticket_ids: list[int]) -> dict[int, tuple[tuple[str, str], ...]]:
    if not ticket_ids:
        return {}
    statement = (
        sa.select(TicketField.ticket_id, CustomField.name, TicketField.value)
        .join(CustomField, CustomField.id == TicketField.field_id)
        .where(TicketField.ticket_id.in_(ticket_ids))
        .order_by(CustomField.name)
    )
    found: dict[int, list[tuple[str, str]]] = defaultdict(list)
    for ticket_id, name, value in session.execute(statement):
        found[ticket_id].append((name, value))
    return {ticket_id: tuple(pairs) for ticket_id, pairs in found.items()}


def count_rows(session: Session, ids: sa.Select[Any], up_to: int | None) -> int:
    """The rows `ids` selects, counted up to `up_to + 1` when `up_to` is given. Counting a
    desk-wide view reads every matching index entry (a million for `all`); a bounded count
    reads at most `up_to + 1`, which is all a pager needs to say "10,000+"."""
    if up_to is not None:
        ids = ids.limit(up_to + 1)
    statement = sa.select(sa.func.count()).select_from(ids.subquery())
    return int(session.execute(statement).scalar_one())
