"""`maild inspect FILE --json`: what maild reads in a mail, without storing anything (DESIGN §5).

Returns a JSON-ready dict; the CLI prints one per file. A mail over a limit, or with no header
block, is not an error here: the dict says `rejected` with the reason the daemon would hold it
for. Given a database session, the ticket reference is `locate.place_mail`'s, the decision
`ingest` carries out (merge forwarders, reply policy, VERP); without one, it is read from the
mail alone, and `threading.looked_at` says which.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from maild.errors import MessageRejected
from maild.ingest.authn import SenderAuth, verdict_from_headers
from maild.ingest.classify import Classification, classify
from maild.ingest.dsn import BounceReport
from maild.ingest.locate import NO_DEPARTMENT, department_for, link_and_reason, place_mail
from maild.ingest.parse import ParsedMessage, parse_message
from maild.ingest.sniff import NOT_MAIL, has_header_block
from maild.ingest.spool import Envelope
from maild.ingest.thread import TicketRefs, find_ticket_refs
from maild.settings import Settings
from maild.values import Kind

MAIL_ALONE = "mail alone"
DATABASE = "database"

_MESSAGE_KEYS = (
    "subject",
    "from",
    "from_name",
    "reply_to",
    "to",
    "cc",
    "date",
    "message_id",
    "in_reply_to",
    "references",
    "text",
    "html",
    "attachments",
    "warnings",
    "defects",
    "kind",
    "reason",
    "bounce",
    "ticket",
    "ticket_refs",
    "threading",
    "sender_auth",
)


def inspect_message(
    raw: bytes,
    settings: Settings,
    envelope_from: str | None = None,
    session: Session | None = None,
) -> dict[str, Any]:
    """The parse, classification and ticket reference of one raw mail, as plain JSON values.
    With `session`, the reference is decided against that database, which is only read."""
    try:
        if not has_header_block(raw):
            raise MessageRejected(NOT_MAIL)
        msg = parse_message(raw, settings.ingest)
    except MessageRejected as exc:
        return {**dict.fromkeys(_MESSAGE_KEYS), "rejected": str(exc)}
    result = classify(msg, envelope_from)
    refs = find_ticket_refs(msg, settings.tickets, result.bounce)
    # No SMTP session here: only a trusted MTA's Authentication-Results can vouch.
    auth = verdict_from_headers(msg, settings.auth.trusted_authserv_id)
    fields = {**_message_fields(msg), **_classification_fields(result), **_ref_fields(refs)}
    fields["sender_auth"] = {**auth.as_json(), "summary": auth.summary()}
    if session is not None:
        fields |= _placement_fields(
            session, msg, result, Envelope(mail_from=envelope_from), settings, auth
        )
    return {**fields, "rejected": None}


def _placement_fields(
    session: Session,
    msg: ParsedMessage,
    verdict: Classification,
    envelope: Envelope,
    settings: Settings,
    auth: SenderAuth,
) -> dict[str, Any]:
    """What `ingest` would do: the ticket the mail joins (a bounce: is recorded against), or a
    new ticket in a department, related to another ticket or not. Bounces open no ticket; a
    new ticket without a department is held."""
    placement = place_mail(session, msg, verdict, envelope, settings.tickets, auth)
    joins = placement.joins
    opens = joins is None and verdict.kind is not Kind.BOUNCE
    related, reason = link_and_reason(placement.located) if opens else (None, "")
    department = None
    if opens:
        default = settings.tickets.default_department
        department = department_for(session, msg, envelope, default)
        opens, reason = (True, reason) if department is not None else (False, NO_DEPARTMENT)
    return {
        "ticket": joins.number if joins is not None else None,
        "threading": {
            "looked_at": DATABASE,
            "opens_new_ticket": opens,
            "department": department.name if department is not None else None,
            "related": related.number if related is not None else None,
            "reason": reason or placement.located.reason,
        },
    }


def _message_fields(msg: ParsedMessage) -> dict[str, Any]:
    return {
        "subject": msg.subject,
        "from": msg.from_address,
        "from_name": msg.from_name,
        "reply_to": list(msg.reply_to),
        "to": list(msg.to),
        "cc": list(msg.cc),
        "date": msg.date.isoformat() if msg.date else None,
        "message_id": msg.message_id,
        "in_reply_to": msg.in_reply_to,
        "references": list(msg.references),
        "text": msg.text,
        "html": msg.html,
        "attachments": [
            {"filename": a.filename, "content_type": a.content_type, "size": a.size}
            for a in msg.attachments
        ],
        "warnings": list(msg.warnings),
        "defects": list(msg.defects),
    }


def _classification_fields(result: Classification) -> dict[str, Any]:
    return {
        "kind": result.kind.value,
        "reason": result.reason,
        "bounce": _bounce_fields(result.bounce) if result.bounce else None,
    }


def _bounce_fields(bounce: BounceReport) -> dict[str, Any]:
    return {
        "is_failure": bounce.is_failure,
        "recipients": [
            {
                "address": r.address,
                "original_address": r.original_address or None,
                "action": r.action,
                "status": r.status,
                "diagnostic": r.diagnostic,
            }
            for r in bounce.recipients
        ],
        "failed_recipients": list(bounce.failed_recipients),
        "delayed_recipients": list(bounce.delayed_recipients),
        "original_message_id": bounce.original_message_id,
        "original_subject": bounce.original_subject,
        "verp_token": bounce.verp_token,
        "detector": bounce.detector,
    }


def _ref_fields(refs: TicketRefs) -> dict[str, Any]:
    return {
        "ticket": refs.number,
        "threading": {"looked_at": MAIL_ALONE},
        "ticket_refs": {
            "tag_numbers": list(refs.tag_numbers),
            "message_ids": [
                {"message_id": r.message_id, "token": r.token, "number": r.number}
                for r in refs.message_ids
            ],
            "verp_token": refs.verp_token,
        },
    }
