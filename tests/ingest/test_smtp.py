"""The SMTP listener as a sending MTA sees it: real `smtplib` clients on loopback against maild's
aiosmtpd listener over a real store (issue 8; DESIGN §3: 250 only after the spool commit)."""

from __future__ import annotations

import dataclasses
import shutil
import smtplib
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy import event

from maild.settings import Settings
from maild.store.db import Store
from maild.values import InboundState, Outcome
from tests.ingest.mailserver import MailServer, running, server_settings

SUPPORT = "support@example.com"
VERP = "bounces+0123456789abcdef0123@example.com"


def mail(n: int, body: str = "Hello, my printer is broken.\r\n") -> bytes:
    return (
        f"From: Carol <carol@customer.example>\r\nTo: {SUPPORT}\r\n"
        f"Subject: Printer {n}\r\nMessage-ID: <smtp-{n}@customer.example>\r\n\r\n{body}"
    ).encode()


@pytest.fixture
def server(store: Store, db_url: str, tmp_path: Path) -> Iterator[MailServer]:
    with running(server_settings(db_url, tmp_path), store) as server:
        yield server


def test_accepted_mail_is_in_the_spool_when_250_arrives(server: MailServer) -> None:
    with server.smtp() as client:
        client.ehlo("client.example")
        client.mail("carol@customer.example")
        client.rcpt(SUPPORT)
        code, reply = client.data(mail(1))
        # Asked right after the reply, with no worker running: the bytes are already committed.
        (row,) = server.rows()
    assert code == 250 and reply.startswith(b"2.0.0 OK: queued as")
    assert server.spooled() == [mail(1)]
    assert row.state is InboundState.RECEIVED
    assert row.envelope_from == "carol@customer.example" and row.rcpt_to == [SUPPORT]
    assert row.source == "smtp:127.0.0.1"


def test_ehlo_advertises_size_pipelining_and_enhanced_codes(server: MailServer) -> None:
    with server.smtp() as client:
        client.ehlo("client.example")
    assert client.does_esmtp
    assert int(client.esmtp_features["size"]) == server.settings.ingest.max_message_bytes
    assert {"pipelining", "enhancedstatuscodes", "8bitmime"} <= set(client.esmtp_features)
    assert "auth" not in client.esmtp_features


def test_unknown_recipient_is_refused_with_550_and_our_bounce_address_accepted(
    server: MailServer,
) -> None:
    with server.smtp() as client:
        client.ehlo("client.example")
        client.mail("")
        assert client.rcpt("nobody@example.com") == (
            550, b"5.1.1 <nobody@example.com>: no such recipient here"
        )  # fmt: skip
        assert client.rcpt("bounces+0123456789abcdef0123@elsewhere.example")[0] == 550
        assert client.rcpt(VERP)[0] == 250
        assert client.rcpt("Support@Example.COM")[0] == 250
        assert client.data(mail(2))[0] == 250
    (row,) = server.rows()
    assert row.envelope_from == "" and row.rcpt_to == [VERP, "Support@Example.COM"]


def test_oversize_mail_is_refused_with_552_and_the_session_goes_on(
    store: Store, db_url: str, tmp_path: Path
) -> None:
    settings = with_limits(server_settings(db_url, tmp_path), max_message_bytes=2000)
    with running(settings, store) as server, server.smtp() as client:
        client.ehlo("client.example")
        # Declared too big: refused at MAIL FROM (RFC 1870).
        assert client.mail("carol@customer.example", ["SIZE=5000"])[:2] == (
            552, b"5.3.4 Message size exceeds fixed maximum message size"
        )  # fmt: skip
        client.rset()
        # Undeclared and too big: refused after DATA, nothing stored.
        client.mail("carol@customer.example")
        client.rcpt(SUPPORT)
        code, reply = client.data(mail(3, "x" * 70 + "\r\n") * 40)
        assert (code, reply[:5]) == (552, b"5.3.4")
        assert client.sendmail("carol@customer.example", [SUPPORT], mail(4)) == {}
    assert server.spooled() == [mail(4)]


