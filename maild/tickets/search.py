"""Search: the basic text search and the advanced criteria (seed: "Searching Tickets").

Matching is case-insensitive substring matching (`lower(column) LIKE '%text%'`), which behaves
the same on SQLite and PostgreSQL. Criteria combine with AND, as in the seed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from maild.errors import InvalidRequest
from maild.store.models import Comment, Forwarder, Message, Participant, Ticket, TicketField
from maild.tickets.access import Viewer, visible
from maild.tickets.fields import canonical_value, get_field
from maild.tickets.rows import TicketRow, count_rows, fetch_rows, row_select
from maild.values import Priority, Status

MAX_RESULTS = 1000


@dataclass(frozen=True)
class SearchCriteria:
    """The advanced search form. Empty / None criteria are ignored."""

    text: str = ""  # in subject, message bodies and comments
    number: str = ""  # a ticket number, or a number merged into a ticket
    email: str = ""  # part of the requester's or a participant's address
    created_from: datetime | None = None  # inclusive
    created_to: datetime | None = None  # exclusive
    group_id: int | None = None
    agent_id: int | None = None
    status: Status | None = None
    priority: Priority | None = None
    deleted_only: bool = False  # seed "Search In": everything but deleted, or deleted only
    newest_first: bool = True
    max_results: int = 100
    field_name: str = ""  # a custom field ...
    field_value: str = ""  # ... and the value it must have
    offset: int = 0  # skip this many results (paging)
    visible_to: Viewer | None = None  # only the tickets this agent may see (access.py)


def search_tickets(session: Session, criteria: SearchCriteria, now: datetime) -> list[TicketRow]:
    """Tickets matching every given criterion, newest (or oldest) first, at most max_results."""
    if not 1 <= criteria.max_results <= MAX_RESULTS or criteria.offset < 0:
        raise InvalidRequest(f"max results must be 1..{MAX_RESULTS} and offset 0 or more")
    order = Ticket.created_at.desc() if criteria.newest_first else Ticket.created_at.asc()
    tie = Ticket.id.desc() if criteria.newest_first else Ticket.id.asc()
    statement = (
        row_select()
        .where(*conditions(session, criteria))
        .order_by(order, tie)
        .limit(criteria.max_results)
        .offset(criteria.offset)
    )
    return fetch_rows(session, statement, now)


def count_matches(session: Session, criteria: SearchCriteria, up_to: int | None = None) -> int:
    """How many tickets match `criteria` in all (for paging), counted as `count_tickets` does."""
    return count_rows(session, sa.select(Ticket.id).where(*conditions(session, criteria)), up_to)


def conditions(session: Session, criteria: SearchCriteria) -> list[sa.ColumnElement[bool]]:
    """The WHERE clauses for `criteria` (deleted tickets only when asked for)."""
    deleted = (
        Ticket.deleted_at.is_not(None) if criteria.deleted_only else Ticket.deleted_at.is_(None)
    )
    found: list[sa.ColumnElement[bool]] = [deleted]
    if criteria.text.strip():
        found.append(text_matches(criteria.text))
    if criteria.number.strip():
        found.append(_number_is(criteria.number.strip()))
    if criteria.email.strip():
        found.append(_email_contains(criteria.email.strip().lower()))
    if criteria.created_from is not None:
        found.append(Ticket.created_at >= criteria.created_from)
    if criteria.created_to is not None:
        found.append(Ticket.created_at < criteria.created_to)
    found.extend(_equal(criteria))
    if criteria.field_name.strip():
        found.append(_field_is(session, criteria.field_name.strip(), criteria.field_value))
    scope = visible(criteria.visible_to) if criteria.visible_to is not None else None
    if scope is not None:
        found.append(scope)
    return found


def _equal(criteria: SearchCriteria) -> list[sa.ColumnElement[bool]]:
    pairs = (
        (Ticket.group_id, criteria.group_id),
        (Ticket.agent_id, criteria.agent_id),
        (Ticket.status, criteria.status),
        (Ticket.priority, criteria.priority),
    )
    return [column == value for column, value in pairs if value is not None]


def text_matches(text: str) -> sa.ColumnElement[bool]:
    """Basic search: `text` in the subject, a message body or a comment, ignoring case."""
    needle = text.strip().lower()

    def contains(column: Any) -> sa.ColumnElement[bool]:
        return sa.func.lower(column).contains(needle, autoescape=True)

    in_messages = sa.select(Message.id).where(
        Message.ticket_id == Ticket.id, contains(Message.text)
    )
    in_comments = sa.select(Comment.id).where(
        Comment.ticket_id == Ticket.id, contains(Comment.body)
    )
    return sa.or_(contains(Ticket.subject), in_messages.exists(), in_comments.exists())


def _number_is(number: str) -> sa.ColumnElement[bool]:
    wanted = number.upper()
    forwarded = sa.select(Forwarder.ticket_id).where(sa.func.upper(Forwarder.number) == wanted)
    return sa.or_(sa.func.upper(Ticket.number) == wanted, Ticket.id.in_(forwarded))


def _email_contains(part: str) -> sa.ColumnElement[bool]:
    listed = sa.select(Participant.id).where(
        Participant.ticket_id == Ticket.id,
        Participant.address.contains(part, autoescape=True),
    )
    return sa.or_(Ticket.requester.contains(part, autoescape=True), listed.exists())


def _field_is(session: Session, name: str, value: str) -> sa.ColumnElement[bool]:
    """The custom field has `value` (compared in its stored form, ignoring case); an empty
    value finds the tickets that have none."""
    field = get_field(session, name)
    with_field = sa.select(TicketField.ticket_id).where(TicketField.field_id == field.id)
    if not value.strip():
        return Ticket.id.not_in(with_field)
    wanted = canonical_value(field, value).lower()
    return Ticket.id.in_(with_field.where(sa.func.lower(TicketField.value) == wanted))
