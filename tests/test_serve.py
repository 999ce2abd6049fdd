"""`maild serve` as an admin runs it: a subprocess receiving mail over SMTP, stopped by SIGTERM,
killed by SIGKILL, run twice on one database (issue 8; DESIGN §3: an accepted mail is never
lost and never processed twice)."""

from __future__ import annotations

import json
import smtplib
import socket
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from maild.store.db import Store
from maild.store.models import Department, Group, Inbound, Message, Ticket
from maild.values import Direction, InboundState
from tests.daemon import MaildProcess, clean_env, free_port, maild_command
from tests.support import write_config

SUPPORT = "support@example.com"
pytestmark = pytest.mark.slow  # each test starts `maild serve` in a subprocess


def mail(n: int) -> bytes:
    return (
        f"From: Customer {n} <c{n}@customer.example>\r\nTo: {SUPPORT}\r\n"
        f"Subject: Request {n}\r\nMessage-ID: <serve-{n}@customer.example>\r\n\r\nHello {n}.\r\n"
    ).encode()


class Sender:
    """An MTA's behaviour: a mail counts as delivered at its 250; anything else (a refused
    connection, a dropped session, a 4xx) is tried again, with the same bytes."""

    def __init__(self, port: int, numbers: range) -> None:
        self.port = port
        self.numbers = numbers
        self.acknowledged: list[int] = []
        self.error: BaseException | None = None
        self._client: smtplib.SMTP | None = None

    def run(self) -> None:
        try:
            for n in self.numbers:
                self._deliver(n)
        except BaseException as exc:  # noqa: BLE001 - re-raised by the test
            self.error = exc
        finally:
            self._drop()

    def _deliver(self, n: int) -> None:
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            try:
                if self._client is None:
                    self._client = smtplib.SMTP("127.0.0.1", self.port, timeout=30)
                self._client.sendmail(f"c{n}@customer.example", [SUPPORT], mail(n))
                self.acknowledged.append(n)
                return
            except (OSError, smtplib.SMTPException):
                self._drop()
                time.sleep(0.05)  # the daemon is down or restarting
        raise AssertionError(f"mail {n} was never accepted")

    def _drop(self) -> None:
        if self._client is not None:
            try:
                self._client.close()
            finally:
                self._client = None


# Generous: these bound a hang, they do not measure speed (a loaded CI machine is slow).
def _wait_until(condition: Callable[[], bool], what: str, timeout: float = 600) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def _unprocessed(url: str) -> int:
    store = Store.open(url)
    try:
        with store.sessions() as session:
            query = sa.select(sa.func.count()).where(Inbound.state == InboundState.RECEIVED)
            return session.scalar(query) or 0
    finally:
        store.close()


def _stored(url: str) -> tuple[Counter[str], Counter[str], int]:
    """Spool rows per Message-ID, inbound messages per Message-ID, and tickets."""
    store = Store.open(url)
    try:
        with store.sessions() as session:
            spooled = Counter(session.scalars(sa.select(Inbound.message_key)))
            incoming = sa.select(Message.message_id).where(Message.direction == Direction.IN)
            messages = Counter(session.scalars(incoming))
            tickets = session.scalar(sa.select(sa.func.count()).select_from(Ticket)) or 0
            return spooled, messages, tickets
    finally:
        store.close()


def _ids(numbers: list[int] | range) -> Counter[str]:
    return Counter(f"<serve-{n}@customer.example>" for n in numbers)


def test_sigterm_finishes_the_mail_in_hand_and_exits_0(tmp_path: Path, db_url: str) -> None:
    config = write_config(tmp_path, db_url)
    with MaildProcess.start(config, tmp_path, smtp_port=free_port()) as daemon:
        with daemon.smtp() as client:
            client.sendmail("c1@customer.example", [SUPPORT], mail(1))
        code = daemon.stop()
        # The worker had the mail in hand or picks it up at the next start: never lost.
        assert code == 0, daemon.log()
        assert "SMTP listening" in daemon.log()
    with MaildProcess.start(config, tmp_path, smtp_port=free_port(), init=False):
        _wait_until(lambda: _unprocessed(db_url) == 0, "the spooled mail to be processed")
    spooled, messages, tickets = _stored(db_url)
    assert spooled == messages == _ids([1]) and tickets == 1


