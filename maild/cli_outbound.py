"""The outbound commands of the CLI, for admins and scripts: `maild ticket reply`, `forward`,
`resend` and `new` (DESIGN §5). Each prints one JSON line: the ticket, the Message-ID of the
queued mail and its outbox row. The delivery worker of `maild serve` sends it."""

from __future__ import annotations

import argparse
import mimetypes
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from maild.errors import InvalidRequest, NotFound
from maild.outbound import (
    DraftValues,
    ForwardRequest,
    Mark,
    NewTicketRequest,
    ReplyRequest,
    Sent,
    Upload,
    create_ticket,
    find_message,
    forward_message,
    resend_message,
    save_draft,
    send_reply,
)
from maild.runtime import build_outbound_context, opened_store
from maild.settings import Settings
from maild.store.models import Agent, Group
from maild.terminal import json_line
from maild.tickets.followup import FollowUp
from maild.tickets.lookup import get_ticket
from maild.tickets.transfer import Transfer
from maild.values import Direction, Priority, Status


def register(ticket: Any) -> None:
    """Add the commands to the `maild ticket` sub-commands."""
    reply = ticket.add_parser("reply", help="reply to a ticket and mark it")
    _common(reply)
    _addresses(reply, to_help="default: the requester")
    reply.add_argument("--subject", default="", help="subject of this mail only")
    reply.add_argument("--reply-all", action="store_true", help="also the answered To and Cc")
    reply.add_argument("--canned", default="", metavar="NAME", help="canned reply to insert")
    reply.add_argument("--message", default="", metavar="MESSAGE_ID", help="the mail answered")
    reply.add_argument("--draft", action="store_true", help="save as the ticket's draft only")
    _marks(reply)
    reply.set_defaults(handler=cmd_reply)

    forward = ticket.add_parser("forward", help="forward a message with its attachments")
    _common(forward, body="--note")
    _addresses(forward, to_help="required")
    forward.add_argument("--message", default="", metavar="MESSAGE_ID", help="default: newest")
    forward.set_defaults(handler=cmd_forward)

    resend = ticket.add_parser("resend", help="send an outgoing message again")
    resend.add_argument("number", metavar="NUMBER")
    resend.add_argument("--agent", required=True, metavar="NAME", help="who resends")
    resend.add_argument("--message", default="", metavar="MESSAGE_ID", help="default: newest")
    resend.add_argument("--to", default="", help="other recipients (; or , separated)")
    resend.set_defaults(handler=cmd_resend)

    new = ticket.add_parser("new", help="open a ticket for a customer (outgoing or incoming)")
    new.add_argument("--agent", required=True, metavar="NAME", help="who opens it")
    new.add_argument("--group", required=True, metavar="NAME")
    new.add_argument(
        "--customer", required=True, metavar="ADDRESS", help="To, or From with --incoming"
    )
    new.add_argument("--subject", required=True)
    _body(new, "--body")
    new.add_argument("--incoming", action="store_true", help="as if the customer wrote it")
    new.add_argument("--assign", default="", metavar="AGENT", help="default: distribution")
    new.add_argument("--cc", default="")
    new.add_argument("--bcc", default="")
    new.add_argument("--priority", choices=list(Priority), default=Priority.NORMAL, type=Priority)
    new.add_argument("--attach", action="append", default=[], metavar="FILE")
    _marks(new)
    new.set_defaults(handler=cmd_new)


def _common(parser: argparse.ArgumentParser, body: str = "--body") -> None:
    parser.add_argument("number", metavar="NUMBER", help="e.g. SUP-000123")
    parser.add_argument("--agent", required=True, metavar="NAME", help="who sends it")
    _body(parser, body)
    parser.add_argument(
        "--attach",
        action="append",
        default=[],
        metavar="FILE",
        help="attach a file (repeat for more)",
    )


def _body(parser: argparse.ArgumentParser, flag: str) -> None:
    parser.add_argument(flag, dest="body", default=None, help="the text")
    parser.add_argument(
        f"{flag}-file",
        dest="body_file",
        default=None,
        metavar="FILE",
        help="read the text from FILE (- for stdin)",
    )


def _addresses(parser: argparse.ArgumentParser, to_help: str) -> None:
    parser.add_argument("--to", default="", help=f"; or , separated ({to_help})")
    parser.add_argument("--cc", default="", help="; or , separated")
    parser.add_argument("--bcc", default="", help="; or , separated (envelope only)")


def _marks(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--mark",
        choices=list(Status),
        default=Status.WAITING,
        type=Status,
        help="status after sending (default waiting)",
    )
    parser.add_argument("--follow-up", metavar="WHEN", help="ISO time: send and schedule")
    parser.add_argument("--follow-up-group", metavar="NAME", help="default: the ticket's group")
    parser.add_argument("--follow-up-agent", metavar="NAME", help="default: auto-assign")
    parser.add_argument("--follow-up-note", default="")
    parser.add_argument("--transfer-group", metavar="NAME", help="send and transfer")
    parser.add_argument("--transfer-agent", metavar="NAME", help="default: auto-assign")


# --- handlers -----------------------------------------------------------------------------


