"""The department autoresponder: its template sent when a ticket is created from a mail, or
when an agent opens an incoming ticket for a customer (seed: "Creating New Inbound or Outbound
Tickets").

Whether a mail may be answered at all (automatic mail, lists, bounces, the null sender) is
decided by classification before this module is asked. Here are the rules that hold whoever
asks (DESIGN §2): never to our own addresses, never to a mailer-daemon or postmaster, and at
most N autoresponses per sender per window (a loop breaker of last resort).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from maild.addresses import normal_form
from maild.errors import MaildError
from maild.outbound.compose import AutoresponderTemplates, TicketFacts, compose_autoresponse
from maild.outbound.facts import department_address, own_addresses, ticket_facts
from maild.outbound.message import OutgoingMail
from maild.outbound.outbox import enqueue
from maild.outbound.templates import Templates
from maild.settings import AutoresponderSettings, OutboundSettings, TicketSettings
from maild.store.models import AutoresponseLog, Department, Ticket
from maild.store.prepared import Prepared
from maild.tickets.lookup import find_department, get_brand, is_department_address

# RFC 3834 §2 and RFC 5321 §4.5.5: mail systems' own mailboxes are never answered.
_DAEMONS = frozenset({"mailer-daemon", "postmaster"})


@dataclass(frozen=True)
class AutoresponseContext:
    settings: OutboundSettings
    tickets: TicketSettings
    limits: AutoresponderSettings
    templates: Templates = field(default_factory=Templates)


def is_own_address(session: Session, address: str, settings: OutboundSettings) -> bool:
    """Our sender address, our VERP return paths and every department address."""
    address = normal_form(address)
    if address == normal_form(settings.from_address):
        return True
    if address.startswith("bounces+") and address.endswith("@" + normal_form(settings.domain)):
        return True
    return is_department_address(session, address)


def is_daemon(address: str) -> bool:
    return address.rpartition("@")[0].strip('"').lower() in _DAEMONS


def rate_key(address: str) -> tuple[str, str]:
    """(sender, domain) as the rate limit counts them: lower-cased, and a subaddress
    (`user+tag@`, RFC 5233) counted as its mailbox `user@`, so tags cannot mint new senders."""
    local, _, domain = address.strip().lower().rpartition("@")
    mailbox = local.split("+", 1)[0] if not local.startswith('"') else local
    return f"{mailbox or local}@{domain}", domain


# Built once and run on the table (Core): it runs for every new ticket, and building the ORM
# statement each time cost several times the count itself. Both counts in one statement: one
# round trip per new ticket instead of two.
_LOG: sa.Table = AutoresponseLog.__table__  # type: ignore[assignment]
_SENT_SINCE = (
    sa.select(sa.func.count(_LOG.c.id))
    .where(_LOG.c.sender == sa.bindparam("sender"), _LOG.c.at > sa.bindparam("since"))
    .scalar_subquery()
)
_SENT_TO_DOMAIN_SINCE = (
    sa.select(sa.func.count(_LOG.c.id))
    .where(_LOG.c.domain == sa.bindparam("domain"), _LOG.c.at > sa.bindparam("since"))
    .scalar_subquery()
)
_SENT = Prepared(sa.select(_SENT_SINCE, _SENT_TO_DOMAIN_SINCE))
_LOG_SENT = Prepared(sa.insert(_LOG))


def over_rate_limit(
    session: Session, sender: str, limits: AutoresponderSettings, now: datetime
) -> str:
    """Which limit answering `sender` would break ("sender", "domain"), or ""."""
    since = now - timedelta(minutes=limits.window_minutes)
    mailbox, domain = rate_key(sender)
    params = {"sender": mailbox, "domain": domain, "since": since}
    to_sender, to_domain = _SENT.first(session, params) or (0, 0)
    if (to_sender or 0) >= limits.max_per_sender:
        return "sender"
    # Local parts cost a forger nothing: the domain has a limit of its own.
    return "domain" if (to_domain or 0) >= limits.max_per_domain else ""


def refusal(
    session: Session,
    department: Department | None,
    sender: str,
    ctx: AutoresponseContext,
    now: datetime,
) -> str:
    """Why no autoresponse may go to `sender`; "" when one may."""
    if department is None or not department.autoresponder_enabled:
        return "the department has no autoresponder"
    if not sender:
        return "the mail names no sender to answer (no readable From, Reply-To or envelope sender)"
    if is_own_address(session, sender, ctx.settings):
        return "the sender is one of our own addresses"
    if is_daemon(sender):
        return "the sender is a mail system (mailer-daemon or postmaster)"
    limit = over_rate_limit(session, sender, ctx.limits, now)
    if limit:
        return f"autoresponse rate limit reached for this {limit}"
    return ""


def autorespond(
    session: Session, ticket: Ticket, ctx: AutoresponseContext, answering: str, now: datetime
) -> str:
    """Queue the department's autoresponse to the requester, or say why none is sent.
    `answering` is the Message-ID of the mail that opened the ticket. Returns "" when queued."""
    # The batch's cached rows: the department's brand is then in the session too, so composing
    # reads neither again (the ticket's relationships find them there).
    department = find_department(session, ticket.department_id)
    if department is not None:
        get_brand(session, department.brand_id)
    reason = refusal(session, department, ticket.requester, ctx, now)
    if reason or department is None:
        return reason
    try:
        own = AutoresponderTemplates(
            department.autoresponder_subject,
            department.autoresponder_body,
            department.autoresponder_html,
        )
        facts = ticket_facts(session, ticket, ctx.settings, ctx.tickets)
        mail = compose_autoresponse(facts, answering, own, ctx.templates)
        enqueue(session, ticket, mail, ctx.settings, now, purpose="autoresponse")
    except MaildError as exc:
        # A broken template or an unusable address must not cost the customer their ticket:
        # the mail is kept, the ticket opened, and the reason lands in its history.
        return f"autoresponse not sent: {exc}"
    mailbox, domain = rate_key(ticket.requester)
    _LOG_SENT.execute(session, {"sender": mailbox, "domain": domain, "at": now})
    return ""


def preview_autoresponse(
    session: Session,
    department: Department,
    sample: TicketSample,
    ctx: AutoresponseContext,
    own: AutoresponderTemplates | None = None,
) -> OutgoingMail:
    """What a new ticket of `department` for `sample` would be answered with: the same
    composition as `autorespond`, with `own` (draft templates) in place of the department's."""
    if own is None:
        own = AutoresponderTemplates(
            department.autoresponder_subject,
            department.autoresponder_body,
            department.autoresponder_html,
        )
    number = ctx.tickets.format_number(sample.seq)
    facts = TicketFacts(
        number=number,
        tag=ctx.tickets.tag(number),
        subject=sample.subject,
        requester=sample.requester,
        status="active",
        priority="normal",
        department=department.name,
        from_address=department_address(department, ctx.settings),
        from_name=department.brand.from_name or department.name,
        brand=department.brand.name,
        signature=department.brand.signature,
        own_addresses=own_addresses(session, ctx.settings),
    )
    return compose_autoresponse(facts, "", own, ctx.templates)


@dataclass(frozen=True)
class TicketSample:
    """A made-up ticket for a preview."""

    subject: str
    requester: str
    seq: int = 123