def test_a_mail_with_bare_lf_line_endings_is_accepted_and_stored_as_sent(
    server: MailServer,
) -> None:
    # Longer than one SMTP line (aiosmtpd reads up to CRLF), so it is not taken as one.
    body = "".join(f"line {n} of a script's report\n" for n in range(100))
    bare = mail(5, body).replace(b"\r\n", b"\n")
    with server.smtp() as client:
        # smtplib sends bytes as given: bare LF on the wire, CRLF . CRLF at the end.
        assert client.sendmail("carol@customer.example", [SUPPORT], bare) == {}
    assert server.spooled() == [bare + b"\r\n"]


def _raw_data(client: smtplib.SMTP, content: bytes) -> tuple[int, bytes]:
    """DATA with `content` sent exactly as given (smtplib would fix its line endings)."""
    assert client.docmd("DATA")[0] == 354
    client.send(content + b"\r\n.\r\n")
    return client.getreply()


@pytest.mark.parametrize("end", [b"\n.\n", b"\r.\n", b"\n.\r\n", b"\r\n.\n"])
def test_smuggled_end_of_data_does_not_split_a_mail(server: MailServer, end: bytes) -> None:
    smuggled = (
        b"MAIL FROM:<ceo@example.com>\r\nRCPT TO:<" + SUPPORT.encode() + b">\r\nDATA\r\n"
        b"Subject: smuggled\r\nMessage-ID: <smuggled@evil.example>\r\n\r\npay now"
    )
    with server.smtp() as client:
        client.ehlo("client.example")
        client.mail("carol@customer.example")
        client.rcpt(SUPPORT)
        code, _ = _raw_data(client, mail(7, "hi") + end + smuggled)
        # The next reply answers NOOP: no reply was queued for the smuggled commands.
        assert client.noop() == (250, b"2.0.0 OK")
    assert code == 250
    (raw,) = server.spooled()
    assert raw.endswith(b"pay now\r\n") and b"<smuggled@evil.example>" in raw


def test_a_pipelined_session_gets_every_reply_in_order(server: MailServer) -> None:
    with server.smtp() as client:
        client.ehlo("client.example")
        assert "pipelining" in client.esmtp_features
        # RFC 2920: the whole envelope in one write, replies read afterwards.
        client.send(
            b"MAIL FROM:<carol@customer.example>\r\nRCPT TO:<nobody@example.com>\r\n"
            b"RCPT TO:<support@example.com>\r\nDATA\r\n"
        )
        replies = [client.getreply()[0] for _ in range(4)]
        client.send(mail(8) + b".\r\n")
        replies.append(client.getreply()[0])
        client.send(b"RSET\r\nNOOP\r\n")
        replies += [client.getreply()[0], client.getreply()[0]]
    assert replies == [250, 550, 250, 354, 250, 250, 250]
    assert server.spooled() == [mail(8)]


def test_header_limits_give_552_and_the_session_goes_on(
    store: Store, db_url: str, tmp_path: Path
) -> None:
    settings = with_limits(server_settings(db_url, tmp_path), max_header_bytes=2000, max_headers=20)
    many = b"".join(b"X-Field-%d: v\r\n" % i for i in range(30)) + mail(9)
    long = b"".join(b"X-Long-%d: %s\r\n" % (i, b"v" * 200) for i in range(15)) + mail(9)
    with running(settings, store) as server, server.smtp() as client:
        for bad in (many, long):
            with pytest.raises(smtplib.SMTPDataError) as refused:
                client.sendmail("carol@customer.example", [SUPPORT], bad)
            assert (refused.value.smtp_code, refused.value.smtp_error[:5]) == (552, b"5.3.4")
        assert client.sendmail("carol@customer.example", [SUPPORT], mail(10)) == {}
    assert server.spooled() == [mail(10)]


def test_a_line_over_the_limit_gives_500_and_the_session_goes_on(server: MailServer) -> None:
    with server.smtp() as client:
        client.ehlo("client.example")
        client.mail("carol@customer.example")
        client.rcpt(SUPPORT)
        code, reply = client.data(mail(11, "x" * 1200 + "\r\n"))
        assert (code, reply[:5]) == (500, b"5.5.2")
        assert client.sendmail("carol@customer.example", [SUPPORT], mail(12)) == {}
    assert server.spooled() == [mail(12)]