def cmd_reply(settings: Settings, args: argparse.Namespace) -> int:
    ctx = build_outbound_context(settings)
    with opened_store(settings) as store, store.transaction() as session:
        ticket = get_ticket(session, args.number)
        agent = _named(session, Agent, args.agent)
        body = _read_body(args)
        if args.draft:
            draft = DraftValues(body, args.to, args.cc, args.bcc, args.subject)
            save_draft(session, ticket, draft, agent=agent, now=_now())
            return _print({"ticket": ticket.number, "draft": "saved"})
        request = ReplyRequest(
            body=body,
            to=args.to,
            cc=args.cc,
            bcc=args.bcc,
            subject=args.subject,
            reply_all=args.reply_all,
            canned=args.canned,
            attachments=_uploads(args.attach),
        )
        answering = find_message(session, ticket, args.message) if args.message else None
        mark = _mark(session, args, ticket.group_id)
        sent = send_reply(
            session,
            ticket,
            request,
            agent=agent,
            ctx=ctx,
            now=_now(),
            mark=mark,
            answering=answering,
        )
        return _print(_sent(ticket.number, sent, ticket.status))


def cmd_forward(settings: Settings, args: argparse.Namespace) -> int:
    if not args.to:
        raise InvalidRequest("forward needs --to: the address to forward to")
    ctx = build_outbound_context(settings)
    with opened_store(settings) as store, store.transaction() as session:
        ticket = get_ticket(session, args.number)
        agent = _named(session, Agent, args.agent)
        message = find_message(session, ticket, args.message)
        note = _read_body(args, required=False)
        request = ForwardRequest(
            to=args.to, cc=args.cc, bcc=args.bcc, note=note, attachments=_uploads(args.attach)
        )
        sent = forward_message(session, ticket, message, request, agent=agent, ctx=ctx, now=_now())
        return _print(_sent(ticket.number, sent, ticket.status))


def cmd_resend(settings: Settings, args: argparse.Namespace) -> int:
    ctx = build_outbound_context(settings)
    with opened_store(settings) as store, store.transaction() as session:
        ticket = get_ticket(session, args.number)
        agent = _named(session, Agent, args.agent)
        message = find_message(session, ticket, args.message, direction=Direction.OUT)
        sent = resend_message(
            session, ticket, message, agent=agent, ctx=ctx, now=_now(), recipients=args.to
        )
        return _print(_sent(ticket.number, sent, ticket.status))


def cmd_new(settings: Settings, args: argparse.Namespace) -> int:
    ctx = build_outbound_context(settings)
    with opened_store(settings) as store, store.transaction() as session:
        agent = _named(session, Agent, args.agent)
        group = _named(session, Group, args.group)
        request = NewTicketRequest(
            group_id=group.id,
            customer=args.customer,
            subject=args.subject,
            body=_read_body(args),
            incoming=args.incoming,
            agent_id=_named(session, Agent, args.assign).id if args.assign else None,
            cc=args.cc,
            bcc=args.bcc,
            priority=args.priority,
            attachments=_uploads(args.attach),
        )
        mark = None if args.incoming else _mark(session, args, group.id)
        ticket = create_ticket(session, request, agent=agent, ctx=ctx, now=_now(), mark=mark)
        return _print({"ticket": ticket.number, "status": ticket.status.value})


# --- helpers ------------------------------------------------------------------------------


def _now() -> datetime:
    return datetime.now(UTC)


def _print(record: dict[str, Any]) -> int:
    print(json_line(record))
    return 0


def _sent(number: str, sent: Sent, status: Status) -> dict[str, Any]:
    return {
        "ticket": number,
        "message_id": sent.message_id,
        "outbox": sent.outbox_id,
        "status": status.value,
    }


def _named(session: Session, model: type[Agent] | type[Group], name: str) -> Any:
    found = session.scalar(sa.select(model).where(model.name == name))
    if found is None:
        raise NotFound(f"no {model.__tablename__} named {name!r}; check the name (case matters)")
    return found


def _read_body(args: argparse.Namespace, required: bool = True) -> str:
    if args.body is not None:
        return str(args.body)
    if args.body_file == "-":
        return sys.stdin.read()
    if args.body_file:
        try:
            return Path(args.body_file).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise InvalidRequest(f"cannot read {args.body_file}: {exc}") from exc
    if required:
        raise InvalidRequest("give the text with --body TEXT or --body-file FILE (- for stdin)")
    return ""


def _uploads(paths: list[str]) -> tuple[Upload, ...]:
    uploads = []
    for path in map(Path, paths):
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise InvalidRequest(f"cannot attach {path}: {exc.strerror}") from exc
        kind = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        uploads.append(Upload(path.name, kind, data))
    return tuple(uploads)


def _mark(session: Session, args: argparse.Namespace, group_id: int) -> Mark:
    if args.follow_up and args.transfer_group:
        raise InvalidRequest("give --follow-up or --transfer-group, not both")
    if args.follow_up:
        at = _when(args.follow_up)
        group = (
            _named(session, Group, args.follow_up_group).id if args.follow_up_group else group_id
        )
        agent = _named(session, Agent, args.follow_up_agent).id if args.follow_up_agent else None
        return Mark(
            followup=FollowUp(at=at, group_id=group, agent_id=agent, note=args.follow_up_note)
        )
    if args.transfer_group:
        group = _named(session, Group, args.transfer_group).id
        agent = _named(session, Agent, args.transfer_agent).id if args.transfer_agent else None
        return Mark(transfer=Transfer(group_id=group, agent_id=agent))
    return Mark(status=args.mark)


def _when(text: str) -> datetime:
    try:
        at = datetime.fromisoformat(text)
    except ValueError as exc:
        raise InvalidRequest(f"--follow-up {text!r} is not an ISO time (2026-03-02T09:00)") from exc
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)
