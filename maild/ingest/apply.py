"""Applying one mail: parse, classify, find its ticket, then change the ticket (DESIGN §1, §2).

Deciding is done by pure functions (`classify`, `find_ticket_refs`, `incoming_transition`); this
module looks things up in the database and carries the decision out, inside the caller's
transaction. Bounces and automatic mail never get an autoresponse; NDRs never create tickets.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from maild.addresses import normal_form
from maild.errors import MessageRejected
from maild.ingest import automatic
from maild.ingest.authn import Method, SenderAuth, verdict_from_headers
from maild.ingest.classify import (
    MAILING_LIST,
    NOREPLY_SENDER,
    BounceReport,
    Classification,
    classify,
)
from maild.ingest.copies import claim_first_copy, first_addressed, record_duplicate
from maild.ingest.locate import (
    NO_DEPARTMENT,
    Located,
    department_for,
    link_and_reason,
    place_mail,
    sent_to,
)
from maild.ingest.parse import ParsedMessage, parse_message
from maild.ingest.record import record_bounce, store_message
from maild.ingest.requester import author_of, requester_of
from maild.ingest.sniff import NOT_MAIL, has_header_block
from maild.ingest.spool import Received
from maild.outbound.autoresponder import AutoresponseContext, autorespond
from maild.settings import (
    AuthSettings,
    AutoresponderSettings,
    IngestLimits,
    OutboundSettings,
    TicketSettings,
)
from maild.store.models import Ticket
from maild.tickets import incoming, lifecycle
from maild.tickets.actors import SYSTEM, Actor
from maild.tickets.audit import Action, note
from maild.tickets.lookup import is_department_address
from maild.tickets.participants import relate
from maild.tickets.ports import Distributor
from maild.values import Kind, Outcome


@dataclass(frozen=True)
class ApplyContext:
    tickets: TicketSettings
    outbound: OutboundSettings
    autoresponder: AutoresponderSettings
    limits: IngestLimits
    distributor: Distributor
    default_department: str = ""  # name; for mail that names no department address
    auth: AuthSettings = field(default_factory=AuthSettings)


@dataclass(frozen=True)
class Applied:
    outcome: Outcome
    ticket: Ticket | None
    reason: str = ""


def apply_mail(session: Session, mail: Received, ctx: ApplyContext, now: datetime) -> Applied:
    if not mail.raw.strip():
        raise MessageRejected("empty message: no headers and no body")
    if not has_header_block(mail.raw):
        raise MessageRejected(NOT_MAIL)
    msg = parse_message(mail.raw, ctx.limits)
    verdict = classify(msg, mail.envelope.mail_from, mail.envelope.rcpt_to)
    # Issue 13: the same mail delivered to a second department's mailbox joins the first copy.
    earlier = claim_first_copy(session, msg, mail, ctx.limits.duplicate_window_minutes, now)
    if earlier is not None:
        reason = record_duplicate(session, earlier, msg, mail, now)
        return Applied(Outcome.DUPLICATE_DELIVERY, earlier.ticket, reason)
    auth = sender_auth(msg, mail, ctx.auth)
    placement = place_mail(session, msg, verdict, mail.envelope, ctx.tickets, auth)
    if verdict.kind is Kind.BOUNCE:
        return _apply_bounce(session, msg, verdict, mail, placement.located, ctx, now)
    if placement.joins is not None:
        return _append(session, placement.joins, msg, verdict, mail, ctx, now, auth)
    return _open(session, msg, verdict, mail, placement.located, ctx, now, auth)


def sender_auth(msg: ParsedMessage, mail: Received, settings: AuthSettings) -> SenderAuth:
    """The verdict the SMTP session took; for mail that came another way, the trusted MTA's
    `Authentication-Results` (or "not checked"). Headers of mail we checked ourselves are
    ignored: the sender could have written them."""
    if mail.auth is not None:
        return mail.auth
    return verdict_from_headers(msg, settings.trusted_authserv_id)


def _verdict_json(auth: SenderAuth) -> dict[str, Any] | None:
    """The verdict as the message keeps it (export, `ticket show`); None when none was taken."""
    return None if auth.method is Method.NOT_CHECKED else auth.as_json()


def _keep_verdict(session: Session, ticket: Ticket, auth: SenderAuth, now: datetime) -> None:
    """The verdict in the ticket's history (the message holds it: `_verdict_json`)."""
    if auth.method is Method.NOT_CHECKED:
        return
    note(session, ticket, SYSTEM, Action.SENDER_AUTH, now, detail=auth.summary())


def _records_cc(verdict: Classification) -> bool:
    """DESIGN §1 records CC addresses as participants; a mailing list's CC is the list and its
    members, who must not receive the agents' replies."""
    return verdict.reason != MAILING_LIST


def _append(
    session: Session,
    ticket: Ticket,
    msg: ParsedMessage,
    verdict: Classification,
    mail: Received,
    ctx: ApplyContext,
    now: datetime,
    auth: SenderAuth,
) -> Applied:
    cc, verdict_json = _records_cc(verdict), _verdict_json(auth)
    store_message(session, ticket, msg, verdict.kind, mail, now, cc, verdict_json)
    _keep_verdict(session, ticket, auth, now)
    if not verdict.changes_status:
        # DESIGN §1: machine-made mail is appended but changes no status. Nor does it count as
        # an action: an out-of-office reply must not keep a waiting ticket from auto-closing.
        return Applied(Outcome.AUTO_REPLY, ticket, verdict.reason)
    incoming.apply_customer_reply(
        session,
        ticket,
        sender=author_of(msg, mail.envelope.mail_from),
        distributor=ctx.distributor,
        now=now,
    )
    return Applied(Outcome.APPENDED, ticket)


