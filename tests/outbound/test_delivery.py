"""The delivery worker against real SMTP servers on loopback: relay faults, retries, the
permanent-failure record, `.eml` files without a relay, STARTTLS with AUTH, DKIM, the wake-up
on commit, a killed `maild serve`, and two workers sharing one PostgreSQL database."""

from __future__ import annotations

import asyncio
import base64
import signal
import subprocess
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import dkim
import pytest
import sqlalchemy as sa
from aiosmtpd.smtp import AuthResult, LoginPassword

from maild.errors import ConfigError
from maild.outbound import Mark, OutgoingMail, ReplyRequest, send_reply
from maild.outbound.delivery import retry_delay, run_delivery
from maild.outbound.dkim import build_signer
from maild.outbound.outbox import enqueue
from maild.routing import RoundRobin
from maild.settings import OutboundSettings
from maild.store.db import Store
from maild.store.models import History, Outbox
from maild.values import OutboxState, RelaySecurity, Status
from tests.outbound.conftest import NEW_REQUEST, Desk, Sink, SinkHandler, make_desk, serve

NOW = datetime.now(UTC)


def _reply(desk: Desk, body: str = "x", mark: Mark | None = None) -> str:
    with desk.store.transaction() as session:
        sent = send_reply(session, desk.ticket(session), ReplyRequest(body=body),
                          agent=desk.agent(session), ctx=desk.ctx, now=datetime.now(UTC),
                          mark=mark)  # fmt: skip
    return sent.message_id


@pytest.fixture
def opened(desk: Desk, sink: Sink) -> Desk:
    desk.ingest(NEW_REQUEST)
    desk.deliver()
    sink.received.clear()
    return desk


def _row(desk: Desk, message_id: str) -> Outbox:
    (row,) = [r for r in desk.outbox() if r.message_row_id and _mid(desk, r) == message_id]
    return row


def _mid(desk: Desk, row: Outbox) -> str:
    with desk.store.sessions() as session:
        return str(session.execute(sa.text("SELECT message_id FROM message WHERE id = :i"),
                                   {"i": row.message_row_id}).scalar())  # fmt: skip


def _history(desk: Desk, action: str) -> list[History]:
    with desk.store.sessions() as session:
        return list(session.scalars(sa.select(History).where(History.action == action)))


def test_backoff_doubles_with_jitter_up_to_the_cap() -> None:
    assert retry_delay(1, 1000, 60_000, 0.0) == timedelta(milliseconds=500)
    assert retry_delay(1, 1000, 60_000, 0.999) < timedelta(milliseconds=1000)
    assert retry_delay(4, 1000, 60_000, 0.0) == timedelta(milliseconds=4000)
    assert retry_delay(40, 1000, 60_000, 0.0) == timedelta(milliseconds=30_000)


def test_a_451_is_delivered_later(opened: Desk, sink: Sink) -> None:
    sink.handler.faults.append("451 4.3.0 try again later")
    mid = _reply(opened)
    opened.deliver()
    assert [r.message["Message-ID"] for r in sink.received] == [mid]
    row = _row(opened, mid)
    assert (row.state, row.attempts) == (OutboxState.SENT, 2)


def test_a_connection_dropped_after_data_is_delivered_on_retry(opened: Desk, sink: Sink) -> None:
    sink.handler.faults.append("drop")
    mid = _reply(opened)
    opened.deliver()
    assert [r.message["Message-ID"] for r in sink.received] == [mid]
    assert _row(opened, mid).attempts == 2


def test_a_550_fails_is_recorded_and_the_ticket_becomes_active(opened: Desk, sink: Sink) -> None:
    sink.handler.faults.append("550 5.1.1 no such mailbox")
    mid = _reply(opened, mark=Mark(Status.CLOSED_LOCKED))
    opened.deliver()
    assert sink.received == []
    row = _row(opened, mid)
    assert row.state is OutboxState.FAILED and "550" in row.last_error
    (failed,) = _history(opened, "delivery_failed")
    assert (
        "550 5.1.1 no such mailbox" in failed.detail and "carol@customer.example" in failed.detail
    )
    assert (failed.from_value, failed.to_value) == ("closed_locked", "active")
    with opened.store.sessions() as session:
        assert opened.ticket(session).status is Status.ACTIVE


