"""The department autoresponder: a Jinja2 template sent when a ticket is created from a mail.

Admins edit these templates, so they render in Jinja2's sandbox. Whether a mail may be answered
at all (automatic mail, lists, bounces, the null sender) is decided by classification before
this module is asked; here we add the rules that need the database: never answer our own
addresses, and at most N autoresponses per sender per window (a loop breaker of last resort).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache

import sqlalchemy as sa
from jinja2 import StrictUndefined, Template
from jinja2.exceptions import TemplateError
from jinja2.sandbox import SandboxedEnvironment
from sqlalchemy.orm import Session

from maild.errors import InvalidRequest, MaildError
from maild.outbound.compose import OutgoingMail
from maild.outbound.outbox import enqueue
from maild.settings import AutoresponderSettings, OutboundSettings, TicketSettings
from maild.store.models import AutoresponseLog, Department, Ticket
from maild.tickets.lookup import is_department_address

# Admin-edited templates render sandboxed. Values such as the subject come from whoever mailed
# us, so HTML templates escape them: a subject must not become markup in mail under our brand.
_TEXT = SandboxedEnvironment(
    undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True
)
_HTML = SandboxedEnvironment(undefined=StrictUndefined, autoescape=True, keep_trailing_newline=True)


@dataclass(frozen=True)
class AutoresponseContext:
    settings: OutboundSettings
    tickets: TicketSettings
    limits: AutoresponderSettings


@lru_cache(maxsize=256)
def _compiled(source: str, html: bool) -> Template:
    return (_HTML if html else _TEXT).from_string(source)


def render_template(source: str, values: Mapping[str, object], html: bool = False) -> str:
    """Render admin-edited template text; a broken template is an error that names the cause."""
    try:
        return _compiled(source, html).render(values)
    except TemplateError as exc:
        raise InvalidRequest(f"autoresponder template cannot be rendered: {exc}") from exc


def is_own_address(session: Session, address: str, settings: OutboundSettings) -> bool:
    """Our sender address, our VERP return paths and every department address."""
    address = address.lower()
    if address == settings.from_address.lower():
        return True
    if address.startswith("bounces+") and address.endswith("@" + settings.domain.lower()):
        return True
    return is_department_address(session, address)


# Built once and run on the table (Core): it runs for every new ticket, and building the ORM
# statement each time cost several times the count itself.
_LOG = AutoresponseLog.__table__
_SENT_SINCE = sa.select(sa.func.count(_LOG.c.id)).where(
    _LOG.c.sender == sa.bindparam("sender"), _LOG.c.at > sa.bindparam("since")
)


def over_rate_limit(
    session: Session, sender: str, limits: AutoresponderSettings, now: datetime
) -> bool:
    since = now - timedelta(minutes=limits.window_minutes)
    sent = session.scalar(_SENT_SINCE, {"sender": sender.lower(), "since": since})
    return (sent or 0) >= limits.max_per_sender


def autorespond(
    session: Session, ticket: Ticket, ctx: AutoresponseContext, answering: str, now: datetime
) -> str:
    """Queue the department's autoresponse to the requester, or say why none is sent.
    `answering` is the Message-ID of the mail that opened the ticket. Returns "" when queued."""
    department = session.get(Department, ticket.department_id)
    if department is None or not department.autoresponder_enabled:
        return "the department has no autoresponder"
    sender = ticket.requester
    if not sender or is_own_address(session, sender, ctx.settings):
        return "the sender is one of our own addresses"
    if over_rate_limit(session, sender, ctx.limits, now):
        return "autoresponse rate limit reached for this sender"
    try:
        mail = _autoresponse(department, ticket, ctx, answering)
        enqueue(session, ticket, mail, ctx.settings, now, purpose="autoresponse")
    except MaildError as exc:
        # A broken template or an unusable address must not cost the customer their ticket:
        # the mail is kept, the ticket opened, and the reason lands in its history.
        return f"autoresponse not sent: {exc}"
    session.add(AutoresponseLog(sender=sender.lower(), at=now))
    return ""


def _autoresponse(
    department: Department, ticket: Ticket, ctx: AutoresponseContext, answering: str
) -> OutgoingMail:
    values = {
        "ticket": {
            "number": ticket.number,
            "subject": ticket.subject,
            "requester": ticket.requester,
        },
        "department": {"name": department.name},
        "brand": {"name": department.brand.name, "signature": department.brand.signature},
    }
    subject_text = department.autoresponder_subject or "Re: {{ ticket.subject }}"
    subject = " ".join(render_template(subject_text, values).split())
    return OutgoingMail(
        from_address=_reply_address(department, ctx.settings),
        from_name=department.brand.from_name or department.name,
        to=(ticket.requester,),
        subject=f"{ctx.tickets.tag(ticket.number)} {subject}",
        text=render_template(department.autoresponder_body, values),
        html=render_template(department.autoresponder_html, values, html=True)
        if department.autoresponder_html
        else "",
        in_reply_to=answering,
        references=(answering,) if answering else (),
        automatic=True,
    )


def _reply_address(department: Department, settings: OutboundSettings) -> str:
    """Replies go back to the department's first address, so the answer threads into it."""
    addresses = sorted(a.address for a in department.addresses)
    return addresses[0] if addresses else settings.from_address