def _open(
    session: Session,
    msg: ParsedMessage,
    verdict: Classification,
    mail: Received,
    located: Located,
    ctx: ApplyContext,
    now: datetime,
    auth: SenderAuth,
) -> Applied:
    own = department_for(
        session, msg, mail.envelope, ctx.default_department, assigned=mail.department
    )
    department = first_addressed(session, msg, own, ctx.limits.duplicate_window_minutes)
    if department is None:
        raise MessageRejected(NO_DEPARTMENT)
    requester = requester_of(
        msg,
        mail.envelope.mail_from,
        reply_to_wins=department.reply_to_is_requester and verdict.reason != MAILING_LIST,
        is_ours=lambda address: is_department_address(session, address),
    )
    new = lifecycle.NewTicket(
        department_id=department.id,
        subject=msg.subject,
        requester=requester,
        automatic=verdict.kind is Kind.AUTO_REPLY,
        cc=tuple(msg.cc),
    )
    actor = Actor.customer(requester)
    ticket = lifecycle.open_ticket(
        session, new, settings=ctx.tickets, distributor=ctx.distributor, actor=actor, now=now
    )
    cc, verdict_json = _records_cc(verdict), _verdict_json(auth)
    store_message(session, ticket, msg, verdict.kind, mail, now, cc, verdict_json)
    _keep_verdict(session, ticket, auth, now)
    link, reason = link_and_reason(located)
    if link is not None:
        relate(session, ticket, link, actor=actor, now=now)
    if verdict.kind is Kind.AUTO_REPLY:
        return Applied(Outcome.AUTO_REPLY, ticket, verdict.reason)
    # RFC 3834 §2: classification set apart the mail no one may answer (lists, no-reply
    # senders, besides automatic mail and bounces, which returned above).
    if auth.unverified:
        # Backscatter: answering a forged From mails whoever the forger named.
        skipped = "not sent: DMARC fails for the sender's domain; the From may be forged"
    elif verdict.may_autorespond or _requester_reads_answers(verdict, msg, requester):
        context = AutoresponseContext(ctx.outbound, ctx.tickets, ctx.autoresponder)
        skipped = autorespond(session, ticket, context, msg.message_id or "", now)
    else:
        skipped = f"not sent: the mail may not be answered ({verdict.reason})"
    note(session, ticket, SYSTEM, Action.AUTORESPONSE, now, detail=skipped or "queued")
    return Applied(Outcome.NEW_TICKET, ticket, reason)


def _requester_reads_answers(verdict: Classification, msg: ParsedMessage, requester: str) -> bool:
    """A web form sending From noreply@ with the customer in Reply-To: the no-reply rule
    is about the From address, and the autoresponse goes to the requester, who reads it."""
    return (
        verdict.reason == NOREPLY_SENDER
        and requester != msg.from_address
        and not automatic.is_noreply(requester)
    )


def _distrust(session: Session, found: Located, report: BounceReport | None) -> str:
    """Why a bounce may not change the ticket it names (DESIGN §2): it did not arrive as an
    NDR, or it is correlated to one of our mails and names failed recipients, none of them
    one the mail went to. "" when it may (a report naming no recipient cannot be checked)."""
    if report is not None and not report.arrived_as_ndr:
        return "it did not come as NDRs come (a person's envelope sender)"
    if found.message is None or report is None or not report.failed_recipients:
        return ""
    # A report names the recipient as we sent it (A-labels); we stored it in normal form.
    failed = {normal_form(address) for address in report.failed_recipients}
    if failed & sent_to(session, found.message):
        return ""
    return "the report fails for no recipient of the mail it names"


def _apply_bounce(
    session: Session,
    msg: ParsedMessage,
    verdict: Classification,
    mail: Received,
    found: Located,
    ctx: ApplyContext,
    now: datetime,
) -> Applied:
    ticket = found.ticket
    report = verdict.bounce
    distrust = _distrust(session, found, report)
    trusted = found.trusted and not distrust
    record_bounce(session, ticket, msg, verdict, mail, now, on_ticket=trusted)
    if ticket is None:
        # DESIGN §1: an NDR that matches no ticket is kept and listed; it never opens one.
        return Applied(Outcome.BOUNCE, None, "matches no ticket; kept for `maild bounces`")
    if not trusted:
        # Anyone can write a ticket tag into a subject, and our tokens are in every mail we
        # sent: such a "bounce" is recorded against the ticket for admins, but only a report
        # on our mail, failing for whom it went to, may re-open the ticket.
        why = distrust or found.reason
        return Applied(Outcome.BOUNCE, ticket, f"{why}; recorded, status unchanged")
    if report is not None and report.is_failure:
        incoming.apply_bounce(session, ticket, distributor=ctx.distributor, now=now)
        return Applied(Outcome.BOUNCE, ticket, f"delivery failed; {found.reason}")
    return Applied(Outcome.BOUNCE, ticket, f"delivery delayed, not failed; {found.reason}")
