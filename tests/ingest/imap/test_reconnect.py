"""Network faults between the poller and a real Dovecot, injected by a proxy: a dropped
connection and a server that stops answering are each one log line, then a reconnect; IDLE is
renewed on the same connection."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from maild.ingest.imap import Pacing
from maild.store.db import Store
from tests.ingest.imap.dovecot import Dovecot
from tests.ingest.imap.helpers import Folder, desk, imap_account, poll_until, request, spool_rows
from tests.ingest.imap.proxy import FaultyProxy

pytestmark = pytest.mark.xdist_group("dovecot")


@pytest.fixture
def proxy(dovecot: Dovecot) -> Iterator[FaultyProxy]:
    running = FaultyProxy(dovecot.port)
    yield running
    running.close()


def _failures(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if "reconnecting in" in r.getMessage()]


def test_a_dropped_connection_is_one_log_line_then_a_reconnect(
    tmp_path: Path,
    sqlite_store: Store,
    dovecot: Dovecot,
    folder: Folder,
    proxy: FaultyProxy,
    caplog: pytest.LogCaptureFixture,
) -> None:
    folder.append(request("drop-1"))
    _, settings = desk(tmp_path, "sqlite://", imap_account(dovecot, folder, port=proxy.port))
    pacing = Pacing(backoff_first_seconds=0.01)
    dropped = []

    def second_mail_spooled() -> bool:
        rows = spool_rows(sqlite_store)
        if rows and not dropped:
            proxy.drop_all()
            dropped.append(True)
            folder.append(request("drop-2"))
        return len(rows) == 2

    with caplog.at_level("WARNING", logger="maild.ingest.imap"):
        poll_until(settings.imap[0], sqlite_store, second_mail_spooled, pacing)

    [failure] = _failures(caplog)
    assert "the server closed the connection" in failure
    assert proxy.connections == 2


def test_a_server_that_stops_answering_is_given_up_after_the_timeout(
    tmp_path: Path,
    sqlite_store: Store,
    dovecot: Dovecot,
    folder: Folder,
    proxy: FaultyProxy,
    caplog: pytest.LogCaptureFixture,
) -> None:
    folder.append(request("silent-1"))
    account = imap_account(dovecot, folder, port=proxy.port, timeout_seconds=1)
    _, settings = desk(tmp_path, "sqlite://", account)
    pacing = Pacing(backoff_first_seconds=0.01, idle_renew_seconds=0.2)
    steps: list[str] = []

    def mail_after_the_silence_spooled() -> bool:
        rows = spool_rows(sqlite_store)
        if rows and not steps:
            proxy.silent.set()  # the connection stays open; nothing comes back
            steps.append("silent")
        elif steps == ["silent"] and _failures(caplog):
            proxy.silent.clear()
            folder.append(request("silent-2"))
            steps.append("answering")
        return len(rows) == 2

    with caplog.at_level("WARNING", logger="maild.ingest.imap"):
        poll_until(settings.imap[0], sqlite_store, mail_after_the_silence_spooled, pacing)

    assert "no answer within 1s" in _failures(caplog)[0]


def test_idle_is_renewed_on_the_same_connection(
    tmp_path: Path, sqlite_store: Store, dovecot: Dovecot, folder: Folder, proxy: FaultyProxy
) -> None:
    _, settings = desk(tmp_path, "sqlite://", imap_account(dovecot, folder, port=proxy.port))
    pacing = Pacing(idle_renew_seconds=0.1)
    appended = []

    def mail_spooled_after_three_idles() -> bool:
        if proxy.sent().count(b" IDLE\r\n") >= 3 and not appended:
            folder.append(request("renewed-1"))
            appended.append(True)
        return len(spool_rows(sqlite_store)) == 1

    poll_until(settings.imap[0], sqlite_store, mail_spooled_after_three_idles, pacing)

    assert proxy.connections == 1