def test_too_many_recipients_get_452(server: MailServer) -> None:
    with server.smtp() as client:
        client.ehlo("client.example")
        client.mail("carol@customer.example")
        codes = [client.rcpt(SUPPORT)[0] for _ in range(server.settings.smtp.max_recipients + 1)]
    assert codes[-2:] == [250, 452]


def test_a_failed_commit_gives_451_and_the_next_mail_is_accepted(server: MailServer) -> None:
    def fail(connection: object) -> None:
        raise OSError("disk full (injected)")

    event.listen(server.store.engine, "commit", fail)
    try:
        with server.smtp() as client:
            with pytest.raises(smtplib.SMTPDataError) as refused:
                client.sendmail("carol@customer.example", [SUPPORT], mail(13))
            assert (refused.value.smtp_code, refused.value.smtp_error[:5]) == (451, b"4.3.0")
            event.remove(server.store.engine, "commit", fail)
            assert client.sendmail("carol@customer.example", [SUPPORT], mail(13)) == {}
    finally:
        if event.contains(server.store.engine, "commit", fail):
            event.remove(server.store.engine, "commit", fail)
    assert server.spooled() == [mail(13)]


def test_the_same_mail_sent_twice_is_spooled_once(server: MailServer) -> None:
    with server.smtp() as client:
        client.ehlo("client.example")
        for _ in range(2):
            client.mail("carol@customer.example")
            client.rcpt(SUPPORT)
            code, reply = client.data(mail(14))
            assert code == 250
    assert reply.startswith(b"2.0.0 OK: already received as")
    assert server.spooled() == [mail(14)]


def test_while_another_process_writes_sqlite_the_listener_waits_off_the_event_loop(
    sqlite_template: Path, tmp_path: Path
) -> None:
    """The group commit runs on the event loop only when SQLite's write lock is free; held by
    another process (here another engine), the mail waits in a thread for it, and the loop
    keeps answering other sessions meanwhile."""
    shutil.copy(sqlite_template, tmp_path / "maild.db")
    url = f"sqlite:///{tmp_path / 'maild.db'}"
    store, other = Store.open(url), Store.open(url)
    replies: list[tuple[float, int]] = []
    with running(server_settings(url, tmp_path), store) as server:

        def send() -> None:
            with server.smtp() as client:
                client.sendmail("carol@customer.example", [SUPPORT], mail(15))
                replies.append((time.monotonic(), 250))

        with other.transaction() as session:
            session.execute(sa.text("UPDATE department SET name = name"))  # takes the lock
            sender = threading.Thread(target=send)
            sender.start()
            sender.join(timeout=0.5)
            assert sender.is_alive() and replies == []  # no 250 before the commit
            started = time.monotonic()
            with server.smtp() as client:  # a session meanwhile: answered, not frozen
                assert client.noop()[0] == 250
            assert time.monotonic() - started < 1
            released = time.monotonic()
        sender.join(timeout=30)
        assert [code for _, code in replies] == [250] and replies[0][0] >= released
        assert server.spooled() == [mail(15)]
    store.close()
    other.close()


