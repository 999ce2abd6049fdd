"""The mail commands of the CLI: `ingest`, `inspect`, `reprocess` and `bounces`.

Each handler takes the settings and the parsed arguments and returns an exit code; `register`
adds them to the CLI's subcommands.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

import sqlalchemy as sa
from sqlalchemy.orm import Session

from maild.errors import InvalidRequest
from maild.ingest.inspect import inspect_message
from maild.ingest.pipeline import IngestResult
from maild.ingest.sources import Format, iter_messages
from maild.provision import apply_config
from maild.runtime import build_pipeline, opened_store
from maild.settings import Settings
from maild.store.db import Store
from maild.store.models import Bounce, Inbound, Ticket
from maild.terminal import terminal_line
from maild.values import InboundState


def register(commands: Any) -> None:
    ingest = commands.add_parser("ingest", help="import .eml files, directories, Maildirs, mbox")
    ingest.add_argument("paths", nargs="+", metavar="PATH", help="a file, directory or - (stdin)")
    ingest.add_argument("--quiet", action="store_true", help="no progress line on a terminal")
    ingest.add_argument(
        "--format",
        choices=[Format.EML.value, Format.MBOX.value],
        help="read every file as one message (eml) or as an mbox; default: by name and first line",
    )
    ingest.set_defaults(handler=cmd_ingest)

    inspect = commands.add_parser("inspect", help="parse and classify mail without storing it")
    inspect.add_argument("files", nargs="+", metavar="FILE")
    inspect.add_argument("--json", action="store_true", help="one JSON object per line")
    inspect.add_argument(
        "--no-db",
        action="store_true",
        help="find the ticket reference in the mail alone, without the configured database",
    )
    inspect.set_defaults(handler=cmd_inspect)

    reprocess = commands.add_parser("reprocess", help="run spooled or held mail again")
    reprocess.add_argument("ids", nargs="*", type=int, metavar="ID", help="spool entry ids")
    reprocess.add_argument("--held", action="store_true", help="every held message")
    reprocess.set_defaults(handler=cmd_reprocess)

    bounces = commands.add_parser("bounces", help="list non-delivery reports")
    bounces.add_argument("--all", action="store_true", help="also those matched to a ticket")
    bounces.set_defaults(handler=cmd_bounces)


def cmd_ingest(settings: Settings, args: argparse.Namespace) -> int:
    progress = Progress(sys.stderr) if sys.stderr.isatty() and not args.quiet else None
    with opened_store(settings) as store:
        _apply_config(store, settings)
        try:
            messages = iter_messages(args.paths, Format(args.format or Format.AUTO))
            for result in build_pipeline(settings, store).ingest(messages):
                print(json.dumps(result.as_json()), flush=True)
                if progress is not None:
                    progress.step(result)
        finally:
            if progress is not None:
                progress.done()
    return 0


def _apply_config(store: Store, settings: Settings) -> None:
    """Like `serve`, the commands that process mail apply the config first, so the departments
    and groups mail is routed to are those of the file."""
    with store.transaction() as session:
        apply_config(session, settings, datetime.now(UTC))


def cmd_inspect(settings: Settings, args: argparse.Namespace) -> int:
    """The ticket reference is decided as `ingest` decides it, against the configured database
    (read only), unless `--no-db` asks for the mail alone."""
    paths = [Path(name) for name in args.files]
    for path in paths:
        if not path.is_file():
            raise InvalidRequest(f"{path}: no such file")
    if args.no_db:
        _print_inspected(paths, settings, None, args.json)
        return 0
    _require_database(settings)
    with opened_store(settings) as store, store.sessions() as session, session.begin():
        _print_inspected(paths, settings, session, args.json)
    return 0


def _print_inspected(
    paths: list[Path], settings: Settings, session: Session | None, as_json: bool
) -> None:
    for path in paths:
        report = {"file": str(path), **inspect_message(path.read_bytes(), settings, None, session)}
        print(json.dumps(report, default=str) if as_json else _human(report))


def _require_database(settings: Settings) -> None:
    """Opening a missing SQLite file would create an empty one: say what to do instead."""
    url = sa.make_url(settings.database.url)
    database = url.database or ""
    on_file = url.get_backend_name() == "sqlite" and database not in ("", ":memory:")
    if on_file and not Path(database).is_file():
        raise InvalidRequest(
            f"no database at {database}: run `maild init`, or use `inspect --no-db` to "
            "find the ticket reference in the mail alone"
        )


def _human(report: dict[str, Any]) -> str:
    keys = ("file", "subject", "from", "to", "date", "message_id", "kind", "reason", "ticket")
    lines = [f"{key}: {terminal_line(report.get(key))}" for key in keys]
    threading = report.get("threading") or {}
    lines.append(f"ticket decided from: {terminal_line(threading.get('looked_at'))}")
    sender_auth = report.get("sender_auth") or {}
    lines.append(f"sender: {terminal_line(sender_auth.get('summary'))}")
    return "\n".join(lines) + "\n"


def cmd_reprocess(settings: Settings, args: argparse.Namespace) -> int:
    with opened_store(settings) as store:
        _apply_config(store, settings)
        pipeline = build_pipeline(settings, store)
        ids = list(args.ids) + (_held_ids(store) if args.held else [])
        for result in pipeline.reprocess(ids or pipeline.pending()):
            print(json.dumps(result.as_json()), flush=True)
    return 0


def _held_ids(store: Store) -> list[int]:
    with store.transaction() as session:
        query = sa.select(Inbound.id).where(Inbound.state == InboundState.HELD)
        return list(session.scalars(query.order_by(Inbound.id)))


def cmd_bounces(settings: Settings, args: argparse.Namespace) -> int:
    with opened_store(settings) as store, store.transaction() as session:
        for line in _bounce_lines(session, args.all):
            print(json.dumps(line))
    return 0


def _bounce_lines(session: Any, include_matched: bool) -> Iterator[dict[str, Any]]:
    query = sa.select(Bounce, Inbound, Ticket).outerjoin(Inbound, Bounce.inbound_id == Inbound.id)
    query = query.outerjoin(Ticket, Bounce.ticket_id == Ticket.id).order_by(Bounce.id)
    if not include_matched:
        query = query.where(Bounce.ticket_id.is_(None))
    for bounce, inbound, ticket in session.execute(query):
        yield {
            "id": bounce.id,
            "received": bounce.created_at.isoformat(),
            "source": inbound.source if inbound else None,
            "message_id": inbound.message_key if inbound else None,
            "recipients": [r for r in bounce.recipients.split(", ") if r],
            "action": bounce.action,
            "status": bounce.status,
            "original_message_id": bounce.original_message_id,
            "ticket": ticket.number if ticket else None,
        }


class Progress:
    """A one-line progress display on a terminal for long imports (stderr, never stdout)."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.counts: Counter[str] = Counter()
        self.started = time.monotonic()
        self.shown = 0.0

    def step(self, result: IngestResult) -> None:
        self.counts[result.outcome.value] += 1
        now = time.monotonic()
        if now - self.shown >= 0.2:
            self.shown = now
            self._show(now)

    def _show(self, now: float) -> None:
        total = sum(self.counts.values())
        rate = total / max(now - self.started, 1e-6)
        detail = " ".join(f"{k}={v}" for k, v in sorted(self.counts.items()))
        self.stream.write(f"\r{_bar(total)} {total} messages, {rate:.0f}/s  {detail}\x1b[K")
        self.stream.flush()

    def done(self) -> None:
        self._show(time.monotonic())
        self.stream.write("\n")


def _bar(total: int, width: int = 20) -> str:
    """An indeterminate bar: the total is unknown while an mbox streams."""
    position = total % width
    return "[" + "." * position + "#" + "." * (width - position - 1) + "]"
