"""Writing an incoming mail onto its ticket: the message row, attachments, CC participants, and
the bounce record of a non-delivery report."""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from maild.ingest.classify import Classification
from maild.ingest.parse import Attachment as ParsedAttachment
from maild.ingest.parse import ParsedMessage
from maild.ingest.spool import Envelope, Received
from maild.store.models import Attachment, Bounce, Message, Ticket
from maild.store.prepared import Prepared
from maild.tickets.lookup import is_department_address
from maild.tickets.participants import add_participant
from maild.values import Direction, Kind, ParticipantRole

# Core inserts on the tables, built once: the unit of work costs several times the insert for
# rows nothing reads back in the transaction as objects.
_MESSAGES: sa.Table = Message.__table__  # type: ignore[assignment]
_ATTACHMENTS: sa.Table = Attachment.__table__  # type: ignore[assignment]
_MESSAGE = Prepared(sa.insert(_MESSAGES).returning(_MESSAGES.c.id))
_ATTACHMENT = sa.insert(_ATTACHMENTS)


def store_message(
    session: Session,
    ticket: Ticket,
    msg: ParsedMessage,
    kind: Kind,
    mail: Received,
    now: datetime,
    record_cc: bool = True,
    sender_auth: dict[str, Any] | None = None,
) -> int:
    """The incoming message on `ticket` (its id), with the sender verdict it was judged by if
    one was taken; the CC addresses of a normal mail become participants unless `record_cc` is
    false (a list's mail: its CC holds the list and its members)."""
    values: dict[str, Any] = {
        "ticket_id": ticket.id,
        "direction": Direction.IN,
        "kind": kind,
        "message_id": msg.message_id or "",
        "in_reply_to": msg.in_reply_to or "",
        "references": " ".join(msg.references),
        "from_addr": msg.from_address or "",
        "to_addrs": ", ".join(msg.to),
        "cc_addrs": ", ".join(msg.cc),
        "subject": msg.subject,
        "date": msg.date,
        "text": msg.text,
        "html": msg.html,
        "raw_id": mail.raw_id,
        "created_at": now,
    }
    if sender_auth is not None:  # left out, not None: a JSON column would store 'null'
        values["sender_auth"] = sender_auth
    message_id = _MESSAGE.scalar(session, values)
    if msg.attachments:
        rows = [_attachment(message_id, part) for part in msg.attachments]
        session.execute(_ATTACHMENT, rows)
    if kind is Kind.NORMAL and record_cc:
        _record_cc(session, ticket, msg, mail.envelope)
    return int(message_id)


def _attachment(message_id: int, part: ParsedAttachment) -> dict[str, Any]:
    return {
        "message_id": message_id,
        "filename": part.filename,
        "content_type": part.content_type,
        "size": part.size,
        "sha256": hashlib.sha256(part.data).hexdigest(),
        "data": part.data,
    }


def _record_cc(session: Session, ticket: Ticket, msg: ParsedMessage, envelope: Envelope) -> None:
    """DESIGN §1: CC addresses seen on incoming mail become participants (ours excluded)."""
    ours = {a.lower() for a in envelope.rcpt_to}
    for address in msg.cc:
        if address.lower() not in ours and not is_department_address(session, address):
            add_participant(session, ticket, address, ParticipantRole.CC)


def record_bounce(
    session: Session,
    ticket: Ticket | None,
    msg: ParsedMessage,
    verdict: Classification,
    mail: Received,
    now: datetime,
    on_ticket: bool = True,
) -> Bounce:
    """The bounce row (kept even when no ticket matches); with `on_ticket`, the report is also
    appended to the ticket as a message."""
    report = verdict.bounce
    row = Bounce(
        inbound_id=mail.inbound_id,
        ticket_id=ticket.id if ticket is not None else None,
        recipients=", ".join(report.failed_recipients if report else ()),
        action="failed" if report and report.is_failure else "delayed",
        status=",".join(sorted({r.status for r in report.recipients if r.status}))
        if report
        else "",
        original_message_id=(report.original_message_id or "") if report else "",
        created_at=now,
    )
    session.add(row)
    if ticket is not None and on_ticket:
        store_message(session, ticket, msg, Kind.BOUNCE, mail, now)
    return row
