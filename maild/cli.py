"""The `maild` command line (DESIGN §5).

Adding a command is one handler and one registration line:

    @command("agent token", "print a new API token for an agent", arg("name", metavar="NAME"))
    def _cmd_agent_token(settings: Settings, args: argparse.Namespace) -> int: ...

A space in the name makes a sub-command (`maild agent token`). Handlers print data on stdout and
return an exit code. Every `MaildError` becomes one line `maild: <message>` on stderr and exit
code 2; so do database errors (as `StorageError`) and argparse usage errors.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import logging
import os
import sys
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from maild import __version__
from maild.cli_jobs import register as register_job_commands
from maild.cli_mail import register as register_mail_commands
from maild.cli_outbound import register as register_outbound_commands
from maild.config import load_settings
from maild.errors import MaildError, NotFound
from maild.export import export_tickets, row_json, ticket_detail
from maild.ingest.attached import MAIL_TYPES, read_attached_mail
from maild.liveness import ServiceBoard
from maild.logs import configure_daemon_logging
from maild.provision import ProvisionReport, apply_config, create_api_token, revoke_api_tokens
from maild.runtime import opened_store, safe_url
from maild.settings import IngestLimits, LogFormat, Settings
from maild.store.db import Store, upgrade_schema
from maild.store.models import Agent, Attachment, Group
from maild.terminal import json_line, terminal_line, terminal_text
from maild.tickets.lookup import get_ticket
from maild.tickets.rows import TicketRow
from maild.tickets.views import SortKey, TicketQuery, View, list_tickets
from maild.values import Status

Handler = Callable[[Settings, argparse.Namespace], int]
DEBUG_ENV = "MAILD_DEBUG"


@dataclass(frozen=True)
class Arg:
    flags: tuple[str, ...]
    options: dict[str, Any] = field(default_factory=dict)


def arg(*flags: str, **options: Any) -> Arg:
    """An argument of a command, as `ArgumentParser.add_argument` takes it."""
    return Arg(flags, options)


@dataclass(frozen=True)
class Command:
    name: str  # "ticket list": words after `maild`
    help: str
    handler: Handler
    args: tuple[Arg, ...]


COMMANDS: list[Command] = []
_GROUP_HELP = {
    "config": "apply the config file to the database",
    "agent": "manage agents",
    "ticket": "list, show, reply to, forward and resend tickets",
}


def command(name: str, help: str, *args: Arg) -> Callable[[Handler], Handler]:
    """Register the decorated handler as `maild <name>`."""

    def register(handler: Handler) -> Handler:
        COMMANDS.append(Command(name, help, handler, args))
        return handler

    return register


def _now() -> datetime:
    return datetime.now(UTC)


def _apply(store: Store, settings: Settings) -> ProvisionReport:
    with store.transaction() as session:
        return apply_config(session, settings, _now())


def _print_report(report: ProvisionReport, stream: Any = None) -> None:
    for line in report.lines():
        print(line, file=stream or sys.stdout)


# --- commands -----------------------------------------------------------------------------


@command("init", "create or upgrade the database schema, then apply the config")
def _cmd_init(settings: Settings, args: argparse.Namespace) -> int:
    with opened_store(settings) as store:
        upgrade_schema(store)
        report = _apply(store, settings)
    print(f"database ready: {safe_url(settings)}")
    _print_report(report)
    return 0


@command("config apply", "create or update departments, groups, agents from the config")
def _cmd_config_apply(settings: Settings, args: argparse.Namespace) -> int:
    with opened_store(settings) as store:
        report = _apply(store, settings)
    _print_report(report)
    return 0


@command("agent token", "print a new API token for an agent", arg("name", metavar="NAME"))
def _cmd_agent_token(settings: Settings, args: argparse.Namespace) -> int:
    with opened_store(settings) as store, store.transaction() as session:
        token = create_api_token(session, args.name, _now())
    # Printed only once it is committed; only its hash is stored, so this is the one chance.
    print(token)
    return 0


@command("agent revoke", "revoke every API token of an agent", arg("name", metavar="NAME"))
def _cmd_agent_revoke(settings: Settings, args: argparse.Namespace) -> int:
    with opened_store(settings) as store, store.transaction() as session:
        count = revoke_api_tokens(session, args.name)
    print(f"revoked {count} token(s) of {args.name}")
    return 0


@command(
    "export",
    "write every ticket with its messages as one JSON object per line",
    arg("--json", action="store_true", help="JSON lines (the default and only format)"),
)
def _cmd_export(settings: Settings, args: argparse.Namespace) -> int:
    with opened_store(settings) as store, store.sessions() as session:
        for record in export_tickets(session, _now()):
            sys.stdout.write(json_line(record) + "\n")
    return 0


# An agent's own views: --agent names whose they are rather than filtering by assignee.
_OWN_VIEWS = {
    View.MINE_ACTIVE, View.MINE_WAITING, View.MINE_CLOSED,
    View.RECENT, View.RECENTLY_TRANSFERRED, View.FOLLOW_UPS,
}  # fmt: skip
_JSON_LINES = arg("--json", action="store_true", help="one JSON object per line")


@command(
    "ticket list",
    "list the tickets of a view, filtered, sorted and paged",
    arg("--view", choices=list(View), default=View.ALL, type=View),
    arg("--status", choices=list(Status), type=Status),
    arg("--group", metavar="NAME", help="only tickets of this group"),
    arg("--agent", metavar="NAME", help="whose view mine_*/recent/recently_transferred/"
        "follow_ups is; in other views, only tickets assigned to this agent"),
    arg("--q", metavar="TEXT", default="", help="search subjects, bodies and comments"),
    arg("--sort", choices=list(SortKey), default=SortKey.IDLE, type=SortKey),
    arg("--order", choices=["asc", "desc"], default="asc"),
    arg("--limit", type=int, default=100, help="at most this many (1-1000)"),
    arg("--offset", type=int, default=0, help="skip this many (paging)"),
    _JSON_LINES,
)  # fmt: skip
def _cmd_ticket_list(settings: Settings, args: argparse.Namespace) -> int:
    with opened_store(settings) as store, store.sessions() as session:
        rows = list_tickets(session, _ticket_query(session, args), _now())
    if not args.json and rows:
        print(_TABLE.format("NUMBER", "STATUS", "PRIORITY", "AGENT", "GROUP", "IDLE", "SUBJECT"))
    for row in rows:
        print(json_line(row_json(row)) if args.json else _row_line(row))
    return 0


def _ticket_query(session: Session, args: argparse.Namespace) -> TicketQuery:
    agent_id = _id_by_name(session, Agent, args.agent) if args.agent else None
    own = args.view in _OWN_VIEWS
    return TicketQuery(
        view=args.view,
        viewer_id=agent_id if own else None,
        agent_id=None if own else agent_id,
        status=args.status,
        group_id=_id_by_name(session, Group, args.group) if args.group else None,
        text=args.q,
        sort=args.sort,
        descending=args.order == "desc",
        limit=args.limit,
        offset=args.offset,
    )


def _id_by_name(session: Session, model: type[Agent] | type[Group], name: str) -> int:
    found = session.scalar(sa.select(model.id).where(model.name == name))
    if found is None:
        raise NotFound(f"no {model.__tablename__} named {name!r}; check the name (case matters)")
    return found


_TABLE = "{:<14} {:<13} {:<8} {:<12} {:<16} {:>5}  {}"


def _row_line(row: TicketRow) -> str:
    pin = "*" if row.pinned else ""
    agent = f"{row.agent}{pin}" if row.agent else "(queue)"
    fields = (row.number, row.status, row.priority, agent, row.group, _short(row.idle))
    return _TABLE.format(*map(terminal_line, (*fields, row.subject)))


def _short(age: timedelta) -> str:
    minutes = int(age.total_seconds() // 60)
    for unit, size in (("d", 1440), ("h", 60)):
        if minutes >= size:
            return f"{minutes // size}{unit}"
    return f"{max(minutes, 0)}m"


@command(
    "ticket show",
    "show a ticket with its messages, comments and history",
    arg("number", metavar="NUMBER", help="e.g. SUP-000123 (a merged number finds its ticket)"),
    arg("--json", action="store_true", help="one JSON object"),
)
def _cmd_ticket_show(settings: Settings, args: argparse.Namespace) -> int:
    with opened_store(settings) as store, store.sessions() as session:
        detail = ticket_detail(session, get_ticket(session, args.number), _now())
        _read_attached_mails(session, detail, settings.ingest)
    if args.json:
        print(json_line(detail))
    else:
        _print_detail(detail)
    return 0


def _read_attached_mails(session: Session, detail: dict[str, Any], limits: IngestLimits) -> None:
    """A forwarded mail's headers and text beside its attachment entry (issue 13 item 8)."""
    for message in detail["messages"]:
        for file in message["files"]:
            if file["content_type"] in MAIL_TYPES:
                data = session.scalar(sa.select(Attachment.data).where(Attachment.id == file["id"]))
                file["mail"] = read_attached_mail(data or b"", limits).as_json()


