"""Composing outgoing mail: facts about a ticket and an agent's request in, an `OutgoingMail`
out. Pure: no database, no clock; the services in `maild.outbound.service` gather the facts.

DESIGN §2 and the seed ("Replying to Tickets", "Composing a Ticket Response"): To defaults to
the requester (the changed email when it was changed); Reply All adds every To and Cc address
of the message answered, minus our own; Cc and Bcc take `;` or `,` separated lists; a subject
typed for one mail wins over the ticket's (changed) subject; the ticket tag goes in front of
every subject, once; From is the department's address with the brand's From name; the mail
answers the message it replies to (In-Reply-To, References); a canned reply goes first and the
brand's signature after the body. Values that came from mail are reduced (`clean_mail_text`),
values a user typed are refused when they try to start a header (`clean_user_text`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from email.utils import format_datetime
from typing import Any

from maild.errors import InvalidRequest
from maild.outbound.headers import clean_mail_text, clean_msg_id, clean_user_text
from maild.outbound.message import OutgoingAttachment, OutgoingMail
from maild.outbound.recipients import split_addresses
from maild.outbound.templates import TemplateName, Templates, render_source

MAX_REFERENCES = 20  # the newest ids of a long thread are enough to thread it (RFC 5322 §3.6.4)


@dataclass(frozen=True)
class TicketFacts:
    """What composing needs to know about a ticket, its department and its brand."""

    number: str
    tag: str  # "[#SUP-000123]"
    subject: str  # the ticket's subject, as changed by an agent
    requester: str  # the requester address, as changed by an agent
    status: str
    priority: str
    department: str
    from_address: str  # the department's address
    from_name: str  # the brand's From name
    brand: str
    signature: str  # the brand's signature (a template)
    own_addresses: frozenset[str]  # every address of ours: never a Reply All recipient


@dataclass(frozen=True)
class MessageFacts:
    """A message of the ticket: the one answered, forwarded or resent."""

    message_id: str
    references: tuple[str, ...]
    sender: str
    to: tuple[str, ...]
    cc: tuple[str, ...]
    subject: str
    date: datetime | None
    text: str
    attachments: tuple[OutgoingAttachment, ...] = ()


@dataclass(frozen=True)
class AgentFacts:
    name: str
    display_name: str = ""
    email: str = ""


@dataclass(frozen=True)
class Upload:
    """A file an agent attaches."""

    filename: str
    content_type: str
    data: bytes


@dataclass(frozen=True)
class ReplyRequest:
    """An agent's reply. Address fields are typed text (`;` or `,` separated); "" = default."""

    body: str
    to: str = ""
    cc: str = ""
    bcc: str = ""
    subject: str = ""  # for this mail only; the ticket keeps its subject
    reply_all: bool = False
    canned: str = ""  # the canned reply's text (a template), inserted before the body
    attachments: tuple[Upload, ...] = ()


@dataclass(frozen=True)
class ForwardRequest:
    to: str
    cc: str = ""
    bcc: str = ""
    note: str = ""  # written above the forwarded message
    attachments: tuple[Upload, ...] = ()


# --- subjects and recipients --------------------------------------------------------------


def tagged_subject(tag: str, subject: str) -> str:
    """`[#SUP-000123] subject`: the tag in front, once, whatever case or place it had."""
    untagged = re.sub(re.escape(tag), " ", subject, flags=re.IGNORECASE)
    return f"{tag} {' '.join(untagged.split())}".rstrip()


def reply_recipients(
    ticket: TicketFacts, answered: MessageFacts | None, request: ReplyRequest
) -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
    """(to, cc, bcc) of a reply."""
    to = split_addresses(request.to, "to")
    if not to and not ticket.requester:
        raise InvalidRequest(f"ticket {ticket.number} has no requester address; give a To")
    to = to or (ticket.requester,)
    cc = split_addresses(request.cc, "cc")
    if request.reply_all and answered is not None:
        mine = ticket.own_addresses
        to += tuple(a for a in (answered.sender, *answered.to) if _theirs(a, mine))
        cc += tuple(a for a in answered.cc if _theirs(a, mine))
    return to, cc, split_addresses(request.bcc, "bcc")


def _theirs(address: str, mine: frozenset[str]) -> bool:
    folded = address.strip().lower()
    return bool(folded) and folded not in mine and not folded.startswith("bounces+")


def check_uploads(uploads: tuple[Upload, ...], limit: int) -> tuple[OutgoingAttachment, ...]:
    """Attachments within the size limit (seed: "by default ... 2MB"); names a user typed."""
    for upload in uploads:
        if len(upload.data) > limit:
            raise InvalidRequest(
                f"attachment {upload.filename!r} is {len(upload.data)} bytes; "
                f"the limit is {limit} bytes ([outbound] max_attachment_bytes)"
            )
    return tuple(
        OutgoingAttachment(
            clean_user_text("attachment file name", u.filename), u.content_type, u.data
        )
        for u in uploads
    )


# --- template values ----------------------------------------------------------------------


def ticket_values(ticket: TicketFacts, agent: AgentFacts | None = None) -> dict[str, Any]:
    values: dict[str, Any] = {
        "ticket": {
            "number": ticket.number,
            "subject": clean_mail_text(ticket.subject),
            "requester": ticket.requester,
            "status": ticket.status,
            "priority": ticket.priority,
        },
        "department": {"name": ticket.department},
        "brand": {"name": ticket.brand, "from_name": ticket.from_name},
    }
    if agent is not None:
        values["agent"] = {
            "name": agent.name,
            "display_name": agent.display_name,
            "email": agent.email,
        }
    return values


