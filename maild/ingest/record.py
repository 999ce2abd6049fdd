"""Writing an incoming mail onto its ticket: the message row, attachments, CC participants, and
the bounce record of a non-delivery report."""

from __future__ import annotations

import hashlib
from datetime import datetime

from sqlalchemy.orm import Session

from maild.ingest.classify import Classification
from maild.ingest.parse import Attachment as ParsedAttachment
from maild.ingest.parse import ParsedMessage
from maild.ingest.spool import Envelope, Received
from maild.store.models import Attachment, Bounce, Message, Ticket
from maild.tickets.lookup import is_department_address
from maild.tickets.participants import add_participant
from maild.values import Direction, Kind, ParticipantRole


def store_message(
    session: Session,
    ticket: Ticket,
    msg: ParsedMessage,
    kind: Kind,
    mail: Received,
    now: datetime,
    record_cc: bool = True,
) -> Message:
    """The incoming message on `ticket`; the CC addresses of a normal mail become participants
    unless `record_cc` is false (a list's mail: its CC holds the list and its members)."""
    message = Message(
        ticket_id=ticket.id,
        direction=Direction.IN,
        kind=kind,
        message_id=msg.message_id or "",
        in_reply_to=msg.in_reply_to or "",
        references=" ".join(msg.references),
        from_addr=msg.from_address or "",
        to_addrs=", ".join(msg.to),
        cc_addrs=", ".join(msg.cc),
        subject=msg.subject,
        date=msg.date,
        text=msg.text,
        html=msg.html,
        raw_id=mail.raw_id,
        created_at=now,
        # Through the relationship, so one flush writes the message and then its attachments;
        # the message needs no flush of its own for its id.
        attachments=[_attachment(part) for part in msg.attachments],
    )
    session.add(message)
    if kind is Kind.NORMAL and record_cc:
        _record_cc(session, ticket, msg, mail.envelope)
    return message


def _attachment(part: ParsedAttachment) -> Attachment:
    return Attachment(
        filename=part.filename,
        content_type=part.content_type,
        size=part.size,
        sha256=hashlib.sha256(part.data).hexdigest(),
        data=part.data,
    )


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