@pytest.mark.slow
def test_four_connections_of_250_mails_are_all_stored(server: MailServer) -> None:
    def send(connection: int) -> None:
        with server.smtp() as client:
            for n in range(250):
                client.sendmail("carol@customer.example", [SUPPORT], mail(connection * 1000 + n))

    threads = [threading.Thread(target=send, args=(c,)) for c in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    keys = {row.message_key for row in server.rows()}
    assert keys == {f"<smtp-{c * 1000 + n}@customer.example>" for c in range(4) for n in range(250)}


def test_an_idle_client_is_disconnected(store: Store, db_url: str, tmp_path: Path) -> None:
    settings = server_settings(db_url, tmp_path, timeout_seconds=1)
    with running(settings, store) as server, _connect(server) as idle:
        assert idle.recv(1024).startswith(b"220 ")
        assert idle.recv(1024) == b""  # closed by the server, not by our timeout


def test_a_client_stalling_in_data_is_disconnected_and_nothing_stored(
    store: Store, db_url: str, tmp_path: Path
) -> None:
    settings = server_settings(db_url, tmp_path, timeout_seconds=1)
    commands = [b"HELO c", b"MAIL FROM:<c@x.example>", b"RCPT TO:<%s>" % SUPPORT.encode(), b"DATA"]
    with running(settings, store) as server, _connect(server) as slow:
        slow.recv(1024)
        for command in commands:
            slow.sendall(command + b"\r\n")
            slow.recv(1024)
        slow.sendall(b"Subject: half a mail\r\n")
        assert slow.recv(1024) == b""
    assert server.spooled() == []


def test_connections_over_the_limit_are_told_421(store: Store, db_url: str, tmp_path: Path) -> None:
    with running(server_settings(db_url, tmp_path, max_connections=2), store) as server:
        with server.smtp(), server.smtp():
            with pytest.raises(smtplib.SMTPConnectError) as refused:
                server.smtp()
            assert refused.value.smtp_code == 421
        with server.smtp() as client:  # room again
            assert client.noop()[0] == 250


def test_processing_runs_after_the_reply_in_the_worker(
    store: Store, db_url: str, tmp_path: Path
) -> None:
    with running(server_settings(db_url, tmp_path), store, worker=True) as server:
        with server.smtp() as client:
            client.sendmail("carol@customer.example", [SUPPORT], mail(15))
        (row,) = server.wait_processed(1)
    assert row.state is InboundState.DONE and row.outcome == Outcome.NEW_TICKET.value


def with_limits(settings: Settings, **limits: int) -> Settings:
    return dataclasses.replace(settings, ingest=dataclasses.replace(settings.ingest, **limits))


def _connect(server: MailServer) -> socket.socket:
    return socket.create_connection(("127.0.0.1", server.port), timeout=30)


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    """A self-signed certificate and key for 127.0.0.1, made with the openssl command."""
    directory = tmp_path_factory.mktemp("tls")
    cert, key = str(directory / "cert.pem"), str(directory / "key.pem")
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=127.0.0.1", "-keyout", key, "-out", cert],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    return cert, key


def test_starttls_is_offered_with_a_certificate_and_mail_flows_over_it(
    store: Store, db_url: str, tmp_path: Path, certificate: tuple[str, str]
) -> None:
    cert, key = certificate
    settings = server_settings(db_url, tmp_path, tls_cert=cert, tls_key=key)
    context = ssl.create_default_context(cafile=cert)
    context.check_hostname = False
    with running(settings, store) as server, server.smtp() as client:
        client.ehlo("client.example")
        assert "starttls" in client.esmtp_features
        assert client.starttls(context=context)[0] == 220
        client.ehlo("client.example")
        assert "starttls" not in client.esmtp_features
        assert client.sendmail("carol@customer.example", [SUPPORT], mail(16)) == {}
    assert server.spooled() == [mail(16)]


class _BehindBalancer(smtplib.SMTP):
    """A client whose connection starts with the PROXY header a load balancer writes."""

    def _get_socket(self, host: str, port: int, timeout: float) -> socket.socket:
        sock = super()._get_socket(host, port, timeout)
        sock.sendall(b"PROXY TCP4 198.51.100.7 127.0.0.1 40000 25\r\n")
        return sock


def test_behind_a_proxy_the_source_is_the_client_it_names(
    store: Store, db_url: str, tmp_path: Path
) -> None:
    settings = server_settings(db_url, tmp_path, proxy_protocol=True, timeout_seconds=3)
    with running(settings, store) as server:
        with _BehindBalancer("127.0.0.1", server.port, timeout=30) as client:
            assert client.sendmail("carol@customer.example", [SUPPORT], mail(17)) == {}
        # Without the header there is no greeting; the connection is closed at the timeout.
        with pytest.raises(smtplib.SMTPServerDisconnected):
            server.smtp()
        (row,) = server.rows()
    assert row.source == "smtp:198.51.100.7"
