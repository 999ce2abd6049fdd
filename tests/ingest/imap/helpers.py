"""Helpers of the IMAP tests: the test's own view of a Dovecot folder, sample mail, a support
desk whose config polls the folder, and running the pollers until something holds."""

from __future__ import annotations

import asyncio
import json
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from maild.config import load_settings
from maild.daemon import imap_pollers
from maild.ingest.imap import Inbox, Pacing, poll_account
from maild.ingest.imap.poller import nothing_after_commit
from maild.provision import apply_config
from maild.settings import ImapAccount, Settings
from maild.store.db import Store
from maild.store.models import Department, Inbound, Ticket
from tests.ingest.imap.dovecot import USER, Dovecot
from tests.support import write_config

WAIT_SECONDS = 60.0  # a guard against a hang, not a timing assertion


@dataclass
class Folder:
    """A folder of `tester`'s mailbox, seen through imaplib."""

    dovecot: Dovecot
    name: str

    def create(self, name: str | None = None) -> None:
        with self.dovecot.client() as imap:
            _ok(imap.create(name or self.name))

    def append(self, *raws: bytes) -> None:
        with self.dovecot.client() as imap:
            for raw in raws:
                _ok(imap.append(self.name, None, None, raw))

    def flags(self, name: str | None = None) -> dict[int, str]:
        """UID -> flags of every message in the folder."""
        with self.dovecot.client() as imap:
            _ok(imap.select(name or self.name))
            typ, data = imap.uid("FETCH", "1:*", "(UID FLAGS)")
            _ok((typ, data))
        found: dict[int, str] = {}
        for item in data:
            match = re.search(rb"UID (\d+) FLAGS \(([^)]*)\)", item or b"")
            if match:
                found[int(match.group(1))] = match.group(2).decode()
        return found

    def bodies(self, name: str | None = None) -> list[bytes]:
        with self.dovecot.client() as imap:
            _ok(imap.select(name or self.name))
            typ, data = imap.uid("FETCH", "1:*", "(BODY.PEEK[])")
            _ok((typ, data))
        return [item[1] for item in data if isinstance(item, tuple)]

    def fill(self, count: int) -> None:
        """`count` small messages written straight into the folder's Maildir (APPEND would
        take a minute for thousands): Dovecot finds them at the next SELECT."""
        owner = (self.dovecot.root / "mail").stat()
        new = self.dovecot.root / "mail" / USER / "Maildir" / f".{self.name}" / "new"
        for n in range(count):
            path = new / f"{1700000000 + n}.M{n}P1.maild-test"
            path.write_bytes(request(f"{self.name}-{n}"))
            os.chown(path, owner.st_uid, owner.st_gid)

    def recreate(self) -> None:
        """Delete and create the folder again: a new UIDVALIDITY (RFC 3501 §2.3.1.1)."""
        with self.dovecot.client() as imap:
            _ok(imap.delete(self.name))
            _ok(imap.create(self.name))

    def uidvalidity(self) -> int:
        with self.dovecot.client() as imap:
            typ, data = imap.status(self.name, "(UIDVALIDITY)")
            _ok((typ, data))
        match = re.search(rb"UIDVALIDITY (\d+)", data[0] or b"")
        assert match
        return int(match.group(1))


def _ok(answer: tuple[str, Any]) -> None:
    assert answer[0] == "OK", answer


def request(tag: str, to: str = "support@example.com", subject: str = "") -> bytes:
    """A customer's new request, with a Message-ID naming `tag`."""
    return (
        f"From: Carol <carol-{tag}@customer.example>\r\n"
        f"To: {to}\r\n"
        f"Subject: {subject or 'Help with ' + tag}\r\n"
        f"Message-ID: <{tag}@customer.example>\r\n"
        "Date: Mon, 02 Mar 2026 09:00:00 +0000\r\n"
        "\r\n"
        f"Please help with {tag}.\r\n"
    ).encode()