def message_values(message: MessageFacts) -> dict[str, Any]:
    return {
        "sender": message.sender,
        "to": ", ".join(message.to),
        "cc": ", ".join(message.cc),
        "date": format_datetime(message.date) if message.date else "",
        "subject": clean_mail_text(message.subject),
        "text": message.text,
    }


def _signature(ticket: TicketFacts, agent: AgentFacts | None) -> str:
    if not ticket.signature:
        return ""
    values = ticket_values(ticket, agent or AgentFacts(name=""))
    return render_source(ticket.signature, values).rstrip("\n")


def _threading(answered: MessageFacts | None) -> tuple[str, tuple[str, ...]]:
    """In-Reply-To and References of a mail answering `answered` (RFC 5322 §3.6.4)."""
    if answered is None:
        return "", ()
    parent = clean_msg_id(answered.message_id)
    earlier = tuple(filter(None, (clean_msg_id(r) for r in answered.references)))
    chain = (*earlier, parent) if parent else earlier
    return parent, chain[-MAX_REFERENCES:]


# --- the mails ----------------------------------------------------------------------------


def compose_reply(
    ticket: TicketFacts,
    answered: MessageFacts | None,
    request: ReplyRequest,
    agent: AgentFacts,
    templates: Templates,
    max_attachment_bytes: int,
) -> OutgoingMail:
    """An agent's reply (or the first mail of an outgoing ticket, with `answered` None)."""
    if not request.body.strip() and not request.canned.strip():
        raise InvalidRequest("the reply is empty; write a body or pick a canned reply")
    to, cc, bcc = reply_recipients(ticket, answered, request)
    subject = clean_user_text("subject", request.subject) or ticket.subject
    values = ticket_values(ticket, agent)
    values.update(
        body=request.body,
        canned=render_source(request.canned, values) if request.canned else "",
        signature=_signature(ticket, agent),
        answered=message_values(answered) if answered is not None else None,
    )
    in_reply_to, references = _threading(answered)
    return OutgoingMail(
        from_address=ticket.from_address,
        from_name=clean_user_text("brand From name", ticket.from_name),
        to=to,
        cc=cc,
        bcc=bcc,
        subject=tagged_subject(ticket.tag, clean_mail_text(subject)),
        text=templates.render(TemplateName.REPLY_TEXT, values, ticket.department),
        html=templates.render(TemplateName.REPLY_HTML, values, ticket.department),
        in_reply_to=in_reply_to,
        references=references,
        attachments=check_uploads(request.attachments, max_attachment_bytes),
    )


def compose_forward(
    ticket: TicketFacts,
    forwarded: MessageFacts,
    request: ForwardRequest,
    agent: AgentFacts,
    templates: Templates,
    max_attachment_bytes: int,
) -> OutgoingMail:
    """Any message of the ticket, with its attachments, in a new mail to any address."""
    values = ticket_values(ticket, agent)
    values.update(
        note=request.note, forwarded=message_values(forwarded), signature=_signature(ticket, agent)
    )
    subject = f"Fwd: {clean_mail_text(forwarded.subject or ticket.subject)}"
    return OutgoingMail(
        from_address=ticket.from_address,
        from_name=clean_user_text("brand From name", ticket.from_name),
        to=split_addresses(request.to, "to"),
        cc=split_addresses(request.cc, "cc"),
        bcc=split_addresses(request.bcc, "bcc"),
        subject=tagged_subject(ticket.tag, subject),
        text=templates.render(TemplateName.FORWARD_TEXT, values, ticket.department),
        html=templates.render(TemplateName.FORWARD_HTML, values, ticket.department),
        attachments=_forwarded_attachments(forwarded)
        + check_uploads(request.attachments, max_attachment_bytes),
    )


def _forwarded_attachments(message: MessageFacts) -> tuple[OutgoingAttachment, ...]:
    # Their names came with a mail: reduced to one printable line, never refused.
    return tuple(
        OutgoingAttachment(clean_mail_text(a.filename), a.content_type, a.data)
        for a in message.attachments
    )


@dataclass(frozen=True)
class AutoresponderTemplates:
    """A department's autoresponder as stored with it; "" = the shipped template."""

    subject: str = ""
    text: str = ""
    html: str = ""


def compose_autoresponse(
    ticket: TicketFacts,
    answered_id: str,
    own: AutoresponderTemplates,
    templates: Templates,
) -> OutgoingMail:
    """The department's automatic answer to the mail that opened `ticket` (RFC 3834)."""
    values = ticket_values(ticket)
    values["signature"] = _signature(ticket, None)

    def render(name: TemplateName, source: str) -> str:
        return (
            render_source(source, values, name.html)
            if source
            else templates.render(name, values, ticket.department)
        )

    subject = " ".join(render(TemplateName.AUTORESPONDER_SUBJECT, own.subject).split())
    parent = clean_msg_id(answered_id)
    return OutgoingMail(
        from_address=ticket.from_address,
        from_name=clean_user_text("brand From name", ticket.from_name),
        to=(ticket.requester,),
        subject=tagged_subject(ticket.tag, clean_mail_text(subject)),
        text=render(TemplateName.AUTORESPONDER_TEXT, own.text),
        # The shipped HTML goes with the shipped text; a department that wrote its own text
        # and no HTML sends text only, so the two never say different things.
        html=render(TemplateName.AUTORESPONDER_HTML, own.html) if own.html or not own.text else "",
        in_reply_to=parent,
        references=(parent,) if parent else (),
        automatic=True,
    )
