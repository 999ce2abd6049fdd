"""The IMAP poller against a real Dovecot: new mail becomes tickets, then is flagged, moved or
deleted as the account says; a recreated folder is read again without ingesting anything twice;
IDLE brings mail without waiting for the poll interval; one bad message stops nothing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from maild.ingest.imap import Pacing, poller
from maild.ingest.spool import Spooled
from maild.store.db import Store
from maild.store.models import ImapState
from tests.ingest.imap.dovecot import Dovecot
from tests.ingest.imap.helpers import (
    Folder,
    desk,
    imap_account,
    poll_until,
    provision,
    request,
    serve_imap,
    spool_rows,
    tickets,
)

pytestmark = pytest.mark.xdist_group("dovecot")


def test_new_mail_becomes_tickets_then_is_flagged_seen(
    tmp_path: Path, db_url: str, store: Store, dovecot: Dovecot, folder: Folder
) -> None:
    folder.append(request("seen-1"), request("seen-2"))
    _, settings = desk(tmp_path, db_url, imap_account(dovecot, folder, after="seen"))
    provision(store, settings)

    serve_imap(settings, store, until=lambda: _all_flagged(folder, r"\Seen", 2))

    assert tickets(store) == [("Help with seen-1", "Support"), ("Help with seen-2", "Support")]
    assert [state for _, state, _ in spool_rows(store)] == ["done", "done"]
    assert len(folder.bodies()) == 2  # still there, marked read


def test_moved_after_ingest_into_the_configured_folder(
    tmp_path: Path, db_url: str, store: Store, dovecot: Dovecot, folder: Folder
) -> None:
    done = f"{folder.name}-done"
    folder.create(done)
    folder.append(request("move-1"), request("move-2"))
    account = imap_account(dovecot, folder, after=f"move:{done}")
    _, settings = desk(tmp_path, db_url, account)
    provision(store, settings)

    serve_imap(settings, store, until=lambda: len(folder.flags(done)) == 2)

    assert folder.flags() == {}
    assert len(tickets(store)) == 2
    assert sorted(body.split(b"\r\n")[3] for body in folder.bodies(done)) == [
        b"Message-ID: <move-1@customer.example>",
        b"Message-ID: <move-2@customer.example>",
    ]


def test_deleted_after_ingest(
    tmp_path: Path, db_url: str, store: Store, dovecot: Dovecot, folder: Folder
) -> None:
    folder.append(request("delete-1"))
    _, settings = desk(tmp_path, db_url, imap_account(dovecot, folder, after="delete"))
    provision(store, settings)

    serve_imap(settings, store, until=lambda: folder.flags() == {})

    assert tickets(store) == [("Help with delete-1", "Support")]


def test_the_account_department_wins_over_the_recipient_address(
    tmp_path: Path, db_url: str, store: Store, dovecot: Dovecot, folder: Folder
) -> None:
    folder.append(request("sales-1", to="support@example.com"))
    account = imap_account(dovecot, folder, department="Sales")
    _, settings = desk(tmp_path, db_url, account)
    provision(store, settings)

    serve_imap(settings, store, until=lambda: _all_flagged(folder, r"\Seen", 1))

    assert tickets(store) == [("Help with sales-1", "Sales")]


def _all_flagged(folder: Folder, flag: str, expected: int) -> bool:
    flags = folder.flags()
    return len(flags) == expected and all(flag in f for f in flags.values())


def _state(store: Store) -> tuple[int, int]:
    with store.transaction() as session:
        row = session.scalars(sa.select(ImapState)).one()
        return row.uidvalidity, row.last_uid


def test_recreated_folder_is_read_again_and_ingests_nothing_twice(
    tmp_path: Path, db_url: str, store: Store, dovecot: Dovecot, folder: Folder
) -> None:
    old = [request("uv-old-1"), request("uv-old-2")]
    folder.append(*old)
    _, settings = desk(tmp_path, db_url, imap_account(dovecot, folder, after="seen"))
    provision(store, settings)
    serve_imap(settings, store, until=lambda: _all_flagged(folder, r"\Seen", 2))
    first_validity = _state(store)[0]

    folder.recreate()
    # The new mail takes UID 1, below the last UID remembered from the old folder: only a
    # rescan under the new UIDVALIDITY finds it. The old mail comes back as UIDs 2 and 3.
    folder.append(request("uv-new"), *old)
    serve_imap(settings, store, until=lambda: _all_flagged(folder, r"\Seen", 3))

    assert [subject for subject, _ in tickets(store)] == [
        "Help with uv-new",
        "Help with uv-old-1",
        "Help with uv-old-2",
    ]
    assert len(spool_rows(store)) == 3  # the old mail was a duplicate, not a second entry
    assert _state(store) == (folder.uidvalidity(), 3)
    assert _state(store)[0] != first_validity


def test_idle_brings_mail_appended_while_connected_with_an_hour_between_polls(
    tmp_path: Path, db_url: str, store: Store, dovecot: Dovecot, folder: Folder
) -> None:
    folder.append(request("idle-before"))
    account = imap_account(dovecot, folder, poll_seconds=3600)
    _, settings = desk(tmp_path, db_url, account)
    provision(store, settings)
    appended = []

    def second_mail_ingested() -> bool:
        rows = spool_rows(store)
        if len(rows) == 1 and rows[0][1] == "done" and not appended:
            # The poller has taken the first mail and waits in IDLE (or is about to): a
            # poll would come only in an hour.
            folder.append(request("idle-after"))
            appended.append(True)
        return len(rows) == 2 and all(state == "done" for _, state, _ in rows)

    serve_imap(settings, store, until=second_mail_ingested)

    assert [subject for subject, _ in tickets(store)] == [
        "Help with idle-after",
        "Help with idle-before",
    ]


def test_a_bad_message_is_left_or_held_and_the_others_are_ingested(
    tmp_path: Path,
    db_url: str,
    store: Store,
    dovecot: Dovecot,
    folder: Folder,
    caplog: pytest.LogCaptureFixture,
) -> None:
    oversize = request("too-big").replace(b"Please help", b"x" * 5000 + b"\r\nPlease help")
    empty = b"\r\n"  # spooled, then held by the pipeline: "empty message"
    folder.append(request("good-1"), oversize, empty, request("good-2"))
    _, settings = desk(tmp_path, db_url, imap_account(dovecot, folder), max_message_bytes=4000)
    provision(store, settings)

    def settled() -> bool:
        flags = folder.flags()
        return len(flags) == 4 and sum(r"\Seen" in f for f in flags.values()) == 3

    with caplog.at_level("WARNING", logger="maild.ingest.imap"):
        serve_imap(settings, store, until=settled)

    assert [subject for subject, _ in tickets(store)] == ["Help with good-1", "Help with good-2"]
    assert sorted(state for _, state, _ in spool_rows(store)) == ["done", "done", "held"]
    assert r"\Seen" not in folder.flags()[2]  # the oversize mail is left as it was
    [left] = [r.getMessage() for r in caplog.records if "left in folder" in r.getMessage()]
    assert "UID 2" in left and "max_message_bytes" in left


def test_a_message_the_database_refuses_is_left_and_the_others_are_spooled(
    tmp_path: Path,
    sqlite_store: Store,
    dovecot: Dovecot,
    folder: Folder,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    real_spool = poller.spool

    def refusing(session: Session, raw: bytes, *args: Any) -> Spooled:
        if b"poison" in raw:  # a fault injected for this one message
            raise sa.exc.DataError("INSERT ...", {}, ValueError("value out of range"))
        return real_spool(session, raw, *args)

    monkeypatch.setattr(poller, "spool", refusing)
    folder.append(request("db-1"), request("poison"), request("db-2"))
    _, settings = desk(tmp_path, "sqlite://", imap_account(dovecot, folder))

    def settled() -> bool:
        return [r"\Seen" in f for f in folder.flags().values()] == [True, False, True]

    with caplog.at_level("WARNING", logger="maild.ingest.imap"):
        poll_until(settings.imap[0], sqlite_store, settled, Pacing())

    assert [key for key, _, _ in spool_rows(sqlite_store)] == [
        "<db-1@customer.example>",
        "<db-2@customer.example>",
    ]
    [left] = [r.getMessage() for r in caplog.records if "left in folder" in r.getMessage()]
    assert "UID 2: the database refused it: value out of range" in left
