"""The transactional outbox (DESIGN §3): outgoing mail is written in the same transaction as the
ticket change that causes it, and delivered later with retry (`maild.outbound.delivery`).

Each mail also becomes an outgoing `message` of its ticket, whose Message-ID carries an
unguessable token: a reply quoting it may join the ticket whoever sends it, and a bounce
returning it (or reaching its VERP address) finds its ticket. The bytes are generated and
checked here, before the row exists: a mail that fails the check is never queued.
"""

from __future__ import annotations

import hashlib
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from maild.errors import Conflict, NotFound
from maild.mailids import make_message_id, new_token, verp_address
from maild.outbound.message import OutgoingMail
from maild.outbound.wire import check_generated, render, resent_headers
from maild.settings import OutboundSettings
from maild.store.models import Attachment, Message, Outbox, Ticket
from maild.values import Direction, Kind


def enqueue(
    session: Session,
    ticket: Ticket,
    mail: OutgoingMail,
    settings: OutboundSettings,
    now: datetime,
    purpose: str = "reply",
    agent_id: int | None = None,
) -> Outbox:
    """Record `mail` as an outgoing message of `ticket` and queue it for delivery."""
    token = new_token()
    message_id = make_message_id(token, ticket.number, settings.domain)
    raw = render(mail, message_id, now)
    check_generated(raw, mail, message_id)
    row = Outbox(
        ticket_id=ticket.id,
        message=_message_row(ticket, mail, message_id, token, agent_id, now),
        purpose=purpose,
        envelope_from=verp_address(token, settings.domain),
        recipients=list(mail.recipients),
        raw=raw,
        next_attempt_at=now,
        created_at=now,
    )
    session.add(row)  # message and row are inserted together at the next flush
    return row


def enqueue_notification(
    session: Session, mail: OutgoingMail, settings: OutboundSettings, now: datetime, purpose: str
) -> Outbox:
    """Queue a mail to agents that belongs to no ticket (a queue alert)."""
    token = new_token()
    message_id = f"<{token}.notice@{settings.domain}>"
    raw = render(mail, message_id, now)
    check_generated(raw, mail, message_id)
    row = Outbox(
        purpose=purpose,
        envelope_from=verp_address(token, settings.domain),
        recipients=list(mail.recipients),
        raw=raw,
        next_attempt_at=now,
        created_at=now,
    )
    session.add(row)
    return row


def enqueue_resend(
    session: Session,
    message: Message,
    sender: str,
    recipients: tuple[str, ...],
    settings: OutboundSettings,
    now: datetime,
) -> Outbox:
    """Send an outgoing message again, as it was, under RFC 5322 Resent-* headers. Bounces
    still reach it: the envelope sender is its own VERP address."""
    first = _first_delivery(session, message)
    targets = recipients or tuple(first.recipients)
    resent_id = f"<{new_token()}.resent@{settings.domain}>"
    row = Outbox(
        ticket_id=message.ticket_id,
        message_row_id=message.id,
        purpose="resend",
        envelope_from=first.envelope_from,
        recipients=list(targets),
        raw=resent_headers(sender, targets, resent_id, now) + first.raw,
        next_attempt_at=now,
        created_at=now,
    )
    session.add(row)
    return row


def _first_delivery(session: Session, message: Message) -> Outbox:
    if message.direction is not Direction.OUT:
        raise Conflict("only an outgoing message can be re-sent; forward an incoming one")
    query = sa.select(Outbox).where(Outbox.message_row_id == message.id).order_by(Outbox.id)
    first = session.scalars(query.limit(1)).first()
    if first is None:
        raise NotFound(f"message {message.message_id} has no stored copy to re-send")
    return first


def _message_row(
    ticket: Ticket,
    mail: OutgoingMail,
    message_id: str,
    token: str,
    agent_id: int | None,
    now: datetime,
) -> Message:
    """The outgoing message as the ticket shows it (BCC is not shown: it is envelope-only)."""
    return Message(
        ticket_id=ticket.id,
        direction=Direction.OUT,
        kind=Kind.AUTO_REPLY if mail.automatic else Kind.NORMAL,
        message_id=message_id,
        in_reply_to=mail.in_reply_to,
        references=" ".join(mail.references),
        from_addr=mail.from_address,
        to_addrs=", ".join(mail.to),
        cc_addrs=", ".join(mail.cc),
        subject=mail.subject,
        date=now,
        text=mail.text,
        html=mail.html,
        token=token,
        agent_id=agent_id,
        created_at=now,
        attachments=[attachment_row(a.filename, a.content_type, a.data) for a in mail.attachments],
    )


def attachment_row(filename: str, content_type: str, data: bytes) -> Attachment:
    """An attachment as the ticket stores it."""
    return Attachment(
        filename=filename,
        content_type=content_type,
        size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        data=data,
    )