def _print_detail(detail: dict[str, Any]) -> None:
    d = {key: value if isinstance(value, list) else terminal_line(value or "")
         for key, value in detail.items()}  # fmt: skip
    print(f"{d['number']}  {d['status']}  {d['priority']}{'  pinned' if detail['pinned'] else ''}")
    print(f"Subject:     {d['subject']}")
    print(f"Requester:   {d['requester']}")
    print(f"Where:       {d['brand']} / {d['department']} / {d['group']} / "
          f"{d['agent'] or '(queue)'}")  # fmt: skip
    print(f"Created:     {d['created_at']}")
    print(f"Last action: {d['last_action_at']}")
    for label in ("related", "merged"):
        if d[label]:
            print(f"{label.capitalize() + ':':<12} {terminal_line(', '.join(d[label]))}")
    print("\nMessages:")
    for m, message in zip(_lines(detail["messages"]), detail["messages"], strict=True):
        attachments = f" [{m['attachments']} attachment(s)]" if m["attachments"] != "0" else ""
        print(f"  {m['date'] or '-'}  {m['direction']:<3} {m['kind']:<10} {m['from']}: "
              f"{m['subject']}{attachments}")  # fmt: skip
        _print_contents(message)
    print("\nComments:")
    for c, body in zip(_lines(detail["comments"]), detail["comments"], strict=True):
        print(f"  {c['created_at']}  {c['kind']}: {terminal_text(body['body'])}")
    print("\nHistory:")
    for h in _lines(detail["history"]):
        change = f" {h['from']} -> {h['to']}" if h["from"] or h["to"] else ""
        # Who really wrote a mail is read here: the verdict is in the entry's detail.
        verdict = f": {h['detail']}" if h["action"] == "sender_auth" else ""
        print(f"  {h['at']}  {h['actor']}  {h['action']}{change}{verdict}")