def test_exhausted_retries_fail_the_message(store: Store, db_url: str, sink: Sink) -> None:
    desk = _desk(store, db_url, sink.relay, max_attempts=2)
    desk.ingest(NEW_REQUEST)  # its autoresponse meets two 451s
    sink.handler.faults += ["451 busy", "451 still busy"]
    desk.deliver()
    (row,) = desk.outbox()
    assert (row.state, row.attempts) == (OutboxState.FAILED, 2)
    assert "after 2 attempt(s)" in _history(desk, "delivery_failed")[0].detail


def test_without_a_relay_mail_is_written_as_eml_files(
    store: Store, db_url: str, tmp_path: Path
) -> None:
    desk = _desk(store, db_url, "", outbox_dir=str(tmp_path / "outbox"))
    desk.ingest(NEW_REQUEST)
    desk.deliver()
    (written,) = (tmp_path / "outbox").glob("*.eml")
    data = written.read_bytes()
    assert data.startswith(b"Return-Path: <bounces+")
    assert b"Auto-Submitted: auto-replied" in data
    assert desk.outbox()[0].state is OutboxState.SENT


def _desk(store: Store, db_url: str, relay: str, **outbound: Any) -> Desk:
    return make_desk(store, db_url, relay, **outbound)


# --- STARTTLS, AUTH and DKIM ---------------------------------------------------------------


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and its key (openssl)."""
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


def test_relay_with_starttls_and_auth_from_a_password_file(
    store: Store, db_url: str, tls_files: tuple[Path, Path], tmp_path: Path
) -> None:
    import ssl

    cert, key = tls_files
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    logins: list[tuple[bytes, bytes]] = []

    def authenticate(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> Any:
        assert isinstance(data, LoginPassword)
        logins.append((data.login, data.password))
        return AuthResult(success=data.login == b"maild" and data.password == b"s3cret")

    relay = Sink(SinkHandler(), tls_context=context, require_starttls=True,
                 authenticator=authenticate, auth_require_tls=True)  # fmt: skip
    relay.controller.start()
    try:
        (tmp_path / "pw").write_text("s3cret\n")
        desk = _desk(store, db_url, relay.relay, relay_security=RelaySecurity.STARTTLS,
                     relay_ca_file=str(cert), relay_username="maild",
                     relay_password_file=str(tmp_path / "pw"))  # fmt: skip
        desk.ingest(NEW_REQUEST)
        desk.deliver()
    finally:
        relay.controller.stop()
    assert logins == [(b"maild", b"s3cret")]
    assert len(relay.received) == 1


@pytest.fixture(scope="module")
def dkim_key(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, bytes]:
    """A DKIM private key file (openssl) and the TXT record that publishes its public half."""
    key = tmp_path_factory.mktemp("dkim") / "dkim.pem"
    subprocess.run(["openssl", "genrsa", "-out", str(key), "2048"], check=True,
                   capture_output=True)  # fmt: skip
    public = subprocess.run(["openssl", "rsa", "-in", str(key), "-pubout", "-outform", "DER"],
                            check=True, capture_output=True).stdout  # fmt: skip
    return key, b"v=DKIM1; k=rsa; p=" + base64.b64encode(public)


def test_dkim_signature_verifies_with_the_published_key(
    store: Store, db_url: str, sink: Sink, dkim_key: tuple[Path, bytes]
) -> None:
    key, record = dkim_key
    desk = _desk(store, db_url, sink.relay, dkim_selector="mail", dkim_key_file=str(key))
    desk.ingest(NEW_REQUEST)
    desk.deliver()
    (got,) = sink.received
    assert got.data.startswith(b"DKIM-Signature:")

    def dns(name: bytes, timeout: int = 5) -> bytes:
        return record if name == b"mail._domainkey.example.com." else b""

    assert dkim.verify(got.data, dnsfunc=dns)
    assert not dkim.verify(got.data.replace(b"Subject: ", b"Subject: x"), dnsfunc=dns)


def test_an_idn_dkim_domain_signs_in_a_labels(
    store: Store, db_url: str, sink: Sink, dkim_key: tuple[Path, bytes]
) -> None:
    key, record = dkim_key
    desk = _desk(store, db_url, sink.relay, dkim_selector="mail", dkim_key_file=str(key),
                 dkim_domain="b\u00fccher.example")  # fmt: skip
    desk.ingest(NEW_REQUEST)
    desk.deliver()
    (got,) = sink.received
    assert b"d=xn--bcher-kva.example;" in got.data.split(b"\r\n\r\n")[0].replace(b"\r\n ", b"")

    def dns(name: bytes, timeout: int = 5) -> bytes:
        return record if name == b"mail._domainkey.xn--bcher-kva.example." else b""

    assert dkim.verify(got.data, dnsfunc=dns)


@pytest.mark.parametrize(
    ("setting", "value", "message"),
    [("dkim_domain", "bad..domain\u00fc", "not a valid domain name"),
     ("dkim_selector", "s\u00e9l", "not a DNS label")],
)  # fmt: skip
def test_a_dkim_name_dns_cannot_hold_is_a_config_error(
    dkim_key: tuple[Path, bytes], setting: str, value: str, message: str
) -> None:
    key = dkim_key[0]
    options = {"dkim_selector": "mail", "dkim_key_file": str(key), setting: value}
    with pytest.raises(ConfigError, match=message) as raised:
        build_signer(OutboundSettings(domain="example.com", **options))
    assert raised.value.key == setting


# --- the worker as a service -----------------------------------------------------------------


class Running:
    """`run_delivery` in a thread with its own event loop, stopped by the test."""

    def __init__(self, desk: Desk) -> None:
        self.loop = asyncio.new_event_loop()
        self.stop = asyncio.Event()
        self.thread = threading.Thread(target=self.loop.run_until_complete,
                                       args=(self._main(desk),))  # fmt: skip

    async def _main(self, desk: Desk) -> None:
        await run_delivery(desk.store, desk.settings.outbound, RoundRobin(), self.stop)

    def __enter__(self) -> Running:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.loop.call_soon_threadsafe(self.stop.set)
        self.thread.join(timeout=30)
        self.loop.close()


def test_a_committed_outbox_row_wakes_the_worker_without_polling(
    store: Store, db_url: str, sink: Sink
) -> None:
    # The worker would look again only after 10 minutes: only the commit hook can wake it.
    desk = _desk(store, db_url, sink.relay, poll_ms=600_000)
    with Running(desk):
        desk.ingest(NEW_REQUEST)
        assert len(sink.wait_for(1)) == 1
        _reply(desk, "second")
        assert len(sink.wait_for(2)) == 2


def test_a_killed_serve_loses_no_message(
    store: Store, db_url: str, sink: Sink, tmp_path: Path
) -> None:
    desk = _desk(store, db_url, sink.relay)
    desk.ingest(NEW_REQUEST)
    for n in range(4):
        _reply(desk, f"reply {n}")
    wanted = {_mid(desk, row) for row in desk.outbox()}
    sink.handler.hold = threading.Event()  # the first DATA waits until the process is dead
    worker = serve(tmp_path, db_url, sink.relay, lease_seconds=1)
    try:
        assert sink.handler.holding.wait(180), (tmp_path / "maild.err").read_text()
        worker.send_signal(signal.SIGKILL)
        worker.wait(30)
    finally:
        sink.handler.hold.set()
    worker = serve(tmp_path, db_url, sink.relay, lease_seconds=1)
    try:
        # Generous: a loaded machine takes a while to start a Python process.
        received = sink.wait_for(len(wanted), timeout=180)
    finally:
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(30) == 0
    assert {r.message["Message-ID"] for r in received} == wanted
    assert all(row.state is OutboxState.SENT for row in desk.outbox())


@pytest.mark.slow
def test_two_workers_on_postgresql_deliver_each_of_1000_mails_once(
    postgres_desk: Desk, sink: Sink, tmp_path: Path
) -> None:
    desk = postgres_desk
    url = desk.settings.database.url
    desk.ingest(NEW_REQUEST)
    mail = OutgoingMail("support@example.com", "[#SUP-000001] news", "x", ("carol@x.example",))
    with desk.store.transaction() as session:
        ticket = desk.ticket(session)
        for _ in range(999):
            enqueue(session, ticket, mail, desk.settings.outbound, NOW)
    wanted = {_mid(desk, row) for row in desk.outbox()}
    assert len(wanted) == 1000
    workers = [serve(tmp_path, url, sink.relay, name=f"w{n}") for n in range(2)]
    try:
        received = sink.wait_for(1000, timeout=300)
    finally:
        for worker in workers:
            worker.send_signal(signal.SIGTERM)
        codes = [worker.wait(30) for worker in workers]
    ids = [r.message["Message-ID"] for r in received]
    assert len(ids) == 1000 and set(ids) == wanted
    assert codes == [0, 0], [(tmp_path / f"w{n}.err").read_text() for n in range(2)]
    assert desk.queued() == 0