def test_json_logs_give_one_line_per_received_mail(tmp_path: Path, db_url: str) -> None:
    config = write_config(tmp_path, db_url)
    env = {"MAILD_LOG_FORMAT": "json"}
    with MaildProcess.start(config, tmp_path, smtp_port=free_port(), env=env) as daemon:
        with daemon.smtp() as client:
            for n in range(3):
                client.sendmail(f"c{n}@customer.example", [SUPPORT], mail(n))
        _wait_until(lambda: _unprocessed(db_url) == 0, "the mails to be processed")
        _wait_until(lambda: daemon.log().count('"logger": "maild.mail"') == 3, "three lines")
    lines = [json.loads(line) for line in daemon.log().splitlines() if line.startswith("{")]
    received = [line for line in lines if line["logger"] == "maild.mail"]
    assert [line["outcome"] for line in received] == ["new_ticket"] * 3
    assert {line["source"] for line in received} == {"smtp:127.0.0.1"}
    assert all(line["ticket"].startswith("SUP-") and line["ms"] >= 0 for line in received)
    assert len({line["id"] for line in received}) == 3


@pytest.mark.slow
def test_sigkill_while_receiving_loses_and_duplicates_nothing(tmp_path: Path, db_url: str) -> None:
    total, kills = 500, 4
    config = write_config(tmp_path, db_url)
    port = free_port()
    daemon = MaildProcess.start(config, tmp_path, smtp_port=port)
    sender = Sender(port, range(total))
    client = threading.Thread(target=sender.run)
    client.start()
    try:
        for kill in range(1, kills + 1):
            _wait_until(lambda k=kill: len(sender.acknowledged) >= k * total // (kills + 1),
                        "mail to be acknowledged")  # fmt: skip
            daemon.kill()
            daemon = MaildProcess.spawn(config, tmp_path, port, {"MAILD_SMTP_LISTEN":
                                        f"127.0.0.1:{port}"})  # fmt: skip
            daemon.wait_ready([port])
        client.join(timeout=1200)
        assert sender.error is None, sender.error
        _wait_until(lambda: _unprocessed(db_url) == 0, "every spooled mail to be processed")
    finally:
        client.join(timeout=60)
        assert daemon.stop() == 0, daemon.log()
    spooled, messages, tickets = _stored(db_url)
    assert sorted(sender.acknowledged) == list(range(total))
    assert spooled == _ids(range(total))  # each acknowledged mail spooled exactly once
    assert messages == _ids(range(total))  # ... and processed exactly once
    assert tickets == total


@pytest.mark.slow
def test_two_daemons_on_one_postgresql_database_share_the_work(
    tmp_path: Path, postgres_url: str
) -> None:
    _truncate(postgres_url)  # the session database is shared with the `db_url` tests
    try:
        _two_daemons_share_the_work(tmp_path, postgres_url)
    finally:
        _truncate(postgres_url)


def _truncate(url: str) -> None:
    from tests.conftest import truncate_all

    store = Store.open(url)
    truncate_all(store)
    store.close()


