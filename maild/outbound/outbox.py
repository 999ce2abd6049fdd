"""The transactional outbox: outgoing mail is written in the same transaction as the ticket
change that causes it, and delivered later with retry. Each mail also becomes an outgoing
`message` of its ticket, whose Message-ID carries an unguessable token: a reply quoting it may
join the ticket whoever sends it, and a bounce returning it finds its ticket."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from maild.mailids import make_message_id, new_token, verp_address
from maild.outbound.compose import OutgoingMail, render
from maild.settings import OutboundSettings
from maild.store.models import Message, Outbox, Ticket
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
    message = _message_row(ticket, mail, message_id, token, agent_id, now)
    row = Outbox(
        ticket_id=ticket.id,
        message=message,  # inserted with the row at the next flush: no flush of its own
        purpose=purpose,
        envelope_from=verp_address(token, settings.domain),
        recipients=",".join(mail.recipients),
        raw=render(mail, message_id, now),
        next_attempt_at=now,
        created_at=now,
    )
    session.add(row)
    return row


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
    )
