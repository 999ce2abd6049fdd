"""LMTP on a Unix socket, as Postfix's `lmtp:unix:` delivers: the SMTP listener's handler, with
one reply per recipient after DATA (RFC 2033 §4.2), also when the spool fails."""

from __future__ import annotations

import smtplib
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import event

from maild.store.db import Store
from tests.ingest.mailserver import MailServer, running, server_settings
from tests.ingest.test_smtp import SUPPORT, mail

OTHER = "Support@example.com"  # a second accepted recipient (addresses match case-blind)


@pytest.fixture
def server(store: Store, db_url: str) -> Iterator[MailServer]:
    # A Unix socket path must stay short (108 bytes): not under pytest's long tmp_path.
    with (
        tempfile.TemporaryDirectory(prefix="maild-") as directory,
        running(server_settings(db_url, Path(directory)), store) as server,
    ):
        yield server


def _send_to_two(client: smtplib.LMTP, raw: bytes) -> list[tuple[int, bytes]]:
    client.ehlo_or_helo_if_needed()
    client.mail("carol@customer.example")
    assert client.rcpt(SUPPORT)[0] == 250
    assert client.rcpt(OTHER)[0] == 250
    assert client.rcpt("nobody@example.com")[0] == 550
    # smtplib's data() reads the first reply; the second is read as LMTP sends it.
    first = client.data(raw)
    return [first, client.getreply()]


def test_two_recipients_get_two_replies(server: MailServer) -> None:
    with server.lmtp() as client:
        replies = _send_to_two(client, mail(1))
        assert client.noop() == (250, b"2.0.0 OK")  # nothing left unread
    assert [code for code, _ in replies] == [250, 250]
    (row,) = server.rows()
    assert row.source == "lmtp" and row.rcpt_to == [SUPPORT, OTHER]


def test_a_failed_commit_gives_one_451_per_recipient(server: MailServer) -> None:
    def fail(connection: object) -> None:
        raise OSError("disk full (injected)")

    event.listen(server.store.engine, "commit", fail)
    try:
        with server.lmtp() as client:
            replies = _send_to_two(client, mail(2))
            assert client.noop() == (250, b"2.0.0 OK")
    finally:
        event.remove(server.store.engine, "commit", fail)
    assert [(code, text[:5]) for code, text in replies] == [(451, b"4.3.0")] * 2
    assert server.spooled() == []


def test_an_oversize_mail_gets_one_552_per_recipient(server: MailServer) -> None:
    limit = server.settings.ingest.max_message_bytes
    with server.lmtp() as client:
        replies = _send_to_two(client, mail(3, "x" * 998 + "\r\n") * (limit // 1000 + 1))
        assert client.noop() == (250, b"2.0.0 OK")
    assert [(code, text[:5]) for code, text in replies] == [(552, b"5.3.4")] * 2
    assert server.spooled() == []


def test_lhlo_is_the_greeting_and_ehlo_is_refused(server: MailServer) -> None:
    with server.lmtp() as client:
        assert client.docmd("EHLO", "postfix.example")[0] == 500
        assert client.ehlo("postfix.example")[0] == 250  # smtplib's LMTP sends LHLO