def _two_daemons_share_the_work(tmp_path: Path, postgres_url: str) -> None:
    total = 1000
    config = write_config(tmp_path, postgres_url)
    ports = [free_port(), free_port()]
    # The schema is there, the config's rows are not: started together, both apply the config
    # to an empty database at once and must both come up.
    daemons = [
        MaildProcess.spawn(config, tmp_path, port, {"MAILD_SMTP_LISTEN": f"127.0.0.1:{port}"})
        for port in ports
    ]
    try:
        for daemon, port in zip(daemons, ports, strict=True):
            daemon.wait_ready([port])
        half = total // 2
        senders = [Sender(ports[0], range(half)), Sender(ports[1], range(half, total))]
        threads = [threading.Thread(target=sender.run) for sender in senders]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=1200)
        assert [sender.error for sender in senders] == [None, None]
        _wait_until(lambda: _unprocessed(postgres_url) == 0, "every mail to be processed")
    finally:
        codes = [daemon.stop() for daemon in daemons]
    assert codes == [0, 0], [daemon.log() for daemon in daemons]
    spooled, messages, tickets = _stored(postgres_url)
    assert spooled == messages == _ids(range(total))
    assert tickets == total
    processed_by = [daemon.log().count("maild.mail: mail id=") for daemon in daemons]
    assert sum(processed_by) == total and all(processed_by), processed_by


def _tickets(url: str, count: int) -> None:
    """`count` tickets in the Support desk's queue, written in one statement."""
    store = Store.open(url)
    now = datetime.now(UTC)
    with store.transaction() as session:
        department, brand, group = session.execute(
            sa.select(Department.id, Department.brand_id, Group.id).join(Group)
        ).one()
        rows = [
            {"number": f"OLD-{n:06d}", "brand_id": brand, "department_id": department,
             "group_id": group, "subject": f"Old request {n}", "requester": f"o{n}@x.example",
             "created_at": now, "last_action_at": now, "response_clock_at": now}
            for n in range(count)
        ]  # fmt: skip
        session.execute(sa.insert(Ticket), rows)
    store.close()


def test_smtp_answers_while_export_streams_10000_tickets_on_sqlite(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'maild.db'}"
    config = write_config(tmp_path, url)
    init = subprocess.run(maild_command(config, "init"), capture_output=True, timeout=120)
    assert init.returncode == 0, init.stderr.decode()
    _tickets(url, 10_000)
    with MaildProcess.start(config, tmp_path, smtp_port=free_port(), init=False) as daemon:
        export = subprocess.Popen(maild_command(config, "export"), stdout=subprocess.PIPE)
        assert export.stdout is not None
        first = export.stdout.readline()  # its transaction is open; unread, it stalls mid-way
        latencies = []
        # A client timeout well below SQLite's 30 s busy timeout: a commit that waited for the
        # export's lock would fail here rather than after half a minute.
        with daemon.smtp(timeout=10) as client:
            for n in range(20):
                start = time.monotonic()
                assert client.sendmail(f"c{n}@customer.example", [SUPPORT], mail(n)) == {}
                latencies.append(time.monotonic() - start)
        assert export.poll() is None, "the export finished before the mail was sent"
        rest = export.stdout.read()  # not communicate(): it would skip what readline buffered
        export.wait(timeout=300)
    assert export.returncode == 0
    numbers = [json.loads(line)["number"] for line in [first, *rest.splitlines()]]
    assert sorted(numbers) == [f"OLD-{n:06d}" for n in range(10_000)]
    print(f"slowest 250 while the export streamed: {max(latencies) * 1000:.0f} ms")


def test_a_port_in_use_is_one_line_naming_the_setting(tmp_path: Path) -> None:
    config = write_config(tmp_path, f"sqlite:///{tmp_path / 'maild.db'}")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = {"MAILD_SMTP_LISTEN": f"127.0.0.1:{port}"}
        init = subprocess.run(maild_command(config, "init"), env=clean_env(env), timeout=120,
                              capture_output=True)  # fmt: skip
        assert init.returncode == 0
        daemon = MaildProcess.spawn(config, tmp_path, port, env)
        code = daemon.process.wait(timeout=120)
    assert code == 2
    assert f"smtp.listen: cannot listen on 127.0.0.1:{port}: Address already in use" in daemon.log()