def _print_contents(message: dict[str, Any]) -> None:
    """A message's text, then each attachment; a forwarded mail with its headers and text."""
    if message["text"].strip():
        print(_indented(message["text"], 6))
    for file in message["files"]:
        print(f"      Attachment: {terminal_line(file['filename'])} "
              f"({terminal_line(file['content_type'])}, {file['size']} bytes)")  # fmt: skip
        mail = file.get("mail")
        if mail is None:
            continue
        if mail["error"]:
            print(f"        (not readable: {terminal_line(mail['error'])})")
            continue
        for label, key in (("From", "from"), ("To", "to"), ("Cc", "cc"), ("Date", "date"),
                           ("Subject", "subject")):  # fmt: skip
            value = ", ".join(mail[key]) if isinstance(mail[key], list) else mail[key]
            if value:
                print(f"        {label + ':':<9}{terminal_line(value)}")
        if mail["text"].strip():
            print(_indented(mail["text"], 8))
        for name in mail["attachments"]:
            print(f"        Attachment: {terminal_line(name)}")


def _indented(text: str, spaces: int) -> str:
    pad = " " * spaces
    lines = terminal_text(text.strip("\n")).split("\n")
    return "\n".join((pad + line).rstrip() for line in lines)


def _lines(entries: list[dict[str, Any]]) -> list[dict[str, str]]:
    """Each entry's values as one escaped line each ("" for a missing one)."""
    return [{k: terminal_line("" if v is None else v) for k, v in e.items()} for e in entries]


