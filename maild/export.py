"""Tickets as JSON-ready dicts: `maild export` (DESIGN §5) and `maild ticket list|show --json`.

Every record starts from the core's `TicketRow` (names resolved, clocks computed), so a ticket
looks the same in a list, in `show` and in an export. `export_tickets` streams: ticket ids are
read with `yield_per`, and each batch fetches its rows, messages and links in a few queries.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import datetime, timedelta
from enum import Enum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from maild.addresses import split_stored
from maild.store.models import Attachment, Forwarder, History, Message, Related, Ticket
from maild.tickets.items import comments
from maild.tickets.rows import TicketRow, fetch_rows, row_select

EXPORT_BATCH = 500  # tickets per round trip: memory stays bounded whatever the ticket count


def export_tickets(session: Session, now: datetime) -> Iterator[dict[str, Any]]:
    """Every ticket (deleted ones included: an export is a backup), oldest first, with its
    related and merged numbers and its messages."""
    ids = sa.select(Ticket.id).order_by(Ticket.id).execution_options(yield_per=EXPORT_BATCH)
    for batch in session.scalars(ids).partitions():
        yield from tickets_with_messages(session, list(batch), now)


def tickets_with_messages(
    session: Session, ids: list[int], now: datetime
) -> Iterator[dict[str, Any]]:
    rows = fetch_rows(session, row_select().where(Ticket.id.in_(ids)).order_by(Ticket.id), now)
    numbers = sa.select(Ticket.number, Ticket.id).where(Ticket.id.in_(ids))
    id_of = {number: ticket_id for number, ticket_id in session.execute(numbers)}
    messages, related = _messages(session, ids), _related(session, ids)
    merged = _merged(session, ids)
    for row in rows:
        ticket_id = id_of[row.number]
        yield row_json(row) | {
            "related": sorted(related.get(ticket_id, ())),
            "merged": sorted(merged.get(ticket_id, ())),
            "messages": messages.get(ticket_id, []),
        }


def ticket_detail(session: Session, ticket: Ticket, now: datetime) -> dict[str, Any]:
    """One ticket as `maild ticket show --json` prints it: the export record plus each
    message's text and attachments, comments and history."""
    (record,) = tickets_with_messages(session, [ticket.id], now)
    history = session.scalars(
        sa.select(History).where(History.ticket_id == ticket.id).order_by(History.at, History.id)
    )
    contents = _contents(session, ticket.id)
    messages = [m | c for m, c in zip(record["messages"], contents, strict=True)]
    return record | {
        "messages": messages,
        "comments": [
            {"kind": str(c.kind), "body": c.body, "created_at": _json(c.created_at)}
            for c in comments(session, ticket)
        ],
        "history": [
            {
                "at": _json(h.at),
                "actor": h.actor,
                "action": h.action,
                "from": h.from_value,
                "to": h.to_value,
                "detail": h.detail,
            }
            for h in history
        ],
    }


def _contents(session: Session, ticket_id: int) -> list[dict[str, Any]]:
    """Each message's text and its attachments (without their bytes), in `_messages`' order."""
    query = (
        sa.select(Message.id, Message.text)
        .where(Message.ticket_id == ticket_id)
        .order_by(Message.created_at, Message.id)
    )
    contents = {row.id: {"text": row.text, "files": []} for row in session.execute(query)}
    files = (
        sa.select(
            Attachment.id,
            Attachment.message_id,
            Attachment.filename,
            Attachment.content_type,
            Attachment.size,
        )  # fmt: skip
        .where(Attachment.message_id.in_(list(contents)))
        .order_by(Attachment.id)
    )
    for row in session.execute(files):
        contents[row.message_id]["files"].append(
            {
                "id": row.id,
                "filename": row.filename,
                "content_type": row.content_type,
                "size": row.size,
            }  # fmt: skip
        )
    return list(contents.values())


def row_json(row: TicketRow) -> dict[str, Any]:
    """A list row with JSON types: ISO 8601 times, durations in seconds, fields as an object."""
    record = {f.name: _json(getattr(row, f.name)) for f in dataclasses.fields(row)}
    record["fields"] = dict(row.fields)
    record["duration_seconds"], record["idle_seconds"] = record.pop("duration"), record.pop("idle")
    return record


def _json(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, timedelta):
        return int(value.total_seconds())
    if isinstance(value, Enum):
        return value.value
    return value


def _related(session: Session, ids: list[int]) -> dict[int, set[str]]:
    """Related numbers, whichever side of the link the ticket is stored on."""
    result: dict[int, set[str]] = {}
    sides = ((Related.ticket_id, Related.related_id), (Related.related_id, Related.ticket_id))
    for mine, other in sides:
        query = sa.select(mine, Ticket.number).join(Ticket, Ticket.id == other).where(mine.in_(ids))
        for ticket_id, number in session.execute(query):
            result.setdefault(ticket_id, set()).add(number)
    return result


def _merged(session: Session, ids: list[int]) -> dict[int, set[str]]:
    """The numbers merged into each ticket (their forwarders point at it)."""
    result: dict[int, set[str]] = {}
    query = sa.select(Forwarder.ticket_id, Forwarder.number).where(Forwarder.ticket_id.in_(ids))
    for ticket_id, number in session.execute(query):
        result.setdefault(ticket_id, set()).add(number)
    return result


_ATTACHMENTS = (
    sa.select(sa.func.count(Attachment.id))
    .where(Attachment.message_id == Message.id)
    .correlate(Message)
    .scalar_subquery()
    .label("attachments")
)


def _messages(session: Session, ids: list[int]) -> dict[int, list[dict[str, Any]]]:
    # Only these columns: bodies and raw bytes stay in the database.
    query = (
        sa.select(
            Message.ticket_id,
            Message.message_id,
            Message.direction,
            Message.kind,
            Message.from_addr,
            Message.to_addrs,
            Message.cc_addrs,
            Message.subject,
            Message.date,
            Message.sender_auth,
            _ATTACHMENTS,
        )  # fmt: skip
        .where(Message.ticket_id.in_(ids))
        .order_by(Message.ticket_id, Message.created_at, Message.id)
    )
    result: dict[int, list[dict[str, Any]]] = {}
    for row in session.execute(query):
        result.setdefault(row.ticket_id, []).append(
            {
                "message_id": row.message_id,
                "direction": _json(row.direction),
                "kind": _json(row.kind),
                "from": row.from_addr,
                "to": list(split_stored(row.to_addrs)),
                "cc": list(split_stored(row.cc_addrs)),
                "subject": row.subject,
                "date": _json(row.date),
                "attachments": row.attachments,
                # SPF/DKIM/DMARC of incoming mail; null when not checked (and for ours).
                "sender_auth": row.sender_auth,
            }
        )
    return result