SALES = """
[[departments]]
name = "Sales"
addresses = ["sales@example.com"]

[[groups]]
name = "Sales team"
department = "Sales"
members = [{ agent = "alice" }]
"""


def _toml(value: Any) -> str:
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return json.dumps(value)  # strings, integers and booleans read the same in TOML


def imap_account(dovecot: Dovecot, folder: Folder, **keys: Any) -> dict[str, Any]:
    """An `[[imap]]` account for `folder` as `tester` with the password from a variable."""
    account: dict[str, Any] = {
        "name": "support",
        "host": "127.0.0.1",
        "port": dovecot.port,
        "security": "none",
        "user": USER,
        "password_env": "MAILD_TEST_IMAP_PASSWORD",
        "folder": folder.name,
    }
    account.update(keys)
    return {k: v for k, v in account.items() if v is not None}


def desk(
    directory: Path, db_url: str, *accounts: dict[str, Any], max_message_bytes: int = 10**6
) -> tuple[Path, Settings]:
    """The support desk of tests.support plus a Sales department, polling `accounts`; the
    config file and its settings."""
    path = write_config(directory, db_url, max_message_bytes=max_message_bytes)
    tables = "".join(
        "\n[[imap]]\n" + "".join(f"{k} = {_toml(v)}\n" for k, v in account.items())
        for account in accounts
    )
    path.write_text(path.read_text() + SALES + tables)
    return path, load_settings(str(path), environ={})


def provision(store: Store, settings: Settings) -> None:
    with store.transaction() as session:
        apply_config(session, settings, datetime.now(UTC))


def serve_imap(settings: Settings, store: Store, until: Callable[[], bool]) -> None:
    """Run the IMAP pollers as `maild serve` does until `until()` holds, then stop them and
    wait for them to finish."""

    async def main() -> None:
        stop = asyncio.Event()
        pollers = asyncio.create_task(imap_pollers(settings, store, stop))
        deadline = time.monotonic() + WAIT_SECONDS
        while not await asyncio.to_thread(until):
            assert not pollers.done(), pollers.result()
            assert time.monotonic() < deadline, "the pollers did not get there"
            await asyncio.sleep(0.05)
        stop.set()
        await asyncio.wait_for(pollers, WAIT_SECONDS)

    asyncio.run(main())


def count(store: Store, model: Any, *where: Any) -> int:
    with store.transaction() as session:
        query = sa.select(sa.func.count()).select_from(model).where(*where)
        return int(session.scalar(query) or 0)


def tickets(store: Store) -> list[tuple[str, str]]:
    """(subject, department name) of every ticket."""
    with store.transaction() as session:
        query = sa.select(Ticket.subject, Department.name).join(
            Department, Ticket.department_id == Department.id
        )
        return sorted((subject, name) for subject, name in session.execute(query))


def spool_rows(store: Store) -> list[tuple[str, str, str]]:
    """(Message-ID, state, outcome) of every spool entry."""
    with store.transaction() as session:
        query = sa.select(Inbound.message_key, Inbound.state, Inbound.outcome)
        return sorted((key, state.value, outcome) for key, state, outcome in session.execute(query))


def poll_until(
    account: ImapAccount, store: Store, until: Callable[[], bool], pacing: Pacing
) -> None:
    """Run one account's poller (spooling only) paced by `pacing` until `until()` holds."""

    async def main() -> None:
        stop = asyncio.Event()
        inbox = Inbox(store, nothing_after_commit, max_message_bytes=10**6)
        poller = asyncio.create_task(poll_account(account, inbox, stop, pacing))
        deadline = time.monotonic() + WAIT_SECONDS
        while not await asyncio.to_thread(until):
            assert not poller.done(), poller.result()
            assert time.monotonic() < deadline, "the poller did not get there"
            await asyncio.sleep(0.02)
        stop.set()
        await asyncio.wait_for(poller, WAIT_SECONDS)

    asyncio.run(main())
