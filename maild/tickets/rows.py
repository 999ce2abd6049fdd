"""The ticket list row shared by views, search, `ticket list --json` and `export`.

A row is a frozen snapshot with the organisation's names resolved and the clocks computed, so
the edges never need the ORM to print a list.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
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


# The ticket's columns a row shows, read as plain values: building ORM instances (identity map,
# attribute instrumentation) cost more than the query itself on a page of 100 (bench/api.py).
_TICKET_COLUMNS = (
    Ticket.id,
    Ticket.number,
    Ticket.status,
    Ticket.priority,
    Ticket.pinned,
    Ticket.subject,
    Ticket.requester,
    Ticket.automatic,
    Ticket.created_at,
    Ticket.last_action_at,
    Ticket.followup_at,
    Ticket.followup_suspended,
    Ticket.deleted_at,
)


def row_select() -> sa.Select[Any]:
    """Tickets with the names and counts a row shows; views and search add WHERE and ORDER BY."""
    return (
        sa.select(*_TICKET_COLUMNS, Brand.name, Department.name, Group.name, Agent.name)
        .add_columns(MESSAGE_COUNT)
        .join(Brand, Brand.id == Ticket.brand_id)
        .join(Department, Department.id == Ticket.department_id)
        .join(Group, Group.id == Ticket.group_id)
        .outerjoin(Agent, Agent.id == Ticket.agent_id)
    )


def fetch_rows(session: Session, statement: sa.Select[Any], now: datetime) -> list[TicketRow]:
    """Run a `row_select()`-based statement and build its rows."""
    results = session.execute(statement).all()
    fields = _fields_of(session, [result[0] for result in results])
    return [_row(result, fields.get(result[0], ()), now) for result in results]


def _row(result: Sequence[Any], fields: tuple[tuple[str, str], ...], now: datetime) -> TicketRow:
    (
        _id,
        number,
        status,
        priority,
        pinned,
        subject,
        requester,
        automatic,
        created_at,
        last_action_at,
        followup_at,
        followup_suspended,
        deleted_at,
        brand,
        department,
        group,
        agent,
        message_count,
    ) = result
    return TicketRow(
        number=number,
        status=status,
        priority=priority,
        pinned=pinned,
        subject=subject,
        requester=requester,
        brand=brand,
        department=department,
        group=group,
        agent=agent,
        automatic=automatic,
        created_at=created_at,
        last_action_at=last_action_at,
        followup_at=followup_at if not followup_suspended else None,
        deleted_at=deleted_at,
        message_count=message_count,
        duration=now - created_at,
        idle=now - last_action_at,
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


def count_rows(session: Session, ids: sa.Select[Any] | sa.CompoundSelect, up_to: int | None) -> int:
    """The rows `ids` selects, counted up to `up_to + 1` when `up_to` is given. Counting a
    desk-wide view reads every matching index entry (a million for `all`); a bounded count
    reads at most `up_to + 1`, which is all a pager needs to say "10,000+"."""
    if up_to is not None:
        ids = ids.limit(up_to + 1)
    statement = sa.select(sa.func.count()).select_from(ids.subquery())
    return int(session.execute(statement).scalar_one())