@command(
    "serve",
    "run the daemon until SIGTERM or SIGINT",
    arg("--log-format", choices=list(LogFormat), type=LogFormat,
        help="text, or one JSON object per line for log shippers (default: [log] format)"),
)  # fmt: skip
def _cmd_serve(settings: Settings, args: argparse.Namespace) -> int:
    log_settings = settings.log
    if args.log_format is not None:
        log_settings = dataclasses.replace(log_settings, format=args.log_format)
    configure_daemon_logging(log_settings)
    # Imported here: the daemon brings the HTTP API (FastAPI, pydantic models), uvicorn and the
    # listeners, almost a second of imports that no other command needs.
    from maild.daemon import run_services, services

    with opened_store(settings) as store:
        _print_report(_apply(store, settings), sys.stderr)
        board = ServiceBoard()
        asyncio.run(run_services(services(settings, board), settings, store, board))
    return 0


# --- parser and entry point ---------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="maild", description="Email-driven ticketing daemon")
    parser.add_argument("--version", action="version", version=f"maild {__version__}")
    parser.add_argument(
        "--config", metavar="FILE", help="TOML config file (else $MAILD_CONFIG, else ./maild.toml)"
    )
    parser.add_argument(
        "--debug",
        action="store_true",
        help=f"show the traceback of an unexpected error (or set {DEBUG_ENV}=1)",
    )
    root = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    groups: dict[str, argparse._SubParsersAction[argparse.ArgumentParser]] = {}
    for cmd in COMMANDS:
        *parents, leaf = cmd.name.split()
        subparsers = root
        for parent in parents:
            if parent not in groups:
                group = root.add_parser(parent, help=_GROUP_HELP.get(parent))
                groups[parent] = group.add_subparsers(
                    dest=f"{parent}_command", required=True, metavar="COMMAND"
                )
            subparsers = groups[parent]
        sub = subparsers.add_parser(leaf, help=cmd.help, description=cmd.help)
        for argument in cmd.args:
            sub.add_argument(*argument.flags, **argument.options)
        sub.set_defaults(handler=cmd.handler)
    register_mail_commands(root)  # ingest, inspect, reprocess, bounces
    register_job_commands(root)  # jobs list, jobs run
    register_outbound_commands(groups["ticket"])  # ticket reply, forward, resend, new
    return parser


def _configure_logging() -> None:
    """Warnings go to stderr as one line each. mail-parser logs a warning for every MIME part
    type it does not extract (rfc822-headers, report, ...); we read those parts ourselves, so
    its warnings are noise to an admin."""
    logging.basicConfig(level=logging.WARNING, format="maild: %(name)s: %(message)s")
    logging.getLogger("mailparser").setLevel(logging.ERROR)


def main(argv: list[str] | None = None) -> int:
    _configure_logging()
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # usage errors (2), --help and --version (0), as a return value
        return exc.code if isinstance(exc.code, int) else 2
    try:
        return int(args.handler(load_settings(args.config), args))
    except MaildError as exc:
        print(f"maild: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        # `maild export | head`: the reader left, nothing is wrong. Point stdout at /dev/null
        # so that the interpreter's final flush does not fail again (Python docs, SIGPIPE).
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except KeyboardInterrupt:
        print("maild: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # a bug or an environment fault: one line unless asked for more
        return _unexpected(exc, debug=args.debug or os.environ.get(DEBUG_ENV, "") not in ("", "0"))


def _unexpected(exc: Exception, debug: bool) -> int:
    if debug:
        traceback.print_exc()
    what = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    hint = "" if debug else f" (run with --debug or {DEBUG_ENV}=1 to see the traceback)"
    print(f"maild: unexpected error: {_one_line(what)}{hint}", file=sys.stderr)
    return 1


def _one_line(text: str) -> str:
    return " ".join(text.split())[:500]


if __name__ == "__main__":
    sys.exit(main())
